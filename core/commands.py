"""Commands: every input that can change the engine's state, as msgspec structs.

A command is a fact about the outside world (a client's order, a broker's
execution report, a market trade, the clock, an operator's action). The
machine (`core.machine`) applies commands one at a time; the journal records
them, with the outcome each produced, so that replaying the journal rebuilds the
same state and proves the same decisions.

Schema evolution: structs are encoded as arrays, so a field may only ever be
added at the end, with a default; then journals written before it still decode.
Never remove, reorder or retype a field; add a new command instead. Tags are
short and stable; `tests/core/test_commands.py` decodes a journal written by the
first version.
"""

from __future__ import annotations

import struct
from typing import Annotated, Literal, Union

import msgspec
from msgspec import Meta

from .config import EngineConfig
from .instruments import Instrument
from .tiers import Tier
from .units import MAX_MONEY, MAX_PRICE, MAX_QUANTITY

#: The version of the command and outcome schemas written into journal headers.
SCHEMA_VERSION = 1

AccountId = Annotated[int, Meta(ge=0, le=2**31 - 1)]
OrderId = Annotated[int, Meta(ge=1, le=2**62)]
Money = Annotated[int, Meta(gt=0, le=MAX_MONEY)]
Price = Annotated[int, Meta(gt=0, le=MAX_PRICE)]
Quantity = Annotated[int, Meta(gt=0, le=MAX_QUANTITY)]
Nanos = Annotated[int, Meta(ge=0, le=2**63 - 1)]
# Instrument codes are looked up in the universe (unknown ones fail closed in the engine),
# so the schema only bounds their length; a regex here would cost a microsecond per decode.
Code = Annotated[str, Meta(max_length=16)]
ClientOrderId = Annotated[str, Meta(min_length=1, max_length=64)]


class Command(msgspec.Struct, tag_field="t", array_like=True, frozen=True, forbid_unknown_fields=True, gc=False):
    """Base of every command. Commands hold only numbers, strings and lists of plain data, so
    they can never be part of a reference cycle: gc=False keeps the millions a replay decodes
    out of the cyclic garbage collector's way."""


class Genesis(Command, tag="genesis"):
    """The first record of a journal: what the engine starts from."""

    instruments: list[Instrument]
    tiers: list[Tier]
    config: EngineConfig
    trading_day: int


class OpenAccount(Command, tag="open"):
    tier: str
    name: str = ""  # the platform's own reference for the account (for operators and audit)
    client: str = ""  # the API client that may trade it (added after schema 1 began: default "")


class SetTier(Command, tag="tier"):
    account: AccountId
    tier: str


class Deposit(Command, tag="dep"):
    account: AccountId
    amount: int  # fen; the engine refuses <= 0 with INVALID_AMOUNT, so that is journaled too


class Withdraw(Command, tag="wd"):
    account: AccountId
    amount: int


class SetAccountFlag(Command, tag="flag"):
    account: AccountId
    flag: Literal["frozen", "reduce_only", "kill", "active"]
    on: bool


class SetControl(Command, tag="ctl"):
    control: Literal["global_kill", "halt_buys", "halt_deposits", "halt_accounts", "pause_liquidation"]
    on: bool


class FundInsurancePool(Command, tag="pool"):
    """The platform pays money into the insurance pool (fen)."""

    amount: int


class ClearDefault(Command, tag="clrdef"):
    """An operator ends an account's default (allowed once it owes nothing on the margin book)."""

    account: AccountId


class RaiseLines(Command, tag="raise"):
    bp: int


class HaltInstrument(Command, tag="halt"):
    instrument: Code
    halted: bool


class PlaceOrder(Command, tag="order"):
    account: AccountId
    instrument: str
    side: int
    price: int
    qty: int
    client_order_id: str | None
    ts: Nanos  # the time the order is decided at (session, rate limit)
    liquidation: bool = False


class RefuseOrder(Command, tag="refuse"):
    """A client order the gateway refused before the checks (the broker connection is down).
    Journaled so that its client order id is remembered for the day, like every answered one."""

    account: AccountId
    instrument: str
    side: int
    price: int
    qty: int
    client_order_id: str | None
    ts: Nanos = 0


class CancelOrder(Command, tag="cxl"):
    """A request to cancel: never blocked by risk checks; the order closes when the broker confirms."""

    order: OrderId
    ts: Nanos = 0


class BrokerAck(Command, tag="ack"):
    """The broker accepted an order and gave it its id."""

    order: OrderId
    broker_order_id: str
    ts: Nanos = 0


