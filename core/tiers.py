"""Risk tiers: leverage, interest, margin lines and per-order limits (DOMAIN.md section 5)."""

from __future__ import annotations

from pathlib import Path

import msgspec

from .fees import FeeSchedule


class Tier(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One risk tier. Lines are collateral ratios in bp (13000 = 130 %), money in fen."""

    name: str
    max_leverage_bp: int  # L_max: 20000 = 2.0x
    annual_rate_bp: int  # financing interest, 360-day year
    warning_bp: int
    margin_call_bp: int
    liquidation_bp: int
    restore_bp: int  # liquidation stops when R reaches this
    max_single_name_bp: int  # largest share of assets A in one instrument
    max_order_notional: int  # fen
    fees: FeeSchedule = FeeSchedule()

    def validate(self, band_bp: int) -> "Tier":
        """Raise ValueError unless warning > margin-call > liquidation and restore >= warning + band."""
        if not self.name:
            raise ValueError("tier needs a name")
        if self.max_leverage_bp < 10_000:
            raise ValueError(f"tier {self.name}: max_leverage_bp must be >= 10000 (1.0x)")
        if not self.warning_bp > self.margin_call_bp > self.liquidation_bp > 10_000:
            raise ValueError(
                f"tier {self.name}: lines must satisfy warning > margin_call > liquidation > 10000 bp, "
                f"got {self.warning_bp} / {self.margin_call_bp} / {self.liquidation_bp}"
            )
        if self.restore_bp < self.warning_bp + band_bp:
            raise ValueError(
                f"tier {self.name}: restore_bp={self.restore_bp} must be >= warning_bp + band "
                f"= {self.warning_bp + band_bp}"
            )
        if self.annual_rate_bp < 0 or not 0 < self.max_single_name_bp <= 10_000:
            raise ValueError(f"tier {self.name}: rate must be >= 0 and single-name share in 1..10000 bp")
        if self.max_order_notional <= 0:
            raise ValueError(f"tier {self.name}: max_order_notional must be positive")
        self.fees.validate()
        return self


DEFAULT_TIERS: tuple[Tier, ...] = (
    Tier(name="conservative", max_leverage_bp=20_000, annual_rate_bp=600, warning_bp=15_000,
         margin_call_bp=14_000, liquidation_bp=13_000, restore_bp=15_500,
         max_single_name_bp=10_000, max_order_notional=500_000_000),
    Tier(name="standard", max_leverage_bp=30_000, annual_rate_bp=800, warning_bp=13_000,
         margin_call_bp=12_500, liquidation_bp=12_000, restore_bp=13_500,
         max_single_name_bp=6_000, max_order_notional=300_000_000),
    Tier(name="aggressive", max_leverage_bp=40_000, annual_rate_bp=1_000, warning_bp=12_000,
         margin_call_bp=11_500, liquidation_bp=11_000, restore_bp=12_500,
         max_single_name_bp=4_000, max_order_notional=200_000_000),
)


class _TierFile(msgspec.Struct, forbid_unknown_fields=True):
    tiers: list[Tier]


def load_tiers(path: str | Path, band_bp: int = 200) -> tuple[Tier, ...]:
    """Read tiers from TOML (an array of [[tiers]] tables) and validate each."""
    data = Path(path).read_bytes()
    try:
        parsed = msgspec.toml.decode(data, type=_TierFile)
    except msgspec.ValidationError as exc:
        raise ValueError(f"{path}: {exc}") from None
    names = [t.name for t in parsed.tiers]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: tier names must be unique")
    if not parsed.tiers:
        raise ValueError(f"{path}: no tiers")
    return tuple(t.validate(band_bp) for t in parsed.tiers)
