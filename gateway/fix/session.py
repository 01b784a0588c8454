"""The FIX 4.4 session layer, for both ends: logon, heartbeats and test requests, sequence
numbers with gap detection, resend with PossDupFlag and gap fills, sequence resets, logout,
and the session schedule. Application messages pass through in sequence order.

One `FixSession` per (SenderCompID, TargetCompID). It does not own a socket: a connection
(`FixConnection`, an asyncio protocol) attaches to it, feeds it what arrives and is told
what to write. `FixInitiator` connects out with backoff and logs on; `FixAcceptor` listens
and attaches each incoming connection to the session its Logon names. Everything runs on
the event loop, with no threads and no blocking calls.

The rules, as FIX 4.4's session protocol has them:
- A message whose MsgSeqNum is the expected one is processed. A higher one reveals a gap:
  a ResendRequest goes out for the missing range, and later messages wait in order until
  the gap is filled. A lower one is a duplicate if PossDupFlag is Y (ignored) and a fatal
  error otherwise (Logout naming the numbers, then disconnect).
- A ResendRequest is answered from the message store: application messages again with
  PossDupFlag=Y and OrigSendingTime, administrative ones (and anything not stored)
  replaced by SequenceReset-GapFill.
- Silence longer than the heartbeat interval (plus a fifth) brings a TestRequest; no answer
  within another interval ends the connection. A Logon must come within `logon_timeout_s`.
- Garbled frames (bad BodyLength or CheckSum) are ignored: the sequence number will ask for
  them again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import socket
import time
from typing import Callable, Protocol
from zoneinfo import ZoneInfo

import msgspec

from . import tags as t
from ._codec import FixError, FixMessage, FixParser, encode
from .store import MessageStore

log = logging.getLogger("beacon.fix")


class SessionDown(Exception):
    """The session is not logged on; nothing was sent."""


class SessionConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    sender_comp_id: str
    target_comp_id: str
    heartbeat_s: float = 30.0
    reset_on_logon: bool = False  # ask for (initiator) or accept ResetSeqNumFlag=Y: both sides start at 1
    store_dir: str = "var/fix"
    fsync: bool = False  # fsync the message store on every message
    # The session schedule (local time in `timezone`): outside it the initiator does not
    # connect and an active session logs out. A new scheduled session starts at 1 again.
    # start == end means always on, one session forever (no daily reset).
    start_time: str = "00:00:00"
    end_time: str = "00:00:00"
    timezone: str = "Asia/Shanghai"
    logon_timeout_s: float = 10.0
    logout_timeout_s: float = 2.0
    reconnect_min_s: float = 0.5  # initiator backoff: doubles up to the max after each failure
    reconnect_max_s: float = 30.0

    @property
    def session_id(self) -> str:
        return f"FIX.4.4-{self.sender_comp_id}-{self.target_comp_id}"


class Application(Protocol):
    def on_logon(self, session: "FixSession") -> None: ...

    def on_logout(self, session: "FixSession", reason: str) -> None: ...

    def on_message(self, session: "FixSession", message: FixMessage) -> None: ...


class Schedule:
    """When a session may be up: a daily window in local time (or always)."""

    def __init__(self, start: str, end: str, timezone: str):
        self.tz = ZoneInfo(timezone)
        self.start = dt.time.fromisoformat(start)
        self.end = dt.time.fromisoformat(end)
        self.always = self.start == self.end

    def is_open(self, ns: int) -> bool:
        if self.always:
            return True
        now = dt.datetime.fromtimestamp(ns / 1e9, self.tz).time()
        if self.start < self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end  # a window across midnight

    def period_start(self, ns: int) -> int:
        """When the scheduled session containing ns began (UTC ns); 0 when always on."""
        if self.always:
            return 0
        local = dt.datetime.fromtimestamp(ns / 1e9, self.tz)
        start = local.replace(hour=self.start.hour, minute=self.start.minute, second=self.start.second,
                              microsecond=0)
        if start > local:
            start -= dt.timedelta(days=1)
        return int(start.timestamp() * 1e9)


class FixSession:
    """One session's state: sequence numbers (in the store), the logon state, timers."""

    def __init__(self, config: SessionConfig, application: Application, initiator: bool,
                 clock: Callable[[], int] = time.time_ns):
        self.config = config
        self.app = application
        self.initiator = initiator
        self.clock = clock
        self.store = MessageStore(config.store_dir, config.session_id, config.fsync)
        self.schedule = Schedule(config.start_time, config.end_time, config.timezone)
        self.sender = config.sender_comp_id.encode()
        self.target = config.target_comp_id.encode()
        self.connection: FixConnection | None = None
        self.state = "disconnected"  # awaiting_logon, logon_sent, active, logout_sent
        self.heartbeat_s = config.heartbeat_s
        self._queued: dict[int, FixMessage] = {}  # received ahead of a gap, by seq
        self._resend_until = 0  # a ResendRequest is outstanding up to this seq
        self._test_request: tuple[bytes, float] | None = None
        self._last_sent = self._last_received = self._state_since = 0.0
        self._test_no = 0
        self._timer: asyncio.TimerHandle | None = None
        self._logout_reason = ""
        self._answered: set[int] = set()  # ResendRequests answered ahead of a gap, by seq
        self.logons = 0
        self.counters = {"sent": 0, "received": 0, "resend_requests_sent": 0, "resend_requests_received": 0,
                         "gap_fills_sent": 0, "resent": 0, "garbled": 0, "rejects_sent": 0,
                         "duplicates_ignored": 0}

    # ================================================================ state
    @property
    def active(self) -> bool:
        return self.state == "active"

    @property
    def next_sender(self) -> int:
        return self.store.next_sender

    @property
    def next_target(self) -> int:
        return self.store.next_target

    def _set_state(self, state: str) -> None:
        self.state = state
        self._state_since = time.monotonic()

    def attach(self, connection: "FixConnection") -> None:
        """A connection is now this session's; the initiator logs on at once."""
        self.connection = connection
        now = time.monotonic()
        self._last_sent = self._last_received = now
        self._test_request = None
        self._queued.clear()
        self._resend_until = 0
        self._check_new_period()
        self._start_timer()
        if self.initiator:
            if self.config.reset_on_logon:
                self.store.reset()
            fields = [(t.ENCRYPT_METHOD, b"0"), (t.HEART_BT_INT, int(self.heartbeat_s))]
            if self.config.reset_on_logon:
                fields.append((t.RESET_SEQ_NUM_FLAG, b"Y"))
            self._set_state("logon_sent")
            self._send(t.LOGON, fields)
        else:
            self._set_state("awaiting_logon")

    def detached(self, reason: str) -> None:
        """The connection is gone."""
        was_active = self.state in ("active", "logout_sent")
        self.connection = None
        self._set_state("disconnected")
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if was_active:
            self.app.on_logout(self, self._logout_reason or reason)
        self._logout_reason = ""

    def _check_new_period(self) -> None:
        start = self.schedule.period_start(self.clock())
        if start and self.store.created_ns < start:
            log.info("%s: a new scheduled session: sequence numbers reset", self.config.session_id)
            self.store.reset()

    def disconnect(self, reason: str) -> None:
        if self.connection is not None:
            log.info("%s: disconnecting: %s", self.config.session_id, reason)
            self._logout_reason = self._logout_reason or reason
            self.connection.close()

    def logout(self, text: str = "") -> None:
        """Start a graceful logout; the connection closes on the answer or after a timeout."""
        if self.state in ("active", "logon_sent", "awaiting_logon"):
            self._logout_reason = text or "logout"
            self._send(t.LOGOUT, [(t.TEXT, text)] if text else [])
            self._set_state("logout_sent")

    # ================================================================ sending
    def send(self, msg_type: bytes, fields: list, store_when_down: bool = False) -> int:
        """An application message; its sequence number. When not logged on: SessionDown, or with
        store_when_down the message is numbered and stored for the counterparty to ask for after
        its next Logon (what a broker does with an execution while its client is away)."""
        if self.state != "active":
            if not store_when_down:
                raise SessionDown(f"FIX session {self.config.session_id} is {self.state}")
            return self._send(msg_type, fields, write=False)
        return self._send(msg_type, fields)

    def _send(self, msg_type: bytes, fields: list, seq: int = 0, possdup: bool = False,
              orig_sending_time: bytes = b"", write: bool = True) -> int:
        seq = seq or self.store.next_sender
        header = [(t.MSG_TYPE, msg_type), (t.SENDER_COMP_ID, self.sender), (t.TARGET_COMP_ID, self.target),
                  (t.MSG_SEQ_NUM, seq), (t.SENDING_TIME, t.utc_timestamp(self.clock()))]
        if possdup:
            header.append((t.POSS_DUP_FLAG, b"Y"))
            if orig_sending_time:
                header.append((t.ORIG_SENDING_TIME, orig_sending_time))
        frame = encode(header + fields)
        if not possdup:
            self.store.sent(seq, None if msg_type in t.ADMIN_TYPES else frame)
        if write and self.connection is not None:
            self.connection.write(frame)
            self._last_sent = time.monotonic()
            self.counters["sent"] += 1
        return seq

    def reject(self, message: FixMessage, reason: int, text: str, tag: int = 0) -> None:
        """A session-level Reject (35=3) of a received message."""
        fields = [(t.REF_SEQ_NUM, message.get_int(t.MSG_SEQ_NUM, 0))]
        if tag:
            fields.append((t.REF_TAG_ID, tag))
        if message.msg_type:
            fields.append((t.REF_MSG_TYPE, message.msg_type))
        fields += [(t.SESSION_REJECT_REASON, reason), (t.TEXT, text[:200])]
        self.counters["rejects_sent"] += 1
        self._send(t.REJECT, fields)

    def business_reject(self, message: FixMessage, reason: int, text: str, ref_id: bytes = b"") -> None:
        fields = [(t.REF_SEQ_NUM, message.get_int(t.MSG_SEQ_NUM, 0)), (t.REF_MSG_TYPE, message.msg_type or b"?")]
        if ref_id:
            fields.append((t.BUSINESS_REJECT_REF_ID, ref_id))
        fields += [(t.BUSINESS_REJECT_REASON, reason), (t.TEXT, text[:200])]
        self._send(t.BUSINESS_MESSAGE_REJECT, fields)

    # ================================================================ receiving
    def on_garbled(self, error: FixError) -> None:
        self.counters["garbled"] += 1
        log.warning("%s: garbled message ignored: %s", self.config.session_id, error)

    def on_message(self, message: FixMessage) -> None:
        self._last_received = time.monotonic()
        self.counters["received"] += 1
        msg_type = message.msg_type
        try:
            seq = message.get_int(t.MSG_SEQ_NUM)
        except FixError as exc:
            self._fatal(f"MsgSeqNum missing or not a number: {exc}")
            return
        if message.get(t.SENDER_COMP_ID) != self.target or message.get(t.TARGET_COMP_ID) != self.sender:
            self.reject(message, t.COMP_ID_PROBLEM, "CompID problem")
            self._fatal(f"wrong CompIDs: {message.get(t.SENDER_COMP_ID)!r} -> {message.get(t.TARGET_COMP_ID)!r}")
            return
        if t.SENDING_TIME not in message:
            self.reject(message, t.REQUIRED_TAG_MISSING, "Required tag missing", t.SENDING_TIME)
            self._advance(seq)
            return
        if self.state in ("awaiting_logon", "logon_sent"):
            if msg_type != t.LOGON:
                self._fatal(f"the first message must be a Logon, not 35={msg_type.decode()}")
                return
            self._on_logon(message, seq)
            return
        if msg_type == t.SEQUENCE_RESET and message.get(t.GAP_FILL_FLAG) != b"Y":
            self._on_sequence_reset(message, reset=True)  # a Reset ignores sequence numbers
            return
        expected = self.store.next_target
        if seq > expected:
            if msg_type == t.RESEND_REQUEST:
                self._on_resend_request(message)  # answer it now; our own gap follows
                self._answered.add(seq)
            if msg_type == t.LOGOUT:
                self._on_logout(message)
                return
            self._queued[seq] = message
            self._request_resend(expected, seq - 1)
            return
        if seq < expected:
            if message.get(t.POSS_DUP_FLAG) == b"Y":
                self.counters["duplicates_ignored"] += 1
                return
            self._fatal(f"MsgSeqNum too low, expecting {expected} but received {seq}")
            return
        self._process(message, seq)
        while self.store.next_target in self._queued:
            queued_seq = self.store.next_target
            self._process(self._queued.pop(queued_seq), queued_seq)
            if self.connection is None:
                return
        if self._resend_until and self.store.next_target > self._resend_until:
            self._resend_until = 0

    def _advance(self, seq: int) -> None:
        if seq >= self.store.next_target:
            self.store.set_next_target(seq + 1)

    def _process(self, message: FixMessage, seq: int) -> None:
        msg_type = message.msg_type
        if msg_type == t.SEQUENCE_RESET:  # GapFill: the next expected number jumps
            self._on_sequence_reset(message, reset=False)
            return
        self._advance(seq)
        if msg_type == t.HEARTBEAT:
            if self._test_request and message.get(t.TEST_REQ_ID) == self._test_request[0]:
                self._test_request = None
        elif msg_type == t.TEST_REQUEST:
            self._send(t.HEARTBEAT, [(t.TEST_REQ_ID, message.get(t.TEST_REQ_ID, b"?"))])
        elif msg_type == t.RESEND_REQUEST:
            if seq in self._answered:
                self._answered.discard(seq)
            else:
                self._on_resend_request(message)
        elif msg_type == t.REJECT:
            log.warning("%s: our message %s was rejected: %s (reason %s, tag %s)", self.config.session_id,
                        message.get(t.REF_SEQ_NUM), message.get_str(t.TEXT), message.get(t.SESSION_REJECT_REASON),
                        message.get(t.REF_TAG_ID))
            self.app.on_message(self, message)
        elif msg_type == t.LOGOUT:
            self._on_logout(message)
        elif msg_type == t.LOGON:
            self.reject(message, t.VALUE_INCORRECT, "Logon received on an active session")
        else:
            self.app.on_message(self, message)

    def _on_logon(self, message: FixMessage, seq: int) -> None:
        try:
            heartbeat = message.get_int(t.HEART_BT_INT)
        except FixError:
            self._fatal("Logon without HeartBtInt (108)")
            return
        if heartbeat < 0:
            self._fatal("HeartBtInt must not be negative")
            return
        reset = message.get(t.RESET_SEQ_NUM_FLAG) == b"Y"
        if reset and not self.initiator:
            self.store.reset()
        expected = self.store.next_target
        if seq < expected:
            self._fatal(f"MsgSeqNum too low, expecting {expected} but received {seq}")
            return
        if not self.initiator:
            self.heartbeat_s = heartbeat or self.config.heartbeat_s
            fields = [(t.ENCRYPT_METHOD, b"0"), (t.HEART_BT_INT, heartbeat)]
            if reset:
                fields.append((t.RESET_SEQ_NUM_FLAG, b"Y"))
            self._send(t.LOGON, fields)
        self._set_state("active")
        self.logons += 1
        log.info("%s: logged on (their seq %d, expected %d, ours next %d)", self.config.session_id, seq, expected,
                 self.store.next_sender)
        if seq > expected:
            # the gap (and the Logon's own number, which comes back as a gap fill) is asked for
            self._request_resend(expected, seq)
        else:
            self.store.set_next_target(seq + 1)
        self.app.on_logon(self)

    def _request_resend(self, begin: int, end: int) -> None:
        if self._resend_until:  # asked already, up to the end of their stream (EndSeqNo 0)
            self._resend_until = max(self._resend_until, end)
            return
        self._resend_until = end
        self.counters["resend_requests_sent"] += 1
        log.info("%s: gap: asking for %d..%d", self.config.session_id, begin, end)
        self._send(t.RESEND_REQUEST, [(t.BEGIN_SEQ_NO, begin), (t.END_SEQ_NO, 0)])

    def _on_resend_request(self, message: FixMessage) -> None:
        self.counters["resend_requests_received"] += 1
        try:
            begin, end = message.get_int(t.BEGIN_SEQ_NO), message.get_int(t.END_SEQ_NO)
        except FixError as exc:
            self.reject(message, t.REQUIRED_TAG_MISSING, str(exc), exc.tag)
            return
        last = self.store.next_sender - 1
        if end == 0 or end > last:
            end = last
        if begin < 1 or begin > end:
            if begin > last + 1 or begin < 1:
                self.reject(message, t.VALUE_INCORRECT, f"BeginSeqNo {begin} outside 1..{last}", t.BEGIN_SEQ_NO)
            return
        log.info("%s: resending %d..%d", self.config.session_id, begin, end)
        gap_from = 0
        for seq, frame in self._stored(begin, end):
            if frame is None:
                gap_from = gap_from or seq
                continue
            if gap_from:
                self._gap_fill(gap_from, seq)
                gap_from = 0
            self._resend(frame)
        if gap_from:
            self._gap_fill(gap_from, end + 1)

    def _stored(self, begin: int, end: int):
        stored = dict(self.store.get(begin, end))
        for seq in range(begin, end + 1):
            yield seq, stored.get(seq)

    def _gap_fill(self, seq: int, new_seq: int) -> None:
        self.counters["gap_fills_sent"] += 1
        self._send(t.SEQUENCE_RESET, [(t.GAP_FILL_FLAG, b"Y"), (t.NEW_SEQ_NO, new_seq)], seq=seq, possdup=True)

    def _resend(self, frame: bytes) -> None:
        parser = FixParser()
        parser.feed(frame)
        original = parser.pop()
        skip = {t.MSG_TYPE, t.SENDER_COMP_ID, t.TARGET_COMP_ID, t.MSG_SEQ_NUM, t.SENDING_TIME, t.POSS_DUP_FLAG,
                t.ORIG_SENDING_TIME}
        body = [(tag, value) for tag, value in original.fields if tag not in skip]
        self.counters["resent"] += 1
        self._send(original.msg_type, body, seq=original.get_int(t.MSG_SEQ_NUM), possdup=True,
                   orig_sending_time=original[t.SENDING_TIME])

    def _on_sequence_reset(self, message: FixMessage, reset: bool) -> None:
        try:
            new_seq = message.get_int(t.NEW_SEQ_NO)
        except FixError as exc:
            self.reject(message, t.REQUIRED_TAG_MISSING, str(exc), t.NEW_SEQ_NO)
            return
        expected = self.store.next_target
        if new_seq < expected:
            self.reject(message, t.VALUE_INCORRECT, f"NewSeqNo {new_seq} is below the expected {expected}",
                        t.NEW_SEQ_NO)
            if not reset:
                self._advance(message.get_int(t.MSG_SEQ_NUM))
            return
        log.info("%s: sequence %s to %d", self.config.session_id, "reset" if reset else "gap fill", new_seq)
        self.store.set_next_target(new_seq)
        for seq in [s for s in self._queued if s < new_seq]:
            del self._queued[seq]
        if reset:  # queued messages from before the reset may now be in order
            while self.store.next_target in self._queued:
                queued_seq = self.store.next_target
                self._process(self._queued.pop(queued_seq), queued_seq)

    def _on_logout(self, message: FixMessage) -> None:
        text = message.get_str(t.TEXT)
        self._logout_reason = f"logout by the counterparty{': ' + text if text else ''}" \
            if self.state != "logout_sent" else self._logout_reason
        if self.state != "logout_sent":
            self._send(t.LOGOUT, [])
        self.disconnect(self._logout_reason)

    def _fatal(self, reason: str) -> None:
        log.warning("%s: %s", self.config.session_id, reason)
        self._logout_reason = reason
        if self.connection is not None and self.state != "disconnected":
            self._send(t.LOGOUT, [(t.TEXT, reason[:200])])
        self.disconnect(reason)

    # ================================================================ timers
    def _start_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._tick_s(), self._on_timer)

    def _tick_s(self) -> float:
        return max(0.02, min(1.0, (self.heartbeat_s or self.config.heartbeat_s) / 4))

    def _on_timer(self) -> None:
        self._timer = None
        if self.connection is None:
            return
        now = time.monotonic()
        if self.state in ("awaiting_logon", "logon_sent"):
            if now - self._state_since > self.config.logon_timeout_s:
                self.disconnect("no Logon in time")
                return
        elif self.state == "logout_sent":
            if now - self._state_since > self.config.logout_timeout_s:
                self.disconnect(self._logout_reason or "logout timed out")
                return
        elif self.state == "active":
            if not self.schedule.is_open(self.clock()):
                self.logout("end of the session schedule")
            elif self.heartbeat_s:
                if now - self._last_sent >= self.heartbeat_s:
                    self._send(t.HEARTBEAT, [])
                if self._test_request is not None:
                    if now - self._test_request[1] >= self.heartbeat_s:
                        self.disconnect("no answer to a TestRequest")
                        return
                elif now - self._last_received >= self.heartbeat_s * 1.2:
                    self._test_no += 1
                    test_id = b"TEST-%d" % self._test_no
                    self._test_request = (test_id, now)
                    self._send(t.TEST_REQUEST, [(t.TEST_REQ_ID, test_id)])
        self._timer = asyncio.get_running_loop().call_later(self._tick_s(), self._on_timer)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.store.close()


