"""Staged automatic liquidation: the quantity and price rules, the fair platform cap, and the
machine's stages, computed by hand from DOMAIN.md section 7, on both backends.

Conservative tier: lines 150/140/130 %, restore-to 155 %, band 2 %, 6 % a year; sell fees
760 ppm (commission 250, stamp duty 500, transfer 10). 300002 has no daily limit (prev close
30.00); 600000 has a 10 % band (prev close 10.00).
"""

import datetime as dt

import pytest

from core import DEFAULT_TIERS, EngineConfig
from core.commands import (
    ClockAdvance, DayRoll, Deposit, Fill, Genesis, OpenAccount, Outcome, PlaceOrder, SetControl, Tick,
)
from core.events import CancelRequested, LiquidationStaged, OrderAccepted
from core.instruments import Board
from core.liquidation import (
    ChildOrder, Skip, fair_shares, jitter_ns, liquidation_price, sell_at_least, sell_at_most, smallest_sell,
)
from core.machine import Machine
from tests.conftest import TRADING_DAY, small_universe
from core.session import shanghai_ns

DAY1 = TRADING_DAY.toordinal()
T1 = shanghai_ns(2026, 1, 6, 10, 0)  # Tuesday, day 2
S = 10**9


# ------------------------------------------------------------------ rules on their own
def test_sell_quantities_follow_the_board_lot_rules():
    assert sell_at_least(Board.SSE_MAIN, 2_496, 6_300) == 2_500
    assert sell_at_least(Board.SSE_MAIN, 120, 250) == 150  # the odd 50 plus a lot covers 120
    assert sell_at_least(Board.SSE_MAIN, 210, 250) == 250  # everything
    assert sell_at_least(Board.STAR, 150, 1_000) == 200 and sell_at_least(Board.STAR, 150, 180) == 180
    assert sell_at_most(Board.SSE_MAIN, 260, 250) == 250 and sell_at_most(Board.SSE_MAIN, 240, 250) == 200
    assert sell_at_most(Board.SSE_MAIN, 180, 1_050) == 150  # the odd 50 and one lot
    assert sell_at_most(Board.SSE_MAIN, 40, 1_050) == 0
    assert sell_at_most(Board.STAR, 199, 500) == 0 and sell_at_most(Board.STAR, 150, 150) == 150
    assert smallest_sell(Board.CHINEXT, 6_300) == 100 and smallest_sell(Board.SSE_MAIN, 1_050) == 50


def test_the_child_price_is_under_the_mark_on_the_tick_and_never_under_limit_down():
    assert liquidation_price(1800, 0, 1, 200) == 1764
    assert liquidation_price(905, 900, 1, 200) == 900  # 886.9 would be under limit-down
    assert liquidation_price(1001, 0, 5, 200) == 985  # 980.98 rounded up to the tick


def test_fair_shares_meet_small_demands_and_give_the_remainder_to_the_lowest_ratio_first():
    # priority order (lowest R first): 500, 300, 100 against 600: 100 met, then 250 each
    assert fair_shares([(1, 500), (2, 300), (3, 100)], 600) == [250, 250, 100]
    assert fair_shares([(1, 500), (2, 500)], 301) == [151, 150]
    assert fair_shares([(1, 50)], 1_000) == [50]
    assert fair_shares([(1, 50), (2, 50)], 0) == [0, 0]


def test_jitter_is_seeded_bounded_and_stateless():
    values = [jitter_ns(7, account, stage, 5 * S) for account in range(20) for stage in range(20)]
    assert all(0 <= v <= 5 * S for v in values) and len(set(values)) > 300
    assert values == [jitter_ns(7, a, s, 5 * S) for a in range(20) for s in range(20)]
    assert jitter_ns(8, 1, 1, 5 * S) != jitter_ns(7, 1, 1, 5 * S) and jitter_ns(7, 1, 1, 0) == 0


# ------------------------------------------------------------------ the machine's stages
def machine_with(backend: str, **config) -> Machine:
    settings = dict(enforce_session=False, liquidation_interval_s=30, liquidation_jitter_s=0)
    settings.update(config)
    genesis = Genesis(instruments=list(small_universe()), tiers=list(DEFAULT_TIERS),
                      config=EngineConfig(**settings), trading_day=DAY1)
    return Machine(genesis, backend)


@pytest.fixture(params=["python", "cython"])
def backend(request):
    return request.param


