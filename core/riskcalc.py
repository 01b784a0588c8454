"""The risk-return calculator (DOMAIN.md section 8), for one account or a what-if.

- Annual net return on own capital: ROE = L*Rg - (L - 1)*rf, L = exposure / own capital.
- Parametric VaR over t days at confidence c: VaR = z_c * sigma_daily * sqrt(t).
- Distance to a line: the fall d in the market value MV of the positions that brings the
  collateral ratio to that line, cash not falling: d = (A - line * D) / MV.

These are statistics for people, not checks: ratios are exact fractions where the inputs
are integers (ROE, distances) and floats where a square root or a normal quantile enters
(VaR); amounts of money are rounded half-up to the fen. Nothing here decides an order.
"""

from __future__ import annotations

import math
from fractions import Fraction
from statistics import NormalDist

from .units import BP

#: DOMAIN.md gives z_0.95 = 1.645: quantiles are the normal's, to three decimals (0.99: 2.326)
Z_DECIMALS = 3


def z_score(confidence: float) -> float:
    """The one-sided standard normal quantile for a confidence in (0.5, 1), to three decimals."""
    if not 0.5 < confidence < 1:
        raise ValueError(f"confidence must be in (0.5, 1), got {confidence!r}")
    return round(NormalDist().inv_cdf(confidence), Z_DECIMALS)


def roe(leverage: Fraction, gross_return_bp: int, financing_rate_bp: int) -> Fraction:
    """Annual net return on own capital as a fraction (0.14 = 14 %), before fees and margin calls.
    (L - 1) is the borrowed share; under L = 1 nothing is borrowed, and the idle cash earns
    nothing here (it is not lent out at rf), so the financing term is 0."""
    borrowed = leverage - 1 if leverage > 1 else 0
    return (leverage * gross_return_bp - borrowed * financing_rate_bp) / BP


def var_fraction(sigma_daily_bp: int | float, days: int, confidence: float) -> float:
    """Parametric VaR as a share of the value held: z_c * sigma_daily * sqrt(t)."""
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days!r}")
    if sigma_daily_bp < 0:
        raise ValueError(f"sigma_daily_bp must be >= 0, got {sigma_daily_bp!r}")
    return z_score(confidence) * sigma_daily_bp / BP * math.sqrt(days)


def half_up(value: float | Fraction) -> int:
    """Half-up to an integer (fen), for display amounts computed as statistics."""
    return math.floor(Fraction(value) + Fraction(1, 2))


def distance(assets: int, liabilities: int, market_value: int, line_bp: int) -> Fraction | None:
    """The share of the positions' market value that may fall before R reaches line_bp; None when
    no fall can (no liabilities: R is infinite), negative when R is already under the line."""
    if liabilities <= 0:
        return None
    excess = Fraction(assets * BP - line_bp * liabilities, BP)  # A - line * D, fen
    if market_value <= 0:  # nothing to fall: only the sign tells
        return None if excess >= 0 else Fraction(-1)
    return excess / market_value


def _pct(value: Fraction | float | None) -> float | None:
    return None if value is None else round(float(value) * 100, 4)


def what_if(own_capital: int, exposure: int, gross_return_bp: int, financing_rate_bp: int,
            sigma_daily_bp: int = 0, days: int = 1, confidence: float = 0.95,
            liquidation_bp: int = 0) -> dict:
    """A position of `exposure` fen bought with `own_capital` fen and the rest financed (no cash left):
    its ROE, its VaR and, given a liquidation line, its distance to it."""
    for ok, message in [
        (0 < own_capital <= 10**15, "own_capital must be in 1..10^15 fen"),
        (own_capital <= exposure, "exposure must be >= own_capital (the calculator finances, it does not hold cash)"),
        (exposure <= 10**16, "exposure must be at most 10^16 fen"),
        (abs(gross_return_bp) <= 100_000 and 0 <= financing_rate_bp <= 100_000,
         "gross_return_bp must be within +-100000 and financing_rate_bp in 0..100000"),
        (0 <= sigma_daily_bp <= 10_000, "sigma_daily_bp must be in 0..10000"),
        (1 <= days <= 250, "days must be in 1..250"),
        (0 <= liquidation_bp <= 100_000, "liquidation_bp must be in 0..100000"),
    ]:
        if not ok:
            raise ValueError(message)
    leverage = Fraction(exposure, own_capital)
    debt = exposure - own_capital
    v = var_fraction(sigma_daily_bp, days, confidence)
    out = {
        "leverage": float(leverage),
        "roe_pct": _pct(roe(leverage, gross_return_bp, financing_rate_bp)),
        "z": z_score(confidence),
        "var_pct": _pct(v),
        "var_fen": half_up(v * exposure),
        "var_pct_of_own_capital": _pct(v * exposure / own_capital),
    }
    if liquidation_bp:
        d = distance(exposure, debt, exposure, liquidation_bp)
        out["distance_to_liquidation_pct"] = _pct(d)
        out["fall_to_liquidation_fen"] = None if d is None else half_up(d * exposure)
    return out


