import pytest

from core.units import apply_bp, apply_ppm, cny, format_cny, half_up_div


@pytest.mark.parametrize("n,d,expected", [(0, 7, 0), (1, 2, 1), (3, 2, 2), (5, 2, 3), (4, 3, 1), (5, 3, 2), (149, 100, 1), (150, 100, 2)])
def test_half_up_div_rounds_halves_up(n, d, expected):
    assert half_up_div(n, d) == expected


def test_half_up_div_refuses_negative_numerators():
    with pytest.raises(ValueError):
        half_up_div(-1, 2)


def test_apply_ppm_and_bp_round_half_up_to_the_fen():
    assert apply_ppm(20_000, 250) == 5  # exactly 5.0
    assert apply_ppm(2_000, 250) == 1  # 0.5 -> 1
    assert apply_ppm(1_999, 250) == 0  # 0.49975 -> 0
    assert apply_bp(5, 1_000) == 1  # 0.5 -> 1


def test_cny_parses_exactly_and_format_round_trips():
    assert cny("1,234.56") == 123456
    assert cny("0.1") == 10
    assert cny(7) == 700
    assert cny("-2.05") == -205
    assert format_cny(123456) == "1,234.56"
    assert format_cny(-5) == "-0.05"
    with pytest.raises(ValueError):
        cny("1.234")
    with pytest.raises(ValueError):
        cny("abc")
