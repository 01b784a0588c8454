"""Reject codes: stable numbers grouped by range, a name, and a key=value detail.

The hundreds digit says which family a code belongs to, and within the order families
the ranges follow the order in which DOMAIN.md section 6 runs its checks. A number,
once published, never changes meaning; new codes take new numbers.

| range | family |
|---|---|
| 1xx | malformed order (side, quantity, price out of their domain) |
| 2xx | account (step 1) |
| 3xx | kill switches and emergency halts (step 2) |
| 4xx | instrument and market (step 3) |
| 5xx | order rules: sellable, lots, tick, limits, collar, size, duplicate id (steps 4-7) |
| 6xx | rate limits (step 8) |
| 7xx | credit risk: buying power, leverage, concentration (step 9) |
| 8xx | account money commands (deposit, withdrawal, tier) |
| 9xx | broker and market inputs (fills, cancels, ticks, day rolls) |
"""

from __future__ import annotations

import enum

import msgspec


class RejectCode(enum.IntEnum):
    """Why the engine refused an order or a command. 0 is never a reject (accepted)."""

    INVALID_SIDE = 101
    INVALID_QUANTITY = 102
    INVALID_PRICE = 103

    UNKNOWN_ACCOUNT = 201
    ACCOUNT_INACTIVE = 202
    NOT_ENTITLED = 203
    ACCOUNT_FROZEN = 204
    REDUCE_ONLY = 205

    KILL_SWITCH_GLOBAL = 301
    KILL_SWITCH_ACCOUNT = 302
    BUYS_HALTED = 303

    UNKNOWN_INSTRUMENT = 401
    INSTRUMENT_HALTED = 402
    SESSION_CLOSED = 403
    NO_MARK_PRICE = 404

    INSUFFICIENT_SELLABLE = 501
    INVALID_LOT = 502
    PRICE_OFF_TICK = 503
    PRICE_OUTSIDE_LIMITS = 504
    PRICE_OUTSIDE_COLLAR = 505
    QUANTITY_ABOVE_MAX = 506
    NOTIONAL_ABOVE_MAX = 507
    DUPLICATE_CLIENT_ORDER_ID = 508

    RATE_LIMITED = 601
    TOO_MANY_OPEN_ORDERS = 602

    INSUFFICIENT_BUYING_POWER = 701
    INSUFFICIENT_CASH = 702
    LEVERAGE_EXCEEDED = 703
    CONCENTRATION_EXCEEDED = 704

    INVALID_AMOUNT = 801
    DEPOSITS_HALTED = 802
    WITHDRAWAL_EXCEEDS_FREE_CASH = 803
    WITHDRAWAL_BREACHES_RATIO = 804
    UNKNOWN_TIER = 805
    ACCOUNTS_HALTED = 806
    DEFAULT_NOT_CLEARABLE = 807

    UNKNOWN_ORDER = 901
    ORDER_NOT_OPEN = 902
    FILL_QUANTITY_INVALID = 903
    FILL_PRICE_INVALID = 904
    TICK_PRICE_INVALID = 905
    DAY_ROLL_INVALID = 906
    DUPLICATE_EXECUTION = 907
    BROKER_UNAVAILABLE = 908

    @property
    def family(self) -> int:
        return self.value // 100


