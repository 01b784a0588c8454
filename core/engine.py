"""The public face of the margin engine.

`Engine` speaks the domain (instrument codes, tier names, `Rejection` objects,
`MarginState`) over one of two interchangeable backends with the same low-level,
integer interface:

- `core._engine.MarginEngine`, the Cython hot path (the default), and
- `core.reference.ReferenceEngine`, the plain-Python reference model.

Set `BEACON_NO_EXTENSIONS=1` to force the pure-Python backend (as aiohttp does with
AIOHTTP_NO_EXTENSIONS). Latency-critical callers use `engine.fast` (the backend) with
integer ids directly; see docs/engine.md.
"""

from __future__ import annotations

import datetime as _dt
import os
from typing import Iterable, Sequence

import msgspec

from .config import EngineConfig
from .fees import Fees
from .instruments import Universe
from .margin import MarginState
from .reference import ReferenceEngine
from .rejects import Rejection, RejectCode, rejection
from .tiers import DEFAULT_TIERS, Tier
from .types import Lock, Side

try:
    from ._engine import MarginEngine as _CythonEngine
except ImportError:  # not built: the pure-Python twin keeps everything working, slower
    _CythonEngine = None

NO_EXTENSIONS = os.environ.get("BEACON_NO_EXTENSIONS", "") not in ("", "0")


def backend_class(name: str | None = None) -> type:
    """The backend class for 'cython', 'python', or the default (Cython unless switched off)."""
    if name == "python" or (name is None and (NO_EXTENSIONS or _CythonEngine is None)):
        return ReferenceEngine
    if _CythonEngine is None:
        raise ImportError("core._engine is not built: run `make build` (or pip install -e .)")
    return _CythonEngine


class Decision(msgspec.Struct, frozen=True):
    """The answer to an order: accepted with an order id, or a rejection."""

    order_id: int | None = None
    rejection: Rejection | None = None

    @property
    def accepted(self) -> bool:
        return self.rejection is None


class MarginChange(msgspec.Struct, frozen=True):
    """An account moved between margin states; ratio is R in bp (-1: infinite)."""

    account: int
    old: MarginState
    new: MarginState
    collateral_ratio_bp: int


class FillResult(msgspec.Struct, frozen=True):
    """What one execution did to the account's money (fen)."""

    fees: Fees
    debt_drawn: int
    interest_repaid: int
    debt_repaid: int
    to_insurance_pool: int
    changes: tuple[MarginChange, ...] = ()


class WaterfallStep(msgspec.Struct, frozen=True):
    """One step of the default waterfall (fen). kind "cover": a shortfall covered by the insurance
    pool, then the backstop line, the rest recorded as a receivable; kind "recover": cash of the
    defaulted account repaid its receivable (to_receivable is then negative)."""

    account: int
    kind: str
    amount: int
    from_pool: int
    from_backstop: int
    to_receivable: int


def waterfall_steps(raw: Iterable[tuple]) -> tuple[WaterfallStep, ...]:
    return tuple(WaterfallStep(a, "cover" if k == 1 else "recover", amount, pool, backstop, receivable)
                 for a, k, amount, pool, backstop, receivable in raw)


def _changes(raw: Iterable[tuple]) -> tuple[MarginChange, ...]:
    return tuple(MarginChange(a, MarginState(o), MarginState(n), r) for a, o, n, r in raw)


def _day_ordinal(day: _dt.date | int) -> int:
    return day.toordinal() if isinstance(day, _dt.date) else int(day)


