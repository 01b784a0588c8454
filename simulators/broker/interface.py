"""The asynchronous broker interface the gateway uses, and the messages that cross it.

A transport implements `Broker`: the in-process simulator (simulated.py) and, later, a
FIX 4.4 session. Orders go in with `submit` and `cancel`; everything that happens to them
comes back, in order, from `reports()`: execution reports (new, partial fill, fill,
canceled, rejected, cancel rejected, expired) and connection changes. Prices in fen.
"""

from __future__ import annotations

from typing import AsyncIterator, Literal, Protocol, Union

import msgspec

ExecType = Literal["new", "partial_fill", "fill", "canceled", "rejected", "cancel_rejected", "expired"]
OrdStatus = Literal["new", "partially_filled", "filled", "canceled", "rejected", "expired"]


class BrokerUnavailable(Exception):
    """The broker cannot take requests now (disconnected); nothing was sent."""


class NewOrder(msgspec.Struct, frozen=True, kw_only=True):
    cl_ord_id: str  # the gateway's order id, unique
    account: str
    instrument: str  # 6-digit code
    side: int  # 1 buy, 2 sell
    price: int  # limit, fen
    qty: int
    market_like: bool = False  # an aggressive limit standing in for a market order: slippage applies


class CancelRequest(msgspec.Struct, frozen=True, kw_only=True):
    cl_ord_id: str


class ExecutionReport(msgspec.Struct, frozen=True, kw_only=True):
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


class ConnectionStatus(msgspec.Struct, frozen=True, kw_only=True):
    connected: bool
    reason: str = ""
    ts: int = 0


BrokerMessage = Union[ExecutionReport, ConnectionStatus]


class Broker(Protocol):
    connected: bool

    async def submit(self, order: NewOrder) -> None:
        """Send a new order; raises BrokerUnavailable when it cannot be sent."""

    async def cancel(self, request: CancelRequest) -> None:
        """Ask for the remainder of an order to be canceled."""

    def reports(self) -> AsyncIterator[BrokerMessage]:
        """Every execution report and connection change, in order."""

    # Both transports can send without waiting; the gateway calls these on the order path
    # (the same contract as submit and cancel, synchronously).
    def submit_nowait(self, order: NewOrder) -> None: ...

    def cancel_nowait(self, request: CancelRequest) -> None: ...
