"""The broker simulator as a FIX 4.4 acceptor: the same BrokerCore (the exchange's rules,
matching, custodian books) behind a FIX session instead of the in-process interface.

Orders arrive as NewOrderSingle and OrderCancelRequest; the core's execution reports go
back as ExecutionReport or OrderCancelReject; OrderStatusRequest is answered with an
ExecutionReport of ExecType I. Reports that happen while the session is down (a resting
order filled by the market) are numbered and stored, not lost: the counterparty sees the
gap at its next Logon and asks for them.

Something must feed the core the market (`on_market`): the standalone process
(`python -m simulators.broker --fix`) plays a market scenario itself; tests feed it ticks.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from gateway.fix import tags as t
from gateway.fix._codec import FixError, FixMessage
from gateway.fix.mapping import (
    execution_report, order_cancel_reject, parse_cancel, parse_new_order,
)
from gateway.fix.session import FixAcceptor, FixSession, SessionConfig
from simulators.market.messages import MarketMessage

from .core import BrokerCore
from .interface import ExecutionReport

log = logging.getLogger("beacon.broker.fix")


class FixBrokerSimulator:
    """BrokerCore behind a FIX acceptor, for one counterparty session."""

    def __init__(self, core: BrokerCore, session: SessionConfig, host: str = "127.0.0.1", port: int = 0,
                 clock: Callable[[], int] = time.time_ns):
        self.core = core
        self.clock = clock
        self.session = FixSession(session, self, initiator=False)
        self.acceptor = FixAcceptor([self.session], host, port)
        self.received: list[FixMessage] = []  # application messages, for tests and the console

    @property
    def books(self):
        return self.core.books

    async def start(self) -> int:
        """Listen; returns the port."""
        return await self.acceptor.start()

    async def stop(self) -> None:
        await self.acceptor.stop()

    # ------------------------------------------------------------------ the session's application
    def on_logon(self, session: FixSession) -> None:
        log.info("FIX broker: %s logged on", session.config.target_comp_id)

    def on_logout(self, session: FixSession, reason: str) -> None:
        log.info("FIX broker: %s gone: %s", session.config.target_comp_id, reason)

    def on_message(self, session: FixSession, message: FixMessage) -> None:
        self.received.append(message)
        msg_type = message.msg_type
        now = self.clock()
        if msg_type == t.NEW_ORDER_SINGLE:
            self._new_order(session, message, now)
        elif msg_type == t.ORDER_CANCEL_REQUEST:
            self._cancel(session, message, now)
        elif msg_type == t.ORDER_STATUS_REQUEST:
            self._status(session, message, now)
        elif msg_type in (t.REJECT, t.BUSINESS_MESSAGE_REJECT):
            log.warning("FIX broker: the counterparty refused our message %s: %s", message.get(t.REF_SEQ_NUM),
                        message.get_str(t.TEXT))
        else:
            session.business_reject(message, t.BIZ_UNSUPPORTED_MSG_TYPE,
                                    f"MsgType {message.msg_type.decode('latin-1')} is not supported")

    def _new_order(self, session: FixSession, message: FixMessage, now: int) -> None:
        try:
            order = parse_new_order(message)
        except FixError as exc:
            cl_ord_id = message.get(t.CL_ORD_ID)
            if cl_ord_id is None or exc.tag in (t.CL_ORD_ID,):
                session.reject(message, t.REQUIRED_TAG_MISSING if "missing" in exc.reason else t.VALUE_INCORRECT,
                               str(exc), exc.tag)
                return
            # an order we can name but not take: an ExecutionReport rejecting it, saying why
            report = ExecutionReport(
                cl_ord_id=cl_ord_id.decode("latin-1"), broker_order_id="", exec_id=f"REJ-{self.clock()}",
                exec_type="rejected", status="rejected", account=message.get_str(t.ACCOUNT),
                instrument=message.get_str(t.SYMBOL) if len(message.get(t.SYMBOL, b"")) == 6 else "",
                side=1 if message.get(t.SIDE) != b"2" else 2, price=0, qty=0, reason=f"INVALID_ORDER: {exc}", ts=now)
            self._send_report(report, now)
            return
        self._send_reports(self.core.submit(order, now), now)

    def _cancel(self, session: FixSession, message: FixMessage, now: int) -> None:
        try:
            orig, cancel_id = parse_cancel(message)
        except FixError as exc:
            session.reject(message, t.REQUIRED_TAG_MISSING if "missing" in exc.reason else t.VALUE_INCORRECT,
                           str(exc), exc.tag)
            return
        for report in self.core.cancel(orig, now):
            if report.exec_type == "cancel_rejected":
                self.session.send(t.ORDER_CANCEL_REJECT, order_cancel_reject(report, cancel_id, now),
                                  store_when_down=True)
            else:
                self._send_report(report, now)

    def _status(self, session: FixSession, message: FixMessage, now: int) -> None:
        cl_ord_id = message.get_str(t.CL_ORD_ID)
        order = self.core.orders.get(cl_ord_id)
        if order is None:
            report = ExecutionReport(cl_ord_id=cl_ord_id or "?", broker_order_id="", exec_id=f"STATUS-{now}",
                                     exec_type="rejected", status="rejected", account=message.get_str(t.ACCOUNT),
                                     instrument=message.get_str(t.SYMBOL), side=int(message.get(t.SIDE, b"1")),
                                     price=0, qty=0, reason="UNKNOWN_ORDER", ts=now)
        else:
            report = self.core.status_report(order, now)
        self.session.send(t.EXECUTION_REPORT, execution_report(report, now, status_request=True),
                          store_when_down=True)

    # ------------------------------------------------------------------ reports out
    def _send_reports(self, reports: list[ExecutionReport], now: int) -> None:
        for report in reports:
            self._send_report(report, now)

    def _send_report(self, report: ExecutionReport, now: int) -> None:
        self.session.send(t.EXECUTION_REPORT, execution_report(report, now), store_when_down=True)

    # ------------------------------------------------------------------ the market
    def on_market(self, message: MarketMessage) -> None:
        """A market message: resting orders may fill (reports go out, or are stored while down)."""
        self._send_reports(self.core.on_market(message), getattr(message, "ts", 0) or self.clock())