class FixConnection(asyncio.Protocol):
    """One TCP connection: frames bytes into messages for its session. An acceptor's connection
    finds its session from the first Logon (`resolve`)."""

    def __init__(self, session: FixSession | None = None,
                 resolve: Callable[[FixMessage], FixSession | None] | None = None,
                 on_closed: Callable[["FixConnection"], None] | None = None, logon_timeout_s: float = 0.0):
        self.session = session
        self.logon_timeout_s = logon_timeout_s
        self.resolve = resolve
        self.on_closed = on_closed
        self.parser = FixParser()
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_event_loop().create_future()

    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        if self.session is not None:
            self.session.attach(self)
        elif self.logon_timeout_s:  # an acceptor's connection must name its session in time
            asyncio.get_running_loop().call_later(self.logon_timeout_s, self._no_logon)

    def _no_logon(self) -> None:
        if self.session is None and self.transport is not None:
            log.warning("FIX acceptor: no Logon within %.1f s; connection closed", self.logon_timeout_s)
            self.close()

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        while self.transport is not None:
            try:
                message = self.parser.pop()
            except FixError as exc:
                if self.session is not None:
                    self.session.on_garbled(exc)
                else:
                    self.close()
                    return
                continue
            if message is None:
                return
            if self.session is None:
                self.session = self.resolve(message) if self.resolve else None
                if self.session is None:
                    self.close()
                    return
                self.session.attach(self)
            self.session.on_message(message)

    def write(self, frame: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc) -> None:
        self.transport = None
        if self.session is not None and self.session.connection is self:
            self.session.detached(str(exc) if exc else "connection closed")
        if self.on_closed is not None:
            self.on_closed(self)
        if not self.closed.done():
            self.closed.set_result(None)


