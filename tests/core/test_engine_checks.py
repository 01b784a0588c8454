"""Every pre-trade check of DOMAIN.md section 6 through the public engine API, on both backends."""

import pytest

from core import EngineConfig, Engine, Instrument, RejectCode as RC, Side, Universe, cny
from core.session import shanghai_ns
from tests.conftest import NOW, TRADING_DAY
from tests.core.helpers import COVERAGE, buy_filled, covers, funded, holding, rejected

BUY, SELL = Side.BUY, Side.SELL


@covers(RC.INVALID_SIDE, RC.INVALID_QUANTITY, RC.INVALID_PRICE)
def test_malformed_orders_are_rejected_with_what_was_wrong(engine):
    acct = funded(engine)
    rejected(engine.place(acct, "600000", 3, 1000, 100, "a", NOW), RC.INVALID_SIDE, "side=3")
    rejected(engine.place(acct, "600000", BUY, 1000, 0, "b", NOW), RC.INVALID_QUANTITY, "qty=0")
    rejected(engine.place(acct, "600000", BUY, 1000, -100, "c", NOW), RC.INVALID_QUANTITY)
    rejected(engine.place(acct, "600000", BUY, 1000, 10**9 + 1, "d", NOW), RC.INVALID_QUANTITY)
    rejected(engine.place(acct, "600000", BUY, 0, 100, "e", NOW), RC.INVALID_PRICE, "price=0")
    rejected(engine.place(acct, "600000", BUY, -5, 100, "f", NOW), RC.INVALID_PRICE)


def test_quantity_and_price_ranges_are_checked_in_the_domain_order(engine):
    """DOMAIN.md section 6: the checks run in the order listed, the account first; a quantity or a
    price out of range is part of step 5 (the quantity rule, the tick and the band)."""
    rejected(engine.place(99, "600000", BUY, 1000, 0, "g", NOW), RC.UNKNOWN_ACCOUNT)
    acct = funded(engine)
    holding(engine, acct, "600000", 1000)
    engine.fast.set_frozen(acct, True)
    rejected(engine.place(acct, "600000", BUY, 0, -100, "h", NOW), RC.ACCOUNT_FROZEN)
    engine.fast.set_frozen(acct, False)
    engine.halt("600000", True)
    rejected(engine.place(acct, "600000", SELL, -5, 0, "i", NOW), RC.INSTRUMENT_HALTED)
    engine.halt("600000", False)
    # sellable (4) comes before the quantity rule: a sell over the holding is that, however large
    rejected(engine.place(acct, "600000", SELL, 1000, 10**9 + 1, "j", NOW), RC.INSUFFICIENT_SELLABLE)
    rejected(engine.place(acct, "600000", SELL, 1000, 0, "k", NOW), RC.INVALID_QUANTITY)
    rejected(engine.place(acct, "600000", SELL, 0, 100, "l", NOW), RC.INVALID_PRICE)


@covers(RC.UNKNOWN_ACCOUNT)
def test_unknown_account_fails_closed(engine):
    rejected(engine.place(7, "600000", BUY, 1000, 100, "a", NOW), RC.UNKNOWN_ACCOUNT, "account=7")
    rejected(engine.place(-1, "600000", BUY, 1000, 100, "a", NOW), RC.UNKNOWN_ACCOUNT)


@covers(RC.ACCOUNT_INACTIVE)
def test_inactive_account_cannot_trade(engine):
    acct = funded(engine)
    engine.fast.set_active(acct, False)
    rejected(engine.place(acct, "600000", BUY, 1000, 100, "a", NOW), RC.ACCOUNT_INACTIVE)


@covers(RC.ACCOUNT_FROZEN)
def test_frozen_account_can_neither_buy_nor_sell(engine):
    acct = funded(engine)
    holding(engine, acct, "600000", 1000)
    engine.fast.set_frozen(acct, True)
    rejected(engine.place(acct, "600000", BUY, 1000, 100, "a", NOW), RC.ACCOUNT_FROZEN)
    rejected(engine.place(acct, "600000", SELL, 1000, 100, "b", NOW), RC.ACCOUNT_FROZEN)
    engine.fast.set_frozen(acct, False)
    assert engine.place(acct, "600000", SELL, 1000, 100, "c", NOW).accepted


