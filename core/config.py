"""Platform-wide engine settings; every default is the one DOMAIN.md states."""

from __future__ import annotations

import msgspec


class EngineConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Settings of the margin engine that are not per tier. Units in the field names."""

    order_rate_per_s: int = 50  # token bucket refill, orders per second per account
    order_burst: int = 100  # token bucket capacity
    max_open_orders: int = 200  # per account
    price_collar_bp: int = 500  # |price - mark| <= 5 % of mark
    hysteresis_band_bp: int = 200
    enforce_session: bool = True  # False: "always open", for simulations and benchmarks
    insurance_share_bp: int = 1_000  # share of repaid interest paid into the insurance pool
    withdrawal_min_ratio_bp: int = 30_000  # R must stay >= 300 % after a withdrawal
    interest_day_count: int = 360
    margin_call_deadline_s: int = 34_200  # 09:30 Shanghai on the next trading day
    backstop_line: int = 1_000_000_000  # fen: the funder's backstop credit line (10,000,000 CNY)
    # staged automatic liquidation (core.liquidation; docs/margin-lifecycle.md)
    liquidation_interval_s: int = 30  # between an account's stages
    liquidation_jitter_s: int = 5  # plus a seeded jitter of up to this
    liquidation_child_notional: int = 50_000_000  # fen: the largest child order (500,000 CNY)
    liquidation_participation_bp: int = 1_000  # a child: at most 10 % of the recent volume
    liquidation_platform_participation_bp: int = 2_000  # all accounts, per instrument and interval: 20 %
    liquidation_volume_window_s: int = 60  # "recent volume": traded in this window
    liquidation_discount_bp: int = 200  # child limit price: 2 % under the mark, never under limit-down
    liquidation_seed: int = 1  # seeds the jitter

    def validate(self) -> "EngineConfig":
        # capped so that a full bucket (burst x 10^9 nano-tokens) stays far inside int64
        if not 0 < self.order_rate_per_s <= 100_000_000 or not 0 < self.order_burst <= 100_000_000:
            raise ValueError("order_rate_per_s and order_burst must be in 1..100000000")
        if self.max_open_orders <= 0:
            raise ValueError("max_open_orders must be positive")
        if not 0 <= self.price_collar_bp <= 10_000:
            raise ValueError("price_collar_bp must be in 0..10000")
        if self.hysteresis_band_bp < 0:
            raise ValueError("hysteresis_band_bp must be >= 0")
        if not 0 <= self.insurance_share_bp <= 10_000:
            raise ValueError("insurance_share_bp must be in 0..10000")
        if self.interest_day_count <= 0:
            raise ValueError("interest_day_count must be positive")
        if not 0 <= self.backstop_line <= 10**14:
            raise ValueError("backstop_line must be in 0..10^14 fen")
        if self.liquidation_interval_s <= 0 or self.liquidation_jitter_s < 0:
            raise ValueError("liquidation_interval_s must be positive and liquidation_jitter_s >= 0")
        if self.liquidation_child_notional <= 0 or self.liquidation_volume_window_s <= 0:
            raise ValueError("liquidation_child_notional and liquidation_volume_window_s must be positive")
        for name in ("liquidation_participation_bp", "liquidation_platform_participation_bp"):
            if not 0 < getattr(self, name) <= 10_000:
                raise ValueError(f"{name} must be in 1..10000")
        if not 0 <= self.liquidation_discount_bp <= self.price_collar_bp:
            raise ValueError("liquidation_discount_bp must be in 0..price_collar_bp (a child must pass the collar)")
        if not 0 <= self.margin_call_deadline_s < 86_400:
            raise ValueError("margin_call_deadline_s must be a time of day in seconds (0..86399)")
        return self
