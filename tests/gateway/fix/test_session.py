"""The FIX session layer against a hand-driven counterparty on loopback: logon, heartbeats
and test requests, gaps and resends, duplicates, sequence resets, garbled frames, logout,
the logon timeout and the schedule. Beacon's acceptor is under test; the peer is written
byte by byte with the codec, so every rule is exercised on purpose."""

import asyncio
import datetime as dt
import functools
import time

import pytest

from gateway.fix import FixParser, encode
from gateway.fix import tags as t
from gateway.fix.session import FixAcceptor, FixSession, Schedule, SessionConfig, SessionDown


def aio(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        return asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 30))
    return run


class Recorder:
    def __init__(self):
        self.messages, self.logons, self.logouts = [], 0, []

    def on_logon(self, session):
        self.logons += 1

    def on_logout(self, session, reason):
        self.logouts.append(reason)

    def on_message(self, session, message):
        self.messages.append(message)


class Peer:
    """The counterparty (BEACON), written by hand."""

    def __init__(self):
        self.seq = 1
        self.parser = FixParser()

    async def connect(self, port):
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)

    def frame(self, msg_type, fields=(), seq=None, possdup=False, sender=b"BEACON"):
        seq = self.seq if seq is None else seq
        header = [(35, msg_type), (49, sender), (56, b"BROKER"), (34, seq), (52, t.utc_timestamp(time.time_ns()))]
        if possdup:
            header += [(43, b"Y"), (122, t.utc_timestamp(time.time_ns()))]
        return encode(header + list(fields))

    def send(self, msg_type, fields=(), seq=None, possdup=False, **kw):
        self.writer.write(self.frame(msg_type, fields, seq, possdup, **kw))
        if seq is None:
            self.seq += 1

    async def recv(self, timeout=3.0):
        while True:
            message = self.parser.pop()
            if message is not None:
                return message
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                return None
            self.parser.feed(data)

    async def expect(self, msg_type, timeout=3.0, skip=(t.HEARTBEAT,)):
        while True:
            message = await self.recv(timeout)
            assert message is not None, f"connection closed while waiting for 35={msg_type}"
            if message.msg_type in skip and msg_type not in skip:
                continue
            assert message.msg_type == msg_type, message
            return message

    async def logon(self, heartbeat=30, reset=False):
        fields = [(98, b"0"), (108, heartbeat)] + ([(141, b"Y")] if reset else [])
        self.send(t.LOGON, fields)
        return await self.expect(t.LOGON)

    async def closed(self, timeout=3.0):
        while True:
            message = await self.recv(timeout)
            if message is None:
                return True


async def acceptor(tmp_path, **config):
    app = Recorder()
    session = FixSession(SessionConfig(sender_comp_id="BROKER", target_comp_id="BEACON",
                                       store_dir=str(tmp_path), **config), app, initiator=False)
    server = FixAcceptor([session])
    port = await server.start()
    return session, app, server, port


@aio
async def test_logon_application_messages_in_order_and_logout(tmp_path):
    session, app, server, port = await acceptor(tmp_path)
    peer = Peer()
    await peer.connect(port)
    answer = await peer.logon()
    assert answer.get_int(108) == 30 and answer.get_int(34) == 1 and session.active and app.logons == 1
    peer.send(t.NEW_ORDER_SINGLE, [(11, b"a")])
    peer.send(t.NEW_ORDER_SINGLE, [(11, b"b")])
    sent = session.send(t.EXECUTION_REPORT, [(17, b"x")])
    report = await peer.expect(t.EXECUTION_REPORT)
    assert report.get_int(34) == sent == 2 and report[49] == b"BROKER" and report[56] == b"BEACON"
    peer.send(t.LOGOUT)
    await peer.expect(t.LOGOUT)
    assert await peer.closed()
    assert [m[11] for m in app.messages] == [b"a", b"b"]
    assert app.logouts and "logout by the counterparty" in app.logouts[0]
    with pytest.raises(SessionDown):
        session.send(t.EXECUTION_REPORT, [(17, b"y")])
    await server.stop()


@aio
async def test_a_test_request_is_answered_and_silence_brings_one_then_a_disconnect(tmp_path):
    session, app, server, port = await acceptor(tmp_path)
    peer = Peer()
    await peer.connect(port)
    await peer.logon(heartbeat=1)
    peer.send(t.TEST_REQUEST, [(112, b"ping-1")])
    beat = await peer.expect(t.HEARTBEAT, skip=())
    assert beat[112] == b"ping-1"
    # now stay silent: a heartbeat after 1 s, a TestRequest after 1.2 s, the end after another 1 s
    test = await peer.expect(t.TEST_REQUEST, timeout=3)
    assert test[112].startswith(b"TEST-")
    assert await peer.closed(timeout=3)
    assert app.logouts == ["no answer to a TestRequest"]
    await server.stop()


