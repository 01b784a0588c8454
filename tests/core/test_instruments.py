import io
from decimal import ROUND_HALF_UP, Decimal

import re

import pytest

from core import Board, Instrument, Universe, board_of, buy_quantity_ok, limit_prices, sell_quantity_ok


@pytest.mark.parametrize("code,board", [
    ("600519", Board.SSE_MAIN), ("601318", Board.SSE_MAIN), ("603288", Board.SSE_MAIN), ("605499", Board.SSE_MAIN),
    ("000001", Board.SZSE_MAIN), ("001979", Board.SZSE_MAIN), ("002594", Board.SZSE_MAIN), ("003816", Board.SZSE_MAIN),
    ("300750", Board.CHINEXT), ("301269", Board.CHINEXT), ("688981", Board.STAR), ("689009", Board.STAR),
])
def test_board_of_maps_every_prefix(code, board):
    assert board_of(code) == board


@pytest.mark.parametrize("code", ["900901", "200002", "60051", "6005190", "abcdef", ""])
def test_board_of_rejects_codes_without_an_a_share_prefix(code):
    with pytest.raises(ValueError, match="code"):
        board_of(code)


def test_limit_prices_hand_computed():
    assert limit_prices(1000, 10) == (900, 1100)
    assert limit_prices(1005, 10) == (905, 1106)  # 904.5 -> 905, 1105.5 -> 1106
    assert limit_prices(1234, 20) == (987, 1481)  # 987.2, 1480.8
    assert limit_prices(395, 5) == (375, 415)  # 375.25, 414.75
    assert limit_prices(1, 10) == (1, 1)  # 0.9 -> 1, 1.1 -> 1