def leveraged_in_300002(machine: Machine) -> None:
    """Account 0: 100,000.00 deposited, 6,300 x 300002 bought at 30.00 (debt 89,049.14), day 2
    (interest 14.84: D = 89,063.98), and a resting buy (order 2) that liquidation must cancel."""
    machine.execute(OpenAccount(tier="conservative"))
    machine.execute(Deposit(account=0, amount=10_000_000))
    assert machine.execute(PlaceOrder(account=0, instrument="300002", side=1, price=3000, qty=6_300,
                                      client_order_id="b", ts=T1 - 86_400 * S)).result == 1
    machine.execute(Fill(order=1, qty=6_300, price=3000, exec_id="f1"))
    assert machine.engine.account(0)["debt"] == 8_904_914
    machine.execute(DayRoll(day=DAY1 + 1))
    assert machine.engine.account(0)["accrued_interest"] == 1_484
    assert machine.execute(PlaceOrder(account=0, instrument="300002", side=1, price=2900, qty=100,
                                      client_order_id="rest", ts=T1)).result == 2


def test_liquidation_cancels_open_buys_sells_in_stages_and_stops_at_the_restore_line(backend):
    machine = machine_with(backend)
    leveraged_in_300002(machine)
    # At 18.00 (100,000 shares traded): A = 113,400.00, D = 89,063.98, R = 127.32 % < 130 %
    outcome, events = machine.apply(Tick(instrument="300002", price=1800, volume=100_000, ts=T1))
    assert outcome.changes == ((0, 0, 3, 12_732),) and outcome.cancels == (2,)
    assert [e for e in events if isinstance(e, CancelRequested)] == [
        CancelRequested(order=2, account=0, reason="liquidation: open buys are cancelled first")]
    # x = (1.55 D - A) / (1.55 (1 - 0.00076) - 1) = 44,912.87; 2,496 shares at 18.00 cover it,
    # rounded up to the lot: 2,500. Caps: 27,777 by notional, 10 % of 100,000 by volume.
    outcome, events = machine.apply(ClockAdvance(ts=T1 + S))
    assert outcome.orders == (3,)
    stage = next(e for e in events if isinstance(e, LiquidationStaged))
    assert (stage.to_sell, stage.everything, stage.in_flight, stage.waiting) == (4_491_287, False, 0, False)
    assert stage.orders == (ChildOrder(3, "300002", 2_500, 1764, "2,500 at 1800 cover 4,491,287 of x"),)
    assert stage.next_ts == T1 + 31 * S
    accepted = [e for e in events if isinstance(e, OrderAccepted)]
    assert [(e.order, e.side, e.qty, e.price, e.liquidation) for e in accepted] == [(3, "sell", 2_500, 1764, True)]
    assert machine.execute(ClockAdvance(ts=T1 + 30 * S)) == Outcome()  # not due yet
    # The child fills at 17.64: net 44,066.48 repays interest 14.84 and debt; R = 152.01 %,
    # still under the 155 % restore-to line.
    outcome = machine.execute(Fill(order=3, qty=2_500, price=1764, exec_id="f3"))
    assert outcome.changes == () and machine.engine.account(0)["debt"] == 4_499_750
    # The next stage: x = 2,452.76, so 137 shares, a lot: 200.
    outcome, events = machine.apply(ClockAdvance(ts=T1 + 31 * S))
    assert outcome.orders == (4,)
    assert next(e for e in events if isinstance(e, LiquidationStaged)).orders[0].qty == 200
    # Its fill lifts R to 156.23 %: out of LIQUIDATING, straight to NORMAL (152 % with the band)
    outcome = machine.execute(Fill(order=4, qty=200, price=1764, exec_id="f4"))
    assert outcome.changes == ((0, 3, 0, 15_623),)
    assert machine.execute(ClockAdvance(ts=T1 + 120 * S)) == Outcome()  # no more stages
    stats = machine.liquidator.state
    assert (stats.liquidated_notional, stats.liquidation_fills) == (4_410_000 + 352_800, 2)
    assert stats.liquidation_shortfall == 2_700 * 36  # 0.36 under the mark per share
    assert stats.liquidation_fees == (1_103 + 2_205 + 44) + (500 + 176 + 4)


