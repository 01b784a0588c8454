"""Staged automatic liquidation (DOMAIN.md section 7): what to sell, how much at a time, and
how the platform's sells of one instrument are shared across accounts.

The margin engine says *that* an account must sell and *how much* (the amount x to reach
the restore-to line, or everything when equity is gone). This module decides the rest, as
a deterministic function of the machine's state and the command's timestamp, so that a
journal replays to the same child orders:

- the order of positions: sellable and not limit-locked first, limit-locked last (their
  children queue at the limit-down price and fill when the lock breaks), halted ones
  skipped and retried; within each group the highest risk (daily volatility x value), then
  the largest value, then the code; per position the smallest valid quantity whose value
  at the mark covers what is left of x, capped at what is sellable;
- child orders: at most `liquidation_child_notional` and a participation share of the
  instrument's recent volume each, priced `liquidation_discount_bp` under the mark but
  never under limit-down, and at most one per account and instrument per stage;
- stages: an account's next stage comes `liquidation_interval_s` plus a seeded jitter of up
  to `liquidation_jitter_s` after the last one; nothing is placed outside trading sessions
  (when the engine enforces them) or while an operator has paused liquidation;
- the platform's cap: per instrument and interval, a share of its recent volume across all
  accounts, shared max-min fairly, the accounts with the lowest collateral ratio first for
  what does not divide evenly.

An account with nothing it can sell now (shares bought today, halted, or already in working
liquidation orders) waits without effort until the market changes: a lock or a halt flips,
or the day rolls.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

import msgspec

from .instruments import BOARD_LOT, STAR_MIN_QTY, Board
from .margin import MarginState
from .session import NS_PER_S, session_open
from .types import Lock, Side
from .units import BP

if TYPE_CHECKING:  # pragma: no cover
    from .machine import Machine

#: Recent volume is kept in buckets of this many seconds.
BUCKET_S = 10
#: Without observed trades in the window, recent volume is taken from the average daily volume
#: over a four-hour trading day.
TRADING_SECONDS_PER_DAY = 4 * 3600
_MASK = (1 << 64) - 1


# ----------------------------------------------------------------------- quantities and prices
def sell_at_least(board: Board, need: int, sellable: int) -> int:
    """The smallest valid sell quantity >= need, capped at sellable (selling all is always valid)."""
    if need >= sellable:
        return sellable
    if board == Board.STAR:
        return max(need, STAR_MIN_QTY) if sellable >= STAR_MIN_QTY else sellable
    odd = sellable % BOARD_LOT
    rounds = -(-need // BOARD_LOT) * BOARD_LOT  # whole lots
    with_odd = odd + -(-max(0, need - odd) // BOARD_LOT) * BOARD_LOT if odd else rounds
    return min(rounds, with_odd, sellable)


def sell_at_most(board: Board, cap: int, sellable: int) -> int:
    """The largest valid sell quantity <= min(cap, sellable); 0 if there is none."""
    cap = min(cap, sellable)
    if cap <= 0:
        return 0
    if board == Board.STAR:
        if sellable < STAR_MIN_QTY:
            return sellable if cap >= sellable else 0
        return cap if cap >= STAR_MIN_QTY else 0
    odd = sellable % BOARD_LOT
    rounds = cap // BOARD_LOT * BOARD_LOT
    with_odd = odd + (cap - odd) // BOARD_LOT * BOARD_LOT if odd and cap >= odd else 0
    return max(rounds, with_odd)


def smallest_sell(board: Board, sellable: int) -> int:
    """The smallest order that can be sold: one lot, the odd remainder, or everything."""
    return sell_at_least(board, 1, sellable)


def liquidation_price(mark: int, limit_down: int, tick: int, discount_bp: int) -> int:
    """A marketable sell limit: discount_bp under the mark, on the tick (rounded up), never under
    limit-down (nor under one tick when the instrument has no limit)."""
    price = mark - mark * discount_bp // BP
    price = -(-price // tick) * tick
    return max(price, limit_down if limit_down else tick)


def fair_shares(demands: list[tuple[int, int]], capacity: int) -> list[int]:
    """Max-min fair split of capacity over demands, given in priority order (lowest ratio first):
    nobody gets more than they asked, the smallest demands are met first, equal shares
    otherwise, and what does not divide evenly goes to the first in priority order."""
    n = len(demands)
    given = [0] * n
    left = max(0, capacity)
    order = sorted(range(n), key=lambda k: (demands[k][1], k))
    for rank, k in enumerate(order):
        level = left // (n - rank)  # an equal share of what is left
        if demands[k][1] <= level:
            given[k] = demands[k][1]
            left -= given[k]
            continue
        for j in order[rank:]:  # everyone left asks for more than the level: all get it
            given[j] = level
        left -= level * (n - rank)
        break
    for k in range(n):  # the remainder, by priority
        if left <= 0:
            break
        extra = min(demands[k][1] - given[k], left)
        given[k] += extra
        left -= extra
    return given


def jitter_ns(seed: int, account: int, stage: int, bound_ns: int) -> int:
    """A seeded, stateless jitter in [0, bound_ns]: splitmix64 of (seed, account, stage)."""
    if bound_ns <= 0:
        return 0
    z = (seed * 0x9E3779B97F4A7C15 + (account << 21) + stage + 0x632BE59BD9B4E019) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    z ^= z >> 31
    return z % (bound_ns + 1)


# ----------------------------------------------------------------------- state
class AccountLiquidation(msgspec.Struct, array_like=True):
    next_ns: int = 0  # the next stage is due at or after this time
    stage: int = 0  # stages run so far (seeds the jitter)
    waiting_epoch: int = -1  # nothing was sellable at this market epoch: wait for the next one


class LiquidationState(msgspec.Struct, kw_only=True):
    """The liquidator's state in a machine snapshot."""

    paused: bool = False
    accounts: dict[int, AccountLiquidation] = {}
    epoch: int = 0
    locks: list[int] = []
    volume: list[list[int]] = []  # per instrument: volume per bucket of the window
    volume_bucket: list[int] = []  # per instrument: the bucket number of its newest entry
    usage: dict[int, list[int]] = {}  # instrument -> [interval number, shares sold in it]
    liquidated_notional: int = 0
    liquidation_shortfall: int = 0  # sum of qty x (mark - price) over liquidation fills
    liquidation_fees: int = 0
    liquidation_fills: int = 0


