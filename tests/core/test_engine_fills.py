"""Fill application: cash, debt draw and repayment, fees, positions, T+1, reservations (DOMAIN.md 3-5)."""

from core import Engine, EngineConfig, Instrument, Side, Universe, cny
from tests.conftest import NOW, TRADING_DAY
from tests.core.helpers import buy_filled, funded, next_day

BUY, SELL = Side.BUY, Side.SELL


def test_buy_fill_pays_from_cash(engine):
    acct = funded(engine, "conservative", "100000")
    order = engine.place(acct, "600000", BUY, 1000, 1_000, "a", NOW).order_id
    result = engine.fill(order, 1_000, 1000)
    assert (result.fees.commission, result.fees.stamp_duty, result.fees.transfer) == (500, 0, 10)
    assert result.debt_drawn == 0
    view = engine.account(acct)
    assert (view["cash"], view["debt"], view["reserved_buy"], view["open_orders"]) == (10_000_000 - 1_000_510, 0, 0, 0)
    pos = engine.position(acct, "600000")
    assert (pos["held"], pos["bought_today"], pos["sellable"]) == (1_000, 1_000, 0)
    assert engine.order(order)["status"] == 2  # filled


def test_buy_shortfall_is_drawn_on_the_credit_line(engine):
    acct = funded(engine, "conservative", "100000")
    order = engine.place(acct, "600000", BUY, 1000, 15_000, "a", NOW).order_id
    result = engine.fill(order, 15_000, 1000)
    # 150,000.00 + commission 37.50 + transfer 1.50 = 150,039.00; cash 100,000.00 first
    assert result.debt_drawn == 15_003_900 - 10_000_000
    view = engine.account(acct)
    assert (view["cash"], view["debt"]) == (0, 5_003_900)
    assert view["assets"] == 15_000_000 and view["liabilities"] == 5_003_900


def test_partial_fills_release_the_reservation_and_pay_commission_once(engine):
    acct = funded(engine, "conservative", "100000")
    order = engine.place(acct, "600000", BUY, 1000, 1_000, "a", NOW).order_id
    assert engine.account(acct)["reserved_buy"] == 1_000_510
    first = engine.fill(order, 400, 990)  # better than the limit
    assert (first.fees.commission, first.fees.transfer) == (500, 4)  # minimum; 3.96 -> 4
    # the rest would pay 600 x 10.00, no more commission (500 covers 996,000 x 2.5 bp), transfer 6
    assert engine.account(acct)["reserved_buy"] == 600_006
    assert engine.order(order)["reserved"] == 600_006
    second = engine.fill(order, 600, 1000)
    assert (second.fees.commission, second.fees.transfer) == (0, 6)
    view = engine.account(acct)
    assert view["reserved_buy"] == 0
    assert view["cash"] == 10_000_000 - (396_000 + 504 + 600_000 + 6)


def test_sell_proceeds_repay_interest_then_debt_then_cash(engine):
    acct = funded(engine, "conservative", "100000")
    buy_filled(engine, acct, "600000", 15_000)  # debt 5,003,900
    next_day(engine)
    # one day at 6 %: 5,003,900 x 600 bp / (10000 x 360) = 833.98 -> 834
    assert engine.account(acct)["accrued_interest"] == 834
    sell = engine.place(acct, "600000", SELL, 1000, 1_000, "s1", NOW).order_id
    result = engine.fill(sell, 1_000, 1000)
    net = 1_000_000 - (500 + 500 + 10)
    assert (result.interest_repaid, result.to_insurance_pool, result.debt_repaid) == (834, 83, net - 834)
    view = engine.account(acct)
    assert (view["accrued_interest"], view["debt"], view["cash"]) == (0, 5_003_900 - (net - 834), 0)
    platform = engine.fast.platform()
    assert (platform["insurance_pool"], platform["interest_income"]) == (83, 751)
    # the rest of the position: debt is cleared, the remainder becomes cash (not withdrawable today)
    sell2 = engine.place(acct, "600000", SELL, 1000, 14_000, "s2", NOW).order_id
    result = engine.fill(sell2, 14_000, 1000)
    net2 = 14_000_000 - (3_500 + 7_000 + 140)
    debt_left = 5_003_900 - (net - 834)
    assert result.debt_repaid == debt_left
    view = engine.account(acct)
    assert (view["debt"], view["cash"], view["sell_cash_today"]) == (0, net2 - debt_left, net2 - debt_left)