#: The names of the numbers the engine reports with each code, in order. Money is fen,
#: prices fen, quantities shares, ratios and shares of assets bp; a ratio of -1 is infinite.
DETAIL_KEYS: dict[RejectCode, tuple[str, ...]] = {
    RejectCode.INVALID_SIDE: ("side",),
    RejectCode.INVALID_QUANTITY: ("qty",),
    RejectCode.INVALID_PRICE: ("price",),
    RejectCode.UNKNOWN_ACCOUNT: ("account",),
    RejectCode.ACCOUNT_INACTIVE: ("account",),
    RejectCode.NOT_ENTITLED: ("account",),
    RejectCode.ACCOUNT_FROZEN: ("account",),
    RejectCode.REDUCE_ONLY: ("account", "state"),
    RejectCode.KILL_SWITCH_GLOBAL: (),
    RejectCode.KILL_SWITCH_ACCOUNT: ("account",),
    RejectCode.BUYS_HALTED: (),
    RejectCode.UNKNOWN_INSTRUMENT: ("instrument",),
    RejectCode.INSTRUMENT_HALTED: ("instrument",),
    RejectCode.SESSION_CLOSED: ("local_time",),
    RejectCode.NO_MARK_PRICE: ("instrument",),
    RejectCode.INSUFFICIENT_SELLABLE: ("qty", "sellable"),
    RejectCode.INVALID_LOT: ("qty", "sellable"),
    RejectCode.PRICE_OFF_TICK: ("price", "tick"),
    RejectCode.PRICE_OUTSIDE_LIMITS: ("price", "down", "up"),
    RejectCode.PRICE_OUTSIDE_COLLAR: ("price", "mark", "collar_bp"),
    RejectCode.QUANTITY_ABOVE_MAX: ("qty", "max"),
    RejectCode.NOTIONAL_ABOVE_MAX: ("notional", "max"),
    RejectCode.DUPLICATE_CLIENT_ORDER_ID: (),
    RejectCode.RATE_LIMITED: ("rate_per_s", "burst"),
    RejectCode.TOO_MANY_OPEN_ORDERS: ("open", "max"),
    RejectCode.INSUFFICIENT_BUYING_POWER: ("need", "free"),
    RejectCode.INSUFFICIENT_CASH: ("need", "free_cash"),
    RejectCode.LEVERAGE_EXCEEDED: ("post_assets", "post_equity", "max_leverage_bp"),
    RejectCode.CONCENTRATION_EXCEEDED: ("post_value", "post_assets", "max_share_bp"),
    RejectCode.INVALID_AMOUNT: ("amount",),
    RejectCode.DEPOSITS_HALTED: (),
    RejectCode.WITHDRAWAL_EXCEEDS_FREE_CASH: ("amount", "free"),
    RejectCode.WITHDRAWAL_BREACHES_RATIO: ("post_ratio_bp", "min_bp"),
    RejectCode.UNKNOWN_TIER: ("tier",),
    RejectCode.ACCOUNTS_HALTED: (),
    RejectCode.DEFAULT_NOT_CLEARABLE: ("account", "state", "liabilities"),
    RejectCode.UNKNOWN_ORDER: ("order",),
    RejectCode.ORDER_NOT_OPEN: ("order",),
    RejectCode.FILL_QUANTITY_INVALID: ("qty", "remaining"),
    RejectCode.FILL_PRICE_INVALID: ("price", "limit"),
    RejectCode.TICK_PRICE_INVALID: ("price", "down", "up"),
    RejectCode.DAY_ROLL_INVALID: ("day", "current_day"),
    RejectCode.DUPLICATE_EXECUTION: ("order",),
    RejectCode.BROKER_UNAVAILABLE: (),
}


class Rejection(msgspec.Struct, frozen=True):
    """A refused order or command: the code and a `key=value, ...` detail."""

    code: RejectCode
    detail: str = ""

    @property
    def name(self) -> str:
        return self.code.name

    def __str__(self) -> str:
        return f"{self.code.name}: {self.detail}" if self.detail else self.code.name


def format_detail(code: RejectCode, values: tuple, extra: str = "") -> str:
    """Render the engine's detail numbers for code as 'key=value, ...' (plus extra text)."""
    parts = [f"{k}={v}" for k, v in zip(DETAIL_KEYS.get(code, ()), values)]
    if extra:
        parts.append(extra)
    return ", ".join(parts)


def rejection(code: int, values: tuple = (), extra: str = "") -> Rejection:
    rc = RejectCode(code)
    return Rejection(rc, format_detail(rc, values, extra))


class EngineError(ValueError):
    """A market or broker input the engine refuses (bad tick, unknown instrument): nothing changed."""

    def __init__(self, code: int, values: tuple = ()):
        self.rejection = rejection(code, values)
        super().__init__(str(self.rejection))

    @property
    def code(self) -> RejectCode:
        return self.rejection.code
