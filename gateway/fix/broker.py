"""The gateway's broker over FIX 4.4: the `Broker` interface of simulators/broker/interface.py
on a FIX initiator session.

- `submit` sends a NewOrderSingle, `cancel` an OrderCancelRequest. While the session is not
  logged on both raise BrokerUnavailable: the gateway rejects the order with a clear code
  rather than queueing it where nobody can see it.
- Execution reports come back in sequence order. A fill is applied once: the session layer
  drops PossDup resends of what was already processed, and the ExecID is remembered for the
  day as a second guard.
- On every Logon the session layer first asks for what was missed (ResendRequest), then
  every order still open is asked after with an OrderStatusRequest; a status that shows the
  order closed without our having heard (canceled, expired, rejected) closes it here too.
  A status whose filled quantity differs from what was applied is a break an operator must
  look at: it is logged and counted, never guessed into a fill.
- A session Reject or BusinessMessageReject of an order we sent rejects that order.
"""

from __future__ import annotations

import logging
import secrets
import time
from pathlib import Path
from typing import Annotated, AsyncIterator

import msgspec
from msgspec import Meta

from core.shardmap import ShardedDict, ShardedSet
from simulators.broker.interface import (
    BrokerMessage, BrokerUnavailable, CancelRequest, ConnectionStatus, ExecutionReport, NewOrder, ReportStream,
)

from . import mapping
from . import tags as t
from ._codec import FixError, FixMessage
from .session import FixInitiator, FixSession, SessionConfig, SessionDown

log = logging.getLogger("beacon.fix.broker")


class FixSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=1, le=65_535)] = 9878
    sender_comp_id: str = "BEACON"
    target_comp_id: str = "BROKER"
    heartbeat_s: Annotated[float, Meta(ge=0)] = 30.0  # HeartBtInt (0: none)
    reset_on_logon: bool = False
    store_dir: str = ""  # default: <journal directory>/fix
    fsync: bool = False
    start_time: str = "00:00:00"  # the session schedule, local time; equal start and end: always
    end_time: str = "00:00:00"
    timezone: str = "Asia/Shanghai"
    reconnect_min_s: Annotated[float, Meta(gt=0)] = 0.5  # (0 would redial without waiting, for ever)
    reconnect_max_s: Annotated[float, Meta(gt=0)] = 30.0
    # ClOrdIDs on the wire are "<prefix>-<order id>", so that a fresh journal (order ids from 1
    # again) never reuses one the broker has seen. "auto": a token made once and kept in the
    # store directory (with the journal, so a restart keeps it); "": the bare order id.
    cl_ord_id_prefix: str = "auto"

    def session(self, store_dir: str) -> SessionConfig:
        return SessionConfig(sender_comp_id=self.sender_comp_id, target_comp_id=self.target_comp_id,
                             heartbeat_s=self.heartbeat_s, reset_on_logon=self.reset_on_logon,
                             store_dir=self.store_dir or store_dir, fsync=self.fsync, start_time=self.start_time,
                             end_time=self.end_time, timezone=self.timezone, reconnect_min_s=self.reconnect_min_s,
                             reconnect_max_s=self.reconnect_max_s)


class _Order(msgspec.Struct, gc=False):
    """An order sent and not yet finished. Never part of a cycle: gc=False keeps a day's orders out
    of the cyclic collector's full scans."""

    new: NewOrder
    cum_qty: int = 0
    cum_notional: int = 0
    seq: int = 0


