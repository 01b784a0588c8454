# cython: annotation_typing=False
"""Today's orders as clients and operators see them: the order state machine, client order ids,
broker ids and fills.

The engine keeps what risk needs (reservations, remainders). This registry keeps the rest
of an order's life, and it lives in the machine: it changes only through commands, is
journaled and snapshotted with everything else, and so is rebuilt exactly after a restart.

    pending_new ──broker ack──> new ──fill──> partially_filled ──fill──> filled
         │                       │                  │
         └──────cancel request───┴──────────────────┴──> cancel_pending ──(cancel rejected: back)
                                                                 │
    any open state ──closed by the broker──> canceled | expired | rejected

A fill is accepted in any open state (a fill can overtake the broker's ack or race a cancel).
"""

from __future__ import annotations

import enum

import msgspec

from core.shardmap import ACCOUNT_SHARDS, ShardedDict, ShardedSet


class OrderState(str, enum.Enum):
    PENDING_NEW = "pending_new"  # passed the risk checks, journaled, sent to the broker
    NEW = "new"  # acknowledged by the broker
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCEL_PENDING = "cancel_pending"
    CANCELED = "canceled"
    REJECTED = "rejected"  # refused by the broker (a risk rejection never becomes an order)
    EXPIRED = "expired"

    @property
    def open(self) -> bool:
        return self in _OPEN


_OPEN = frozenset({OrderState.PENDING_NEW, OrderState.NEW, OrderState.PARTIALLY_FILLED,
                   OrderState.CANCEL_PENDING})
_CLOSED_BY = {"canceled": OrderState.CANCELED, "expired": OrderState.EXPIRED, "rejected": OrderState.REJECTED}

#: (state, event) -> next state. Events: ack, fill (not complete), fill_complete, cancel, cancel_rejected,
#: and closed:<reason>. A pair that is not here is a transition the order cannot make.
TRANSITIONS: dict[tuple[OrderState, str], OrderState] = {}
for _state in _OPEN:
    TRANSITIONS[(_state, "fill_complete")] = OrderState.FILLED
    for _reason, _target in _CLOSED_BY.items():
        TRANSITIONS[(_state, f"closed:{_reason}")] = _target
TRANSITIONS.update({
    (OrderState.PENDING_NEW, "ack"): OrderState.NEW,
    (OrderState.NEW, "ack"): OrderState.NEW,  # a repeated ack changes nothing
    (OrderState.PARTIALLY_FILLED, "ack"): OrderState.PARTIALLY_FILLED,  # the ack overtaken by a fill
    (OrderState.CANCEL_PENDING, "ack"): OrderState.CANCEL_PENDING,
    (OrderState.PENDING_NEW, "fill"): OrderState.PARTIALLY_FILLED,
    (OrderState.NEW, "fill"): OrderState.PARTIALLY_FILLED,
    (OrderState.PARTIALLY_FILLED, "fill"): OrderState.PARTIALLY_FILLED,
    (OrderState.CANCEL_PENDING, "fill"): OrderState.CANCEL_PENDING,
    (OrderState.PENDING_NEW, "cancel"): OrderState.CANCEL_PENDING,
    (OrderState.NEW, "cancel"): OrderState.CANCEL_PENDING,
    (OrderState.PARTIALLY_FILLED, "cancel"): OrderState.CANCEL_PENDING,
})


class OrderRecord(msgspec.Struct, kw_only=True, gc=False):
    """One order as the gateway tracks it. Numbers and strings only, so never part of a
    reference cycle: gc=False keeps a day's orders out of the cyclic collector's scans."""

    order: int
    account: int
    client_order_id: str | None
    instrument: str
    side: int
    price: int
    qty: int
    filled: int = 0
    state: OrderState = OrderState.PENDING_NEW
    broker_order_id: str = ""
    reason: str = ""  # why it closed, when the broker said
    ts: int = 0  # when it was placed
    liquidation: bool = False

    @property
    def remaining(self) -> int:
        return remaining_of(self.qty, self.filled, self.state)


def remaining_of(qty: int, filled: int, state: OrderState) -> int:
    """Shares an order may still fill: none once it is closed. The rule of OrderRecord.remaining, as a
    function the compiled gateway calls with a record's fields read from their slots (core/orders.pxd),
    where the property costs a lookup and reads the fields by name."""
    return qty - filled if state in _OPEN else 0  # (not state.open: a call less per update)


class FillRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    order: int
    account: int
    instrument: str
    side: int
    qty: int
    price: int
    exec_id: str
    commission: int
    stamp_duty: int
    transfer_fee: int
    ts: int


