"""Trading fees per fill and the fee reservation of an open order (DOMAIN.md section 4)."""

from __future__ import annotations

import msgspec

from .units import apply_ppm


class FeeSchedule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Fee rates of a tier: ppm of notional, commission minimum in fen per order."""

    commission_ppm: int = 250
    commission_min: int = 500  # fen, per order
    stamp_duty_ppm: int = 500  # sells only
    transfer_ppm: int = 10

    @property
    def sell_rate_ppm(self) -> int:
        """The sell-side fee rate phi (ppm) used by the liquidation amount formula."""
        return self.commission_ppm + self.stamp_duty_ppm + self.transfer_ppm

    def validate(self) -> "FeeSchedule":
        for name in ("commission_ppm", "commission_min", "stamp_duty_ppm", "transfer_ppm"):
            if not 0 <= getattr(self, name) <= 100_000:
                raise ValueError(f"{name} must be in 0..100000")
        return self


class Fees(msgspec.Struct, frozen=True):
    """The fees one fill pays, in fen."""

    commission: int
    stamp_duty: int
    transfer: int

    @property
    def total(self) -> int:
        return self.commission + self.stamp_duty + self.transfer


def commission_total(cum_notional: int, schedule: FeeSchedule) -> int:
    """Commission an order owes in total (fen) once cum_notional (fen) has filled."""
    return max(schedule.commission_min, apply_ppm(cum_notional, schedule.commission_ppm))


def fill_fees(
    is_sell: bool, fill_notional: int, cum_notional_before: int, commission_paid: int, schedule: FeeSchedule
) -> Fees:
    """Fees (fen) of one fill of fill_notional fen on an order that had filled cum_notional_before
    and paid commission_paid so far: the commission tops the order's total up to
    max(minimum, rate x cumulative notional); stamp duty (sells) and transfer fee are per fill."""
    commission = commission_total(cum_notional_before + fill_notional, schedule) - commission_paid
    stamp = apply_ppm(fill_notional, schedule.stamp_duty_ppm) if is_sell else 0
    transfer = apply_ppm(fill_notional, schedule.transfer_ppm)
    return Fees(commission=commission, stamp_duty=stamp, transfer=transfer)


def buy_reservation(
    price: int, remaining_qty: int, cum_notional: int, commission_paid: int, schedule: FeeSchedule
) -> int:
    """What an open buy's unfilled remainder would still pay at its limit price (fen): notional,
    transfer fee, and commission up to the order's total, net of commission already paid."""
    if remaining_qty <= 0:
        return 0
    notional = price * remaining_qty
    commission = commission_total(cum_notional + notional, schedule) - commission_paid
    return notional + commission + apply_ppm(notional, schedule.transfer_ppm)
