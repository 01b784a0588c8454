"""Margin states, their hysteresis, and the liquidation amount (DOMAIN.md sections 5 and 7).

These are the rules in plain Python, written to be read; the Cython engine implements
the same arithmetic inline and is tested against them.
"""

from __future__ import annotations

import enum

from .units import BP, PPM, half_up_div


class MarginState(enum.IntEnum):
    """Account margin states, best first; the number is stable and ordered by severity."""

    NORMAL = 0
    WARNING = 1
    MARGIN_CALL = 2
    LIQUIDATING = 3
    DEFAULTED = 4

    @property
    def reduce_only(self) -> bool:
        """States in which the account may only sell."""
        return self >= MarginState.MARGIN_CALL


#: Collateral ratio reported when there are no liabilities (R is infinite).
RATIO_INFINITE = -1


def ratio_meets(assets: int, liabilities: int, line_bp: int) -> bool:
    """Exact test of R = A / D >= line (bp), with R infinite when D <= 0."""
    return liabilities <= 0 or assets * BP >= line_bp * liabilities


def collateral_ratio_bp(assets: int, liabilities: int) -> int:
    """R in bp rounded down, or RATIO_INFINITE when D <= 0. For display and events only."""
    if liabilities <= 0:
        return RATIO_INFINITE
    if assets <= 0:
        return 0
    return assets * BP // liabilities


class Lines:
    """The three floors and the restore-to line of a tier (bp), after any emergency raise."""

    __slots__ = ("warning", "margin_call", "liquidation", "restore")

    def __init__(self, warning: int, margin_call: int, liquidation: int, restore: int):
        self.warning = warning
        self.margin_call = margin_call
        self.liquidation = liquidation
        self.restore = restore

    def floor(self, state: MarginState) -> int:
        """The collateral ratio (bp) under which an account cannot stay in state."""
        return (self.warning, self.margin_call, self.liquidation)[state]


def next_state(state: MarginState, assets: int, liabilities: int, lines: Lines, band_bp: int) -> MarginState:
    """The margin state after re-evaluating R = assets / liabilities, with hysteresis.

    Worse as soon as R falls under the current state's floor (to the state whose floor R
    still meets, or LIQUIDATING); better only when R clears a better state's floor by the
    band; out of LIQUIDATING only at the restore-to line. DEFAULTED is never left here.
    """
    if state == MarginState.DEFAULTED:
        return state

    def by_floor() -> MarginState:
        for candidate in (MarginState.NORMAL, MarginState.WARNING, MarginState.MARGIN_CALL):
            if ratio_meets(assets, liabilities, lines.floor(candidate)):
                return candidate
        return MarginState.LIQUIDATING

    def improved(limit: MarginState) -> MarginState | None:
        for candidate in (MarginState.NORMAL, MarginState.WARNING, MarginState.MARGIN_CALL):
            if candidate >= limit:
                break
            if ratio_meets(assets, liabilities, lines.floor(candidate) + band_bp):
                return candidate
        return None

    if state == MarginState.LIQUIDATING:
        if not ratio_meets(assets, liabilities, lines.restore):
            return state
        return improved(MarginState.LIQUIDATING) or by_floor()
    if not ratio_meets(assets, liabilities, lines.floor(state)):
        return by_floor()
    better = improved(state)
    return state if better is None else better


def liquidation_amount(
    assets: int, liabilities: int, restore_bp: int, sell_fee_ppm: int, sellable_value: int
) -> tuple[int, bool]:
    """Market value (fen) to sell to bring R back to the restore-to line, and whether that
    means selling everything sellable.

    x = (T*D - A) / (T*(1 - phi) - 1), T the restore line, phi the sell fee rate: net
    proceeds repay debt, so A falls by x and D by x*(1 - phi). Half-up to the fen. When
    E <= 0, or x exceeds the sellable value, the answer is everything sellable.
    """
    if liabilities <= 0:
        return 0, False
    if assets - liabilities <= 0:
        return sellable_value, True
    numerator = restore_bp * liabilities - BP * assets  # bp x fen
    if numerator <= 0:
        return 0, False
    denominator = restore_bp * (PPM - sell_fee_ppm) - BP * PPM  # bp x ppm
    if denominator <= 0:
        return sellable_value, True
    x = half_up_div(numerator * PPM, denominator)
    if x > sellable_value:
        return sellable_value, True
    return x, False
