"""The engine's whole state as plain data: what a snapshot stores and recovery loads.

Both engines export the same `EngineState` for the same history (the differential
tests hold them to it) and can load one exported by the other. Only primary
facts are stored; everything the engines derive (limit prices, reservations,
market values, open-order counts, indexes) is recomputed on load, so a snapshot
cannot carry an inconsistency between a fact and its summary.
"""

from __future__ import annotations

import msgspec

ClientOrderId = str | int


class InstrumentState(msgspec.Struct, array_like=True, frozen=True):
    prev_close: int
    mark: int
    halted: bool
    lock: int


class AccountState(msgspec.Struct, array_like=True, frozen=True):
    tier: int
    state: int
    active: bool
    frozen: bool
    reduce_only_manual: bool
    killed: bool
    cash: int
    debt: int
    accrued_interest: int
    deposits: int
    withdrawals: int
    sell_cash_today: int
    tokens: int
    token_time: int
    client_order_ids: list[ClientOrderId]
    margin_call_day: int = 0  # trading day the margin call began (0: none)
    margin_call_deadline_ns: int = 0  # 0 until the next day roll sets it
    receivable: int = 0  # a default's shortfall recorded against the client


class PositionState(msgspec.Struct, array_like=True, frozen=True):
    account: int
    instrument: int
    start_of_day: int
    bought_today: int
    sold_today: int


class OrderState(msgspec.Struct, array_like=True, frozen=True):
    order: int
    account: int
    instrument: int
    side: int
    price: int
    qty: int
    filled: int
    cum_notional: int
    commission_paid: int
    status: int
    liquidation: bool
    marginable: bool


class EngineState(msgspec.Struct, frozen=True, kw_only=True):
    trading_day: int
    next_order_id: int
    global_kill: bool
    halt_buys: bool
    halt_deposits: bool
    halt_accounts: bool
    line_raise_bp: int
    insurance_pool: int
    commission_income: int
    stamp_duty_collected: int
    transfer_fees_collected: int
    interest_income: int
    instruments: list[InstrumentState]
    accounts: list[AccountState]
    positions: list[PositionState]  # sorted by (account, instrument)
    orders: list[OrderState]  # today's book, by order id
    # the default waterfall (fen): the backstop line drawn, receivables outstanding and recovered,
    # and what covered the shortfalls so far
    backstop_drawn: int = 0
    receivables: int = 0
    receivables_recovered: int = 0
    covered_by_pool: int = 0
    covered_by_backstop: int = 0
    covered_by_receivable: int = 0
    insurance_funded: int = 0  # paid into the pool by the platform, beyond the interest share


def sorted_client_order_ids(ids) -> list[ClientOrderId]:
    """A set of client order ids in a canonical order (strings and integers may mix)."""
    return sorted(ids, key=lambda c: (isinstance(c, str), c))


def check_compatible(state: EngineState, n_instruments: int, n_tiers: int) -> None:
    """Refuse a state that does not fit the engine's universe and tiers, naming what differs."""
    if len(state.instruments) != n_instruments:
        raise ValueError(f"snapshot has {len(state.instruments)} instruments, the engine {n_instruments}")
    for n, a in enumerate(state.accounts):
        if not 0 <= a.tier < n_tiers:
            raise ValueError(f"snapshot account {n} has tier {a.tier}; the engine has {n_tiers} tiers")
    expected = state.next_order_id - len(state.orders)
    for k, o in enumerate(state.orders):
        if o.order != expected + k:
            raise ValueError(f"snapshot orders must be today's contiguous ids; found {o.order} at {k}")
        if not (0 <= o.account < len(state.accounts) and 0 <= o.instrument < n_instruments):
            raise ValueError(f"snapshot order {o.order} names an unknown account or instrument")
    for p in state.positions:
        if not (0 <= p.account < len(state.accounts) and 0 <= p.instrument < n_instruments):
            raise ValueError(f"snapshot position ({p.account}, {p.instrument}) is out of range")