@covers(RC.REDUCE_ONLY)
def test_reduce_only_account_may_only_sell(engine):
    acct = funded(engine)
    holding(engine, acct, "600000", 1000)
    engine.fast.set_reduce_only(acct, True)
    rejected(engine.place(acct, "600000", BUY, 1000, 100, "a", NOW), RC.REDUCE_ONLY, f"account={acct}, state=0")
    assert engine.place(acct, "600000", SELL, 1000, 100, "b", NOW).accepted
    assert engine.account(acct)["reduce_only"]


@covers(RC.KILL_SWITCH_GLOBAL, RC.KILL_SWITCH_ACCOUNT)
def test_kill_switches_block_client_orders_but_not_liquidation(engine):
    acct = funded(engine)
    holding(engine, acct, "600000", 1000)
    engine.fast.set_global_kill(True)
    rejected(engine.place(acct, "600000", SELL, 1000, 100, "a", NOW), RC.KILL_SWITCH_GLOBAL)
    assert engine.place(acct, "600000", SELL, 1000, 100, "liq-1", NOW, liquidation=True).accepted
    engine.fast.set_global_kill(False)
    engine.fast.set_account_kill(acct, True)
    rejected(engine.place(acct, "600000", BUY, 1000, 100, "b", NOW), RC.KILL_SWITCH_ACCOUNT)
    assert engine.place(acct, "600000", SELL, 1000, 100, "liq-2", NOW, liquidation=True).accepted
    other = funded(engine)
    assert engine.place(other, "600000", BUY, 1000, 100, "c", NOW).accepted


@covers(RC.BUYS_HALTED)
def test_halt_new_buys_lets_sells_through(engine):
    acct = funded(engine)
    holding(engine, acct, "600000", 1000)
    engine.fast.set_halt_buys(True)
    rejected(engine.place(acct, "600000", BUY, 1000, 100, "a", NOW), RC.BUYS_HALTED)
    assert engine.place(acct, "600000", SELL, 1000, 100, "b", NOW).accepted


@covers(RC.UNKNOWN_INSTRUMENT)
def test_unknown_instrument_fails_closed(engine):
    acct = funded(engine)
    rejected(engine.place(acct, "999999", BUY, 1000, 100, "a", NOW), RC.UNKNOWN_INSTRUMENT, "instrument=999999")
    assert engine.fast.place_order(acct, 10_000, 1, 1000, 100, "b", NOW, False) == -RC.UNKNOWN_INSTRUMENT


@covers(RC.INSTRUMENT_HALTED)
def test_halted_instrument_accepts_no_orders(engine):
    acct = funded(engine)
    rejected(engine.place(acct, "600002", BUY, 1500, 100, "a", NOW), RC.INSTRUMENT_HALTED)
    engine.halt("600002", False)
    assert engine.place(acct, "600002", BUY, 1500, 100, "b", NOW).accepted
    engine.halt("600000", True)
    rejected(engine.place(acct, "600000", BUY, 1000, 100, "c", NOW), RC.INSTRUMENT_HALTED)


@covers(RC.SESSION_CLOSED)
@pytest.mark.parametrize("hh,mm,ss,open_", [
    (9, 14, 59, False), (9, 15, 0, True), (9, 24, 59, True), (9, 25, 0, False), (9, 29, 59, False),
    (9, 30, 0, True), (11, 29, 59, True), (11, 30, 0, False), (12, 59, 59, False), (13, 0, 0, True),
    (14, 57, 0, True), (14, 59, 59, True), (15, 0, 0, False), (20, 0, 0, False), (3, 0, 0, False),
])
def test_session_times_in_shanghai(engine, hh, mm, ss, open_):
    acct = funded(engine)
    when = shanghai_ns(2026, 1, 5, hh, mm, ss)
    d = engine.place(acct, "600000", BUY, 1000, 100, "a", when)
    if open_:
        assert d.accepted, d.rejection
    else:
        rejected(d, RC.SESSION_CLOSED, f"local_time={hh * 10000 + mm * 100 + ss}")