def test_sell_below_the_minimum_commission_is_paid_from_cash_then_debt(backend):
    universe = Universe([Instrument(code="600000", prev_close=3), Instrument(code="600004", prev_close=1000)])
    engine = Engine(universe, config=EngineConfig(), trading_day=TRADING_DAY, backend=backend)
    acct = funded(engine, "conservative", "10")  # 1,000 fen
    buy_filled(engine, acct, "600000", 100, 3)  # 300 fen + 500 minimum commission, from cash
    assert engine.account(acct)["cash"] == 200
    next_day(engine)
    assert engine.withdraw(acct, 150) is None  # 50 fen of cash left
    sell = engine.place(acct, "600000", SELL, 3, 100, "s", NOW).order_id
    result = engine.fill(sell, 100, 3)  # 300 fen notional, 500 commission: net proceeds -200
    assert (result.debt_drawn, result.debt_repaid) == (150, 0)
    view = engine.account(acct)
    # 150 fen owed and nothing left: the account defaults at once and the waterfall covers it
    # (the insurance pool is empty; the backstop line pays)
    assert [c.new.name for c in result.changes] == ["LIQUIDATING", "DEFAULTED"]
    assert [(s.kind, s.amount, s.from_backstop) for s in engine.waterfall()] == [("cover", 150, 150)]
    assert (view["cash"], view["debt"], view["market_value"], view["receivable"]) == (0, 0, 0, 0)


def test_cash_earmarked_for_open_non_marginable_buys_is_not_spent_on_credit_buys(engine):
    acct = funded(engine, "conservative", "100000")
    cash_buy = engine.place(acct, "000002", BUY, 1000, 5_000, "nm", NOW).order_id  # reserves 5,001,300
    assert engine.account(acct)["cash_reserved_non_marginable"] == 5_001_300
    margin_buy = engine.place(acct, "600000", BUY, 1000, 10_000, "m", NOW).order_id
    result = engine.fill(margin_buy, 10_000, 1000)  # 10,002,600: cash beyond the earmark, then credit
    assert result.debt_drawn == 10_002_600 - (10_000_000 - 5_001_300)
    assert engine.account(acct)["cash"] == 5_001_300
    result = engine.fill(cash_buy, 5_000, 1000)
    assert result.debt_drawn == 0  # a non-marginable buy never draws debt
    view = engine.account(acct)
    assert (view["cash"], view["cash_reserved_non_marginable"]) == (0, 0)


def test_cancel_releases_reservations_and_open_sells(engine):
    acct = funded(engine, "conservative", "100000")
    buy_filled(engine, acct, "600000", 1_000)
    next_day(engine)
    buy = engine.place(acct, "000001", BUY, 2000, 1_000, "b", NOW).order_id
    sell = engine.place(acct, "600000", SELL, 1000, 600, "s", NOW).order_id
    engine.fill(buy, 300, 2000)
    engine.fill(sell, 200, 1000)
    assert engine.position(acct, "600000")["sellable"] == 400 - 0  # 1000 - 200 sold - 400 still open
    assert engine.cancel(buy) is None
    assert engine.cancel(sell) is None
    view = engine.account(acct)
    assert (view["reserved_buy"], view["open_orders"]) == (0, 0)
    pos = engine.position(acct, "600000")
    assert (pos["held"], pos["sold_today"], pos["open_sell"], pos["sellable"]) == (800, 200, 0, 800)
    assert engine.position(acct, "000001")["held"] == 300
    assert engine.order(buy)["status"] == 3


def test_todays_sell_cash_can_buy_again_today(engine):
    acct = funded(engine, "conservative", "10000")  # 10,000 CNY
    buy_filled(engine, acct, "600000", 900)
    next_day(engine)
    cash_before = engine.account(acct)["cash"]
    sell = engine.place(acct, "600000", SELL, 1000, 900, "s", NOW).order_id
    engine.fill(sell, 900, 1000)
    view = engine.account(acct)
    assert view["sell_cash_today"] == 900_000 - (500 + 450 + 9)
    assert view["buying_power"] > cash_before  # proceeds are usable at once
    assert engine.place(acct, "000002", BUY, 1000, 900, "again", NOW).accepted  # cash-only name
