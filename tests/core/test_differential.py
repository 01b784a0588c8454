"""The Cython engine against the reference model on random command sequences (hypothesis).

Seeds: the run's seed is printed in the pytest header; set BEACON_TEST_SEED to repeat a run.
BEACON_DIFFERENTIAL_EXAMPLES sets the number of sequences (default 2,000).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, seed, settings, strategies as st

from core import EngineConfig, Lock, Side
from core.session import day_time_ns
from tests.conftest import RUN_SEED
from tests.core.differential import Lockstep

EXAMPLES = int(os.environ.get("BEACON_DIFFERENTIAL_EXAMPLES", "2000"))

# Selectors are resolved against the live state when the command runs (see `pick`), so most
# commands hit a real account, instrument or order, and a few deliberately do not.
accounts = st.integers(0, 9)
instruments = st.integers(0, 11)
offsets_bp = st.sampled_from([-1100, -1000, -501, -500, -300, -100, -1, 0, 0, 1, 100, 300, 500, 501, 1000, 2000]) \
    | st.integers(-450, 450)
quantities = st.tuples(st.sampled_from(["lots", "lots", "lots", "raw", "sellable", "sellable", "odd", "half",
                                        "over", "over_lot"]),
                       st.sampled_from([100, 200, 300, 500, 1_000, 2_000, 5_000, 150, 201, 199, 0, -100])
                       | st.integers(1, 40_000))
client_ids = st.none() | st.sampled_from(["a", "b", "c"]) | st.integers(0, 10**6).map(str)
amounts = st.sampled_from([0, -5, 1, 10_000, 1_000_000, 10_000_000, 50_000_000, 10**14 + 1]) \
    | st.integers(1, 100_000_000)

order = st.tuples(st.just("order"), accounts, instruments, st.sampled_from([1, 1, 1, 2, 2, 3]), offsets_bp,
                  quantities, client_ids, st.sampled_from([False, False, False, True]))
fill = st.tuples(st.just("fill"), st.integers(0, 50), st.sampled_from(["all", "all", "half", "one", "over", "zero"]),
                 st.sampled_from([0, 0, 0, 1, 5, 30, -1]))
tick = st.tuples(st.just("tick"), instruments, offsets_bp, st.sampled_from(["none", "none", "lock", "bad"]))
lever = st.tuples(st.just("lever"), accounts, instruments, st.integers(20, 100))
crash = st.tuples(st.just("crash"), instruments, st.integers(1, 4), st.booleans(), st.booleans())
rally = st.tuples(st.just("rally"), instruments, st.integers(1, 3), st.booleans())

commands = st.one_of(
    order, order, order, order, fill, fill, fill, tick, tick, lever, lever, crash, crash, rally, rally,
    st.tuples(st.just("open"), st.integers(0, 3)),
    st.tuples(st.just("deposit"), accounts, amounts),
    st.tuples(st.just("withdraw"), accounts, amounts),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("roll"), st.sampled_from([1, 1, 1, 3, 0, 30])),
    st.tuples(st.just("clock"), st.integers(0, 16 * 3600)),
    st.tuples(st.just("flag"), accounts, st.sampled_from(["set_frozen", "set_reduce_only", "set_account_kill",
                                                          "set_active"]), st.booleans()),
    st.tuples(st.just("control"), st.sampled_from(["set_global_kill", "set_halt_buys", "set_halt_deposits",
                                                   "set_halt_accounts"]), st.booleans()),
    st.tuples(st.just("halt"), instruments, st.booleans()),
    st.tuples(st.just("raise"), st.sampled_from([0, 0, 200, 1000, -1])),
    st.tuples(st.just("tier"), accounts, st.integers(0, 3)),
    st.tuples(st.just("marks"), st.lists(st.tuples(st.integers(0, 9), offsets_bp), max_size=4)),
    st.tuples(st.just("snapshot")),
    st.tuples(st.just("pool"), st.sampled_from([0, 1, 5_000, 1_000_000])),
    st.tuples(st.just("clear_default"), accounts),
    st.tuples(st.just("advance"), st.sampled_from([0, 60, 3600, 6 * 3600])),
    st.tuples(st.just("advance"), st.sampled_from([0, 60, 3600, 6 * 3600])),
)

configs = st.builds(
    EngineConfig,
    order_burst=st.sampled_from([3, 100]),
    max_open_orders=st.sampled_from([4, 200]),
    enforce_session=st.booleans(),
    price_collar_bp=st.sampled_from([500, 1000]),
    backstop_line=st.sampled_from([0, 100_000, 1_000_000_000]),
)


def price_from(mark: int, offset_bp: int) -> int:
    return mark + mark * offset_bp // 10_000 if mark > 0 else 1000 + offset_bp


def pick(selector: int, count: int) -> int:
    """Selector 0..7 names one of `count` live items; 8 is one past the end; 9 is -1."""
    if selector == 9:
        return -1
    if selector == 8 or count == 0:
        return count
    return selector % count


def pick_instrument(selector: int, count: int) -> int:
    return {10: count, 11: -1}.get(selector, selector % count)


def limit_days(engines: Lockstep, instr: int, days: int, market_wide: bool, down: bool, locked: bool) -> None:
    """Trade one name (or every name) at its limit price, then roll the day; `days` times."""
    ref = engines.ref
    if not 0 <= instr < len(ref.instruments):
        return
    for _ in range(days):
        for victim in (range(len(ref.instruments)) if market_wide else (instr,)):
            inst = ref.instruments[victim]
            if inst.mark <= 0:
                continue
            limits = inst.limits()
            if limits is None:  # no-limit names: a 30 % move
                engines.both("apply_tick", victim, max(1, inst.mark * (7 if down else 13) // 10), 0)
            else:
                lock = (Lock.LIMIT_DOWN if down else Lock.LIMIT_UP) if locked else Lock.NONE
                engines.both("apply_tick", victim, limits[0] if down else limits[1], int(lock))
        engines.roll(1)


def run(engines: Lockstep, command: tuple) -> None:
    kind, *args = command
    ref = engines.ref
    n_accounts, n_instruments = len(ref.accounts), len(ref.instruments)
    if kind in ("deposit", "withdraw", "flag", "tier", "order", "lever", "clear_default"):
        args[0] = pick(args[0], n_accounts)
    if kind in ("order", "lever"):
        args[1] = pick_instrument(args[1], n_instruments)
    if kind in ("tick", "halt", "crash", "rally"):
        args[0] = pick_instrument(args[0], n_instruments)
    if kind == "open":
        engines.open_account(args[0])
    elif kind == "pool":
        engines.both("fund_insurance_pool", args[0])
    elif kind == "clear_default":
        engines.both("clear_default", args[0])
    elif kind == "deposit":
        engines.deposit(*args)
    elif kind == "withdraw":
        engines.withdraw(*args)
    elif kind == "order":
        acct, instr, side, offset, (qkind, qvalue), clid, liquidation = args
        mark = ref.instruments[instr].mark if 0 <= instr < n_instruments else 1000
        sellable = ref._sellable(acct, instr) if 0 <= acct < n_accounts and 0 <= instr < n_instruments else 0
        qty = {"lots": qvalue // 100 * 100 if qvalue > 0 else qvalue, "raw": qvalue, "sellable": sellable,
               "odd": sellable % 100 or qvalue, "half": sellable // 2 or qvalue, "over": sellable + 1,
               "over_lot": sellable + 100}[qkind]
        engines.order(acct, instr, side, price_from(mark, offset), qty, clid, liquidation)
    elif kind == "lever":
        # Buy a share of the account's buying power at the mark and fill it: debt builds up.
        acct, instr, share_pct = args
        if not (0 <= acct < n_accounts and 0 <= instr < n_instruments) or ref.instruments[instr].mark <= 0:
            return
        mark = ref.instruments[instr].mark
        view = ref.account(acct)
        tier = ref.tiers[ref.accounts[acct].tier]
        held_value = ref.position(acct, instr)["held"] * mark
        # within buying power, the single-name cap (on today's assets) and the per-order cap
        budget = min(view["buying_power"] * share_pct // 100,
                     view["assets"] * tier.max_single_name_bp // 10_000 * 95 // 100 - held_value,
                     tier.max_order_notional)
        qty = max(0, budget // (mark * 1001 // 1000)) // 100 * 100
        before = ref.next_order_id
        engines.order(acct, instr, 1, mark, qty or 100, None, False)
        if ref.next_order_id > before:
            engines.fill(before, ref.orders[before].qty, mark)
    elif kind == "crash":
        # Limit-down for a few days running, one name or the whole market, locked or not:
        # the 2015-style cascade.
        instr, days, locked, market_wide = args
        limit_days(engines, instr, days, market_wide, down=True, locked=locked)
    elif kind == "rally":
        # Limit-up day after day: accounts climb back through the states (hysteresis upwards).
        instr, days, market_wide = args
        limit_days(engines, instr, days, market_wide, down=False, locked=False)
    elif kind == "fill":
        sel, how, step = args
        open_ids = engines.open_orders()
        if not open_ids:
            if sel % 10 == 0:
                engines.fill(10**9, 100, 1000)  # unknown order
            return
        order = ref.orders[open_ids[sel % len(open_ids)]]
        rem = order.remaining
        qty = {"all": rem, "one": 1, "half": max(1, rem // 2), "over": rem + 1, "zero": 0}[how]
        price = order.price - step if order.side == Side.BUY else order.price + step
        engines.fill(order.ident, qty, max(price, 1) if step >= 0 else price)
    elif kind == "cancel":
        open_ids = engines.open_orders()
        ids = open_ids if open_ids and args[0] % 5 else (sorted(ref.orders) or [12345])
        engines.both("close_order", ids[args[0] % len(ids)])
    elif kind == "tick":
        instr, offset, mode = args
        if not 0 <= instr < n_instruments:
            engines.both("apply_tick", instr, 1000, 0)
            return
        inst = ref.instruments[instr]
        price = price_from(inst.mark, offset)
        limits = inst.limits()
        lock = 0
        if limits is not None and mode != "bad":
            price = min(max(price, limits[0]), limits[1])
            if mode == "lock" and price in limits:
                lock = int(Lock.LIMIT_DOWN if price == limits[0] else Lock.LIMIT_UP)
        elif mode == "bad":
            lock = 1 if offset % 2 else 0
        engines.both("apply_tick", instr, price, lock)
    elif kind == "roll":
        engines.roll(args[0])
    elif kind == "clock":  # a time of day on the current trading day, 00:00 to 12:00
        engines.now = day_time_ns(ref.trading_day, args[0])
    elif kind == "flag":
        acct, method, on = args
        engines.both(method, acct, on)
    elif kind == "control":
        method, on = args
        engines.both(method, on)
    elif kind == "halt":
        engines.both("set_halted", *args)
    elif kind == "raise":
        engines.both("set_line_raise", args[0])
    elif kind == "tier":
        engines.both("set_tier", *args)
    elif kind == "advance":
        engines.now += args[0] * 10**9
        engines.both("advance_clock", engines.now)
    elif kind == "snapshot":
        engines.snapshot_round_trip()
    elif kind == "marks":
        prices = [0] * n_instruments
        for instr, offset in args[0]:
            inst = ref.instruments[instr]
            price = price_from(inst.mark, offset)
            limits = inst.limits()
            prices[instr] = min(max(price, limits[0]), limits[1]) if limits else max(price, 1)
        engines.both("apply_marks", prices)
    engines.now += 7_000_000  # 7 ms between commands


prelude = st.lists(
    st.tuples(st.integers(0, 2), st.integers(5_000_000, 100_000_000),
              st.lists(st.tuples(st.integers(0, 9), st.integers(30, 100)), min_size=1, max_size=4)),
    min_size=1, max_size=4)


def start(config: EngineConfig, books=((0, 50_000_000, ((0, 50),)), (2, 20_000_000, ((1, 60),)))) -> Lockstep:
    """Accounts with leveraged books bought yesterday, so margin states move from the first tick."""
    engines = Lockstep(config)
    for tier, amount, buys in books:
        engines.open_account(tier)
        acct = len(engines.ledger) - 1
        engines.deposit(acct, amount)
        for _ in range(8):  # the single-name cap makes a leveraged book a matter of rounds
            for instr, pct in buys:
                run(engines, ("lever", acct, instr, pct))
    engines.roll(1)
    return engines


@seed(RUN_SEED)
@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(config=configs, books=prelude, sequence=st.lists(commands, min_size=10, max_size=80))
def test_cython_engine_matches_the_reference_model(config, books, sequence):
    engines = start(config, books)
    for command in sequence:
        run(engines, command)
        engines.check_everything()


def test_a_long_scripted_session_matches(backend=None):
    """A deterministic, denser session: many fills, ticks and rolls, to reach margin states."""
    import random

    rng = random.Random(RUN_SEED)
    engines = start(EngineConfig(enforce_session=False))
    for _ in range(3):
        engines.open_account(rng.randrange(3))
        engines.deposit(len(engines.ledger) - 1, rng.randrange(1_000_000, 100_000_000))
    for step in range(3_000):
        roll = rng.random()
        acct = rng.randrange(len(engines.ledger))
        if roll < 0.35:
            instr = rng.randrange(10)
            inst = engines.ref.instruments[instr]
            side = 1 if rng.random() < 0.6 else 2
            qty = rng.choice([100, 200, 500, 1000, 3000]) if side == 1 else engines.ref._sellable(acct, instr)
            engines.order(acct, instr, side, price_from(inst.mark, rng.randint(-300, 300)), qty, None, False)
        elif roll < 0.65:
            ids = engines.open_orders()
            if ids:
                order = engines.ref.orders[rng.choice(ids)]
                engines.fill(order.ident, rng.randint(1, order.remaining), order.price)
        elif roll < 0.9:
            instr = rng.randrange(10)
            inst = engines.ref.instruments[instr]
            limits = inst.limits()
            if inst.mark > 0:
                price = price_from(inst.mark, rng.randint(-400, 250))
                if limits:
                    price = min(max(price, limits[0]), limits[1])
                engines.both("apply_tick", instr, price, 0)
        elif roll < 0.97:
            engines.both("close_order", rng.choice(sorted(engines.ref.orders) or [1]))
        elif roll < 0.99:
            engines.roll(rng.choice([1, 3]))
        else:
            engines.snapshot_round_trip()
        if step % 25 == 0:
            engines.check_everything()
    engines.check_everything()


def test_a_default_settled_at_the_day_roll_pays_the_days_interest_first():
    """Found by a random run: the day roll accrues interest, and the same roll's re-evaluation
    defaults a wiped-out account, whose covered shortfall lowers the accrued interest first
    (DOMAIN 5 and 8). The engines agreed; the harness's expectation of the accrued interest had
    left the default out."""
    config = EngineConfig(order_burst=3, max_open_orders=4, enforce_session=False, price_collar_bp=500,
                          backstop_line=0)
    engines = start(config, [(0, 5_000_000, [(0, 30)]), (0, 5_000_000, [(6, 30)])])
    for command in [("order", 0, 0, 1, -1100, ("lots", 100), None, False), ("crash", 0, 3, False, True),
                    ("open", 0), ("fill", 0, "all", 0), ("fill", 0, "all", 0), ("crash", 0, 1, False, True),
                    ("cancel", 0), ("halt", 6, True), ("crash", 0, 1, False, True), ("crash", 0, 3, False, True)]:
        run(engines, command)
        engines.check_everything()
    assert engines.shortfall > 0  # the roll did settle a default