class FixInitiator:
    """Connects to the counterparty and keeps the session up: reconnects with exponential
    backoff, inside the session schedule."""

    def __init__(self, session: FixSession, host: str, port: int):
        self.session = session
        self.host, self.port = host, port
        self._task: asyncio.Task | None = None
        self._stopping = False
        self.connects = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="fix-initiator")

    async def _run(self) -> None:
        cfg = self.session.config
        delay = cfg.reconnect_min_s
        loop = asyncio.get_running_loop()
        while not self._stopping:
            if not self.session.schedule.is_open(self.session.clock()):
                await asyncio.sleep(1.0)
                continue
            try:
                _, connection = await loop.create_connection(lambda: FixConnection(self.session), self.host,
                                                             self.port)
            except OSError as exc:
                log.info("FIX connect to %s:%d failed (%s); retrying in %.1f s", self.host, self.port, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, cfg.reconnect_max_s)
                continue
            self.connects += 1
            logons = self.session.logons
            await connection.closed
            if self.session.logons > logons:  # it was up: start the backoff again from the bottom
                delay = cfg.reconnect_min_s
            if not self._stopping:
                await asyncio.sleep(delay)
                delay = min(delay * 2, cfg.reconnect_max_s)

    async def stop(self, text: str = "gateway stopping") -> None:
        self._stopping = True
        connection = self.session.connection
        if connection is not None and self.session.active:
            self.session.logout(text)
            try:
                await asyncio.wait_for(asyncio.shield(connection.closed), self.session.config.logout_timeout_s)
            except asyncio.TimeoutError:
                connection.close()
        elif connection is not None:
            connection.close()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self.session.close()


