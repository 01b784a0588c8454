"""The platform KPIs (DOMAIN.md section 9) from a real machine's state, figures worked by hand."""

import pytest

from core import DEFAULT_TIERS, EngineConfig
from core.commands import Deposit, Fill, Genesis, OpenAccount, PlaceOrder, Tick
from core.machine import Machine
from gateway.kpis import platform_kpis
from tests.conftest import NOW, TRADING_DAY, small_universe

BUY = 1


@pytest.fixture(params=["python", "cython"])
def machine(request):
    genesis = Genesis(instruments=list(small_universe()), tiers=list(DEFAULT_TIERS),
                      config=EngineConfig(enforce_session=False), trading_day=TRADING_DAY.toordinal())
    return Machine(genesis, request.param)


def bought(machine: Machine, account: int, code: str, qty: int, price: int) -> None:
    order = machine.execute(PlaceOrder(account=account, instrument=code, side=BUY, price=price, qty=qty,
                                       client_order_id=None, ts=NOW)).result
    assert order > 0, machine.engine.last_detail()
    assert machine.execute(Fill(order=order, qty=qty, price=price, ts=NOW)).result == 0


def test_arpu_is_rounded_half_up_to_the_fen(machine):
    for account in range(2):
        machine.execute(OpenAccount(tier="conservative"))
        machine.execute(Deposit(account=account, amount=10_000_000))
    # 1,000 shares at 20.04 CNY: commission 2,004,000 x 250 ppm = 501 fen, the platform's only income
    bought(machine, 0, "000001", 1_000, 2_004)
    kpis = platform_kpis(machine)
    assert kpis["commission_income_fen"] == 501 and kpis["interest_income_fen"] == 0
    assert kpis["arpu_fen"] == 251  # 501 / 2 active accounts = 250.5, half-up


def test_average_leverage_weights_by_assets_over_the_accounts_it_can_be_computed_for(machine):
    for account in range(3):
        machine.execute(OpenAccount(tier="conservative"))
        machine.execute(Deposit(account=account, amount=1_000_000))
    bought(machine, 0, "600000", 1_000, 1_000)  # 1,000,000 of shares on 1,000,000 of cash: A = 1,000,000
    bought(machine, 1, "300002", 600, 3_000)  # 1,800,000: 800,000 drawn (+ fees) on the credit line
    # a new listing has no daily limit: it can fall this far in one trade, and account 1 owes more than it has
    # (it defaults: the waterfall covers the shortfall and leaves its equity at 0, its shares still held)
    assert machine.execute(Tick(instrument="300002", price=500, ts=NOW)).result == 0
    views = [machine.engine.account(a) for a in range(3)]
    assert views[1]["equity"] <= 0 and views[1]["assets"] > 0 and views[0]["equity"] > 0 and views[2]["equity"] > 0
    # accounts 0 and 2 have leverage 1 (account 0's fees drew 520 fen: 1.0005): the average is about 1,
    # however much account 1, whose leverage is undefined, still holds
    assert platform_kpis(machine)["average_leverage"] == pytest.approx(1.0, abs=1e-3)


def test_the_default_rate_counts_defaults_that_happened_even_once_cleared(machine):
    from core.commands import ClearDefault, DayRoll
    from core.margin import MarginState
    for account in range(4):
        machine.execute(OpenAccount(tier="conservative"))
        machine.execute(Deposit(account=account, amount=1_000_000))
    bought(machine, 1, "300002", 600, 3_000)  # 800,000 drawn on the credit line
    assert machine.execute(Tick(instrument="300002", price=500, ts=NOW)).result == 0  # account 1 defaults
    assert machine.engine.account(1)["state"] == MarginState.DEFAULTED
    kpis = platform_kpis(machine)
    assert (kpis["defaults"], kpis["defaulted_accounts"], kpis["accounts_by_state"]["DEFAULTED"]) == (1, 1, 1)
    assert kpis["default_rate"] == 0.25  # 1 of 4 accounts, over 1 trading day
    assert kpis["default_rate_monthly"] == 0.25 * 21 and kpis["default_rate_annualized"] == 0.25 * 250
    # next day (a Tuesday: 2 trading days) its shares sell for more than it owes; an operator ends the default
    machine.execute(DayRoll(day=TRADING_DAY.toordinal() + 1))
    machine.execute(Tick(instrument="300002", price=600, ts=NOW + 86_400 * 10**9))
    sell = machine.execute(PlaceOrder(account=1, instrument="300002", side=2, price=600, qty=600,
                                      client_order_id=None, ts=NOW + 86_400 * 10**9)).result
    assert sell > 0 and machine.execute(Fill(order=sell, qty=600, price=600, ts=NOW)).result == 0
    assert machine.execute(ClearDefault(account=1)).result == 0
    assert machine.engine.account(1)["state"] != MarginState.DEFAULTED
    kpis = platform_kpis(Machine.from_state(machine.export_state(), machine.backend))  # kept in snapshots
    assert kpis["accounts_by_state"]["DEFAULTED"] == 0 and kpis["defaulted_accounts"] == 1
    assert kpis["default_rate"] == 0.25 and kpis["default_rate_monthly"] == 0.25 * 21 / 2
