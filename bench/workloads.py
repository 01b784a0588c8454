"""Engine states for the benchmarks, built once through the public path and shared.

Each workload is built with the Cython engine (fast to build), exported as an
EngineState, and loaded into whichever backend a benchmark measures, so the
Cython engine and the reference model run the identical state.
"""

from __future__ import annotations

import functools
import random

from core import EngineConfig, Universe
from core._engine import MarginEngine
from core.reference import ReferenceEngine
from core.tiers import DEFAULT_TIERS

DAY = 739_621  # 2026-01-05
NOW = 1_767_578_400_000_000_000  # 10:00 Shanghai that day
CONFIG = EngineConfig(enforce_session=False)
BACKENDS = {"cython": MarginEngine, "python": ReferenceEngine}
STANDARD = 1


@functools.lru_cache(maxsize=None)
def universe() -> Universe:
    return Universe.sample()


def tradable() -> list[int]:
    """Instrument ids a client can buy on margin today (not halted, with limits, marginable)."""
    return [n for n, i in enumerate(universe()) if i.marginable and not i.halted and not i.no_limit]


def load(backend: str, state):
    engine = BACKENDS[backend](universe().instruments, DEFAULT_TIERS, CONFIG, DAY)
    engine.load_state(state)
    return engine


def _buy_qty(instr: int, mark: int, budget: int) -> int:
    """Shares of instr that budget (fen) buys at mark, in the board's lots (STAR: at least 200)."""
    spec = universe().instruments[instr]
    qty = min(budget // mark, spec.max_order_qty) // 100 * 100
    star = spec.code.startswith("688")
    return qty if not star or qty >= 200 else 0


def affordable(engine, names: list[int], budget: int) -> list[int]:
    return [n for n in names if _buy_qty(n, engine.instrument(n)["mark"], budget)]


def _leveraged_book(engine, acct: int, names: list[int], equity: int, leverage_pct: int, rounds: int = 1) -> int:
    """Buy the names in equal parts, in rounds (the single-name cap needs them for concentrated
    books), up to leverage_pct of equity in total. Returns the number of positions bought."""
    assert engine.deposit(acct, equity) == 0
    per_round = equity * leverage_pct // 100 // len(names) // rounds
    bought = set()
    for _ in range(rounds):
        for instr in names:
            mark = engine.instrument(instr)["mark"]
            qty = _buy_qty(instr, mark, per_round)
            order = engine.place_order(acct, instr, 1, mark, qty, None, NOW, False) if qty else -1
            if order > 0:
                engine.apply_fill(order, qty, mark)
                bought.add(instr)
    return len(bought)


@functools.lru_cache(maxsize=None)
def single_account_state():
    """One standard account with five holdings (bought yesterday) and three open buys."""
    engine = MarginEngine(universe().instruments, DEFAULT_TIERS, CONFIG, DAY - 1)
    acct = engine.add_account(STANDARD)
    names = affordable(engine, tradable(), 10_000_000)[:8]
    assert _leveraged_book(engine, acct, names[:5], 100_000_000, 180) == 5
    engine.roll_day(DAY)
    for instr in names[5:]:
        mark = engine.instrument(instr)["mark"]
        assert engine.place_order(acct, instr, 1, mark, 100, None, NOW, False) > 0
    return engine.export_state(), names


@functools.lru_cache(maxsize=None)
def holders_state(holders: int = 10_000):
    """`holders` standard accounts, each holding the same instrument plus four others, 2x levered."""
    engine = MarginEngine(universe().instruments, DEFAULT_TIERS, CONFIG, DAY - 1)
    names = affordable(engine, tradable(), 1_000_000)
    rng = random.Random(7)
    target = names[0]
    for _ in range(holders):
        acct = engine.add_account(STANDARD)
        book = [target] + rng.sample(names[1:], 4)
        assert _leveraged_book(engine, acct, book, rng.randrange(5_000_000, 50_000_000), 200) == 5
    engine.roll_day(DAY)
    return engine.export_state(), target


@functools.lru_cache(maxsize=None)
def market_state(accounts: int = 100_000, per_account: int = 10):
    """`accounts` standard accounts with `per_account` positions each, 1.5x to 2.8x levered."""
    engine = MarginEngine(universe().instruments, DEFAULT_TIERS, CONFIG, DAY - 1)
    names = affordable(engine, tradable(), 3_000_000)
    rng = random.Random(11)
    for _ in range(accounts):
        acct = engine.add_account(STANDARD)
        book = rng.sample(names, per_account)
        equity = rng.randrange(20_000_000, 200_000_000)
        assert _leveraged_book(engine, acct, book, equity, rng.choice([150, 200, 240, 280])) == per_account
    engine.roll_day(DAY)
    return engine.export_state()