@aio
async def test_a_gap_is_asked_for_and_later_messages_wait_for_it(tmp_path):
    session, app, server, port = await acceptor(tmp_path)
    peer = Peer()
    await peer.connect(port)
    await peer.logon()  # seq 1
    peer.send(t.NEW_ORDER_SINGLE, [(11, b"two")])  # 2
    peer.seq = 5
    peer.send(t.NEW_ORDER_SINGLE, [(11, b"five")])  # 5: 3 and 4 are missing
    resend = await peer.expect(t.RESEND_REQUEST)
    assert (resend.get_int(7), resend.get_int(16)) == (3, 0)
    peer.send(t.NEW_ORDER_SINGLE, [(11, b"six")])  # 6 waits too, no second request
    peer.send(t.NEW_ORDER_SINGLE, [(11, b"three")], seq=3, possdup=True)
    peer.send(t.SEQUENCE_RESET, [(123, b"Y"), (36, 5)], seq=4, possdup=True)  # 4 was administrative
    for _ in range(50):
        if len(app.messages) == 4:
            break
        await asyncio.sleep(0.02)
    assert [m[11] for m in app.messages] == [b"two", b"three", b"five", b"six"]
    assert session.next_target == 7 and session.counters["resend_requests_sent"] == 1
    await server.stop()


@aio
async def test_a_duplicate_with_possdup_is_ignored_and_a_low_number_without_it_ends_the_session(tmp_path):
    session, app, server, port = await acceptor(tmp_path)
    peer = Peer()
    await peer.connect(port)
    await peer.logon()
    peer.send(t.NEW_ORDER_SINGLE, [(11, b"a")])  # 2
    peer.send(t.NEW_ORDER_SINGLE, [(11, b"a")], seq=2, possdup=True)
    peer.send(t.TEST_REQUEST, [(112, b"still-here")])  # 3
    assert (await peer.expect(t.HEARTBEAT, skip=()))[112] == b"still-here"
    assert len(app.messages) == 1 and session.counters["duplicates_ignored"] == 1
    peer.send(t.NEW_ORDER_SINGLE, [(11, b"b")], seq=2)
    logout = await peer.expect(t.LOGOUT)
    assert logout[58] == b"MsgSeqNum too low, expecting 4 but received 2"
    assert await peer.closed()
    await server.stop()


@aio
async def test_a_resend_request_replays_application_messages_and_gap_fills_the_rest(tmp_path):
    session, app, server, port = await acceptor(tmp_path)
    peer = Peer()
    await peer.connect(port)
    await peer.logon()  # their Logon answer is 1 (administrative)
    first = session.send(t.EXECUTION_REPORT, [(17, b"e1")])  # 2
    session.send(t.EXECUTION_REPORT, [(17, b"e2")])  # 3
    originals = [await peer.expect(t.EXECUTION_REPORT) for _ in range(2)]
    peer.send(t.TEST_REQUEST, [(112, b"x")])
    await peer.expect(t.HEARTBEAT, skip=())  # 4, administrative
    session.send(t.EXECUTION_REPORT, [(17, b"e3")])  # 5
    await peer.expect(t.EXECUTION_REPORT)
    peer.send(t.RESEND_REQUEST, [(7, 1), (16, 0)])
    fill1 = await peer.expect(t.SEQUENCE_RESET, skip=())
    assert (fill1.get_int(34), fill1[123], fill1.get_int(36), fill1[43]) == (1, b"Y", 2, b"Y")
    again = [await peer.expect(t.EXECUTION_REPORT, skip=()) for _ in range(2)]
    assert [m.get_int(34) for m in again] == [first, first + 1]
    for old, new in zip(originals, again):
        assert new[43] == b"Y" and new[122] == old[52] and new[17] == old[17]
    fill2 = await peer.expect(t.SEQUENCE_RESET, skip=())
    assert (fill2.get_int(34), fill2.get_int(36)) == (4, 5)
    last = await peer.expect(t.EXECUTION_REPORT, skip=())
    assert last.get_int(34) == 5 and last[17] == b"e3"
    await server.stop()


@aio
async def test_sequence_reset_and_garbled_frames(tmp_path):
    session, app, server, port = await acceptor(tmp_path)
    peer = Peer()
    await peer.connect(port)
    await peer.logon()
    peer.send(t.SEQUENCE_RESET, [(36, 10)], seq=99)  # a Reset: the number of the message itself does not count
    await asyncio.sleep(0.05)
    assert session.next_target == 10
    bad = bytearray(peer.frame(t.NEW_ORDER_SINGLE, [(11, b"garbled")], seq=10))
    bad[-3] = ord("9") if bad[-3] != ord("9") else ord("8")  # a wrong CheckSum
    peer.writer.write(bytes(bad))
    peer.seq = 10
    peer.send(t.NEW_ORDER_SINGLE, [(11, b"good")])
    await asyncio.sleep(0.05)
    assert [m[11] for m in app.messages] == [b"good"] and session.counters["garbled"] == 1
    peer.send(t.SEQUENCE_RESET, [(36, 3)])  # backwards: refused
    reject = await peer.expect(t.REJECT)
    assert reject.get_int(373) == t.VALUE_INCORRECT and reject.get_int(371) == 36
    await server.stop()


