"""A session's output against a client that does not read (no network: a stand-in transport whose
buffer fills up as a real one does when the peer stops reading)."""

import asyncio

import msgspec

from gateway import protocol as p
from gateway.config import Config, ServerSettings
from gateway.outbox import Outbox
from gateway.ws import CLOSE_SLOW, HIGH_WATER, Session


class StuckTransport:
    """Holds what is written in its buffer while `stuck`; `release` lets the peer read it all."""

    def __init__(self, stuck: bool = True):
        self.stuck = stuck
        self.buffer = bytearray()
        self.delivered = bytearray()

    def write(self, data: bytes) -> None:
        self.buffer += data
        if not self.stuck:
            self.release()

    def release(self) -> None:
        self.stuck = False
        self.delivered += self.buffer
        self.buffer.clear()

    def get_write_buffer_size(self) -> int:
        return len(self.buffer)

    def is_closing(self) -> bool:
        return False

    def frames(self) -> list[dict]:
        """The websocket frames the peer received, decoded (server frames: unmasked, FIN set)."""
        out, data, i = [], bytes(self.delivered), 0
        while i < len(data):
            assert data[i] == 0x81, "a final text frame"
            n, i = data[i + 1], i + 2
            if n == 126:
                n, i = int.from_bytes(data[i:i + 2], "big"), i + 2
            elif n == 127:
                n, i = int.from_bytes(data[i:i + 8], "big"), i + 8
            out.append(msgspec.json.decode(data[i:i + n]))
            i += n
        return out


class StandInSocket:
    def __init__(self):
        self.closed = False
        self.close_code = None

    async def close(self, code: int, message: bytes) -> None:
        self.closed, self.close_code = True, code


class FakeGateway:
    def __init__(self, **server):
        self.config = Config(server=ServerSettings(**server))
        from gateway.metrics import Metrics

        self.metrics = Metrics()
        self.outbox = Outbox()
        self.busy_poll = None  # [server] busy_poll_us off


def stuck_session(gateway: FakeGateway, transport: StuckTransport) -> Session:
    return Session(gateway, StandInSocket(), binary=False, peer="test", transport=transport)


def fill_the_buffer(session: Session) -> None:
    """One message big enough to pass the high-water mark, so the session stops writing."""
    session.send(p.Error(req_id=None, code="FILLER", message="x" * (HIGH_WATER + 1)))


def tick(code: str, price: int) -> p.Market:
    return p.Market(instrument=code, last=price, volume=100, bid=price - 1, bid_size=100, ask=price + 1,
                    ask_size=100, lock=0, ts_ms=0)


def test_market_data_to_a_slow_reader_is_conflated_to_the_latest_tick():
    async def run():
        transport = StuckTransport()
        session = stuck_session(FakeGateway(), transport)
        writer = asyncio.create_task(session._writer())
        fill_the_buffer(session)
        await asyncio.sleep(0.01)  # written; the buffer is over the mark, so the session waits
        assert session._blocked
        for n in range(100):
            for code in ("600036", "601318", "000858"):
                session.send_market(tick(code, 1000 + n))
        await asyncio.sleep(0.01)
        assert len(session.market) == 3
        transport.release()
        await asyncio.sleep(0.05)
        writer.cancel()
        return transport.frames()

    sent = asyncio.run(run())
    market = [m for m in sent if m["type"] == "market"]
    assert [(m["instrument"], m["last"]) for m in market] == [("600036", 1099), ("601318", 1099), ("000858", 1099)]
    assert [m["seq"] for m in sent] == [1, 2, 3, 4]  # numbered as they leave: no gaps from conflation


def test_a_batch_of_answers_leaves_in_one_write_in_order():
    async def run():
        transport = StuckTransport(stuck=False)
        writes = []
        transport.write = lambda data, write=transport.write: (writes.append(len(data)), write(data))
        gateway = FakeGateway()
        session = stuck_session(gateway, transport)
        for n in range(5):
            session.send(p.Pong(req_id=str(n), server_time_ms=n))
        gateway.outbox.flush()  # what a journal release does at its end
        return writes, transport.frames()

    writes, sent = asyncio.run(run())
    assert len(writes) == 1
    assert [(m["req_id"], m["seq"]) for m in sent] == [(str(n), n + 1) for n in range(5)]


def test_a_batch_that_fails_to_encode_is_not_sent_again_by_the_next_flush():
    """The messages a flush takes are gone from the queue even when encoding one of them fails: the
    next flush must not number and send the earlier ones a second time."""
    async def run():
        transport = StuckTransport(stuck=False)
        gateway = FakeGateway()
        session = stuck_session(gateway, transport)
        encode = session.encode

        def failing_on_the_second(message):
            if message.req_id == "1":
                raise ValueError("cannot encode")
            return encode(message)

        session.encode = failing_on_the_second
        session.send(p.Pong(req_id="0", server_time_ms=0))
        session.send(p.Pong(req_id="1", server_time_ms=1))
        try:
            session.flush()
        except ValueError:
            pass
        else:
            raise AssertionError("the encoding failure was swallowed")
        assert not session.queue
        session.encode = encode
        session.send(p.Pong(req_id="2", server_time_ms=2))
        session.flush()
        return transport.frames()

    sent = asyncio.run(run())
    assert [m["req_id"] for m in sent] == ["2"]


def test_one_message_alone_is_framed_for_each_length_header():
    """A flush of one message (the common case, framed without a list): payloads under 126 bytes,
    under 64 KiB and over it each get their RFC 6455 length header, and seqs follow on."""
    async def run():
        transport = StuckTransport(stuck=False)
        gateway = FakeGateway()
        session = stuck_session(gateway, transport)
        for size in (1, 200, 70_000):
            session.send(p.Error(req_id=str(size), code="X", message="x" * size))
            gateway.outbox.flush()
        return transport.frames()

    sent = asyncio.run(run())
    assert [(m["req_id"], len(m["message"]), m["seq"]) for m in sent] == [("1", 1, 1), ("200", 200, 2),
                                                                          ("70000", 70_000, 3)]


def test_order_messages_are_never_dropped_and_too_many_close_the_connection():
    async def run():
        transport = StuckTransport()
        session = stuck_session(FakeGateway(send_queue_limit=10), transport)
        ws = session.ws
        writer = asyncio.create_task(session._writer())
        fill_the_buffer(session)
        await asyncio.sleep(0.01)
        for n in range(10):
            session.send(p.Pong(req_id=str(n), server_time_ms=n))
        assert len(session.queue) == 10 and not session.closed
        session.send(p.Pong(req_id="one too many", server_time_ms=0))
        await asyncio.sleep(0.01)
        writer.cancel()
        return session, ws

    session, ws = asyncio.run(run())
    assert session.closed and "slow consumer" in session.close_reason
    assert ws.close_code == CLOSE_SLOW and not session.queue


def test_a_send_stuck_longer_than_the_send_timeout_closes_the_connection():
    async def run():
        transport = StuckTransport()  # never released: the client stopped reading
        session = stuck_session(FakeGateway(send_timeout_s=0.2), transport)
        ws = session.ws
        session._started = asyncio.get_running_loop().time()
        tasks = [asyncio.create_task(session._writer()), asyncio.create_task(session._heartbeat())]
        fill_the_buffer(session)
        await asyncio.sleep(0.1)
        assert not session.closed  # waiting, not yet too long
        await asyncio.sleep(0.4)
        for task in tasks:
            task.cancel()
        return session, ws

    session, ws = asyncio.run(run())
    assert session.closed and session.close_reason == "slow consumer: a message waited more than 0.2 s to be sent"
    assert ws.close_code == CLOSE_SLOW
