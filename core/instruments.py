"""Instruments, boards and the exchange's price and quantity rules (DOMAIN.md section 2)."""

from __future__ import annotations

import csv
import enum
import io
from importlib import resources
from pathlib import Path
from typing import Iterable, Iterator

import msgspec


class Board(enum.IntEnum):
    """The four A-share boards; the number is stable and used inside the engine."""

    SSE_MAIN = 0
    SZSE_MAIN = 1
    CHINEXT = 2
    STAR = 3


_BOARD_BY_PREFIX = {
    "600": Board.SSE_MAIN, "601": Board.SSE_MAIN, "603": Board.SSE_MAIN, "605": Board.SSE_MAIN,
    "000": Board.SZSE_MAIN, "001": Board.SZSE_MAIN, "002": Board.SZSE_MAIN, "003": Board.SZSE_MAIN,
    "300": Board.CHINEXT, "301": Board.CHINEXT,
    "688": Board.STAR, "689": Board.STAR,
}

#: Daily price limit in whole percent, per board (before the ST and no-limit flags).
BOARD_LIMIT_PCT = {Board.SSE_MAIN: 10, Board.SZSE_MAIN: 10, Board.CHINEXT: 20, Board.STAR: 20}
#: Largest quantity of one limit order, per board (shares).
BOARD_MAX_ORDER_QTY = {
    Board.SSE_MAIN: 1_000_000, Board.SZSE_MAIN: 1_000_000, Board.CHINEXT: 300_000, Board.STAR: 100_000,
}
#: Risk-warning (ST) limit on the main boards since 2025; before, 5. An instrument setting.
ST_LIMIT_PCT = 10
#: the highest collateral haircuts DOMAIN.md allows (ST: 0)
INDEX_HAIRCUT_CAP_BP = 7_000
OTHER_HAIRCUT_CAP_BP = 6_500
#: ISO 10383 market identifier of the exchange a board belongs to (used by FIX and reports).
BOARD_EXCHANGE = {Board.SSE_MAIN: "XSHG", Board.STAR: "XSHG", Board.SZSE_MAIN: "XSHE", Board.CHINEXT: "XSHE"}

BOARD_LOT = 100  # main boards and ChiNext: buys in multiples of 100
STAR_MIN_QTY = 200  # STAR: at least 200, then any whole number


def board_of(code: str) -> Board:
    """The board an instrument code belongs to, from its prefix; ValueError if none."""
    if len(code) != 6 or not code.isdigit():
        raise ValueError(f"instrument code must be 6 digits, got {code!r}")
    try:
        return _BOARD_BY_PREFIX[code[:3]]
    except KeyError:
        raise ValueError(f"instrument code {code!r} has no A-share board prefix") from None


def limit_prices(prev_close: int, limit_pct: int) -> tuple[int, int]:
    """(limit_down, limit_up) in fen for a previous close (fen) and a limit (whole %), half-up exact."""
    if prev_close <= 0:
        raise ValueError(f"previous close must be positive fen, got {prev_close}")
    if not 0 < limit_pct < 100:
        raise ValueError(f"limit must be a whole percent in 1..99, got {limit_pct}")
    up = (prev_close * (100 + limit_pct) + 50) // 100
    down = (prev_close * (100 - limit_pct) + 50) // 100
    return down, up


def buy_quantity_ok(board: Board, qty: int) -> bool:
    """Whether a buy of qty shares meets the board's lot rule."""
    if board == Board.STAR:
        return qty >= STAR_MIN_QTY
    return qty > 0 and qty % BOARD_LOT == 0


def sell_quantity_ok(board: Board, qty: int, sellable: int) -> bool:
    """Whether a sell of qty shares meets the board's lot rule given sellable shares S.

    Main boards and ChiNext: a multiple of 100, or the whole odd remainder S mod 100 at
    once plus round lots. STAR: at least 200, or everything when S < 200.
    """
    if qty <= 0:
        return False
    if board == Board.STAR:
        return qty >= STAR_MIN_QTY or (sellable < STAR_MIN_QTY and qty == sellable)
    odd = sellable % BOARD_LOT
    return qty % BOARD_LOT == 0 or (qty >= odd and (qty - odd) % BOARD_LOT == 0)


