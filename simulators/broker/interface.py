# cython: annotation_typing=False
"""The asynchronous broker interface the gateway uses, and the messages that cross it.

A transport implements `Broker`: the in-process simulator (simulated.py) and, later, a
FIX 4.4 session. Orders go in with `submit` and `cancel`; everything that happens to them
comes back, in order, on the broker's `stream` (a ReportStream): execution reports (new, partial fill, fill,
canceled, rejected, cancel rejected, expired) and connection changes. Prices in fen.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import AsyncIterator, Callable, Literal, Protocol, Union

import msgspec

log = logging.getLogger("beacon.broker")

ExecType = Literal["new", "partial_fill", "fill", "canceled", "rejected", "cancel_rejected", "expired"]
OrdStatus = Literal["new", "partially_filled", "filled", "canceled", "rejected", "expired"]


class BrokerUnavailable(Exception):
    """The broker cannot take requests now (disconnected); nothing was sent."""


# The messages hold numbers and strings only, never a cycle: gc=False keeps the one or more
# per order out of the cyclic collector's counts and scans.
class NewOrder(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    cl_ord_id: str  # the gateway's order id, unique
    account: str
    instrument: str  # 6-digit code
    side: int  # 1 buy, 2 sell
    price: int  # limit, fen
    qty: int
    market_like: bool = False  # an aggressive limit standing in for a market order: slippage applies


class CancelRequest(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    cl_ord_id: str


class ExecutionReport(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    cl_ord_id: str
    broker_order_id: str  # exchange-style: XSHG-20260105-00000001
    exec_id: str
    exec_type: ExecType
    status: OrdStatus
    account: str
    instrument: str
    side: int
    price: int  # the order's limit
    qty: int
    last_qty: int = 0
    last_px: int = 0
    cum_qty: int = 0
    leaves_qty: int = 0
    avg_px: int = 0  # fen, half-up of cum_notional / cum_qty
    cum_notional: int = 0
    commission: int = 0  # fees of this fill, fen
    stamp_duty: int = 0
    transfer_fee: int = 0
    reason: str = ""
    ts: int = 0


class ConnectionStatus(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    connected: bool
    reason: str = ""
    ts: int = 0


BrokerMessage = Union[ExecutionReport, ConnectionStatus]


class ReportStream:
    """A broker's reports, in the order it produced them, read one of two ways:

    - `listen(handler)`: the gateway's way. What is put is handed to the handler on the loop's
      next turn, everything put meanwhile in one callback: no queue, future or task per report
      (on the order path that is a fifth of the simulated broker's cost).
    - `async for message in stream`: for tools and tests that read a broker by itself.
    """

    def __init__(self):
        self._items: collections.deque = collections.deque()
        self._handler: Callable[[BrokerMessage], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False
        self._held = False  # a flush() is coming in this turn: put() needs no callback of its own
        self._waiter: asyncio.Future | None = None

    def put(self, message: BrokerMessage) -> None:
        self._items.append(message)
        if self._handler is not None:
            if not (self._scheduled or self._held):
                self._scheduled = True
                self._loop.call_soon(self._deliver)
        elif self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def listen(self, handler: Callable[[BrokerMessage], None]) -> None:
        """Deliver every report, from now on and any already waiting, to handler (on the running loop)."""
        self._handler = handler
        self._loop = asyncio.get_running_loop()
        if self._items and not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._deliver)

    def hold(self) -> None:
        """The caller flushes before its turn ends (the gateway, around sending a turn's orders):
        what is put until then is not given a callback on the next turn, which would find
        nothing left to deliver and cost the loop a callback per order."""
        self._held = True

    def flush(self) -> None:
        """Hand what is waiting to the handler now, instead of on the next turn. The gateway calls it
        right after sending a turn's orders, so the in-process broker's acknowledgements are applied
        in the same turn; nowhere else, so that reports caused by a tick still follow the tick."""
        self._held = False
        if self._handler is not None and self._items:
            self._deliver()

    def _deliver(self) -> None:
        self._scheduled = False
        items, handler = self._items, self._handler
        while items:
            message = items.popleft()
            try:
                handler(message)
            except Exception:  # one bad report must not stop the ones behind it
                log.exception("broker report not applied: %r", message)

    def empty(self) -> bool:
        return not self._items

    def drain(self) -> list[BrokerMessage]:
        """Everything waiting, without waiting."""
        out = list(self._items)
        self._items.clear()
        return out

    async def __aiter__(self) -> AsyncIterator[BrokerMessage]:
        while True:
            while self._items:
                yield self._items.popleft()
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


class Broker(Protocol):
    connected: bool

    async def submit(self, order: NewOrder) -> None:
        """Send a new order; raises BrokerUnavailable when it cannot be sent."""

    async def cancel(self, request: CancelRequest) -> None:
        """Ask for the remainder of an order to be canceled."""

    stream: ReportStream  # every execution report and connection change, in order

    def reports(self) -> AsyncIterator[BrokerMessage]:
        """The stream read with `async for` (the gateway listens to `stream` instead)."""

    # Both transports can send without waiting; the gateway calls these on the order path
    # (the same contract as submit and cancel, synchronously).
    def submit_nowait(self, order: NewOrder) -> None: ...

    def cancel_nowait(self, request: CancelRequest) -> None: ...
