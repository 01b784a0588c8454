"""Lockstep driver: one command sequence applied to the Cython engine and the reference model.

After every command the two must agree on the answer (id, reject code and detail,
raised error), the fill breakdown, the margin state changes, and every view. The
driver also keeps its own ledger of money in and out of each account, from the
fill results and the interest deltas, and checks the invariants of the issue:
money conserved, no negative cash, sellable never above held.
"""

from __future__ import annotations

import collections

from core import EngineConfig, EngineError, Instrument, OrderStatus, Side
from core._engine import MarginEngine
from core.reference import ReferenceEngine
import msgspec

from core.fees import FeeSchedule
from core.tiers import DEFAULT_TIERS
from core.session import day_time_ns, local_seconds
from core.units import half_up_div
from tests.conftest import NOW, TRADING_DAY, small_universe

OPEN = int(OrderStatus.OPEN)

# The default tiers share one fee schedule; the aggressive one here has its own, so that a tier
# change moves open buys' fee reservations and the two engines must agree on it.
TIERS = DEFAULT_TIERS[:2] + (msgspec.structs.replace(
    DEFAULT_TIERS[2], fees=FeeSchedule(commission_ppm=180, commission_min=300, transfer_ppm=20)),)


def differential_instruments() -> list[Instrument]:
    return list(small_universe()) + [Instrument(code="600005", name="coarse tick", prev_close=1000, tick=10)]


class Divergence(AssertionError):
    pass


