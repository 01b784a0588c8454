"""The risk-return calculator (DOMAIN.md section 8), figures worked by hand."""

from fractions import Fraction

import pytest

from core import DEFAULT_TIERS, EngineConfig
from core.commands import Deposit, Fill, Genesis, OpenAccount, PlaceOrder, Tick
from core.machine import Machine
from core.riskcalc import account_risk, distance, half_up, roe, var_fraction, what_if, z_score
from tests.conftest import NOW, TRADING_DAY, small_universe


def test_roe_is_leverage_times_the_gross_return_less_the_financed_part_s_rate():
    assert roe(Fraction(2), 1_000, 600) == Fraction(14, 100)  # 2 x 10 % - 1 x 6 % = 14 %
    assert roe(Fraction(3), -1_000, 800) == Fraction(-46, 100)  # 3 x -10 % - 2 x 8 % = -46 %
    assert roe(Fraction(1), 500, 800) == Fraction(5, 100)  # no financing: the gross return
    assert roe(Fraction(5, 2), 0, 1_000) == Fraction(-15, 100)  # flat market: 1.5 x 10 % of interest
    # half in cash, nothing borrowed: half the gross return (idle cash is not lent at rf)
    assert roe(Fraction(1, 2), 1_000, 800) == Fraction(5, 100)


def test_z_scores_are_the_normal_quantiles_to_three_decimals():
    assert (z_score(0.95), z_score(0.99), z_score(0.975), z_score(0.9)) == (1.645, 2.326, 1.96, 1.282)
    for bad in (0.5, 1.0, 1.2, 0.3):
        with pytest.raises(ValueError, match="confidence must be in"):
            z_score(bad)


def test_var_scales_with_the_square_root_of_time():
    # 1.645 x 2 % x sqrt(10) = 10.4039 %; on 10,000.00 CNY: 1,040.39 CNY
    assert var_fraction(200, 10, 0.95) == pytest.approx(0.1040389, abs=1e-7)
    assert half_up(var_fraction(200, 10, 0.95) * 1_000_000) == 104_039
    assert var_fraction(300, 1, 0.99) == pytest.approx(2.326 * 0.03)
    with pytest.raises(ValueError, match="days"):
        var_fraction(200, 0, 0.95)


def test_distance_to_a_line_is_the_fall_in_market_value_that_brings_r_to_it():
    # A 15,000.00 (3,000.00 of it cash), D 10,000.00, line 130 %: (15,000 - 13,000) / 12,000 = 1/6
    assert distance(1_500_000, 1_000_000, 1_200_000, 13_000) == Fraction(1, 6)
    assert distance(1_200_000, 1_000_000, 1_200_000, 13_000) == Fraction(-1, 12)  # already under it
    assert distance(1_500_000, 0, 1_200_000, 13_000) is None  # no debt: R is infinite


def test_what_if_a_position_twice_the_own_capital():
    out = what_if(own_capital=1_000_000, exposure=2_000_000, gross_return_bp=1_000, financing_rate_bp=600,
                  sigma_daily_bp=200, days=1, confidence=0.95, liquidation_bp=13_000)
    # L 2: ROE 14 %; VaR 1.645 x 2 % = 3.29 % of 20,000.00 = 658.00, 6.58 % of own capital;
    # A 20,000.00, D 10,000.00: (20,000 - 13,000) / 20,000 = 35 %, a fall of 7,000.00
    assert out == {"leverage": 2.0, "roe_pct": 14.0, "z": 1.645, "var_pct": 3.29, "var_fen": 65_800,
                   "var_pct_of_own_capital": 6.58, "distance_to_liquidation_pct": 35.0,
                   "fall_to_liquidation_fen": 700_000}
    with pytest.raises(ValueError, match="exposure must be >= own_capital"):
        what_if(own_capital=1_000_000, exposure=500_000, gross_return_bp=0, financing_rate_bp=600)


@pytest.mark.parametrize("backend", ["python", "cython"])
def test_an_account_s_figures_from_its_book(backend):
    genesis = Genesis(instruments=list(small_universe()), tiers=list(DEFAULT_TIERS),
                      config=EngineConfig(enforce_session=False), trading_day=TRADING_DAY.toordinal())
    machine = Machine(genesis, backend)
    machine.execute(OpenAccount(tier="conservative"))
    machine.execute(Deposit(account=0, amount=1_000_000))
    order = machine.execute(PlaceOrder(account=0, instrument="600000", side=1, price=1000, qty=1_500,
                                       client_order_id=None, ts=NOW)).result
    machine.execute(Fill(order=order, qty=1_500, price=1000, ts=NOW))
    machine.execute(Tick(instrument="600000", price=1100, ts=NOW))
    # 15,000.00 + commission 5.00 + transfer 0.15: cash 10,000.00 first, debt 5,005.15;
    # MV 1,500 x 11.00 = 16,500.00 = A, E 11,494.85, L = 16,500 / 11,494.85
    risk = account_risk(machine, 0, gross_returns_bp=(1_000,), days=1, confidence=0.95)
    assert (risk["assets"], risk["liabilities"], risk["market_value"]) == (1_650_000, 500_515, 1_650_000)
    leverage = Fraction(1_650_000, 1_149_485)
    assert risk["leverage"] == float(leverage)
    assert risk["roe"] == [{"gross_return_bp": 1_000,
                            "roe_pct": round(float(leverage * Fraction(1, 10) - (leverage - 1) * Fraction(6, 100))
                                             * 100, 4)}]
    # liquidation 130 %: (1,650,000 - 1.3 x 500,515) / 1,650,000 = 60.56548 %, a fall of 999,330.50 fen
    liq = risk["distance"]["liquidation"]
    assert liq == {"line_bp": 13_000, "distance_pct": 60.5655, "fall_fen": 999_331}
    assert risk["distance"]["warning"]["fall_fen"] == half_up(Fraction(1_650_000 * 10_000 - 15_000 * 500_515, 10_000))
    # 600000: sigma 2 %, VaR 1.645 x 2 % x 16,500.00 = 542.85; an index constituent: 70 % haircut
    assert risk["var"]["var_fen"] == 54_285 and risk["positions"][0]["var_fen"] == 54_285
    assert risk["collateral_value_after_haircuts"] == 1_155_000
