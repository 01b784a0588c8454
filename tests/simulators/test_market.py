"""The market simulator: deterministic, within the rules, statistically what it was told to be."""

import hashlib
import math
import statistics

import msgspec
import pytest
from hypothesis import given, settings, strategies as st

from core.instruments import Universe, limit_prices
from simulators.market import MarketSimulator, Scenario, list_scenarios, load_scenario
from simulators.market.messages import DECODER, ENCODER, DayClose, DayOpen, InstrumentStatus, Tick
from simulators.market.scenario import InstrumentSelection, Regime, Shock
from tests.conftest import RUN_SEED

UNIVERSE = Universe.sample()


def small(**changes) -> Scenario:
    base = Scenario(name="test", seed=7, days=1, step_seconds=30,
                    instruments=InstrumentSelection(count=40))
    return msgspec.structs.replace(base, **changes)


def digest(scenario: Scenario) -> str:
    h = hashlib.sha256()
    for message in MarketSimulator(scenario, UNIVERSE).messages():
        h.update(ENCODER.encode(message))
    return h.hexdigest()


def test_the_same_seed_gives_byte_identical_output():
    scenario = small(days=2, step_seconds=9)
    assert digest(scenario) == digest(scenario)
    assert digest(scenario) != digest(msgspec.structs.replace(scenario, seed=8))


def test_every_shipped_scenario_is_deterministic():
    for name in ("contagion", "flash_crash"):
        scenario = msgspec.structs.replace(load_scenario(name), step_seconds=60)
        assert digest(scenario) == digest(scenario), name


def test_messages_round_trip_through_msgpack():
    messages = list(MarketSimulator(small(step_seconds=600), UNIVERSE).messages())
    assert [DECODER.decode(ENCODER.encode(m)) for m in messages] == messages
    assert isinstance(messages[0], DayOpen) and isinstance(messages[-1], DayClose)


def check_rules(scenario: Scenario) -> int:
    """Every tick on the tick, inside the day's limits, locks consistent; returns the locked ticks."""
    sim = MarketSimulator(scenario, UNIVERSE)
    specs = {i.code: i for i in sim.instruments}
    prev = {i.code: i.prev_close for i in sim.instruments}
    last = dict(prev)
    locked = 0
    for message in sim.messages():
        if isinstance(message, DayOpen):
            prev = dict(last)
            continue
        if not isinstance(message, Tick):
            continue
        spec = specs[message.instrument]
        assert message.last > 0 and message.last % spec.tick == 0
        limits = None if spec.no_limit else limit_prices(prev[message.instrument], spec.effective_limit_pct)
        if limits:
            down, up = limits
            assert down <= message.last <= up, message
            assert message.bid == 0 or down <= message.bid <= up, message
            assert message.ask == 0 or down <= message.ask <= up, message
        if message.lock == -1:
            locked += 1
            assert limits and message.last == limits[0] and message.bid == 0 and message.bid_size == 0, message
        elif message.lock == 1:
            locked += 1
            assert limits and message.last == limits[1] and message.ask == 0 and message.ask_size == 0, message
        else:
            assert 0 < message.bid < message.ask and message.bid_size >= 100 and message.ask_size >= 100, message
        assert message.volume >= 0 and message.volume % 100 == 0
        last[message.instrument] = message.last
    return locked


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_limits_and_ticks_are_never_violated(seed):
    # a stormy week: high volatility, many jumps, so prices hit their limits often
    check_rules(small(seed=seed, days=3, step_seconds=60, vol_scale=3.0, jumps_per_day=3, jump_bp=500))


def test_storms_do_lock_names():
    assert check_rules(small(seed=RUN_SEED, days=3, step_seconds=60, vol_scale=4.0, jumps_per_day=3,
                             jump_bp=800)) > 0


def returns_by_instrument(scenario: Scenario, window: int) -> dict[str, list[float]]:
    """Log returns of each instrument's last price over `window` steps, within each day."""
    sim = MarketSimulator(scenario, UNIVERSE)
    series: dict[str, list[int]] = {}
    out: dict[str, list[float]] = {}
    for message in sim.messages():
        if isinstance(message, Tick):
            series.setdefault(message.instrument, []).append(message.last)
        elif isinstance(message, DayClose):
            for code, prices in series.items():
                out.setdefault(code, []).extend(math.log(prices[k + window] / prices[k])
                                                for k in range(0, len(prices) - window, window))
            series = {}
    return out


def correlation(a: list[float], b: list[float]) -> float:
    return statistics.correlation(a, b)