class Lockstep:
    def __init__(self, config: EngineConfig):
        self.instruments = differential_instruments()
        self.config = config
        self.fast = MarginEngine(self.instruments, TIERS, config, TRADING_DAY.toordinal())
        self.ref = ReferenceEngine(self.instruments, TIERS, config, TRADING_DAY.toordinal())
        instruments = self.instruments
        self.n_instruments = len(instruments)
        self.now = NOW
        self.ledger: list[int] = []  # per account: what cash - debt - accrued interest must equal
        self.shortfall = 0  # default shortfalls covered, and receivables recovered, seen so far
        self.recovered = 0
        self.to_pool = 0  # the insurance pool's share of repaid interest, summed
        self.covered: collections.Counter = collections.Counter()  # shortfalls covered by the last call
        self.log: list[str] = []

    # ------------------------------------------------------------ plumbing
    def both(self, method: str, *args):
        """Call method on both engines; they must return the same thing or raise the same error."""
        results = []
        for engine in (self.fast, self.ref):
            try:
                results.append(("ok", getattr(engine, method)(*args)))
            except EngineError as exc:
                results.append(("error", int(exc.code), str(exc)))
        self.log.append(f"{method}{args} -> {results[1]}")
        if results[0] != results[1]:
            raise Divergence(f"{method}{args}: cython={results[0]} reference={results[1]}\n" + self.history())
        if results[0][0] == "ok" and isinstance(results[0][1], int) and results[0][1] != 0:
            self.same("last_detail")
        self.same("take_changes")
        self.covered = collections.Counter()  # per account: the shortfalls this call's defaults covered
        for acct, kind, amount, pool, backstop, receivable in self.same("take_waterfall"):
            # a covered shortfall lowers the liabilities by its amount; a recovery pays cash out
            if kind == 1:
                assert amount == pool + backstop + receivable > 0
                self.ledger[acct] += amount
                self.shortfall += amount
                self.covered[acct] += amount
            else:
                assert amount == -receivable > 0 and pool == backstop == 0
                self.ledger[acct] -= amount
                self.recovered += amount
        return results[0]

    def same(self, method: str, *args):
        a, b = getattr(self.fast, method)(*args), getattr(self.ref, method)(*args)
        if a != b:
            raise Divergence(f"{method}{args}: cython={a} reference={b}\n" + self.history())
        return a

    def history(self) -> str:
        return "history:\n  " + "\n  ".join(self.log[-40:])

    def open_orders(self) -> list[int]:
        return sorted(i for i, o in self.ref.orders.items() if o.status == OPEN)

    # ------------------------------------------------------------ commands
    def open_account(self, tier: int) -> None:
        kind, result = self.both("add_account", tier)
        if result >= 0:
            self.ledger.append(0)

    def deposit(self, acct: int, amount: int) -> None:
        _, code = self.both("deposit", acct, amount)
        if code == 0:
            self.ledger[acct] += amount

    def withdraw(self, acct: int, amount: int) -> None:
        _, code = self.both("withdraw", acct, amount)
        if code == 0:
            self.ledger[acct] -= amount

    def order(self, acct, instr, side, price, qty, clid, liquidation) -> None:
        self.same("check_order", acct, instr, side, price, qty, clid, self.now, liquidation)
        self.both("place_order", acct, instr, side, price, qty, clid, self.now, liquidation)

    def fill(self, order_id: int, qty: int, price: int) -> None:
        order = self.ref.orders.get(order_id)
        _, code = self.both("apply_fill", order_id, qty, price)
        if code == 0:
            commission, stamp, transfer, _, _, _, to_pool = self.same("last_fill")
            fees = commission + stamp + transfer
            self.to_pool += to_pool
            if order.side == Side.BUY:
                self.ledger[order.account] -= qty * price + fees
            else:
                self.ledger[order.account] += qty * price - fees

    def roll(self, days: int) -> None:
        before = [(a.debt, a.accrued_interest, TIERS[a.tier].annual_rate_bp) for a in self.ref.accounts]
        _, code = self.both("roll_day", self.ref.trading_day + days)
        if code == 0:
            # the driver's clock follows the trading day, keeping its time of day
            self.now = day_time_ns(self.ref.trading_day, local_seconds(self.now))
            for acct, (debt, accrued, rate) in enumerate(before):
                interest = half_up_div(debt * rate * days, 10_000 * 360) if debt > 0 else 0
                expected = accrued + interest
                # a default the roll's re-evaluation settled lowered the liabilities, interest first
                expected -= min(expected, self.covered[acct])
                assert self.ref.accounts[acct].accrued_interest == expected
                self.ledger[acct] -= interest

    def snapshot_round_trip(self) -> None:
        """Both exports must be equal; each engine is then replaced by a fresh engine of its kind
        loaded from the *other* engine's export, and every view must survive the trip."""
        fast_state, ref_state = self.fast.export_state(), self.ref.export_state()
        if fast_state != ref_state:
            raise Divergence(f"snapshots differ:\ncython={fast_state}\nreference={ref_state}\n" + self.history())
        views = [self.ref.account(a) for a in range(len(self.ref.accounts))]
        fast = MarginEngine(self.instruments, TIERS, self.config, 1)
        ref = ReferenceEngine(self.instruments, TIERS, self.config, 1)
        fast.load_state(ref_state)
        ref.load_state(fast_state)
        self.fast, self.ref = fast, ref
        self.log.append("snapshot round trip")
        if [self.fast.account(a) for a in range(len(views))] != views:
            raise Divergence("views changed across a snapshot round trip\n" + self.history())
        if self.fast.export_state() != fast_state:
            raise Divergence("export after load differs from the loaded state\n" + self.history())

    # ------------------------------------------------------------ checks
    def check_everything(self) -> None:
        platform = self.same("platform")
        covered = platform["covered_by_pool"] + platform["covered_by_backstop"] + platform["covered_by_receivable"]
        receivables = sum(a.receivable for a in self.ref.accounts)
        if (covered != self.shortfall or platform["receivables_recovered"] != self.recovered
                or platform["receivables"] != platform["covered_by_receivable"] - self.recovered != receivables
                or platform["backstop_drawn"] != platform["covered_by_backstop"]
                or not 0 <= platform["backstop_drawn"] <= platform["backstop_line"]
                or platform["insurance_pool"] != platform["insurance_funded"] + self.to_pool - platform["covered_by_pool"]
                or platform["insurance_pool"] < 0):
            raise Divergence(f"the waterfall does not add up: {platform}, shortfalls {self.shortfall}, "
                             f"recovered {self.recovered}\n" + self.history())
        for acct in range(len(self.ref.accounts)):
            view = self.same("account", acct)
            positions = self.same("positions_of", acct)
            self.same("liquidation_amount", acct)
            if view["cash"] - view["debt"] - view["accrued_interest"] != self.ledger[acct]:
                raise Divergence(f"money not conserved on account {acct}: {view} ledger={self.ledger[acct]}\n"
                                 + self.history())
            if view["cash"] < 0 or view["debt"] < 0 or view["accrued_interest"] < 0:
                raise Divergence(f"negative balance on account {acct}: {view}\n" + self.history())
            if view["cash"] < view["cash_reserved_non_marginable"] - view["open_orders"] * 1:
                raise Divergence(f"cash earmark broken on account {acct}: {view}\n" + self.history())
            for pos in positions:
                if not 0 <= pos["sellable"] <= pos["held"]:
                    raise Divergence(f"sellable out of range: {pos}\n" + self.history())
        for order_id in self.ref.orders:
            view = self.same("order", order_id)
            if self.same("order_reserved", order_id) != view["reserved"]:
                raise Divergence(f"order_reserved disagrees with the order view: {view}\n" + self.history())
        for instr in range(self.n_instruments):
            self.same("instrument", instr)
        platform = self.ref.platform()
        repaid = platform["insurance_pool"] + platform["interest_income"]
        assert repaid >= 0