def test_always_open_setting_for_simulations(make_engine):
    engine = make_engine(enforce_session=False)
    acct = funded(engine)
    assert engine.place(acct, "600000", BUY, 1000, 100, "a", shanghai_ns(2026, 1, 5, 22, 0)).accepted


@covers(RC.NO_MARK_PRICE)
def test_no_mark_price_fails_closed(engine):
    acct = funded(engine)
    rejected(engine.place(acct, "600003", BUY, 1000, 100, "a", NOW), RC.NO_MARK_PRICE)


@covers(RC.INSUFFICIENT_SELLABLE)
def test_no_short_selling_and_t_plus_one(engine):
    acct = funded(engine)
    rejected(engine.place(acct, "600000", SELL, 1000, 100, "a", NOW), RC.INSUFFICIENT_SELLABLE, "qty=100, sellable=0")
    buy_filled(engine, acct, "600000", 500)
    # bought today: held but not sellable
    rejected(engine.place(acct, "600000", SELL, 1000, 100, "b", NOW), RC.INSUFFICIENT_SELLABLE, "qty=100, sellable=0")
    assert engine.position(acct, "600000")["held"] == 500
    engine.roll_day(TRADING_DAY.toordinal() + 1)
    assert engine.position(acct, "600000")["sellable"] == 500
    assert engine.place(acct, "600000", SELL, 1000, 300, "c", NOW).accepted
    # open sells are subtracted once: 200 left
    rejected(engine.place(acct, "600000", SELL, 1000, 300, "d", NOW), RC.INSUFFICIENT_SELLABLE, "qty=300, sellable=200")
    # the sellable check is reported before the quantity rule
    rejected(engine.place(acct, "600000", SELL, 1000, 250, "e", NOW), RC.INSUFFICIENT_SELLABLE)


@covers(RC.INVALID_LOT)
def test_board_lot_rules(engine):
    acct = funded(engine, amount_cny="1000000")
    rejected(engine.place(acct, "600000", BUY, 1000, 150, "a", NOW), RC.INVALID_LOT, "qty=150, sellable=0")
    rejected(engine.place(acct, "300001", BUY, 5000, 250, "b", NOW), RC.INVALID_LOT)
    rejected(engine.place(acct, "688001", BUY, 10000, 199, "c", NOW), RC.INVALID_LOT)
    assert engine.place(acct, "688001", BUY, 10000, 201, "d", NOW).accepted


def test_star_sells_at_least_200_or_everything_below_200(engine):
    acct = funded(engine, amount_cny="1000000")
    holding(engine, acct, "688001", 201)
    rejected(engine.place(acct, "688001", SELL, 10000, 150, "a", NOW), RC.INVALID_LOT, "qty=150, sellable=201")
    assert engine.place(acct, "688001", SELL, 10000, 201, "b", NOW).accepted


def test_main_board_odd_remainder(make_engine):
    engine = make_engine()
    acct = funded(engine, amount_cny="1000000")
    holding(engine, acct, "600000", 1000)
    # Sell 950 today leaves 50 odd shares for tomorrow.
    assert engine.place(acct, "600000", SELL, 1000, 900, "a", NOW).accepted
    order = engine.place(acct, "600000", SELL, 1000, 100, "b", NOW)
    assert order.accepted
    engine.fill(order.order_id, 50, 1000)  # a partial fill; the rest is canceled
    engine.cancel(order.order_id)
    engine.roll_day(TRADING_DAY.toordinal() + 2)
    assert engine.position(acct, "600000")["sellable"] == 950  # 50 sold; the open sells expired
    rejected(engine.place(acct, "600000", SELL, 1000, 30, "c", NOW), RC.INVALID_LOT, "qty=30, sellable=950")
    assert engine.place(acct, "600000", SELL, 1000, 150, "d", NOW).accepted  # 50 odd + 100
    assert engine.place(acct, "600000", SELL, 1000, 800, "e", NOW).accepted


@covers(RC.PRICE_OFF_TICK)
def test_price_off_tick(backend):
    universe = Universe([Instrument(code="600000", prev_close=1000, tick=10)])
    engine = Engine(universe, config=EngineConfig(), trading_day=TRADING_DAY, backend=backend)
    acct = funded(engine)
    rejected(engine.place(acct, "600000", BUY, 1005, 100, "a", NOW), RC.PRICE_OFF_TICK, "price=1005, tick=10")
    assert engine.place(acct, "600000", BUY, 1010, 100, "b", NOW).accepted


