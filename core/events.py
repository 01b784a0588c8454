"""Events: what a command did, readable by clients, operators and risk officers.

Events are derived from a command and the `Outcome` the engine gave it (see
`core.machine`), so they are never journaled: replay regenerates them exactly.
Amounts in fen, prices in fen, ratios in bp (-1: infinite).
"""

from __future__ import annotations

from typing import Literal, Union

import msgspec

from .liquidation import ChildOrder, Skip


class Event(msgspec.Struct, tag_field="event", frozen=True, kw_only=True, gc=False):
    """Base of every event; `seq` is the journal sequence number of the command behind it.
    Events hold numbers, strings and lists of plain structs, never themselves: gc=False."""

    seq: int = 0


class AccountOpened(Event, tag="account_opened"):
    account: int
    tier: str
    name: str


class CommandRefused(Event, tag="command_refused"):
    """An operator, broker or market input the engine refused; nothing changed."""

    command: str
    code: int
    reason: str
    detail: str


class TierSet(Event, tag="tier_set"):
    account: int
    tier: str


class Deposited(Event, tag="deposited"):
    account: int
    amount: int
    cash: int


class Withdrawn(Event, tag="withdrawn"):
    account: int
    amount: int
    cash: int


class AccountFlagSet(Event, tag="account_flag_set"):
    account: int
    flag: str
    on: bool


class ControlSet(Event, tag="control_set"):
    control: str
    on: bool


class LinesRaised(Event, tag="lines_raised"):
    bp: int


class InstrumentHalted(Event, tag="instrument_halted"):
    instrument: str
    halted: bool


class OrderAccepted(Event, tag="order_accepted"):
    order: int
    account: int
    instrument: str
    side: str
    price: int
    qty: int
    client_order_id: str | None
    reserved: int  # fen held for a buy (notional and fees at the limit); 0 for a sell
    liquidation: bool


class OrderRejected(Event, tag="order_rejected"):
    account: int
    instrument: str
    side: int
    price: int
    qty: int
    client_order_id: str | None
    code: int
    reason: str
    detail: str


class CancelRequested(Event, tag="cancel_requested"):
    order: int
    account: int
    reason: str = ""  # set when the platform cancels (liquidation), empty for a client's request


class OrderAcknowledged(Event, tag="order_acknowledged"):
    order: int
    account: int
    broker_order_id: str


class CancelRejected(Event, tag="cancel_rejected"):
    order: int
    account: int
    reason: str
    state: str  # where the order is now


class OrderCanceled(Event, tag="order_canceled"):
    order: int
    account: int
    reason: str  # canceled, expired, rejected (by the broker)
    canceled_qty: int
    detail: str = ""  # the broker's words


class OrderFilled(Event, tag="order_filled"):
    order: int
    account: int
    instrument: str
    side: str
    qty: int
    price: int
    exec_id: str
    commission: int
    stamp_duty: int
    transfer_fee: int
    debt_drawn: int
    interest_repaid: int
    debt_repaid: int
    to_insurance_pool: int
    filled: int
    remaining: int


class MarginStateChanged(Event, tag="margin_state_changed"):
    account: int
    old: str
    new: str
    collateral_ratio_bp: int


class Alert(Event, tag="alert"):
    account: int
    level: Literal["info", "warning", "critical"]
    state: str
    collateral_ratio_bp: int
    message: str


class LiquidationStaged(Event, tag="liquidation_staged"):
    """One stage of an account's automatic liquidation: what it had to sell, the child orders it
    placed and why, and what it skipped and why."""

    account: int
    stage: int
    state: str
    collateral_ratio_bp: int
    to_sell: int
    everything: bool
    in_flight: int
    orders: tuple[ChildOrder, ...]
    skipped: tuple[Skip, ...]
    waiting: bool
    next_ts: int


class DefaultCovered(Event, tag="default_covered"):
    """The default waterfall covered an account's shortfall: the pool, then the backstop line,
    then a receivable from the client."""

    account: int
    shortfall: int
    from_pool: int
    from_backstop: int
    to_receivable: int
    insurance_pool: int  # balances after the step
    backstop_drawn: int


class ReceivableRecovered(Event, tag="receivable_recovered"):
    account: int
    amount: int
    receivable: int  # what the client still owes


class InsurancePoolFunded(Event, tag="insurance_pool_funded"):
    amount: int
    insurance_pool: int


class DefaultCleared(Event, tag="default_cleared"):
    account: int


class ReconciliationReported(Event, tag="reconciliation"):
    day: str
    accounts: int
    breaks: list[dict]  # account, item, ours, theirs, difference


class DayRolled(Event, tag="day_rolled"):
    day: str  # ISO date


class Reconfigured(Event, tag="reconfigured"):
    tiers: list[str]


AnyEvent = Union[
    AccountOpened, CommandRefused, TierSet, Deposited, Withdrawn, AccountFlagSet, ControlSet, LinesRaised,
    InstrumentHalted, OrderAccepted, OrderRejected, CancelRequested, OrderCanceled, OrderFilled,
    MarginStateChanged, Alert, DayRolled, Reconfigured, OrderAcknowledged, CancelRejected, LiquidationStaged,
    DefaultCovered, ReceivableRecovered, DefaultCleared, ReconciliationReported, InsurancePoolFunded,
]
