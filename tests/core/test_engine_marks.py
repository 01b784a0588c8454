"""Mark-to-market and the margin states (DOMAIN.md section 7), through ticks."""

import pytest

from core import Lock, MarginState as S, RejectCode as RC, Side
from tests.conftest import NOW, TRADING_DAY
from tests.core.helpers import buy_filled, funded, next_day, rejected

BUY, SELL = Side.BUY, Side.SELL


def leveraged(engine):
    """Conservative account (L_max 2; lines 150/140/130 %, restore 155 %): 6,600 of the no-limit
    name at 30.00 = 198,000.00 CNY on 100,000.00 of its own. Debt = 198,051.48 - 100,000.00."""
    acct = funded(engine, "conservative", "100000")
    buy_filled(engine, acct, "300002", 6_600, 3000)
    assert engine.account(acct)["debt"] == 9_805_148
    return acct


def ratio(price, debt=9_805_148, qty=6_600):
    return price * qty * 10_000 // debt


@pytest.mark.parametrize("path", [[
    (2500, S.NORMAL),        # R 168.28 %
    (2228, S.WARNING),       # 149.97 %: under the warning line
    (2229, S.WARNING),       # 150.04 %: back over it, but not by the 2 % band
    (2258, S.WARNING),       # 151.99 %
    (2259, S.NORMAL),        # 152.06 %: warning line + band
    (2100, S.WARNING),       # 141.36 %
    (2080, S.WARNING),       # 140.01 %
    (2079, S.MARGIN_CALL),   # 139.94 %
    (1930, S.LIQUIDATING),   # 129.91 %
    (2250, S.LIQUIDATING),   # 151.45 %: liquidation holds until the restore-to line
    (2310, S.NORMAL),        # 155.49 %: restored, and above 152 %
]])
def test_states_follow_the_ratio_with_hysteresis(engine, path):
    acct = leveraged(engine)
    state = S.NORMAL
    for price, expected in path:
        changes = engine.tick("300002", price)
        if expected != state:
            assert [(c.account, c.old, c.new, c.collateral_ratio_bp) for c in changes] == \
                [(acct, state, expected, ratio(price))], price
        else:
            assert changes == (), price
        state = expected
        assert engine.account(acct)["state"] == expected


def test_margin_call_makes_the_account_reduce_only_until_it_recovers(engine):
    acct = leveraged(engine)
    engine.tick("300002", 2079)
    assert engine.account(acct)["reduce_only"]
    rejected(engine.place(acct, "600000", BUY, 1000, 100, "a", NOW), RC.REDUCE_ONLY, f"account={acct}, state=2")
    engine.tick("300002", 2200)  # 148.08 %: WARNING again (140 + 2)
    assert engine.account(acct)["state"] == S.WARNING and not engine.account(acct)["reduce_only"]


def test_a_deposit_lifts_a_margin_call(engine):
    acct = leveraged(engine)
    engine.tick("300002", 2079)
    engine.deposit(acct, 2_000_000)  # A 15,721,400 / D: 160.34 %
    (change,) = engine.take_changes()
    assert (change.old, change.new) == (S.MARGIN_CALL, S.NORMAL)


def test_a_tick_reports_each_change_once(engine):
    acct = leveraged(engine)
    assert len(engine.tick("300002", 2228)) == 1
    assert engine.tick("300002", 2228) == ()
    assert engine.tick("300002", 2227) == ()
    assert engine.account(acct)["state"] == S.WARNING


def test_a_tick_re_marks_only_the_holders(engine):
    holder = leveraged(engine)
    bystander = funded(engine, "conservative", "100000")
    buy_filled(engine, bystander, "000001", 1_000)
    before = engine.account(bystander)
    engine.tick("300002", 2000)
    assert engine.account(bystander) == before
    assert engine.account(holder)["market_value"] == 2000 * 6_600


def test_open_buys_are_re_marked_for_the_leverage_test(engine):
    acct = funded(engine, "conservative", "100000")
    order = engine.place(acct, "300002", BUY, 3000, 3_000, "a", NOW)
    engine.tick("300002", 2000)
    engine.fill(order.order_id, 3_000, 3000)
    assert engine.account(acct)["market_value"] == 6_000_000