@covers(RC.PRICE_OUTSIDE_LIMITS)
def test_daily_limit_band(engine):
    acct = funded(engine)
    engine.tick("600000", 1080)  # mark near the top, so the collar is not what rejects
    rejected(engine.place(acct, "600000", BUY, 1101, 100, "a", NOW), RC.PRICE_OUTSIDE_LIMITS,
             "price=1101, down=900, up=1100")
    assert engine.place(acct, "600000", BUY, 1100, 100, "b", NOW).accepted
    engine.tick("600000", 910)
    rejected(engine.place(acct, "600000", BUY, 899, 100, "c", NOW), RC.PRICE_OUTSIDE_LIMITS)
    assert engine.place(acct, "600000", BUY, 900, 100, "d", NOW).accepted
    # ChiNext +/-20 %
    engine.tick("300001", 5950)
    assert engine.place(acct, "300001", BUY, 6000, 100, "e", NOW).accepted
    rejected(engine.place(acct, "300001", BUY, 6001, 100, "f", NOW), RC.PRICE_OUTSIDE_LIMITS)


@covers(RC.PRICE_OUTSIDE_COLLAR)
def test_price_collar_around_the_mark(engine):
    acct = funded(engine)
    holding(engine, acct, "600000", 1000)
    # 5 % of 10.00 is 0.50: 10.50 is inside (equal), 10.51 outside
    assert engine.place(acct, "600000", BUY, 1050, 100, "a", NOW).accepted
    rejected(engine.place(acct, "600000", BUY, 1051, 100, "b", NOW), RC.PRICE_OUTSIDE_COLLAR,
             "price=1051, mark=1000, collar_bp=500")
    rejected(engine.place(acct, "600000", SELL, 949, 100, "c", NOW), RC.PRICE_OUTSIDE_COLLAR)
    # the platform's liquidation orders skip the collar (but not the limit band)
    assert engine.place(acct, "600000", SELL, 900, 100, "liq-1", NOW, liquidation=True).accepted
    rejected(engine.place(acct, "600000", SELL, 899, 100, "liq-2", NOW, liquidation=True), RC.PRICE_OUTSIDE_LIMITS)
    # no-limit instruments still face the collar
    rejected(engine.place(acct, "300002", BUY, 4000, 100, "d", NOW), RC.PRICE_OUTSIDE_COLLAR)


@covers(RC.QUANTITY_ABOVE_MAX)
def test_max_quantity_per_order_by_board(make_engine):
    engine = make_engine()
    acct = funded(engine, "conservative", amount_cny="100000000")
    rejected(engine.place(acct, "688001", BUY, 10000, 100_001, "a", NOW), RC.QUANTITY_ABOVE_MAX, "qty=100001, max=100000")
    rejected(engine.place(acct, "300001", BUY, 5000, 300_100, "b", NOW), RC.QUANTITY_ABOVE_MAX, "qty=300100, max=300000")
    rejected(engine.place(acct, "000001", BUY, 2000, 1_000_100, "c", NOW), RC.QUANTITY_ABOVE_MAX, "qty=1000100, max=1000000")


@covers(RC.NOTIONAL_ABOVE_MAX)
def test_max_notional_per_order_by_tier(make_engine):
    engine = make_engine()
    acct = funded(engine, "standard", amount_cny="10000000")
    # standard: 3,000,000 CNY per order. 300,000 x 10.00 = 3,000,000.00 exactly passes this check.
    assert engine.check(acct, "600000", BUY, 1000, 300_000, "a", NOW).rejection is None
    rejected(engine.place(acct, "600000", BUY, 1000, 300_100, "b", NOW), RC.NOTIONAL_ABOVE_MAX,
             "notional=300100000, max=300000000")