class ChildOrder(msgspec.Struct, frozen=True):
    order: int
    instrument: str
    qty: int
    price: int
    why: str


class Skip(msgspec.Struct, frozen=True):
    instrument: str
    reason: str


class Stage(msgspec.Struct, frozen=True, kw_only=True):
    """One stage of one account's liquidation, as a risk officer reads it."""

    account: int
    stage: int
    state: str
    collateral_ratio_bp: int
    to_sell: int  # market value still to sell to reach the restore-to line (fen)
    everything: bool  # equity gone, or x above what is sellable: sell all that can be sold
    in_flight: int  # value at the mark of liquidation sells already working
    orders: tuple[ChildOrder, ...] = ()
    skipped: tuple[Skip, ...] = ()
    waiting: bool = False  # nothing can be sold now; retried when the market changes
    next_ns: int = 0


class _Want(msgspec.Struct):
    account: int
    ratio: int
    instrument: int
    sellable: int
    qty: int  # the child this stage wants, after its own caps
    price: int
    why: str


# ----------------------------------------------------------------------- the liquidator
class Liquidator:
    def __init__(self, machine: "Machine", state: LiquidationState | None = None):
        self.machine = machine
        n = len(machine.codes)
        self.state = state or LiquidationState()
        if len(self.state.locks) != n:
            self.state.locks = [0] * n
            self.state.volume = [[0] * self._buckets for _ in range(n)]
            self.state.volume_bucket = [0] * n
        self.stages: list[Stage] = []  # the stages of the last command (for its events)
        # (due time, account): which stages are due, without scanning every account each second;
        # derived from the state, so snapshots need not hold it (stale entries are skipped)
        self._due = [(st.next_ns, account) for account, st in self.state.accounts.items()]
        heapq.heapify(self._due)

    @property
    def config(self):
        return self.machine.config

    @property
    def _buckets(self) -> int:
        return max(1, -(-self.machine.config.liquidation_volume_window_s // BUCKET_S))

    # ---------------------------------------------------------- inputs the machine passes on
    def on_tick(self, instr: int, lock: int, volume: int, ts: int) -> None:
        s = self.state
        if lock != s.locks[instr]:
            s.locks[instr] = lock
            s.epoch += 1  # a lock set or lifted: waiting accounts look again
        if volume > 0:
            bucket = ts // (BUCKET_S * NS_PER_S)
            row = s.volume[instr]
            newest = s.volume_bucket[instr]
            if bucket > newest:
                for b in range(max(newest + 1, bucket - len(row) + 1), bucket + 1):
                    row[b % len(row)] = 0
                s.volume_bucket[instr] = bucket
            elif bucket <= newest - len(row):
                return  # older than the window
            row[bucket % len(row)] += volume

    def market_changed(self) -> None:
        """A halt or a resumption: what is sellable may have changed."""
        self.state.epoch += 1

    def day_rolled(self) -> None:
        """Yesterday's buys are sellable now, and a new day's volume starts."""
        self.state.epoch += 1
        self.state.usage = {}

    def recent_volume(self, instr: int, now_ns: int) -> int:
        s = self.state
        row = s.volume[instr]
        bucket = now_ns // (BUCKET_S * NS_PER_S)
        total = sum(row[b % len(row)] for b in range(bucket - len(row) + 1, bucket + 1)
                    if s.volume_bucket[instr] - len(row) < b <= s.volume_bucket[instr])
        if total > 0:
            return total
        spec = self.machine.universe.instruments[instr]
        return spec.adv_shares * self.config.liquidation_volume_window_s // TRADING_SECONDS_PER_DAY

    def enter(self, account: int) -> None:
        if account not in self.state.accounts:
            self.state.accounts[account] = AccountLiquidation()
            heapq.heappush(self._due, (0, account))

    def _schedule(self, account: int, st: AccountLiquidation, now_ns: int) -> None:
        st.next_ns = now_ns + self._interval(account, st)
        heapq.heappush(self._due, (st.next_ns, account))

    def leave(self, account: int) -> None:
        self.state.accounts.pop(account, None)

    def on_fill(self, liquidation: bool, qty: int, price: int, mark: int, fees: int) -> None:
        if liquidation:
            s = self.state
            s.liquidated_notional += qty * price
            s.liquidation_shortfall += qty * (mark - price)
            s.liquidation_fees += fees
            s.liquidation_fills += 1

    # ---------------------------------------------------------- stages
    def run(self, now_ns: int) -> list[int]:
        """Run every stage that is due at now_ns; the ids of the child orders placed."""
        self.stages = []
        s = self.state
        if s.paused or not s.accounts:
            return []
        if self.config.enforce_session and not session_open(now_ns):
            return []
        if not self._due or self._due[0][0] > now_ns:
            return []
        due = set()
        while self._due and self._due[0][0] <= now_ns:
            when, account = heapq.heappop(self._due)
            st = s.accounts.get(account)
            if st is not None and st.next_ns == when:  # else: left, or rescheduled since
                due.add(account)
        due = sorted(due)
        engine = self.machine.engine
        wants: dict[int, list[_Want]] = {}
        drafts: dict[int, dict] = {}
        for account in due:
            st = s.accounts[account]
            view = engine.account(account)
            state = MarginState(view["state"])
            if state < MarginState.LIQUIDATING:
                self.leave(account)
                continue
            positions = engine.positions_of(account)
            if state == MarginState.DEFAULTED and not any(p["held"] for p in positions):
                self.leave(account)  # nothing left to sell as collateral
                continue
            if st.waiting_epoch == s.epoch:
                self._schedule(account, st, now_ns)
                continue
            draft = self._plan(account, view, state, positions, now_ns)
            drafts[account] = draft
            for want in draft["wants"]:
                wants.setdefault(want.instrument, []).append(want)
        placed: dict[int, list[ChildOrder]] = {a: [] for a in drafts}
        capped: dict[int, list[Skip]] = {a: [] for a in drafts}
        interval = now_ns // (self.config.liquidation_interval_s * NS_PER_S)
        orders: list[int] = []
        for instr in sorted(wants):
            group = sorted(wants[instr], key=lambda w: (w.ratio, w.account))
            usage = s.usage.get(instr)
            used = usage[1] if usage and usage[0] == interval else 0
            cap = self.config.liquidation_platform_participation_bp * self.recent_volume(instr, now_ns) // BP
            board = self.machine.universe.instruments[instr].board
            cap = max(cap, smallest_sell(board, max(w.sellable for w in group)))  # at least one lot
            shares = fair_shares([(w.account, w.qty) for w in group], cap - used)
            for want, share in zip(group, shares):
                code = self.machine.codes[instr]
                qty = want.qty if share >= want.qty else sell_at_most(board, share, want.sellable)
                if qty <= 0:
                    capped[want.account].append(Skip(code, "platform cap for this instrument used up "
                                                           "this interval; retried next stage"))
                    continue
                order = self.machine.place_liquidation(want.account, code, qty, want.price, now_ns)
                if order < 0:
                    capped[want.account].append(Skip(code, f"child refused: {order_reason(-order)}"))
                    continue
                used += qty
                orders.append(order)
                why = want.why if qty == want.qty else f"{want.why}; cut to {qty:,} by the platform cap"
                placed[want.account].append(ChildOrder(order, code, qty, want.price, why))
            s.usage[instr] = [interval, used]
        for account, draft in drafts.items():
            st = s.accounts[account]
            st.stage += 1
            waiting = draft["waiting"] and not placed[account]
            if waiting:
                st.waiting_epoch = s.epoch
            self._schedule(account, st, now_ns)
            self.stages.append(Stage(
                account=account, stage=st.stage, state=draft["state"], collateral_ratio_bp=draft["ratio"],
                to_sell=draft["x"], everything=draft["everything"], in_flight=draft["in_flight"],
                orders=tuple(placed[account]), skipped=tuple(draft["skips"] + capped[account]),
                waiting=waiting, next_ns=st.next_ns))
        return orders

    def _interval(self, account: int, st: AccountLiquidation) -> int:
        c = self.config
        return c.liquidation_interval_s * NS_PER_S + jitter_ns(c.liquidation_seed, account, st.stage,
                                                               c.liquidation_jitter_s * NS_PER_S)

    def _plan(self, account: int, view: dict, state: MarginState, positions: list[dict], now_ns: int) -> dict:
        machine, engine, c = self.machine, self.machine.engine, self.config
        x, everything = engine.liquidation_amount(account)
        everything = everything or state == MarginState.DEFAULTED
        in_flight = 0
        for record in machine.registry.open_of(account):
            if record.liquidation and record.side == Side.SELL:
                mark = engine.instrument(machine.instrument_id(record.instrument))["mark"]
                in_flight += (record.qty - record.filled) * mark
        left = max(0, x - in_flight)
        ratio = view["collateral_ratio_bp"]
        skips: list[Skip] = []
        candidates = []
        for pos in positions:
            instr = pos["instrument"]
            spec = machine.universe.instruments[instr]
            market = engine.instrument(instr)
            if pos["held"] <= 0:
                continue
            if market["halted"]:
                skips.append(Skip(spec.code, "halted: cannot be sold; retried when it resumes"))
                continue
            if pos["sellable"] <= 0:
                reason = ("all sellable shares already in liquidation orders" if pos["open_sell"]
                          else "bought today (T+1): sellable from the next trading day")
                skips.append(Skip(spec.code, reason))
                continue
            value = pos["held"] * market["mark"]
            locked = market["lock"] == Lock.LIMIT_DOWN
            candidates.append((locked, -spec.daily_vol_bp * value, -value, spec.code, pos, spec, market))
        candidates.sort(key=lambda k: k[:4])
        wants: list[_Want] = []
        sellable_now = False
        for locked, _, _, code, pos, spec, market in candidates:
            sellable_now = True
            if not everything and left <= 0:
                break
            mark = market["mark"]
            need = pos["sellable"] if everything else sell_at_least(spec.board, -(-left // mark), pos["sellable"])
            cap_notional = max(1, c.liquidation_child_notional // mark)
            cap_volume = c.liquidation_participation_bp * self.recent_volume(pos["instrument"], now_ns) // BP
            cap = min(cap_notional, cap_volume)
            qty = need if need <= cap else max(sell_at_most(spec.board, cap, pos["sellable"]),
                                               smallest_sell(spec.board, pos["sellable"]))
            qty = min(qty, need)
            why = (f"sell everything sellable ({need:,})" if everything
                   else f"{need:,} at {mark} cover {left:,} of x")
            if qty < need:
                why += f"; this stage {qty:,} (child cap: {cap_notional:,} by notional, {cap_volume:,} by volume)"
            if locked:
                why += "; limit-locked at limit-down (no bids): queued there, fills when the lock breaks"
            price = liquidation_price(mark, market["limit_down"], spec.tick, c.liquidation_discount_bp)
            wants.append(_Want(account=account, ratio=ratio if ratio >= 0 else 1 << 62, instrument=pos["instrument"],
                               sellable=pos["sellable"], qty=qty, price=price, why=why))
            left -= need * mark
        waiting = not sellable_now and (everything or x > in_flight)
        return {"wants": wants, "skips": skips, "x": x, "everything": everything, "in_flight": in_flight,
                "ratio": ratio, "state": state.name, "waiting": waiting}


def order_reason(code: int) -> str:
    from .rejects import RejectCode

    try:
        return RejectCode(code).name
    except ValueError:
        return str(code)


__all__ = [
    "AccountLiquidation", "ChildOrder", "Liquidator", "LiquidationState", "Skip", "Stage", "fair_shares",
    "jitter_ns", "liquidation_price", "sell_at_least", "sell_at_most", "smallest_sell",
]