class Instrument(msgspec.Struct, frozen=True, kw_only=True):
    """One listed A-share and its static trading attributes."""

    code: str
    name: str = ""
    sector: str = ""
    prev_close: int  # fen; 0 means unknown (no mark until the first trade)
    st: bool = False
    no_limit: bool = False  # newly listed ChiNext/STAR stock in its first 5 days
    halted: bool = False
    marginable: bool = True
    # the collateral haircut (折算率), recorded for reports, not used by the checks; None: the
    # cap for its kind (DOMAIN.md section 2: ST 0 %, index constituents 70 %, other A-shares 65 %)
    haircut_bp: int | None = None
    index_constituent: bool = False
    tick: int = 1  # fen
    limit_pct: int = 0  # 0: derived from the board and the ST flag
    daily_vol_bp: int = 200
    adv_shares: int = 0
    float_shares: int = 0

    @property
    def board(self) -> Board:
        return board_of(self.code)

    @property
    def exchange(self) -> str:
        return BOARD_EXCHANGE[self.board]

    @property
    def effective_limit_pct(self) -> int:
        """The daily limit in whole percent this instrument trades under."""
        if self.limit_pct:
            return self.limit_pct
        board = self.board
        if self.st and board in (Board.SSE_MAIN, Board.SZSE_MAIN):
            return ST_LIMIT_PCT
        return BOARD_LIMIT_PCT[board]

    @property
    def max_haircut_bp(self) -> int:
        """The highest haircut DOMAIN.md allows this instrument."""
        if self.st:
            return 0
        return INDEX_HAIRCUT_CAP_BP if self.index_constituent else OTHER_HAIRCUT_CAP_BP

    @property
    def effective_haircut_bp(self) -> int:
        return self.max_haircut_bp if self.haircut_bp is None else self.haircut_bp

    @property
    def max_order_qty(self) -> int:
        return BOARD_MAX_ORDER_QTY[self.board]

    def limits(self, prev_close: int | None = None) -> tuple[int, int] | None:
        """(down, up) for the given or recorded previous close; None when there is no limit."""
        if self.no_limit:
            return None
        return limit_prices(self.prev_close if prev_close is None else prev_close, self.effective_limit_pct)

    def validate(self) -> "Instrument":
        board_of(self.code)
        if self.prev_close < 0:
            raise ValueError(f"{self.code}: previous close must be >= 0 fen")
        if self.tick <= 0:
            raise ValueError(f"{self.code}: tick must be positive")
        if self.st and self.marginable:
            raise ValueError(f"{self.code}: ST instruments are not marginable")
        if self.haircut_bp is not None and not 0 <= self.haircut_bp <= self.max_haircut_bp:
            kind = ("an ST instrument" if self.st else "an index constituent" if self.index_constituent
                    else "an instrument outside the index")
            raise ValueError(f"{self.code}: haircut_bp={self.haircut_bp} must be in 0..{self.max_haircut_bp} "
                             f"for {kind}")
        if self.limit_pct and not 0 < self.limit_pct < 100:
            raise ValueError(f"{self.code}: limit_pct must be in 1..99")
        return self


_UNIVERSE_COLUMNS = (
    "code", "name", "sector", "prev_close_fen", "is_st", "no_limit", "halted", "marginable",
    "haircut_bp", "index_constituent", "daily_vol_bp", "adv_shares", "float_shares", "limit_pct", "tick",
)


class Universe:
    """An ordered, code-indexed set of instruments; the position is the engine's instrument id."""

    def __init__(self, instruments: Iterable[Instrument]):
        self.instruments: list[Instrument] = [i.validate() for i in instruments]
        self._ids: dict[str, int] = {}
        for idx, inst in enumerate(self.instruments):
            if inst.code in self._ids:
                raise ValueError(f"duplicate instrument code {inst.code}")
            self._ids[inst.code] = idx

    def __len__(self) -> int:
        return len(self.instruments)

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self.instruments)

    def __contains__(self, code: object) -> bool:
        return code in self._ids

    def id_of(self, code: str) -> int:
        """The engine's integer id for an instrument code; KeyError names the code."""
        try:
            return self._ids[code]
        except KeyError:
            raise KeyError(f"unknown instrument {code!r}") from None

    def get(self, code: str) -> Instrument:
        return self.instruments[self.id_of(code)]

    @classmethod
    def from_csv(cls, source: str | Path | io.TextIOBase) -> "Universe":
        """Load a universe CSV with the columns documented in docs/engine.md."""
        if isinstance(source, (str, Path)):
            with open(source, newline="", encoding="utf-8") as fh:
                return cls._read(fh, str(source))
        return cls._read(source, "<stream>")

    @classmethod
    def _read(cls, fh, origin: str) -> "Universe":
        reader = csv.DictReader(fh)
        missing = [c for c in ("code", "prev_close_fen") if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{origin}: missing column(s) {', '.join(missing)}")
        out = []
        for lineno, row in enumerate(reader, start=2):
            try:
                out.append(_row_to_instrument(row).validate())  # refused with its line
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{origin}:{lineno}: {exc}") from None
        return cls(out)

    @classmethod
    def sample(cls) -> "Universe":
        """The shipped sample universe (core/data/universe.csv)."""
        text = resources.files("core").joinpath("data/universe.csv").read_text(encoding="utf-8")
        return cls._read(io.StringIO(text), "core/data/universe.csv")


def _flag(row: dict, key: str, default: bool) -> bool:
    value = (row.get(key) or "").strip()
    if value == "":
        return default
    if value not in ("0", "1"):
        raise ValueError(f"{key} must be 0 or 1, got {value!r}")
    return value == "1"


def _int(row: dict, key: str, default: int | None) -> int | None:
    value = (row.get(key) or "").strip()
    return int(value) if value else default


def _row_to_instrument(row: dict) -> Instrument:
    st = _flag(row, "is_st", False)
    return Instrument(
        code=row["code"].strip(),
        name=(row.get("name") or "").strip(),
        sector=(row.get("sector") or "").strip(),
        prev_close=_int(row, "prev_close_fen", 0),
        st=st,
        no_limit=_flag(row, "no_limit", False),
        halted=_flag(row, "halted", False),
        marginable=_flag(row, "marginable", not st),
        haircut_bp=_int(row, "haircut_bp", None),
        index_constituent=_flag(row, "index_constituent", False),
        daily_vol_bp=_int(row, "daily_vol_bp", 200),
        adv_shares=_int(row, "adv_shares", 0),
        float_shares=_int(row, "float_shares", 0),
        limit_pct=_int(row, "limit_pct", 0),  # an ST name's 5 % before 2025 (DOMAIN.md section 2): a setting
        tick=_int(row, "tick", 1),
    )
