"""Account, execution and market commands: refusals name the problem and change nothing."""

import pytest

from core import EngineError, RejectCode as RC, Side, cny
from tests.conftest import NOW, TRADING_DAY
from tests.core.helpers import buy_filled, covers, funded, holding

BUY, SELL = Side.BUY, Side.SELL


@covers(RC.UNKNOWN_TIER, RC.ACCOUNTS_HALTED)
def test_open_account_refusals(engine):
    with pytest.raises(KeyError, match="unknown tier"):
        engine.open_account("platinum")
    assert engine.fast.add_account(9) == -RC.UNKNOWN_TIER
    engine.fast.set_halt_accounts(True)
    with pytest.raises(ValueError, match="ACCOUNTS_HALTED"):
        engine.open_account("standard")
    engine.fast.set_halt_accounts(False)
    assert engine.open_account("standard") == 0


@covers(RC.INVALID_AMOUNT, RC.DEPOSITS_HALTED)
def test_deposit_refusals(engine):
    acct = engine.open_account("standard")
    assert engine.deposit(99, 100).code == RC.UNKNOWN_ACCOUNT
    assert str(engine.deposit(acct, 0)) == "INVALID_AMOUNT: amount=0"
    assert engine.deposit(acct, -5).code == RC.INVALID_AMOUNT
    assert engine.deposit(acct, 10**14 + 1).code == RC.INVALID_AMOUNT
    engine.fast.set_halt_deposits(True)
    assert engine.deposit(acct, 100).code == RC.DEPOSITS_HALTED
    engine.fast.set_halt_deposits(False)
    engine.fast.set_active(acct, False)
    assert engine.deposit(acct, 100).code == RC.ACCOUNT_INACTIVE
    view = engine.account(acct)
    assert view["cash"] == view["deposits"] == 0


def test_deposits_go_to_cash_and_set_the_credit_line(engine):
    acct = engine.open_account("standard")
    assert engine.deposit(acct, cny("100000")) is None
    view = engine.account(acct)
    assert (view["cash"], view["deposits"], view["credit_line"]) == (cny("100000"), cny("100000"), cny("200000"))
    aggressive = funded(engine, "aggressive", "50000")
    assert engine.account(aggressive)["credit_line"] == cny("150000")


def test_deposit_does_not_repay_debt(engine):
    acct = funded(engine, "conservative", "100000")
    buy_filled(engine, acct, "600000", 15_000)  # 150,000 CNY: 50,000 + fees on credit
    debt = engine.account(acct)["debt"]
    assert debt > 0
    engine.deposit(acct, cny("10000"))
    assert engine.account(acct)["debt"] == debt


@covers(RC.WITHDRAWAL_EXCEEDS_FREE_CASH, RC.WITHDRAWAL_BREACHES_RATIO)
def test_withdrawal_rules(engine):
    acct = funded(engine, "standard", "100000")
    holding(engine, acct, "600000", 5_000)  # 50,000 CNY of stock, paid in cash
    cash = engine.account(acct)["cash"]
    # today's sell proceeds stay until T+1
    sell = engine.place(acct, "600000", SELL, 1000, 1_000, "s", NOW)
    engine.fill(sell.order_id, 1_000, 1000)
    proceeds = engine.account(acct)["sell_cash_today"]
    assert proceeds == 1_000_000 - (500 + 500 + 10)
    # open buys' reservations are not free either
    engine.place(acct, "000001", BUY, 2000, 100, "b", NOW)
    reserved = engine.account(acct)["reserved_buy"]
    free = cash + proceeds - proceeds - reserved
    assert str(engine.withdraw(acct, free + 1)) == f"WITHDRAWAL_EXCEEDS_FREE_CASH: amount={free + 1}, free={free}"
    assert engine.withdraw(acct, free) is None
    # with debt, R must stay >= 300 %
    lev = funded(engine, "conservative", "100000")
    buy_filled(engine, lev, "600000", 15_000)  # A = 150,000 stock - 50,000 on credit
    view = engine.account(lev)
    assert view["cash"] == 0
    engine.deposit(lev, cny("20000"))
    rejection = engine.withdraw(lev, cny("20000"))
    assert rejection.code == RC.WITHDRAWAL_BREACHES_RATIO
    assert rejection.detail.endswith("min_bp=30000")
    assert engine.account(lev)["cash"] == cny("20000")
    assert engine.withdraw(99, 1).code == RC.UNKNOWN_ACCOUNT
    assert engine.withdraw(acct, 0).code == RC.INVALID_AMOUNT
    engine.fast.set_frozen(acct, True)
    assert engine.withdraw(acct, 1).code == RC.ACCOUNT_FROZEN