class FixBroker:
    def __init__(self, settings: FixSettings, store_dir: str, clock=time.time_ns):
        self.settings = settings
        self.clock = clock
        self.session = FixSession(settings.session(store_dir), self, initiator=True)
        self.initiator = FixInitiator(self.session, settings.host, settings.port)
        self.connected = False
        self.books = None  # no custodian statement over FIX: reconciliation is not available
        self.orders: dict[str, _Order] = {}  # open orders by ClOrdID
        # both grow with every order or fill of the session (core/shardmap.py)
        self._by_seq: ShardedDict = ShardedDict()  # MsgSeqNum of a NewOrderSingle -> its ClOrdID
        self._exec_ids: ShardedSet = ShardedSet()
        self.stream = ReportStream()
        self._cancel_no = 0
        self.status_breaks: list[str] = []
        self.prefix = _prefix(settings.cl_ord_id_prefix, self.session.config.store_dir)
        self.counters = {"duplicate_exec_ids": 0, "status_requests": 0, "status_closed": 0, "status_breaks": 0}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.initiator.start()

    def restore(self, orders: list[tuple[NewOrder, int, int]]) -> None:
        """Open orders known from the journal after a restart: (order, filled qty, filled notional).
        They are asked after at the next Logon."""
        for new, cum_qty, cum_notional in orders:
            new = msgspec.structs.replace(new, cl_ord_id=self.wire(new.cl_ord_id))
            self.orders[new.cl_ord_id] = _Order(new, cum_qty, cum_notional)

    async def close(self) -> None:
        await self.initiator.stop()

    @property
    def idle(self) -> bool:
        return self.stream.empty()

    # ------------------------------------------------------------------ the Broker interface
    def wire(self, cl_ord_id: str) -> str:
        return f"{self.prefix}-{cl_ord_id}" if self.prefix else cl_ord_id

    def _ours(self, wire_id: str) -> str:
        if self.prefix and wire_id.startswith(self.prefix + "-"):
            return wire_id[len(self.prefix) + 1:]
        return wire_id

    async def submit(self, order: NewOrder) -> None:
        self.submit_nowait(order)

    async def cancel(self, request: CancelRequest) -> None:
        self.cancel_nowait(request)

    def submit_nowait(self, order: NewOrder) -> None:
        order = msgspec.structs.replace(order, cl_ord_id=self.wire(order.cl_ord_id))
        try:
            seq = self.session.send(t.NEW_ORDER_SINGLE, mapping.new_order_single(order, self.clock()))
        except SessionDown as exc:
            raise BrokerUnavailable(str(exc)) from None
        self.orders[order.cl_ord_id] = _Order(order)
        self._by_seq.put(seq, order.cl_ord_id)

    def cancel_nowait(self, request: CancelRequest) -> None:
        request = CancelRequest(cl_ord_id=self.wire(request.cl_ord_id))
        known = self.orders.get(request.cl_ord_id)
        if known is None:
            self.stream.put(ExecutionReport(
                cl_ord_id=self._ours(request.cl_ord_id), broker_order_id="",
                exec_id=f"LOCAL-CXL-{request.cl_ord_id}",
                exec_type="cancel_rejected", status="rejected", account="", instrument="", side=0, price=0, qty=0,
                reason="UNKNOWN_ORDER: not open at the broker"))
            return
        self._cancel_no += 1
        cancel_id = f"{request.cl_ord_id}-C{self._cancel_no}"
        try:
            self.session.send(t.ORDER_CANCEL_REQUEST,
                              mapping.order_cancel_request(request, cancel_id, known.new, self.clock()))
        except SessionDown as exc:
            raise BrokerUnavailable(str(exc)) from None

    def reports(self) -> AsyncIterator[BrokerMessage]:
        return self.stream.__aiter__()

    def on_market(self, message) -> None:
        """A FIX broker sees the market itself."""

    def advance(self, ts: int) -> None:
        pass

    # ------------------------------------------------------------------ the session's application
    def on_logon(self, session: FixSession) -> None:
        self.connected = True
        self.stream.put(ConnectionStatus(connected=True, reason="FIX session logged on", ts=self.clock()))
        for order in list(self.orders.values()):
            self.counters["status_requests"] += 1
            session.send(t.ORDER_STATUS_REQUEST, mapping.order_status_request(order.new))

    def on_logout(self, session: FixSession, reason: str) -> None:
        self.connected = False
        self.stream.put(ConnectionStatus(connected=False, reason=f"FIX session down: {reason}",
                                                ts=self.clock()))

    def on_message(self, session: FixSession, message: FixMessage) -> None:
        msg_type = message.msg_type
        try:
            if msg_type == t.EXECUTION_REPORT:
                self._execution_report(session, message)
            elif msg_type == t.ORDER_CANCEL_REJECT:
                report = mapping.parse_cancel_reject(message)
                self.stream.put(msgspec.structs.replace(report, cl_ord_id=self._ours(report.cl_ord_id)))
            elif msg_type == t.REJECT:
                self._refused(message.get_int(t.REF_SEQ_NUM, 0), None, f"FIX session Reject: {message.get_str(t.TEXT)}")
            elif msg_type == t.BUSINESS_MESSAGE_REJECT:
                self._refused(message.get_int(t.REF_SEQ_NUM, 0), message.get_str(t.BUSINESS_REJECT_REF_ID) or None,
                              f"FIX BusinessMessageReject: {message.get_str(t.TEXT)}")
            else:
                session.business_reject(message, t.BIZ_UNSUPPORTED_MSG_TYPE,
                                        f"MsgType {msg_type.decode('latin-1')} is not supported")
        except FixError as exc:
            log.error("FIX message refused: %s: %r", exc, message)
            session.reject(message, t.REQUIRED_TAG_MISSING if "missing" in exc.reason else t.VALUE_INCORRECT,
                           str(exc), exc.tag)

    def _execution_report(self, session: FixSession, message: FixMessage) -> None:
        cl_ord_id = message.get_str(t.CL_ORD_ID)
        known = self.orders.get(cl_ord_id)
        report, status_answer = mapping.parse_execution_report(message, known.new if known else None)
        if status_answer:
            self._status(report, known)
            return
        if report.exec_id in self._exec_ids:
            self.counters["duplicate_exec_ids"] += 1
            log.warning("FIX: execution %s already applied; ignored", report.exec_id)
            return
        self._exec_ids.add(report.exec_id)
        if known is not None:
            if report.exec_type in ("fill", "partial_fill"):
                known.cum_qty += report.last_qty
                known.cum_notional += report.last_qty * report.last_px
            report = msgspec.structs.replace(report, cum_notional=known.cum_notional)
            if report.status not in ("new", "partially_filled"):
                del self.orders[cl_ord_id]
        self.stream.put(msgspec.structs.replace(report, cl_ord_id=self._ours(report.cl_ord_id)))

    def _status(self, report: ExecutionReport, known: _Order | None) -> None:
        if known is None:
            return  # closed meanwhile: the reports that closed it came first
        if report.cum_qty != known.cum_qty:
            self.counters["status_breaks"] += 1
            text = (f"order {report.cl_ord_id}: the broker has {report.cum_qty} filled, we applied {known.cum_qty}")
            self.status_breaks.append(text)
            log.error("FIX status break: %s", text)
            return
        if report.status in ("canceled", "expired", "rejected"):
            self.counters["status_closed"] += 1
            del self.orders[report.cl_ord_id]
            exec_type = "rejected" if report.status == "rejected" else report.status
            self.stream.put(msgspec.structs.replace(
                report, cl_ord_id=self._ours(report.cl_ord_id), exec_type=exec_type,
                exec_id=f"STATUS-{report.exec_id}", cum_notional=known.cum_notional,
                reason=report.reason or f"{report.status} at the broker (found by an order status request)"))

    def _refused(self, ref_seq: int, cl_ord_id: str | None, reason: str) -> None:
        cl_ord_id = cl_ord_id or self._by_seq.get(ref_seq)
        known = self.orders.pop(cl_ord_id, None) if cl_ord_id else None
        if known is None:
            log.warning("%s (our message %d)", reason, ref_seq)
            return
        new = known.new
        self.stream.put(ExecutionReport(
            cl_ord_id=self._ours(new.cl_ord_id), broker_order_id="", exec_id=f"LOCAL-REJ-{new.cl_ord_id}",
            exec_type="rejected",
            status="rejected", account=new.account, instrument=new.instrument, side=new.side, price=new.price,
            qty=new.qty, reason=reason, ts=self.clock()))


def _prefix(setting: str, store_dir: str) -> str:
    if setting != "auto":
        return setting
    path = Path(store_dir) / "clordid-prefix"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(3).upper()  # six hex digits, made once per store
    path.write_text(token)
    return token