class OrderRegistry:
    """Today's orders by id and by (account, client order id), and today's fills."""

    def __init__(self) -> None:
        # Sharded: these gain an entry with every order (or fill) of the day, and a plain dict's
        # resize at a million entries stops the loop for tens of milliseconds (core/shardmap.py).
        self.orders: ShardedDict = ShardedDict()  # order id -> record; records() for them in order
        # account -> its client order ids -> order id. Per account rather than keyed by an
        # (account, client order id) tuple: a table of strings to ints is one the cyclic collector
        # leaves alone, where tuples as keys made it walk every entry (core/shardmap.py, ShardedSet).
        self._by_client_id: dict[int, ShardedDict] = {}
        self.fills: list[FillRecord] = []
        self.exec_ids: ShardedSet = ShardedSet()
        self._open: dict[int, ShardedDict] = {}  # account -> its open orders by id

    def add(self, record: OrderRecord) -> None:
        order, account, client_order_id = record.order, record.account, record.client_order_id  # read once
        self.orders.put(order, record)
        if client_order_id is not None:
            ids = self._by_client_id.get(account)
            if ids is None:
                ids = self._by_client_id[account] = ShardedDict(shards=ACCOUNT_SHARDS)
            ids.put(client_order_id, order)
        if record.state in _OPEN:
            book = self._open.get(account)
            if book is None:
                book = self._open[account] = ShardedDict(shards=ACCOUNT_SHARDS)
            book.put(order, record)

    def records(self, account: int | None = None) -> list[OrderRecord]:
        """Today's orders (one account's, if given), oldest first (the table itself keeps no order)."""
        found = self.orders.values()
        if account is not None:
            found = [r for r in found if r.account == account]
        return sorted(found, key=_order_id)

    def find(self, account: int, client_order_id: str) -> OrderRecord | None:
        ids = self._by_client_id.get(account)
        order = None if ids is None else ids.get(client_order_id)
        return None if order is None else self.orders.get(order)

    def move(self, order: int, event: str) -> OrderRecord:
        """Apply an event to an order's state; ValueError if the order cannot make that transition."""
        record = self.try_move(order, event)
        if record is None:
            record = self.orders[order]  # (KeyError for an order that does not exist)
            raise ValueError(f"order {order} in state {record.state.value} cannot take '{event}'")
        return record

    def try_move(self, order: int, event: str) -> OrderRecord | None:
        """Apply an event to an order's state, if the order exists and can make that transition;
        None (and nothing changed) if not: one lookup where asking first and then moving takes two."""
        record = self.orders.get(order)
        if record is None:
            return None
        target = TRANSITIONS.get((record.state, event))
        if target is None:
            return None
        record.state = target
        if target not in _OPEN:
            book = self._open.get(record.account)
            if book is not None:
                book.pop(order, None)
        return record

    def cancel_rejected(self, order: int) -> OrderRecord:
        """A cancel the broker refused: the order goes back to where it was (or on, if it filled meanwhile)."""
        record = self.orders[order]
        if record.state is not OrderState.CANCEL_PENDING:
            raise ValueError(f"order {order} in state {record.state.value} has no cancel pending")
        if record.filled:
            record.state = OrderState.PARTIALLY_FILLED
        else:
            record.state = OrderState.NEW if record.broker_order_id else OrderState.PENDING_NEW
        return record

    def fill(self, record: FillRecord) -> OrderRecord:
        order = self.orders[record.order]
        order.filled += record.qty
        self.move(record.order, "fill_complete" if order.filled == order.qty else "fill")
        self.fills.append(record)
        self.exec_ids.add(record.exec_id)
        return order

    def open_orders(self, account: int) -> list[OrderRecord]:
        """The account's open orders, oldest first."""
        book = self._open.get(account)
        return [] if book is None else sorted(book.values(), key=_order_id)

    def open_of(self, account: int):
        """The account's open orders, in no particular order (a cheap view)."""
        book = self._open.get(account)
        return [] if book is None else book.values()

    def roll(self) -> None:
        """A new trading day: day orders are over, and today's book starts empty."""
        self.orders.clear()
        self._by_client_id.clear()
        self.fills.clear()
        self.exec_ids.clear()
        self._open.clear()

    # snapshots
    def export(self) -> tuple[list[OrderRecord], list[FillRecord]]:
        return [msgspec.structs.replace(r) for r in self.records()], list(self.fills)

    def load(self, orders: list[OrderRecord], fills: list[FillRecord]) -> None:
        self.roll()
        for record in orders:
            self.add(msgspec.structs.replace(record))
        self.fills = list(fills)
        self.exec_ids = ShardedSet(f.exec_id for f in fills)


def _order_id(record: OrderRecord) -> int:
    return record.order