@covers(RC.DUPLICATE_CLIENT_ORDER_ID)
def test_client_order_ids_are_unique_per_account_per_day(engine):
    acct = funded(engine)
    other = funded(engine)
    assert engine.place(acct, "600000", BUY, 1000, 100, "same", NOW).accepted
    rejected(engine.place(acct, "600000", BUY, 1000, 100, "same", NOW), RC.DUPLICATE_CLIENT_ORDER_ID,
             "client_order_id=same")
    assert engine.place(other, "600000", BUY, 1000, 100, "same", NOW).accepted
    # a rejected order's id is remembered too, even a malformed one
    rejected(engine.place(acct, "600000", BUY, 1000, 150, "bad-lot", NOW), RC.INVALID_LOT)
    rejected(engine.place(acct, "600000", BUY, 1000, 100, "bad-lot", NOW), RC.DUPLICATE_CLIENT_ORDER_ID)
    rejected(engine.place(acct, "600000", BUY, 1000, 0, "zero", NOW), RC.INVALID_QUANTITY)
    rejected(engine.place(acct, "600000", BUY, 1000, 100, "zero", NOW), RC.DUPLICATE_CLIENT_ORDER_ID)
    # a new trading day forgets them
    engine.roll_day(TRADING_DAY.toordinal() + 1)
    assert engine.place(acct, "600000", BUY, 1000, 100, "same", NOW).accepted


@covers(RC.RATE_LIMITED)
def test_token_bucket_rate_limit(make_engine):
    engine = make_engine(max_open_orders=1000)
    acct = funded(engine, "conservative", amount_cny="10000000")
    for n in range(100):  # the burst
        assert engine.place(acct, "600000", BUY, 1000, 100, f"o{n}", NOW).accepted
    rejected(engine.place(acct, "600000", BUY, 1000, 100, "o100", NOW), RC.RATE_LIMITED, "rate_per_s=50, burst=100")
    # 50 per second: one token every 20 ms
    assert not engine.place(acct, "600000", BUY, 1000, 100, "o101", NOW + 19_999_999).accepted
    assert engine.place(acct, "600000", BUY, 1000, 100, "o102", NOW + 20_000_000).accepted
    rejected(engine.place(acct, "600000", BUY, 1000, 100, "o103", NOW + 20_000_000), RC.RATE_LIMITED)
    # another account has its own bucket
    other = funded(engine)
    assert engine.place(other, "600000", BUY, 1000, 100, "x", NOW).accepted


def test_an_order_rejected_after_the_rate_check_still_spends_a_token(make_engine):
    engine = make_engine(order_burst=2)
    acct = funded(engine, amount_cny="1000")
    rejected(engine.place(acct, "600000", BUY, 1000, 10_000, "a", NOW), RC.INSUFFICIENT_BUYING_POWER)
    rejected(engine.place(acct, "600000", BUY, 1000, 10_000, "b", NOW), RC.INSUFFICIENT_BUYING_POWER)
    rejected(engine.place(acct, "600000", BUY, 1000, 100, "c", NOW), RC.RATE_LIMITED)
    # ...but an order rejected before it (a bad lot) does not
    engine2 = make_engine(order_burst=1)
    acct2 = funded(engine2)
    rejected(engine2.place(acct2, "600000", BUY, 1000, 150, "a", NOW), RC.INVALID_LOT)
    assert engine2.place(acct2, "600000", BUY, 1000, 100, "b", NOW).accepted


def test_the_token_bucket_refills_to_full_after_a_long_gap_under_the_largest_settings(make_engine):
    """10^8 orders a second, burst 10^8 (the largest settings): a gap of 25 hours refills 9 x 10^21
    nano-tokens, far more than an int64 holds; the bucket is simply full again."""
    engine = make_engine(order_rate_per_s=100_000_000, order_burst=100_000_000)
    acct = funded(engine, amount_cny="10000000")
    assert engine.place(acct, "600000", BUY, 1000, 100, "a", NOW).accepted
    later = NOW + 25 * 3_600 * 10**9  # 11:00 the next day
    assert engine.place(acct, "600000", BUY, 1000, 100, "b", later).accepted
    assert engine.place(acct, "600000", BUY, 1000, 100, "c", later + 10**9).accepted
    with pytest.raises(ValueError, match="order_rate_per_s and order_burst must be in 1..100000000"):
        make_engine(order_burst=100_000_001)