def _decimal_limits(prev_close: int, pct: int) -> tuple[int, int]:
    p = Decimal(prev_close)
    up = (p * (100 + pct) / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    down = (p * (100 - pct) / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(down), int(up)


def test_limit_prices_where_float_rounding_goes_wrong():
    """Prices ending in 5 put the limit exactly on a half fen; binary floats land below it."""
    float_wrong = 0
    for prev_close in range(1, 20_001):
        for pct in (5, 10, 20):
            exact = _decimal_limits(prev_close, pct)
            assert limit_prices(prev_close, pct) == exact, (prev_close, pct)
            naive_up = int(round(prev_close / 100 * (1 + pct / 100), 2) * 100 + 1e-9)
            float_wrong += naive_up != exact[1]
    # The point of integer rounding: the float formula disagrees on hundreds of real prices.
    assert float_wrong > 100


@pytest.mark.parametrize("prev_close,up", [(95, 105), (115, 127), (145, 160), (455, 501), (535, 589)])
def test_limit_up_on_half_fen_cases_that_floats_round_down(prev_close, up):
    """0.95 CNY * 1.1 = 1.045 exactly, which is 1.04499... in binary: round(x, 2) gives 1.04."""
    assert round(prev_close / 100 * 1.1, 2) * 100 < up - 0.5  # the float answer is a fen short
    assert limit_prices(prev_close, 10)[1] == up


def test_limit_prices_refuses_bad_inputs():
    with pytest.raises(ValueError):
        limit_prices(0, 10)
    with pytest.raises(ValueError):
        limit_prices(1000, 0)


def test_instrument_limit_percent_by_board_st_and_flags():
    assert Instrument(code="600000", prev_close=1000).effective_limit_pct == 10
    assert Instrument(code="300001", prev_close=1000).effective_limit_pct == 20
    assert Instrument(code="688001", prev_close=1000).effective_limit_pct == 20
    st = Instrument(code="600001", prev_close=1000, st=True, marginable=False)
    assert st.effective_limit_pct == 10  # since 2025
    assert Instrument(code="600001", prev_close=1000, st=True, marginable=False, limit_pct=5).limits() == (950, 1050)
    assert Instrument(code="300002", prev_close=1000, no_limit=True).limits() is None
    assert Instrument(code="600000", prev_close=1000).max_order_qty == 1_000_000
    assert Instrument(code="300001", prev_close=1000).max_order_qty == 300_000
    assert Instrument(code="688001", prev_close=1000).max_order_qty == 100_000


def test_st_instruments_cannot_be_marginable():
    with pytest.raises(ValueError, match="not marginable"):
        Instrument(code="600001", prev_close=1000, st=True, marginable=True).validate()


def test_haircuts_default_to_the_cap_of_their_kind_and_may_not_exceed_it():
    """DOMAIN.md section 2: index constituents <= 70 %, other A-shares <= 65 %, ST 0 %."""
    assert Instrument(code="600000", prev_close=1000, index_constituent=True).effective_haircut_bp == 7_000
    assert Instrument(code="600000", prev_close=1000).effective_haircut_bp == 6_500
    assert Instrument(code="600001", prev_close=1000, st=True, marginable=False).validate().effective_haircut_bp == 0
    assert Instrument(code="600000", prev_close=1000, haircut_bp=5_000).validate().effective_haircut_bp == 5_000
    Instrument(code="600000", prev_close=1000, index_constituent=True, haircut_bp=7_000).validate()
    for inst, message in [
        (Instrument(code="600000", prev_close=1000, index_constituent=True, haircut_bp=7_001),
         "600000: haircut_bp=7001 must be in 0..7000 for an index constituent"),
        (Instrument(code="000001", prev_close=1000, haircut_bp=7_000),
         "000001: haircut_bp=7000 must be in 0..6500 for an instrument outside the index"),
        (Instrument(code="600001", prev_close=1000, st=True, marginable=False, haircut_bp=6_500),
         "600001: haircut_bp=6500 must be in 0..0 for an ST instrument"),
        (Instrument(code="600000", prev_close=1000, haircut_bp=-1), "haircut_bp=-1"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            inst.validate()


def test_a_universe_file_with_a_haircut_over_its_cap_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "u.csv"
    path.write_text("code,name,prev_close_fen,index_constituent,haircut_bp\n600000,a,1000,1,7000\n"
                    "000001,b,1000,0,6600\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}:3: 000001: haircut_bp=6600 must be in 0..6500")):
        Universe.from_csv(path)


@pytest.mark.parametrize("board,qty,ok", [
    (Board.SSE_MAIN, 100, True), (Board.SSE_MAIN, 1000, True), (Board.SSE_MAIN, 150, False),
    (Board.SSE_MAIN, 0, False), (Board.SSE_MAIN, 50, False), (Board.CHINEXT, 200, True), (Board.CHINEXT, 201, False),
    (Board.STAR, 200, True), (Board.STAR, 201, True), (Board.STAR, 199, False), (Board.STAR, 100, False),
])
def test_buy_lot_rules(board, qty, ok):
    assert buy_quantity_ok(board, qty) is ok


@pytest.mark.parametrize("board,qty,sellable,ok", [
    (Board.SSE_MAIN, 100, 1000, True),
    (Board.SSE_MAIN, 150, 1000, False),
    (Board.SSE_MAIN, 50, 250, True),  # the whole odd remainder at once
    (Board.SSE_MAIN, 150, 250, True),  # odd remainder plus a round lot
    (Board.SSE_MAIN, 30, 250, False),  # part of the odd remainder
    (Board.SSE_MAIN, 250, 250, True),
    (Board.CHINEXT, 37, 37, True),
    (Board.SZSE_MAIN, 0, 100, False),
    (Board.STAR, 200, 1000, True),
    (Board.STAR, 333, 1000, True),
    (Board.STAR, 199, 1000, False),
    (Board.STAR, 150, 150, True),  # everything when S < 200
    (Board.STAR, 100, 150, False),
])
def test_sell_lot_rules(board, qty, sellable, ok):
    assert sell_quantity_ok(board, qty, sellable) is ok


def test_sample_universe_is_realistic():
    universe = Universe.sample()
    assert len(universe) >= 300
    boards = {b: 0 for b in Board}
    for inst in universe:
        boards[inst.board] += 1
        assert inst.prev_close > 0
        if inst.st:
            assert not inst.marginable and inst.effective_haircut_bp == 0
        assert inst.effective_haircut_bp <= (7_000 if inst.index_constituent else 6_500)
    assert all(n >= 40 for n in boards.values()), boards
    assert universe.get("600519").name == "贵州茅台"
    assert any(i.no_limit for i in universe) and any(i.halted for i in universe) and any(i.st for i in universe)


def test_universe_csv_errors_name_the_line():
    bad = io.StringIO("code,prev_close_fen\n600000,1000\n600001,abc\n")
    with pytest.raises(ValueError, match=":3:"):
        Universe.from_csv(bad)
    with pytest.raises(ValueError, match="missing column"):
        Universe.from_csv(io.StringIO("code\n600000\n"))
    with pytest.raises(ValueError, match="duplicate"):
        Universe.from_csv(io.StringIO("code,prev_close_fen\n600000,1\n600000,2\n"))


def test_universe_csv_sets_an_st_limit_and_a_tick():
    """DOMAIN.md section 2: an ST name's limit (5 % before 2025) is an instrument setting."""
    universe = Universe.from_csv(io.StringIO("code,prev_close_fen,is_st,limit_pct,tick\n"
                                             "600001,1005,1,5,\n600002,1005,1,,\n600003,1000,0,,10\n"))
    old_st, new_st, coarse = universe.instruments
    assert old_st.effective_limit_pct == 5 and limit_prices(1005, old_st.effective_limit_pct) == (955, 1055)
    assert new_st.effective_limit_pct == 10 and coarse.tick == 10 and old_st.tick == 1
    with pytest.raises(ValueError, match=":2:.*limit_pct"):
        Universe.from_csv(io.StringIO("code,prev_close_fen,limit_pct\n600000,1000,100\n"))