def account_risk(machine, account: int, gross_returns_bp=(-2_000, -1_000, 0, 1_000, 2_000),
                 days: int = 1, confidence: float = 0.95) -> dict:
    """An account's figures now: L and ROE at its tier's financing rate for a range of gross
    returns, VaR of its positions, and its distance to each line (the lines as raised)."""
    engine = machine.engine
    view = engine.account(account)
    tier = machine.tiers[view["tier"]]
    raise_bp = engine.platform()["line_raise_bp"]
    assets, liabilities, equity = view["assets"], view["liabilities"], view["equity"]
    market_value = view["market_value"]
    z = z_score(confidence)
    per_sigma_bp = z * math.sqrt(days) / BP  # VaR share per bp of daily sigma
    positions = []
    sigma_value = 0  # sum of value_i x sigma_i (bp x fen): the portfolio's sigma under full correlation
    collateral = 0
    for pos in engine.positions_of(account):
        if pos["held"] <= 0:
            continue
        spec = machine.universe.instruments[pos["instrument"]]
        value = pos["market_value"]
        sigma_value += value * spec.daily_vol_bp
        after_haircut = value * spec.effective_haircut_bp // BP
        collateral += after_haircut
        positions.append({
            "instrument": spec.code, "held": pos["held"], "market_value": value,
            "weight_pct": _pct(Fraction(value, assets)) if assets > 0 else None,
            "sigma_daily_bp": spec.daily_vol_bp, "var_fen": half_up(per_sigma_bp * spec.daily_vol_bp * value),
            "haircut_bp": spec.effective_haircut_bp, "collateral_value": after_haircut,
        })
    sigma_bp = Fraction(sigma_value, market_value) if market_value else Fraction(0)
    var_share = per_sigma_bp * float(sigma_bp)
    leverage = Fraction(market_value, equity) if equity > 0 else None
    lines = {"warning": tier.warning_bp, "margin_call": tier.margin_call_bp, "liquidation": tier.liquidation_bp}
    distances = {}
    for name, line in lines.items():
        d = distance(assets, liabilities, market_value, line + raise_bp)
        distances[name] = {"line_bp": line + raise_bp, "distance_pct": _pct(d),
                           "fall_fen": None if d is None or market_value <= 0 else half_up(d * market_value)}
    return {
        "account": account, "tier": tier.name, "assets": assets, "liabilities": liabilities, "equity": equity,
        "market_value": market_value, "collateral_ratio_bp": view["collateral_ratio_bp"],
        "leverage": None if leverage is None else float(leverage),
        "financing_rate_bp": tier.annual_rate_bp,
        "roe": [{"gross_return_bp": rg, "roe_pct": _pct(roe(leverage, rg, tier.annual_rate_bp))}
                for rg in gross_returns_bp] if leverage is not None else [],
        "var": {"confidence": confidence, "days": days, "z": z, "sigma_daily_bp": round(float(sigma_bp), 2),
                "var_pct": _pct(var_share), "var_fen": half_up(var_share * market_value),
                "correlation": "full (the sum of the positions' VaRs: an upper bound)"},
        "distance": distances,
        "collateral_value_after_haircuts": collateral,
        "positions": positions,
    }


__all__ = ["account_risk", "distance", "half_up", "roe", "var_fraction", "what_if", "z_score"]