def test_equity_gone_and_nothing_sellable_is_a_default(engine):
    acct = leveraged(engine)  # bought today: nothing is sellable
    changes = engine.tick("300002", 1400)  # A 9,240,000 < D: equity below zero
    assert [(c.old, c.new) for c in changes] == [(S.NORMAL, S.LIQUIDATING), (S.LIQUIDATING, S.DEFAULTED)]
    assert engine.tick("300002", 5000) == ()  # left only by an operator
    assert engine.account(acct)["state"] == S.DEFAULTED


def test_negative_equity_with_sellable_shares_keeps_liquidating(engine):
    acct = leveraged(engine)
    next_day(engine)  # the shares become sellable
    changes = engine.tick("300002", 1400)
    assert [(c.old, c.new) for c in changes] == [(S.NORMAL, S.LIQUIDATING)]
    x, everything = engine.liquidation_amount(acct)
    assert everything and x == 6_600 * 1400


def test_multi_day_limit_down_cascade_defaults_only_while_locked(make_engine):
    """ChiNext name down 20 % a day: the account slides to liquidation; once equity is gone,
    a limit-down lock (no bids) leaves nothing sellable and the account defaults."""
    for locked, final in [(True, S.DEFAULTED), (False, S.LIQUIDATING)]:
        engine = make_engine()
        acct = funded(engine, "conservative", "100000")
        buy_filled(engine, acct, "300001", 3_900, 5000)
        seen = []
        for day in range(4):
            next_day(engine)
            down = engine.instrument("300001")["limit_down"]
            seen += [c.new for c in engine.tick("300001", down, Lock.LIMIT_DOWN if locked else Lock.NONE)]
        assert seen[-1] == final, seen
        assert S.LIQUIDATING in seen
        if locked:  # the waterfall covered the shortfall: equity is 0, the shares stay as collateral
            assert engine.account(acct)["equity"] == 0 and engine.account(acct)["market_value"] > 0
            assert engine.platform()["covered_by_backstop"] > 0
        else:
            assert engine.account(acct)["equity"] < 0


def test_halting_the_last_sellable_name_defaults_a_bankrupt_account(engine):
    acct = leveraged(engine)
    next_day(engine)
    engine.tick("300002", 1400)
    engine.halt("300002", True)
    assert [(c.old, c.new) for c in engine.take_changes()] == [(S.LIQUIDATING, S.DEFAULTED)]


def test_raising_all_lines_re_evaluates_every_account(engine):
    acct = leveraged(engine)
    engine.tick("300002", 2300)  # 154.80 %: NORMAL
    assert engine.fast.set_line_raise(500) == 0  # warning 155 %, margin call 145 %
    (change,) = engine.take_changes()
    assert (change.account, change.old, change.new) == (acct, S.NORMAL, S.WARNING)


def test_full_re_mark_equals_the_same_ticks(make_engine):
    a, b = make_engine(), make_engine()
    for engine in (a, b):
        leveraged(engine)
        acct = funded(engine, "standard", "500000")
        buy_filled(engine, acct, "000001", 10_000)
        buy_filled(engine, acct, "600000", 10_000)
    prices = [0] * len(a.universe)
    moves = {"300002": 2079, "000001": 1850, "600000": 960}
    for code, price in moves.items():
        prices[a.universe.id_of(code)] = price
    changes = a.fast.apply_marks(prices)
    ticked = []
    for code, price in moves.items():
        ticked += b.fast.apply_tick(b.universe.id_of(code), price, 0)
    assert sorted(changes) == sorted(ticked)
    assert [a.account(i) for i in range(2)] == [b.account(i) for i in range(2)]


def test_liquidation_amount_from_the_account(engine):
    acct = leveraged(engine)
    next_day(engine)
    engine.tick("300002", 2000)  # LIQUIDATING below 130 %
    view = engine.account(acct)
    from core import liquidation_amount

    expected = liquidation_amount(view["assets"], view["liabilities"], 15_500, 760, 6_600 * 2000)
    assert engine.liquidation_amount(acct) == expected
    assert not expected[1] and 0 < expected[0] < 6_600 * 2000


