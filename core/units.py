"""Integer units of the domain and the one rounding rule.

Money and prices are fen (0.01 CNY), quantities are shares, lines and interest
rates are basis points (1 bp = 0.01 %), fee rates are millionths (ppm). Every
rounding is half-up to the fen and is done in integers: a float never decides
anything that touches money.
"""

from __future__ import annotations

FEN_PER_CNY = 100
BP = 10_000  # basis points in one whole (100 %)
PPM = 1_000_000  # millionths in one whole

#: Largest amount of money (fen) a single command may carry. 10^14 fen is one
#: trillion CNY: far above any real account, and small enough that every product
#: the engine forms (amount x rate, amount x 10000) stays inside int64.
MAX_MONEY = 10**14
#: Largest price (fen) accepted anywhere: one million CNY per share.
MAX_PRICE = 10**8
#: Largest quantity (shares) accepted in a single command. With MAX_PRICE, a notional
#: stays under 10^17 fen, so sums of notionals fit int64 with room to spare.
MAX_QUANTITY = 10**9


def half_up_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half-up, for numerator >= 0 and denominator > 0."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("half_up_div takes numerator >= 0 and denominator > 0")
    return (2 * numerator + denominator) // (2 * denominator)


def apply_ppm(amount: int, rate_ppm: int) -> int:
    """amount x rate (ppm), half-up to the fen."""
    return half_up_div(amount * rate_ppm, PPM)


def apply_bp(amount: int, rate_bp: int) -> int:
    """amount x rate (bp), half-up to the fen."""
    return half_up_div(amount * rate_bp, BP)


def format_cny(fen: int) -> str:
    """Display form of an amount in fen, e.g. 123456 -> '1,234.56'. For humans only."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), FEN_PER_CNY)
    return f"{sign}{whole:,}.{cents:02d}"


def cny(amount: str | int) -> int:
    """Parse a CNY amount written in decimal ('12.34', '5', 7) to fen, exactly."""
    text = str(amount).strip().replace(",", "")
    negative = text.startswith("-")
    if negative:
        text = text[1:]
    whole, _, frac = text.partition(".")
    if not whole.isdigit() and not (whole == "" and frac):
        raise ValueError(f"not a CNY amount: {amount!r}")
    if frac and (not frac.isdigit() or len(frac) > 2):
        raise ValueError(f"CNY amounts have at most two decimals: {amount!r}")
    fen = int(whole or 0) * FEN_PER_CNY + int((frac + "00")[:2])
    return -fen if negative else fen
