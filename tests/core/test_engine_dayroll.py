"""The day roll: interest, T+1, expiry of day orders, new previous closes and limits."""

import datetime as dt

from core import Lock, Side
from tests.conftest import NOW
from tests.core.helpers import buy_filled, funded

BUY, SELL = Side.BUY, Side.SELL


def test_interest_counts_calendar_days_and_bears_no_interest(engine):
    acct = funded(engine, "conservative", "100000")
    buy_filled(engine, acct, "600000", 15_000)  # debt 5,003,900 at 6 %
    engine.roll_day(dt.date(2026, 1, 9))  # Monday to Friday: 4 days
    # 5,003,900 x 600 x 4 / 3,600,000 = 3,335.93 -> 3,336
    assert engine.account(acct)["accrued_interest"] == 3_336
    engine.roll_day(dt.date(2026, 1, 12))  # Friday to Monday: 3 days, on the debt only
    # 5,003,900 x 600 x 3 / 3,600,000 = 2,501.95 -> 2,502
    assert engine.account(acct)["accrued_interest"] == 3_336 + 2_502


def test_interest_rate_is_the_tier_rate(engine):
    acct = funded(engine, "aggressive", "100000")
    for code in ("600000", "000001", "300001"):
        buy_filled(engine, acct, code, 3_900 if code == "600000" else (1_900 if code == "000001" else 700))
    debt = engine.account(acct)["debt"]
    engine.roll_day(dt.date(2026, 1, 6))
    assert engine.account(acct)["accrued_interest"] == (debt * 1_000 * 2 + 3_600_000) // 7_200_000


def test_day_orders_expire_and_release_everything(engine):
    acct = funded(engine, "conservative", "100000")
    buy_filled(engine, acct, "600000", 1_000)
    engine.roll_day(dt.date(2026, 1, 6))
    buy = engine.place(acct, "000001", BUY, 2000, 1_000, "b", NOW).order_id
    engine.place(acct, "600000", SELL, 1000, 500, "s", NOW)
    engine.fill(buy, 100, 2000)
    engine.roll_day(dt.date(2026, 1, 7))
    view = engine.account(acct)
    assert (view["reserved_buy"], view["open_orders"]) == (0, 0)
    assert engine.position(acct, "600000")["sellable"] == 1_000
    assert engine.position(acct, "000001")["sellable"] == 100
    assert engine.cancel(buy).code.name == "UNKNOWN_ORDER"  # yesterday's book is closed


def test_new_previous_close_limits_and_locks(engine):
    engine.tick("600000", 1050)
    engine.tick("000001", 1800, Lock.LIMIT_DOWN)
    engine.roll_day(dt.date(2026, 1, 6))
    view = engine.instrument("600000")
    assert (view["prev_close"], view["mark"], view["limit_down"], view["limit_up"]) == (1050, 1050, 945, 1155)
    assert engine.instrument("000001")["lock"] == 0
    assert engine.instrument("000001")["limit_down"] == 1620


def test_t_plus_one_and_sell_cash(engine):
    acct = funded(engine, "conservative", "100000")
    buy_filled(engine, acct, "600000", 1_000)
    assert engine.position(acct, "600000")["sellable"] == 0
    engine.roll_day(dt.date(2026, 1, 6))
    assert engine.position(acct, "600000")["sellable"] == 1_000
    sell = engine.place(acct, "600000", SELL, 1000, 1_000, "s", NOW).order_id
    engine.fill(sell, 1_000, 1000)
    proceeds = engine.account(acct)["sell_cash_today"]
    assert proceeds > 0
    assert engine.withdraw(acct, engine.account(acct)["cash"]).code.name == "WITHDRAWAL_EXCEEDS_FREE_CASH"
    engine.roll_day(dt.date(2026, 1, 7))
    assert engine.account(acct)["sell_cash_today"] == 0
    assert engine.withdraw(acct, engine.account(acct)["cash"]) is None
    assert engine.positions(acct) == []