class FixAcceptor:
    """Listens for counterparties; each connection is attached to the configured session its
    Logon names (SenderCompID, TargetCompID). A second connection for a session already
    connected is refused."""

    def __init__(self, sessions: list[FixSession], host: str = "127.0.0.1", port: int = 0):
        self.sessions = {(s.target, s.sender): s for s in sessions}
        self.host, self.port = host, port
        self.logon_timeout_s = min(s.config.logon_timeout_s for s in sessions)
        self.server: asyncio.base_events.Server | None = None
        self.connections: set[FixConnection] = set()

    def _resolve(self, logon: FixMessage) -> FixSession | None:
        if logon.msg_type != t.LOGON:
            log.warning("FIX acceptor: first message is not a Logon; connection closed")
            return None
        session = self.sessions.get((logon.get(t.SENDER_COMP_ID), logon.get(t.TARGET_COMP_ID)))
        if session is None:
            log.warning("FIX acceptor: unknown session %r -> %r", logon.get(t.SENDER_COMP_ID),
                        logon.get(t.TARGET_COMP_ID))
            return None
        if session.connection is not None:
            log.warning("FIX acceptor: %s is already connected", session.config.session_id)
            return None
        if not session.schedule.is_open(session.clock()):
            log.warning("FIX acceptor: %s is outside its schedule", session.config.session_id)
            return None
        return session

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: self._track(FixConnection(resolve=self._resolve, on_closed=self.connections.discard,
                                              logon_timeout_s=self.logon_timeout_s)),
            self.host, self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    def _track(self, connection: FixConnection) -> FixConnection:
        self.connections.add(connection)
        return connection

    def drop_connections(self) -> None:
        """Cut every TCP connection without a Logout (tests of a broken session)."""
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.abort()

    async def stop(self) -> None:
        for session in self.sessions.values():
            if session.active:
                session.logout("acceptor stopping")
        await asyncio.sleep(0)
        for connection in list(self.connections):
            connection.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        for session in self.sessions.values():
            session.close()