def test_withdrawal_lowers_net_deposits_and_the_credit_line(engine):
    acct = funded(engine, "standard", "100000")
    assert engine.withdraw(acct, cny("40000")) is None
    view = engine.account(acct)
    assert (view["net_deposits"], view["credit_line"]) == (cny("60000"), cny("120000"))


@covers(RC.UNKNOWN_ORDER, RC.ORDER_NOT_OPEN, RC.FILL_QUANTITY_INVALID, RC.FILL_PRICE_INVALID)
def test_bad_execution_reports_are_refused_and_change_nothing(engine):
    acct = funded(engine)
    holding(engine, acct, "600000", 1000)
    buy = engine.place(acct, "600000", BUY, 1000, 500, "b", NOW).order_id
    sell = engine.place(acct, "600000", SELL, 1000, 500, "s", NOW).order_id
    before = (engine.account(acct), engine.positions(acct), engine.order(buy), engine.order(sell))
    with pytest.raises(ValueError, match="UNKNOWN_ORDER: order=999"):
        engine.fill(999, 100, 1000)
    with pytest.raises(ValueError, match="FILL_QUANTITY_INVALID: qty=600, remaining=500"):
        engine.fill(buy, 600, 1000)
    with pytest.raises(ValueError, match="FILL_QUANTITY_INVALID"):
        engine.fill(buy, 0, 1000)
    with pytest.raises(ValueError, match="FILL_PRICE_INVALID: price=1001, limit=1000"):
        engine.fill(buy, 100, 1001)  # a buy never fills above its limit
    with pytest.raises(ValueError, match="FILL_PRICE_INVALID: price=999, limit=1000"):
        engine.fill(sell, 100, 999)  # a sell never fills below its limit
    with pytest.raises(ValueError, match="FILL_PRICE_INVALID"):
        engine.fill(buy, 100, 0)
    assert (engine.account(acct), engine.positions(acct), engine.order(buy), engine.order(sell)) == before
    engine.fill(buy, 500, 990)
    with pytest.raises(ValueError, match="ORDER_NOT_OPEN"):
        engine.fill(buy, 1, 990)
    assert engine.cancel(buy).code == RC.ORDER_NOT_OPEN
    assert engine.cancel(12345).code == RC.UNKNOWN_ORDER


@covers(RC.TICK_PRICE_INVALID)
def test_bad_ticks_are_refused_and_change_nothing(engine):
    from core import Lock

    before = engine.instrument("600000")
    for price, lock in [(0, Lock.NONE), (-10, Lock.NONE), (1101, Lock.NONE), (899, Lock.NONE),
                        (950, Lock.LIMIT_DOWN), (1000, Lock.LIMIT_UP), (1000, 7)]:
        with pytest.raises(EngineError) as err:
            engine.fast.apply_tick(engine.universe.id_of("600000"), price, int(lock))
        assert err.value.code == RC.TICK_PRICE_INVALID
        assert "down=900, up=1100" in str(err.value)
    assert engine.instrument("600000") == before
    with pytest.raises(EngineError, match="UNKNOWN_INSTRUMENT"):
        engine.fast.apply_tick(10_000, 1000, 0)
    # no-limit instruments take any positive price, but no lock
    engine.tick("300002", 9000)
    with pytest.raises(EngineError):
        engine.tick("300002", 9000, Lock.LIMIT_DOWN)


@covers(RC.DAY_ROLL_INVALID)
def test_day_roll_must_move_forward(engine):
    today = TRADING_DAY.toordinal()
    with pytest.raises(ValueError, match=f"DAY_ROLL_INVALID: day={today}, current_day={today}"):
        engine.roll_day(today)
    with pytest.raises(ValueError, match="DAY_ROLL_INVALID"):
        engine.roll_day(today - 3)