def test_realized_correlations_and_volatility_are_the_configured_ones():
    """Market 0.30, sector 0.60: pairwise correlations of 60-second returns come out near them
    (prices above 20 CNY, so the 1-fen tick does not blur them), and daily volatility near the
    universe's daily_vol_bp."""
    scenario = Scenario(name="stats", seed=RUN_SEED % 10_000, days=4, step_seconds=3, market_correlation=0.30,
                        sector_correlation=0.60, jumps_per_day=0.0,
                        instruments=InstrumentSelection(sectors=["banks", "semiconductors", "liquor", "pharma"]))
    returns = returns_by_instrument(scenario, window=20)
    specs = {i.code: i for i in UNIVERSE}
    codes = [c for c in returns if specs[c].prev_close >= 2000 and not specs[c].halted]
    same, cross = [], []
    for n, a in enumerate(codes):
        for b in codes[n + 1:]:
            rho = correlation(returns[a], returns[b])
            (same if specs[a].sector == specs[b].sector else cross).append(rho)
    assert len(same) >= 20 and len(cross) >= 50
    assert abs(statistics.mean(same) - 0.60) < 0.08, statistics.mean(same)
    assert abs(statistics.mean(cross) - 0.30) < 0.08, statistics.mean(cross)
    ratios = []
    for code in codes:
        per_window = statistics.pstdev(returns[code])
        windows_per_day = 4800 // 20
        ratios.append(per_window * math.sqrt(windows_per_day) / (specs[code].daily_vol_bp / 10_000))
    assert 0.85 < statistics.mean(ratios) < 1.15, statistics.mean(ratios)


def prices_at(scenario_name: str, changes: dict, times: list[str]) -> dict[str, dict[str, int]]:
    """Each instrument's last price at given 'DAY HH:MM' moments (the first tick at or after)."""
    from core.session import day_time_ns
    from simulators.market.scenario import parse_at

    scenario = msgspec.structs.replace(load_scenario(scenario_name), **changes)
    sim = MarketSimulator(scenario, UNIVERSE)
    wanted = [(t, day_time_ns(sim.days[parse_at(t, scenario.days)[0]], parse_at(t, scenario.days)[1]))
              for t in times]
    out: dict[str, dict[str, int]] = {t: {} for t in times}
    for message in sim.messages():
        if isinstance(message, Tick):
            for label, ts in wanted:
                if message.ts >= ts and message.instrument not in out[label]:
                    out[label][message.instrument] = message.last
    return out, sim


def mean_move(a: dict, b: dict, codes) -> float:
    moves = [b[c] / a[c] - 1 for c in codes if c in a and c in b]
    return sum(moves) / len(moves)


@pytest.mark.parametrize("seed", [RUN_SEED % 1000, 1, 2])
def test_contagion_the_sector_follows_the_heavyweight(seed):
    prices, sim = prices_at("contagion", {"seed": seed, "step_seconds": 15}, ["1 09:55", "1 10:05", "1 14:55"])
    insurance = [i.code for i in sim.instruments if i.sector == "insurance" and i.code != "601318"]
    others = [i.code for i in sim.instruments if i.sector not in ("insurance", "brokers", "banks")]
    # the heavyweight is locked at limit-down from 10:00 to the close
    down = limit_prices(UNIVERSE.get("601318").prev_close, 10)[0]
    assert prices["1 10:05"]["601318"] == prices["1 14:55"]["601318"] == down
    # the insurance sector follows it down, after it, and further than the market
    assert abs(mean_move(prices["1 09:55"], prices["1 10:05"], insurance)) < 0.02  # not yet
    sector_fall = mean_move(prices["1 09:55"], prices["1 14:55"], insurance)
    market_fall = mean_move(prices["1 09:55"], prices["1 14:55"], others)
    # further than the market: by 2 points, or, when the market itself fell close to the -10 % limit,
    # by at least half of the room the limit leaves (the sector cannot fall past its limit-down)
    room = market_fall + 0.10
    assert sector_fall < -0.05 and sector_fall <= market_fall - min(0.02, room / 2), (sector_fall, market_fall)


def test_contagion_heavyweight_is_locked_limit_down_with_no_bids():
    from core.session import day_time_ns

    scenario = msgspec.structs.replace(load_scenario("contagion"), step_seconds=30)
    sim = MarketSimulator(scenario, UNIVERSE)
    down = limit_prices(UNIVERSE.get("601318").prev_close, 10)[0]
    ten, close = day_time_ns(sim.days[0], 10 * 3600 + 60), day_time_ns(sim.days[0], 15 * 3600)
    day_one = [m for m in sim.messages() if isinstance(m, Tick) and m.instrument == "601318" and ten <= m.ts < close]
    assert day_one and all(m.lock == -1 and m.last == down and m.bid == 0 and m.bid_size == 0 for m in day_one)