@covers(RC.TOO_MANY_OPEN_ORDERS)
def test_open_order_cap(make_engine):
    engine = make_engine(max_open_orders=3)
    acct = funded(engine)
    holding(engine, acct, "600000", 1000)
    ids = [engine.place(acct, "600000", BUY, 1000, 100, f"o{n}", NOW).order_id for n in range(3)]
    assert all(ids)
    rejected(engine.place(acct, "600000", BUY, 1000, 100, "o3", NOW), RC.TOO_MANY_OPEN_ORDERS, "open=3, max=3")
    # liquidation orders are not capped
    assert engine.place(acct, "600000", SELL, 1000, 100, "liq", NOW, liquidation=True).accepted
    engine.cancel(ids[0])
    engine.fill(ids[1], 100, 1000)
    assert engine.place(acct, "600000", BUY, 1000, 100, "o4", NOW).accepted


@covers(RC.INSUFFICIENT_BUYING_POWER)
def test_buying_power_is_cash_plus_credit_minus_debt_and_reservations(engine):
    acct = funded(engine, "standard", amount_cny="100000")  # credit line 200,000 CNY
    assert engine.account(acct)["buying_power"] == cny("300000")
    # 30,000 x 10.00 = 300,000.00 + commission 75.00 + transfer 3.00
    rejected(engine.place(acct, "600000", BUY, 1000, 30_000, "a", NOW), RC.INSUFFICIENT_BUYING_POWER,
             "need=30007800, free=30000000")
    # an open buy's reservation (notional + fees at its limit) reduces what is free
    assert engine.place(acct, "000001", BUY, 2000, 1_000, "b", NOW).accepted  # 20,000 + 5.00 + 0.20
    assert engine.account(acct)["reserved_buy"] == 2_000_000 + 500 + 20
    rejected(engine.place(acct, "600000", BUY, 1000, 28_000, "c", NOW), RC.INSUFFICIENT_BUYING_POWER,
             f"need={28_000_000 + 7_000 + 280}, free={30_000_000 - 2_000_520}")


@covers(RC.INSUFFICIENT_CASH)
def test_non_marginable_instruments_are_bought_with_cash_only(engine):
    acct = funded(engine, "conservative", amount_cny="100000")
    # 10,000 x 10.00 = 100,000.00 + 25.00 + 1.00 > cash 100,000.00 although buying power is 200,000
    rejected(engine.place(acct, "000002", BUY, 1000, 10_000, "a", NOW), RC.INSUFFICIENT_CASH,
             "need=10002600, free_cash=10000000")
    assert engine.place(acct, "000002", BUY, 1000, 9_900, "b", NOW).accepted
    rejected(engine.place(acct, "600001", BUY, 500, 200, "c", NOW), RC.INSUFFICIENT_CASH)  # ST, cash is reserved


@covers(RC.LEVERAGE_EXCEEDED)
def test_post_trade_leverage_values_bought_shares_at_the_mark(engine):
    acct = funded(engine, "conservative", amount_cny="100000")  # L_max 2: credit 100,000
    # 19,900 at 10.04 with the mark at 10.00: cost 199,796.00 + 49.95 + 2.00 = 199,847.95 (buying
    # power 200,000 passes); post-trade A' = 19,900 x 10.00 = 199,000.00 (cash all spent),
    # D' = 99,847.95, E' = 99,152.05: A' > 2 E'.
    rejected(engine.place(acct, "600000", BUY, 1004, 19_900, "a", NOW), RC.LEVERAGE_EXCEEDED,
             "post_assets=19900000, post_equity=9915205, max_leverage_bp=20000")
    assert engine.place(acct, "600000", BUY, 1000, 19_800, "b", NOW).accepted


@covers(RC.CONCENTRATION_EXCEEDED)
def test_single_name_concentration(engine):
    acct = funded(engine, "aggressive", amount_cny="100000")  # 40 % of assets in one name
    # 4,100 x 10.00 = 41,000.00 + 10.25 + 0.41: A' = 100,000 - 41,010.66 + 41,000 = 99,989.34
    rejected(engine.place(acct, "600000", BUY, 1000, 4_100, "a", NOW), RC.CONCENTRATION_EXCEEDED,
             "post_value=4100000, post_assets=9998934, max_share_bp=4000")
    assert engine.place(acct, "600000", BUY, 1000, 3_900, "b", NOW).accepted
    # the open buy counts: 200 more would make 4,100 again
    rejected(engine.place(acct, "600000", BUY, 1000, 200, "c", NOW), RC.CONCENTRATION_EXCEEDED)
    assert engine.place(acct, "000001", BUY, 2000, 1_900, "d", NOW).accepted