class Engine:
    """The margin engine with domain-level arguments. Every method is one command."""

    def __init__(
        self,
        universe: Universe | None = None,
        tiers: Sequence[Tier] = DEFAULT_TIERS,
        config: EngineConfig | None = None,
        trading_day: _dt.date | int = _dt.date(2026, 1, 5),
        backend: str | None = None,
    ):
        self.universe = universe if universe is not None else Universe.sample()
        self.tiers = tuple(tiers)
        self._tier_ids = {t.name: i for i, t in enumerate(self.tiers)}
        self.config = config if config is not None else EngineConfig()
        self.fast = backend_class(backend)(self.universe.instruments, self.tiers, self.config, _day_ordinal(trading_day))

    @property
    def implementation(self) -> str:
        return self.fast.implementation

    # ----------------------------------------------------------- helpers
    def _rejection(self, code: int, extra: str = "") -> Rejection:
        return rejection(code, self.fast.last_detail(), extra)

    def _result(self, code: int) -> Rejection | None:
        return None if code == 0 else self._rejection(code)

    def tier_id(self, name: str) -> int:
        try:
            return self._tier_ids[name]
        except KeyError:
            raise KeyError(f"unknown tier {name!r}; known: {', '.join(self._tier_ids)}") from None

    # ----------------------------------------------------------- accounts
    def open_account(self, tier: str = "standard") -> int:
        """Open an account in the named tier; returns the account id."""
        result = self.fast.add_account(self.tier_id(tier))
        if result < 0:
            raise ValueError(str(self._rejection(-result)))
        return result

    def deposit(self, account: int, amount: int) -> Rejection | None:
        """Deposit amount (fen) into cash; None on success."""
        return self._result(self.fast.deposit(account, amount))

    def withdraw(self, account: int, amount: int) -> Rejection | None:
        """Withdraw amount (fen) if free cash covers it and R stays >= 300 %; None on success."""
        return self._result(self.fast.withdraw(account, amount))

    def take_changes(self) -> tuple[MarginChange, ...]:
        """Margin state changes caused by the last command."""
        return _changes(self.fast.take_changes())

    # ------------------------------------------------------------- orders
    def _args(self, account, code, side, price, qty, client_order_id, now_ns, liquidation):
        instr = self.universe.id_of(code) if code in self.universe else -1
        return (account, instr, int(side), price, qty, client_order_id, now_ns, liquidation)

    def check(self, account: int, code: str, side: Side, price: int, qty: int,
              client_order_id: str | None, now_ns: int, liquidation: bool = False) -> Decision:
        """The pre-trade decision for an order, without placing it (nothing changes)."""
        result = self.fast.check_order(*self._args(account, code, side, price, qty, client_order_id, now_ns, liquidation))
        return Decision() if result == 0 else self._decision(-result, client_order_id, code)

    def place(self, account: int, code: str, side: Side, price: int, qty: int,
              client_order_id: str | None, now_ns: int, liquidation: bool = False) -> Decision:
        """Run every pre-trade check and, if all pass, open the order and reserve for it."""
        result = self.fast.place_order(*self._args(account, code, side, price, qty, client_order_id, now_ns, liquidation))
        return self._decision(result, client_order_id, code)

    def _decision(self, result: int, client_order_id, code: str) -> Decision:
        if result > 0:
            return Decision(order_id=result)
        reject = -result
        extra = ""
        if reject == RejectCode.DUPLICATE_CLIENT_ORDER_ID:
            extra = f"client_order_id={client_order_id}"
        elif reject == RejectCode.UNKNOWN_INSTRUMENT:
            return Decision(rejection=Rejection(RejectCode.UNKNOWN_INSTRUMENT, f"instrument={code}"))
        return Decision(rejection=self._rejection(reject, extra))

    def fill(self, order_id: int, qty: int, price: int) -> FillResult:
        """Apply an execution of qty shares at price (fen); raises ValueError naming a bad report."""
        code = self.fast.apply_fill(order_id, qty, price)
        if code:
            raise ValueError(str(self._rejection(code)))
        c, s, t, drawn, interest, repaid, pool = self.fast.last_fill()
        return FillResult(Fees(c, s, t), drawn, interest, repaid, pool, self.take_changes())

    def cancel(self, order_id: int) -> Rejection | None:
        """Close an order's open remainder (cancel confirmed, expiry, broker refusal)."""
        return self._result(self.fast.close_order(order_id))

    # ------------------------------------------------------------- market
    def tick(self, code: str, price: int, lock: Lock = Lock.NONE) -> tuple[MarginChange, ...]:
        """A trade at price (fen) re-marks the instrument's holders; returns margin state changes."""
        return _changes(self.fast.apply_tick(self.universe.id_of(code), price, int(lock)))

    def roll_day(self, day: _dt.date | int) -> tuple[MarginChange, ...]:
        """End the day and start `day`: expiries, interest, T+1, new limits; returns state changes."""
        code = self.fast.roll_day(_day_ordinal(day))
        if code:
            raise ValueError(str(self._rejection(code)))
        return self.take_changes()

    def halt(self, code: str, halted: bool = True) -> None:
        self.fast.set_halted(self.universe.id_of(code), halted)

    def waterfall(self) -> tuple[WaterfallStep, ...]:
        """The default waterfall steps of the last command (a default, or a later recovery)."""
        return waterfall_steps(self.fast.take_waterfall())

    def clear_default(self, account: int) -> Rejection | None:
        """An operator ends a default, once the account owes nothing on the margin book."""
        return self._result(self.fast.clear_default(account))

    def platform(self) -> dict:
        return self.fast.platform()

    # -------------------------------------------------------------- views
    def account(self, account: int) -> dict:
        view = self.fast.account(account)
        view["state"] = MarginState(view["state"])
        view["tier"] = self.tiers[view["tier"]].name
        return view

    def position(self, account: int, code: str) -> dict:
        view = self.fast.position(account, self.universe.id_of(code))
        view["instrument"] = code
        return view

    def positions(self, account: int) -> list[dict]:
        out = self.fast.positions_of(account)
        for view in out:
            view["instrument"] = self.universe.instruments[view["instrument"]].code
        return out

    def order(self, order_id: int) -> dict:
        return self.fast.order(order_id)

    def instrument(self, code: str) -> dict:
        view = self.fast.instrument(self.universe.id_of(code))
        view["instrument"] = code
        return view

    def liquidation_amount(self, account: int) -> tuple[int, bool]:
        """Market value (fen) to sell to reach the restore-to line; True when that is everything sellable."""
        return self.fast.liquidation_amount(account)