def test_a_margin_call_not_met_by_the_next_trading_days_0930_starts_liquidation(engine):
    from core.session import shanghai_ns

    acct = leveraged(engine)
    engine.tick("300002", 2079)  # 139.94 %: MARGIN_CALL on Monday
    deadline = shanghai_ns(2026, 1, 6, 9, 30)
    assert engine.account(acct)["margin_call_deadline_ns"] == deadline  # shown at once: Tuesday 09:30
    assert engine.fast.advance_clock(shanghai_ns(2026, 1, 5, 14, 0)) == []
    engine.roll_day(TRADING_DAY.toordinal() + 1)  # Tuesday: the roll confirms it
    assert engine.account(acct)["margin_call_deadline_ns"] == deadline
    assert engine.fast.advance_clock(deadline - 1) == []
    (change,) = engine.fast.advance_clock(deadline)
    assert (change[0], change[1], change[2]) == (acct, S.MARGIN_CALL, S.LIQUIDATING)
    assert engine.account(acct)["margin_call_deadline_ns"] == 0


def test_a_margin_call_deadline_waits_for_the_market_to_open_again(engine):
    """Shown at once as the next weekday's 09:30; if that weekday is a holiday (no day roll comes),
    nothing starts; the roll to the day the market opens moves the deadline to that day's 09:30."""
    from core.session import shanghai_ns

    acct = leveraged(engine)
    engine.tick("300002", 2079)  # MARGIN_CALL on Monday 5 January
    assert engine.account(acct)["margin_call_deadline_ns"] == shanghai_ns(2026, 1, 6, 9, 30)
    assert engine.fast.advance_clock(shanghai_ns(2026, 1, 6, 10, 0)) == []  # Tuesday a holiday: no roll
    engine.roll_day(TRADING_DAY.toordinal() + 2)  # the market opens again on Wednesday
    deadline = shanghai_ns(2026, 1, 7, 9, 30)
    assert engine.account(acct)["margin_call_deadline_ns"] == deadline
    assert engine.fast.advance_clock(deadline - 1) == []
    (change,) = engine.fast.advance_clock(deadline)
    assert (change[0], change[1], change[2]) == (acct, S.MARGIN_CALL, S.LIQUIDATING)


def test_a_friday_margin_call_shows_monday(engine):
    from core.session import next_weekday, shanghai_ns

    assert [next_weekday(TRADING_DAY.toordinal() + d) - TRADING_DAY.toordinal() for d in range(7)] == \
        [1, 2, 3, 4, 7, 7, 7]  # Monday 5 January 2026 to Sunday 11 January
    acct = leveraged(engine)
    engine.roll_day(TRADING_DAY.toordinal() + 4)  # Friday 9 January
    engine.tick("300002", 2079)
    assert engine.account(acct)["state"] == S.MARGIN_CALL
    assert engine.account(acct)["margin_call_deadline_ns"] == shanghai_ns(2026, 1, 12, 9, 30)


def test_a_deposit_before_the_deadline_lifts_the_call(engine):
    from core.session import shanghai_ns

    acct = leveraged(engine)
    engine.tick("300002", 2079)
    engine.roll_day(TRADING_DAY.toordinal() + 3)  # over a weekend: the deadline is that day's 09:30
    assert engine.account(acct)["margin_call_deadline_ns"] == shanghai_ns(2026, 1, 8, 9, 30)
    engine.deposit(acct, 2_000_000)
    assert engine.account(acct)["state"] == S.NORMAL
    assert engine.fast.advance_clock(shanghai_ns(2026, 1, 8, 10, 0)) == []
    assert engine.account(acct)["margin_call_deadline_ns"] == 0


def test_liquidation_amount_counts_shares_already_in_open_sells(engine):
    acct = leveraged(engine)
    next_day(engine)
    sell = engine.place(acct, "300002", SELL, 3000, 6_600, "client-sell", NOW)
    assert sell.accepted and engine.position(acct, "300002")["sellable"] == 0
    engine.tick("300002", 2000)
    x, everything = engine.liquidation_amount(acct)
    assert not everything and 0 < x < 6_600 * 2000