def test_cascade_locks_most_of_the_market_for_three_days():
    scenario = msgspec.structs.replace(load_scenario("cascade"), step_seconds=300)
    sim = MarketSimulator(scenario, UNIVERSE)
    locked_by_day: dict[int, set] = {}
    day = None
    for message in sim.messages():
        if isinstance(message, DayOpen):
            day = message.day
        elif isinstance(message, Tick) and message.lock == -1:
            locked_by_day.setdefault(day, set()).add(message.instrument)
    tradable = len([i for i in sim.instruments if not i.halted])
    for d in sim.days[:3]:
        assert len(locked_by_day.get(d, ())) >= 0.6 * tradable
    assert len(locked_by_day.get(sim.days[3], ())) < 0.2 * tradable


def test_flash_crash_and_rebound():
    prices, sim = prices_at("flash_crash", {"step_seconds": 15}, ["1 13:29", "1 13:36", "1 14:30"])
    codes = [i.code for i in sim.instruments]
    crash = mean_move(prices["1 13:29"], prices["1 13:36"], codes)
    rebound = mean_move(prices["1 13:36"], prices["1 14:30"], codes)
    assert crash < -0.04 and rebound > 0.03, (crash, rebound)


def test_halts_and_resumptions():
    scenario = small(shock=[Shock(at="1 10:00", target="600036", kind="halt", until="1 13:30")],
                     instruments=InstrumentSelection(codes=["600036", "601318"]))
    messages = list(MarketSimulator(scenario, UNIVERSE).messages())
    statuses = [m for m in messages if isinstance(m, InstrumentStatus)]
    assert [(s.instrument, s.halted) for s in statuses] == [("600036", True), ("600036", False)]
    halted_ticks = [m for m in messages if isinstance(m, Tick) and m.instrument == "600036"
                    and statuses[0].ts <= m.ts < statuses[1].ts]
    assert halted_ticks == []


def test_day_rolls_reset_the_previous_close_and_limits():
    sim = MarketSimulator(small(days=2, step_seconds=600), UNIVERSE)
    closes, opens, day = {}, {}, 0
    for m in sim.messages():
        if isinstance(m, DayOpen):
            day += 1
        elif isinstance(m, Tick):
            if day == 1:
                closes[m.instrument] = m.last
            elif m.instrument not in opens:
                opens[m.instrument] = m.instrument
    code = next(iter(closes))
    assert sim.prev_close[sim.index[code]] == closes[code]


def test_scenarios_load_by_name_and_refuse_nonsense(tmp_path):
    assert set(list_scenarios()) >= {"calm", "contagion", "cascade", "flash_crash"}
    with pytest.raises(ValueError, match="no scenario 'nope'"):
        load_scenario("nope")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[shock]]\nat = "9 10:00"\ntarget = "market"\nkind = "move"\n')
    with pytest.raises(ValueError, match="outside the scenario"):
        load_scenario(bad)
    bad.write_text('name = "x"\n[[shock]]\nat = "1 10:00"\ntarget = "market"\nkind = "explode"\n')
    with pytest.raises(ValueError, match="kind"):
        load_scenario(bad)
    with pytest.raises(ValueError, match="matches no instrument"):
        MarketSimulator(small(shock=[Shock(at="1 10:00", target="sector:nothing", kind="jump")]), UNIVERSE)
    with pytest.raises(ValueError, match="correlation"):
        small(market_correlation=0.7, sector_correlation=0.5).validate()


def test_paced_play_lets_the_loop_in_between_a_steps_snapshots():
    """A step's snapshots share one moment: delivered in one callback they kept the gateway's
    loop from reading orders for a millisecond and more; play gives it a turn every BURST."""
    import asyncio

    import uvloop

    from simulators.market.simulator import BURST

    sim = MarketSimulator(small())
    expected = list(sim.messages())
    turns = 0
    delivered = []  # (message, loop turns seen so far)

    async def run():
        nonlocal turns
        stop = False

        async def count_turns():
            nonlocal turns
            while not stop:
                turns += 1
                await asyncio.sleep(0)

        counter = asyncio.get_running_loop().create_task(count_turns())
        await MarketSimulator(small()).play(lambda m: delivered.append((m, turns)), speed=1e9)
        stop = True
        await counter

    uvloop.run(run())
    assert [m for m, _ in delivered] == expected  # every message, in order
    longest = run_length = 1
    for (_, before), (_, after) in zip(delivered, delivered[1:]):
        run_length = run_length + 1 if after == before else 1
        longest = max(longest, run_length)
    assert longest == BURST  # never more back to back; the steps do have that many