def test_a_deposit_that_restores_the_ratio_cancels_the_working_children(backend):
    machine = machine_with(backend)
    leveraged_in_300002(machine)
    machine.execute(Tick(instrument="300002", price=1800, volume=100_000, ts=T1))
    assert machine.execute(ClockAdvance(ts=T1 + S)).orders == (3,)
    outcome, events = machine.apply(Deposit(account=0, amount=5_000_000))  # R = 183.46 %
    assert outcome.changes == ((0, 3, 0, 18_346),) and outcome.cancels == (3,)
    assert [e.reason for e in events if isinstance(e, CancelRequested)] == ["liquidation ended (NORMAL)"]


def test_a_locked_name_is_queued_at_limit_down_and_today_s_buys_are_skipped(backend):
    """DOMAIN.md: limit-locked last (not skipped), halted skipped; shares bought today cannot be sold."""
    machine = machine_with(backend)
    machine.execute(OpenAccount(tier="conservative"))
    machine.execute(Deposit(account=0, amount=10_000_000))
    machine.execute(PlaceOrder(account=0, instrument="600000", side=1, price=1000, qty=5_000, client_order_id="a",
                               ts=T1 - 86_400 * S))
    machine.execute(Fill(order=1, qty=5_000, price=1000, exec_id="f1"))
    machine.execute(DayRoll(day=DAY1 + 1))
    machine.execute(PlaceOrder(account=0, instrument="300002", side=1, price=3000, qty=4_600, client_order_id="b",
                               ts=T1))
    machine.execute(Fill(order=2, qty=4_600, price=3000, exec_id="f2"))  # debt 88,048.88
    machine.execute(Tick(instrument="600000", price=900, lock=-1, ts=T1))  # limit-down, no bids
    outcome = machine.execute(Tick(instrument="300002", price=1500, ts=T1))  # A 114,000.00, R 129.47 %
    assert outcome.changes == ((0, 0, 3, 12_947),)
    outcome, events = machine.apply(ClockAdvance(ts=T1 + S))
    stage = next(e for e in events if isinstance(e, LiquidationStaged))
    # x = (1.55 x 8,804,888 - 11,400,000) / (1.55 x 0.99924 - 1) = 40,952.74 CNY: 4,551 shares at
    # 9.00, a lot up 4,600; no volume traded into the lock, so one lot this stage, at limit-down
    assert not stage.waiting and stage.to_sell == 4_095_274
    assert stage.orders == (ChildOrder(outcome.orders[0], "600000", 100, 900,
                                       "4,600 at 900 cover 4,095,274 of x; this stage 100 (child cap: 55,555 by "
                                       "notional, 0 by volume); limit-locked at limit-down (no bids): queued there, "
                                       "fills when the lock breaks"),)
    assert stage.skipped == (Skip("300002", "bought today (T+1): sellable from the next trading day"),)
    # the lock breaks and the queued child fills at 9.00: net 89,454 repays debt
    machine.execute(Tick(instrument="600000", price=905, volume=30_000, ts=T1 + 20 * S))
    machine.execute(Fill(order=outcome.orders[0], qty=100, price=900, exec_id="f3"))
    outcome, events = machine.apply(ClockAdvance(ts=T1 + 75 * S))
    stage = next(e for e in events if isinstance(e, LiquidationStaged))
    # D 8,715,434, A 11,334,500: x = 39,619.82 CNY, 4,378 shares at 9.05, a lot up 4,400; this
    # stage 10 % of the 30,000 traded
    assert stage.orders == (ChildOrder(outcome.orders[0], "600000", 3_000, 900,
                                       "4,400 at 905 cover 3,961,982 of x; this stage 3,000 "
                                       "(child cap: 55,248 by notional, 3,000 by volume)"),)
    assert stage.skipped == (Skip("300002", "bought today (T+1): sellable from the next trading day"),)


