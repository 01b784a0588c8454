"""The broker's ReportStream: a listener gets every report in order on the next turn (all of a
turn's reports in one callback), or at once on flush; one failing report does not stop the
ones behind it; without a listener it reads with `async for`."""

import asyncio

from simulators.broker.interface import ConnectionStatus, ReportStream


def status(n: int) -> ConnectionStatus:
    return ConnectionStatus(connected=True, reason=str(n), ts=n)


def test_a_listener_gets_a_turns_reports_together_on_the_next_turn_in_order():
    async def run():
        stream, seen, turns = ReportStream(), [], []
        stream.listen(lambda m: seen.append(int(m.reason)))
        for n in range(5):
            stream.put(status(n))
        turns.append(list(seen))  # nothing yet: delivery is on the next turn
        await asyncio.sleep(0)
        turns.append(list(seen))
        return turns, stream.empty()

    turns, empty = asyncio.run(run())
    assert turns == [[], [0, 1, 2, 3, 4]] and empty


def test_flush_delivers_at_once_and_the_scheduled_turn_finds_nothing_left():
    async def run():
        stream, seen = ReportStream(), []
        stream.listen(lambda m: seen.append(int(m.reason)))
        stream.put(status(1))
        stream.put(status(2))
        stream.flush()
        now = list(seen)
        await asyncio.sleep(0)
        return now, list(seen)

    now, later = asyncio.run(run())
    assert now == [1, 2] and later == [1, 2]  # not delivered twice


def test_held_reports_schedule_no_callback_and_leave_with_the_flush():
    """The gateway holds the stream while it sends a turn's orders and flushes after them: the
    in-process broker's acknowledgements are delivered by that flush, with no callback left
    behind for the next turn; after the flush, a report schedules its callback again."""
    async def run():
        loop = asyncio.get_running_loop()
        stream, seen = ReportStream(), []
        stream.listen(lambda m: seen.append(int(m.reason)))
        stream.hold()
        stream.put(status(1))
        stream.put(status(2))
        ready_while_held = len(loop._ready)
        stream.flush()
        delivered = list(seen)
        stream.put(status(3))  # not held any more: on the next turn
        ready_after = len(loop._ready)
        await asyncio.sleep(0)
        return ready_while_held, delivered, ready_after, list(seen)

    ready_while_held, delivered, ready_after, seen = asyncio.run(run())
    assert ready_while_held == 0 and delivered == [1, 2]
    assert ready_after == 1 and seen == [1, 2, 3]


def test_a_failing_report_is_logged_and_the_ones_behind_it_still_arrive(caplog):
    async def run():
        stream, seen = ReportStream(), []

        def handler(m):
            if m.reason == "1":
                raise ValueError("bad report")
            seen.append(int(m.reason))

        stream.listen(handler)
        for n in range(3):
            stream.put(status(n))
        await asyncio.sleep(0)
        return seen

    assert asyncio.run(run()) == [0, 2]
    assert "broker report not applied" in caplog.text


def test_reports_waiting_before_the_listener_arrive_once_it_listens():
    async def run():
        stream, seen = ReportStream(), []
        stream.put(status(7))
        stream.listen(lambda m: seen.append(int(m.reason)))
        await asyncio.sleep(0)
        return seen

    assert asyncio.run(run()) == [7]


def test_without_a_listener_the_stream_reads_with_async_for():
    async def run():
        stream = ReportStream()
        reader = stream.__aiter__()
        first = asyncio.ensure_future(reader.__anext__())
        await asyncio.sleep(0)
        assert not first.done()  # waiting for a report
        stream.put(status(1))
        stream.put(status(2))
        return [int((await first).reason), int((await reader.__anext__()).reason)]

    assert asyncio.run(run()) == [1, 2]