def test_sells_skip_buying_power_leverage_and_concentration(engine):
    acct = funded(engine, "aggressive", amount_cny="100000")
    holding(engine, acct, "600000", 3_900)
    cash = engine.account(acct)["cash"]
    assert engine.withdraw(acct, cash) is None  # all that is left is one name: 100 % concentration
    rejected(engine.place(acct, "600000", BUY, 1000, 100, "b", NOW), RC.CONCENTRATION_EXCEEDED)
    assert engine.place(acct, "600000", SELL, 1000, 3_900, "s", NOW).accepted


def test_check_order_precedence_follows_the_domain_order(make_engine):
    engine = make_engine(max_open_orders=1)
    acct = funded(engine, amount_cny="1000")
    engine.fast.set_frozen(acct, True)
    engine.fast.set_global_kill(True)
    engine.halt("600000", True)
    # frozen (1) before the kill switch (2) before the halted instrument (3)
    rejected(engine.check(acct, "600000", BUY, 99999, 150, "x", NOW), RC.ACCOUNT_FROZEN)
    engine.fast.set_frozen(acct, False)
    rejected(engine.check(acct, "600000", BUY, 99999, 150, "x", NOW), RC.KILL_SWITCH_GLOBAL)
    engine.fast.set_global_kill(False)
    rejected(engine.check(acct, "600000", BUY, 99999, 150, "x", NOW), RC.INSTRUMENT_HALTED)
    engine.halt("600000", False)
    # lot (5) before the band (5, later) before size (6)
    rejected(engine.check(acct, "600000", BUY, 99999, 150, "x", NOW), RC.INVALID_LOT)
    rejected(engine.check(acct, "600000", BUY, 99999, 10_000_000, "x", NOW), RC.PRICE_OUTSIDE_LIMITS)
    rejected(engine.check(acct, "600000", BUY, 1000, 10_000_000, "x", NOW), RC.QUANTITY_ABOVE_MAX)
    # open-order cap (8) before buying power (9)
    other = funded(engine, amount_cny="100000")
    assert engine.place(other, "600000", BUY, 1000, 100, "y", NOW).accepted
    rejected(engine.check(other, "600000", BUY, 1000, 100_000, "z", NOW), RC.TOO_MANY_OPEN_ORDERS)


def test_check_changes_nothing(make_engine):
    engine = make_engine(order_burst=1)
    acct = funded(engine)
    before = engine.account(acct)
    for _ in range(5):
        assert engine.check(acct, "600000", BUY, 1000, 100, "same", NOW).accepted
    assert engine.account(acct) == before
    assert engine.place(acct, "600000", BUY, 1000, 100, "same", NOW).accepted  # token and id still unused


def test_rejected_orders_change_no_money_or_position(engine):
    acct = funded(engine)
    holding(engine, acct, "600000", 1000)
    before = (engine.account(acct), engine.positions(acct))
    for args in [("600000", BUY, 1000, 150), ("600000", SELL, 1000, 5000), ("600000", BUY, 1200, 100),
                 ("600000", BUY, 1000, 10**6), ("999999", BUY, 1000, 100), ("600000", 9, 1000, 100)]:
        assert not engine.place(acct, *args, f"r{args}", NOW).accepted
    assert (engine.account(acct), engine.positions(acct)) == before


def test_every_engine_reject_code_has_a_test():
    """The gateway issues NOT_ENTITLED; every other code must be produced by a test in tests/core."""
    import tests.core.test_engine_commands  # noqa: F401  (registers its codes)
    import tests.core.test_machine  # noqa: F401
    import tests.core.test_waterfall  # noqa: F401

    missing = {c for c in RC if c not in COVERAGE} - {RC.NOT_ENTITLED}
    assert not missing, sorted(c.name for c in missing)
