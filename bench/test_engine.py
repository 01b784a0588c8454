"""Margin engine micro-benchmarks: the Cython engine and the reference model, same state, same run.

Run with `make bench` (or `pytest bench --benchmark-only`); `python -m bench.report` prints medians
and the Cython/reference ratio per group from the saved results.
"""

from __future__ import annotations

import pytest

from bench.workloads import NOW, holders_state, load, market_state, single_account_state, universe

BUY, SELL = 1, 2


@pytest.fixture(params=["cython", "python"])
def backend(request):
    return request.param


def one_account(backend: str, name: int):
    """The single-account workload in `backend`, and the id and mark of one of its names."""
    state, names = single_account_state()
    engine = load(backend, state)
    instr = names[name]
    return engine, instr, engine.instrument(instr)["mark"]


@pytest.mark.benchmark(group="pretrade-check-accepted")
def test_pretrade_check_accepted(benchmark, backend):
    """One buy that passes every check of DOMAIN.md section 6 (the longest path), from Python."""
    engine, instr, mark = one_account(backend, 0)
    assert engine.check_order(0, instr, BUY, mark, 100, "bench-1", NOW, False) == 0
    benchmark(engine.check_order, 0, instr, BUY, mark, 100, "bench-1", NOW, False)


@pytest.mark.benchmark(group="pretrade-check-rejected")
def test_pretrade_check_rejected_buying_power(benchmark, backend):
    """A buy refused at the last family of checks (INSUFFICIENT_BUYING_POWER, step 9)."""
    engine, instr, mark = one_account(backend, 1)
    qty = 250_000_000 // mark // 100 * 100
    assert engine.check_order(0, instr, BUY, mark, qty, "bench-2", NOW, False) == 701
    benchmark(engine.check_order, 0, instr, BUY, mark, qty, "bench-2", NOW, False)


@pytest.mark.benchmark(group="pretrade-check-rejected-early")
def test_pretrade_check_rejected_lot(benchmark, backend):
    """A buy refused at the lot rule (INVALID_LOT, step 5)."""
    engine, instr, mark = one_account(backend, 1)
    assert engine.check_order(0, instr, BUY, mark, 150, "bench-3", NOW, False) == 502
    benchmark(engine.check_order, 0, instr, BUY, mark, 150, "bench-3", NOW, False)


@pytest.mark.benchmark(group="place-and-cancel")
def test_place_then_cancel(benchmark, backend):
    """The committing path: checks, reservation and order creation, then the cancel that releases it."""
    engine, instr, mark = one_account(backend, 0)
    clock = [NOW]

    def place_cancel():
        clock[0] += 20_000_000  # 20 ms: the token bucket refills one order
        order = engine.place_order(0, instr, BUY, mark, 100, None, clock[0], False)
        engine.close_order(order)

    benchmark(place_cancel)
    assert engine.account(0)["open_orders"] == 3


@pytest.mark.benchmark(group="fill")
def test_apply_fill(benchmark, backend):
    """One partial fill of a buy: fees, cash then debt, position, reservation, margin re-evaluation."""
    engine, instr, mark = one_account(backend, 0)
    order = engine.place_order(0, instr, BUY, mark, 100_000 // 100 * 100, None, NOW + 10**9, False)
    assert order > 0
    benchmark.pedantic(engine.apply_fill, args=(order, 1, mark), rounds=20_000, iterations=1)


@pytest.mark.benchmark(group="tick-10k-holders")
def test_tick_re_marks_10k_holders(benchmark, backend):
    """One trade re-marks the 10,000 accounts holding the instrument and re-evaluates their margin."""
    state, target = holders_state()
    engine = load(backend, state)
    mark = engine.instrument(target)["mark"]
    prices = [mark * 93 // 100, mark]  # alternate: every tick moves every holder's assets
    flip = [0]

    def tick():
        flip[0] ^= 1
        return engine.apply_tick(target, prices[flip[0]], 0)

    rounds = 200 if backend == "cython" else 5
    benchmark.pedantic(tick, rounds=rounds, iterations=1, warmup_rounds=1)


@pytest.mark.benchmark(group="full-remark-100k-accounts-1m-positions")
def test_full_re_mark(benchmark, backend):
    """Every instrument moves at once: 100,000 accounts and their 1,000,000 positions re-marked."""
    state = market_state()
    engine = load(backend, state)
    assert len(state.positions) == 1_000_000
    base = [i.prev_close for i in universe()]
    down = [p * 92 // 100 if engine.instrument(n)["limit_up"] else p for n, p in enumerate(base)]
    snapshots = [down, base]
    flip = [0]

    def remark():
        flip[0] ^= 1
        return engine.apply_marks(snapshots[flip[0]])

    rounds = 30 if backend == "cython" else 3
    benchmark.pedantic(remark, rounds=rounds, iterations=1, warmup_rounds=1)
