from fractions import Fraction

import pytest

from core import Lines, MarginState as S, collateral_ratio_bp, liquidation_amount, next_state, ratio_meets

STANDARD = Lines(13_000, 12_500, 12_000, 13_500)
BAND = 200
D = 1_000_000  # liabilities; assets below are R x D


def state_after(state, ratio_pct):
    assets = int(Fraction(str(ratio_pct)) * D / 100)
    return next_state(state, assets, D, STANDARD, BAND)


def test_ratio_tests_are_exact_integers():
    assert ratio_meets(13_000, 10_000, 13_000)  # exactly 130 %
    assert not ratio_meets(12_999, 10_000, 13_000)
    assert ratio_meets(1, 0, 99_999)  # no liabilities: R is infinite
    assert collateral_ratio_bp(13_000, 10_000) == 13_000
    assert collateral_ratio_bp(5, 0) == -1


@pytest.mark.parametrize("state,ratio,expected", [
    # worse: as soon as R is under the current floor, to the state whose floor R still meets
    (S.NORMAL, 130, S.NORMAL), (S.NORMAL, "129.99", S.WARNING), (S.NORMAL, 124, S.MARGIN_CALL),
    (S.NORMAL, "119.99", S.LIQUIDATING), (S.WARNING, "124.99", S.MARGIN_CALL), (S.WARNING, 110, S.LIQUIDATING),
    (S.MARGIN_CALL, "119.99", S.LIQUIDATING), (S.MARGIN_CALL, 120, S.MARGIN_CALL),
    # better: only when R clears the better state's floor by the band (200 bp)
    (S.WARNING, 131, S.WARNING), (S.WARNING, "131.99", S.WARNING), (S.WARNING, 132, S.NORMAL),
    (S.MARGIN_CALL, 126, S.MARGIN_CALL), (S.MARGIN_CALL, 127, S.WARNING), (S.MARGIN_CALL, 132, S.NORMAL),
    # out of liquidation only at the restore-to line, then the band rule
    (S.LIQUIDATING, 130, S.LIQUIDATING), (S.LIQUIDATING, "134.99", S.LIQUIDATING), (S.LIQUIDATING, 135, S.NORMAL),
    # defaulted is left only by an operator
    (S.DEFAULTED, 500, S.DEFAULTED),
])
def test_hysteresis(state, ratio, expected):
    assert state_after(state, ratio) == expected


def test_no_liabilities_is_normal():
    for state in (S.WARNING, S.MARGIN_CALL, S.LIQUIDATING):
        assert next_state(state, 100, 0, STANDARD, BAND) == S.NORMAL


def test_reduce_only_states():
    assert [s.reduce_only for s in S] == [False, False, True, True, True]


def test_liquidation_amount_hand_computed():
    # Standard tier: T = 135 %, phi = 7.6 bp. A = 1,200,000, D = 1,000,000 (R = 120 %).
    # x = (1.35 x 1,000,000 - 1,200,000) / (1.35 x 0.99924 - 1) = 150,000 / 0.348974 = 429,831.22 -> 429,831
    x, everything = liquidation_amount(1_200_000, 1_000_000, 13_500, 760, 10_000_000)
    assert (x, everything) == (429_831, False)
    # Selling x brings R to the line: A - x over D - x (1 - phi)
    after = Fraction(1_200_000 - x) / (1_000_000 - Fraction(x) * Fraction(999_240, 1_000_000))
    assert abs(after - Fraction(135, 100)) < Fraction(1, 10**6)


def test_liquidation_amount_rounds_half_up():
    # T = 150 %, phi = 0: x = (1.5 D - A) / 0.5 = 3 D - 2 A exactly -> no rounding; with phi the
    # exact fraction is compared to the integer answer.
    for assets, debt in [(1_000_001, 800_000), (123_457, 100_000), (999_999, 700_001)]:
        x, _ = liquidation_amount(assets, debt, 15_000, 760, 10**12)
        exact = (Fraction(15_000, 10_000) * debt - assets) / (Fraction(15_000, 10_000) * Fraction(999_240, 10**6) - 1)
        assert x == int(exact + Fraction(1, 2))


def test_liquidation_amount_edges():
    assert liquidation_amount(1_400_000, 1_000_000, 13_500, 760, 10**9) == (0, False)  # already above T
    assert liquidation_amount(500, 0, 13_500, 760, 10**9) == (0, False)  # no debt
    assert liquidation_amount(900_000, 1_000_000, 13_500, 760, 800_000) == (800_000, True)  # E <= 0
    assert liquidation_amount(1_000_000, 1_000_000, 13_500, 760, 800_000) == (800_000, True)  # E = 0
    assert liquidation_amount(1_200_000, 1_000_000, 13_500, 760, 100_000) == (100_000, True)  # x > sellable