def test_limit_locked_positions_come_last_whatever_their_risk(backend):
    """600000 is the larger position (same volatility), so it would come first by risk; locked, it
    comes after 300002, which is sold in full, and takes what is left of x."""
    machine = machine_with(backend)
    machine.execute(OpenAccount(tier="conservative"))
    machine.execute(Deposit(account=0, amount=10_000_000))
    machine.execute(PlaceOrder(account=0, instrument="600000", side=1, price=1000, qty=8_000, client_order_id="a",
                               ts=T1 - 86_400 * S))
    machine.execute(Fill(order=1, qty=8_000, price=1000, exec_id="f1"))
    machine.execute(PlaceOrder(account=0, instrument="300002", side=1, price=3000, qty=3_900, client_order_id="b",
                               ts=T1 - 86_400 * S))
    machine.execute(Fill(order=2, qty=3_900, price=3000, exec_id="f2"))
    # debt 97,051.22 (8,002,080 + 11,703,042 - 10,000,000); the roll accrues a day: 16.18
    machine.execute(DayRoll(day=DAY1 + 1))
    machine.execute(Tick(instrument="600000", price=900, lock=-1, ts=T1))
    outcome = machine.execute(Tick(instrument="300002", price=1200, volume=100_000, ts=T1))
    assert outcome.changes == ((0, 0, 3, 12_238),)  # A 118,800.00, D 97,067.40
    outcome, events = machine.apply(ClockAdvance(ts=T1 + S))
    stage = next(e for e in events if isinstance(e, LiquidationStaged))
    # x = (1.55 x 9,706,740 - 11,880,000) / 0.548822 = 57,677.12 CNY: all of 300002 (46,800.00),
    # then 600000 covers the 10,877.12 left: 1,209 shares, a lot up 1,300, one lot this stage
    assert stage.to_sell == 5_767_712 and stage.skipped == ()
    whys = {o.instrument: (o.qty, o.price, o.why) for o in stage.orders}
    assert whys["300002"] == (3_900, 1_176, "3,900 at 1200 cover 5,767,712 of x")
    assert whys["600000"][:2] == (100, 900) and whys["600000"][2].startswith("1,300 at 900 cover 1,087,712 of x")


def test_paused_liquidation_places_nothing_until_resumed(backend):
    machine = machine_with(backend)
    leveraged_in_300002(machine)
    machine.execute(SetControl(control="pause_liquidation", on=True))
    machine.execute(Tick(instrument="300002", price=1800, volume=100_000, ts=T1))
    assert machine.execute(ClockAdvance(ts=T1 + S)).orders == ()
    machine.execute(SetControl(control="pause_liquidation", on=False))
    assert machine.execute(ClockAdvance(ts=T1 + 2 * S)).orders == (3,)


def test_the_platform_cap_is_shared_fairly_lowest_ratio_first(backend):
    """Two accounts liquidating 300002 in the same interval with a platform cap of 20 % of 1,000
    shares traded: 200 shares in all, one lot each."""
    machine = machine_with(backend, liquidation_participation_bp=10_000)
    for account in (0, 1):
        machine.execute(OpenAccount(tier="conservative"))
        machine.execute(Deposit(account=account, amount=10_000_000))
        qty = 6_300 if account == 0 else 6_200
        machine.execute(PlaceOrder(account=account, instrument="300002", side=1, price=3000, qty=qty,
                                   client_order_id="b", ts=T1 - 86_400 * S))
        machine.execute(Fill(order=account + 1, qty=qty, price=3000, exec_id=f"f{account}"))
    machine.execute(DayRoll(day=DAY1 + 1))
    outcome = machine.execute(Tick(instrument="300002", price=1800, volume=1_000, ts=T1))
    assert sorted(a for a, _, new, _ in outcome.changes if new == 3) == [0, 1]
    outcome, events = machine.apply(ClockAdvance(ts=T1 + S))
    stages = {e.account: e for e in events if isinstance(e, LiquidationStaged)}
    assert stages[0].collateral_ratio_bp < stages[1].collateral_ratio_bp
    assert [o.qty for o in stages[0].orders] == [100] and [o.qty for o in stages[1].orders] == [100]
    assert machine.liquidator.state.usage[machine.instrument_id("300002")][1] == 200
    # the same interval has nothing left for anyone
    assert machine.execute(ClockAdvance(ts=T1 + 29 * S)).orders == ()


def test_a_snapshot_mid_liquidation_continues_exactly(backend):
    machine = machine_with(backend, liquidation_jitter_s=7)
    leveraged_in_300002(machine)
    machine.execute(Tick(instrument="300002", price=1800, volume=100_000, ts=T1))
    machine.execute(ClockAdvance(ts=T1 + S))
    copy = Machine.from_state(machine.export_state(), backend)
    script = [Fill(order=3, qty=1_000, price=1764, exec_id="p1"), Tick(instrument="300002", price=1790,
                                                                        volume=5_000, ts=T1 + 20 * S)]
    script += [ClockAdvance(ts=T1 + k * S) for k in range(30, 60, 2)]
    assert [machine.execute(c) for c in script] == [copy.execute(c) for c in script]
    assert machine.export_state() == copy.export_state()


def test_day_roll_date():  # the fixture dates: day 2 is a Tuesday
    assert dt.date.fromordinal(DAY1 + 1).weekday() == 1