@aio
async def test_reset_on_logon_starts_both_sides_at_one(tmp_path):
    session, app, server, port = await acceptor(tmp_path)
    session.store.set_next_sender(40)
    session.store.set_next_target(40)
    peer = Peer()
    await peer.connect(port)
    answer = await peer.logon(reset=True)
    assert answer[141] == b"Y" and answer.get_int(34) == 1 and session.next_target == 2
    await server.stop()


@aio
async def test_the_first_message_must_be_a_logon_and_must_come_in_time(tmp_path):
    session, app, server, port = await acceptor(tmp_path, logon_timeout_s=0.3)
    peer = Peer()
    await peer.connect(port)
    peer.send(t.NEW_ORDER_SINGLE, [(11, b"a")])
    assert await peer.closed()  # not a Logon: no session is named
    quiet = Peer()
    await quiet.connect(port)
    assert await quiet.closed(timeout=2)  # nothing at all: the connection waits for no one
    stranger = Peer()
    await stranger.connect(port)
    stranger.send(t.LOGON, [(98, b"0"), (108, 30)], sender=b"SOMEONE")
    assert await stranger.closed()
    assert app.logons == 0
    await server.stop()


@aio
async def test_sequence_numbers_survive_a_restart_of_the_acceptor(tmp_path):
    session, app, server, port = await acceptor(tmp_path)
    peer = Peer()
    await peer.connect(port)
    await peer.logon()
    session.send(t.EXECUTION_REPORT, [(17, b"e1")])
    await peer.expect(t.EXECUTION_REPORT)
    await server.stop()
    session2, app2, server2, port2 = await acceptor(tmp_path)
    assert (session2.next_sender, session2.next_target) == (4, 2)  # Logon 1, report 2, Logout 3
    assert session2.store.get(1, 5)[0][0] == 2  # the stored ExecutionReport, for a resend
    await server2.stop()


def test_the_schedule_is_a_daily_window_in_local_time():
    schedule = Schedule("09:00:00", "15:30:00", "Asia/Shanghai")
    at = lambda h, m: int(dt.datetime(2026, 1, 5, h, m, tzinfo=schedule.tz).timestamp() * 1e9)
    assert schedule.is_open(at(9, 0)) and schedule.is_open(at(15, 29)) and not schedule.is_open(at(15, 30))
    assert not schedule.is_open(at(8, 59))
    assert schedule.period_start(at(10, 0)) == at(9, 0)
    assert schedule.period_start(at(8, 0)) == at(9, 0) - 86_400 * 10**9
    always = Schedule("00:00:00", "00:00:00", "Asia/Shanghai")
    assert always.is_open(at(3, 0)) and always.period_start(at(3, 0)) == 0


@aio
async def test_outside_its_schedule_the_acceptor_refuses_the_session(tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    start = (now + dt.timedelta(hours=2)).strftime("%H:%M:%S")
    end = (now + dt.timedelta(hours=3)).strftime("%H:%M:%S")
    session, app, server, port = await acceptor(tmp_path, start_time=start, end_time=end, timezone="UTC")
    peer = Peer()
    await peer.connect(port)
    peer.send(t.LOGON, [(98, b"0"), (108, 30)])
    assert await peer.closed()
    assert app.logons == 0
    await server.stop()


@aio
async def test_the_initiator_keeps_to_its_schedule(tmp_path):
    from gateway.fix.session import FixInitiator
    session, app, server, port = await acceptor(tmp_path / "acceptor")
    now = dt.datetime.now(dt.timezone.utc)
    # outside the window: it does not even connect
    later = FixSession(SessionConfig(sender_comp_id="BEACON", target_comp_id="BROKER", store_dir=str(tmp_path / "a"),
                                     start_time=(now + dt.timedelta(hours=2)).strftime("%H:%M:%S"),
                                     end_time=(now + dt.timedelta(hours=3)).strftime("%H:%M:%S"), timezone="UTC"),
                       Recorder(), initiator=True)
    waiting = FixInitiator(later, "127.0.0.1", port)
    waiting.start()
    await asyncio.sleep(1.0)
    assert waiting.connects == 0 and app.logons == 0
    await waiting.stop()
    # inside a window that ends in a few seconds: logged on, then logged out at the end
    ends = (now + dt.timedelta(seconds=3)).strftime("%H:%M:%S")
    client_app = Recorder()
    soon = FixSession(SessionConfig(sender_comp_id="BEACON", target_comp_id="BROKER", store_dir=str(tmp_path / "b"),
                                    start_time=(now - dt.timedelta(hours=1)).strftime("%H:%M:%S"), end_time=ends,
                                    timezone="UTC"), client_app, initiator=True)
    initiator = FixInitiator(soon, "127.0.0.1", port)
    initiator.start()
    for _ in range(100):
        if soon.active:
            break
        await asyncio.sleep(0.02)
    assert soon.active and app.logons == 1
    for _ in range(300):
        if client_app.logouts:
            break
        await asyncio.sleep(0.02)
    assert client_app.logouts == ["end of the session schedule"]
    await asyncio.sleep(1.5)
    assert initiator.connects == 1  # and it does not come back outside the window
    await initiator.stop()
    await server.stop()