class BrokerCancelReject(Command, tag="cxlrej"):
    """The broker refused a cancel (the order had filled, or is unknown to it)."""

    order: OrderId
    reason: str = ""
    ts: Nanos = 0


class OrderClosed(Command, tag="closed"):
    """The broker confirmed the remainder of an order is gone."""

    order: OrderId
    reason: Literal["canceled", "expired", "rejected"] = "canceled"
    ts: Nanos = 0
    detail: str = ""  # the broker's words (a rejection's reason)


class Fill(Command, tag="fill"):
    """An execution report from the broker."""

    order: OrderId
    qty: int
    price: int
    exec_id: str = ""
    ts: Nanos = 0


class Tick(Command, tag="tick"):
    """A market trade: the new mark for one instrument (and whether it is limit-locked)."""

    instrument: Code
    price: int
    lock: int = 0
    volume: int = 0
    ts: Nanos = 0


class Marks(Command, tag="marks"):
    """A full market snapshot: one price per instrument of the universe (0 keeps the mark)."""

    prices: list[int]
    ts: Nanos = 0


class ClockAdvance(Command, tag="clock"):
    ts: Nanos


class DayRoll(Command, tag="roll"):
    day: int  # date ordinal of the new trading day


class Reconfigure(Command, tag="config"):
    """New platform settings and tier table (existing tiers keep their places by name)."""

    config: EngineConfig
    tiers: list[Tier]


class Break(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """One difference between the engine's books and the custodian's (fen or shares)."""

    account: int
    item: str  # "cash", "fees" or "position <code>"
    ours: int
    theirs: int


class Reconciled(Command, tag="recon"):
    """The custodian's end-of-day statement, compared with the engine's books: what was checked
    and every break found. Recorded so that an audit shows what was known at the close."""

    day: int
    accounts: int
    breaks: list[Break] = []
    ts: Nanos = 0


AnyCommand = Union[
    Genesis, OpenAccount, SetTier, Deposit, Withdraw, SetAccountFlag, SetControl, RaiseLines,
    HaltInstrument, PlaceOrder, CancelOrder, OrderClosed, Fill, Tick, Marks, ClockAdvance, DayRoll,
    Reconfigure, BrokerAck, BrokerCancelReject, ClearDefault, Reconciled, FundInsurancePool, RefuseOrder,
]


class Outcome(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """What a command decided, in integers: the journal records it and replay must reproduce it.

    result: 0, or an id (account, order), or -code for a refusal of an id-returning command,
    or the code for a refusal of any other command. detail: the reject detail numbers, or a
    fill's (commission, stamp duty, transfer, debt drawn, interest repaid, debt repaid, to
    insurance). changes: margin state changes (account, old, new, collateral ratio bp).
    waterfall: default waterfall steps (account, kind, amount, from pool, from backstop, to
    receivable). orders: the liquidation child orders the machine placed. cancels: the orders
    the machine asked the broker to cancel (open buys of an account entering liquidation, the
    working liquidation orders of an account that reached its restore-to line).
    """

    result: int = 0
    detail: tuple[int, ...] = ()
    changes: tuple[tuple[int, int, int, int], ...] = ()
    waterfall: tuple[tuple[int, int, int, int, int, int], ...] = ()
    orders: tuple[int, ...] = ()
    cancels: tuple[int, ...] = ()


class Entry(msgspec.Struct, array_like=True, frozen=True):
    """One journal record: a command and the outcome it had."""

    command: AnyCommand
    outcome: Outcome


ENCODER = msgspec.msgpack.Encoder()
COMMAND_DECODER = msgspec.msgpack.Decoder(AnyCommand)
OUTCOME_DECODER = msgspec.msgpack.Decoder(Outcome)
_LEN = struct.Struct("<I")


def encode_entry(command: AnyCommand, outcome: Outcome) -> bytes:
    """A record payload: u32 length of the command, the command, then the outcome (msgpack each).

    Kept apart so that replay decodes only the command and compares the outcome it
    reproduces with the recorded bytes."""
    body = ENCODER.encode(command)
    return _LEN.pack(len(body)) + body + ENCODER.encode(outcome)


def split_entry(payload) -> tuple[memoryview, memoryview]:
    """(command bytes, outcome bytes) of a record payload."""
    view = memoryview(payload)
    (n,) = _LEN.unpack_from(view)
    return view[4:4 + n], view[4 + n:]


def decode_entry(payload) -> Entry:
    command, outcome = split_entry(payload)
    return Entry(COMMAND_DECODER.decode(command), OUTCOME_DECODER.decode(outcome))
