"""Beacon's domain model and margin engine. The public API is documented in docs/engine.md."""

from .config import EngineConfig
from .engine import Decision, Engine, FillResult, MarginChange, WaterfallStep, backend_class
from .fees import FeeSchedule, Fees, buy_reservation, commission_total, fill_fees
from .instruments import (
    Board, Instrument, Universe, board_of, buy_quantity_ok, limit_prices, sell_quantity_ok,
)
from .margin import Lines, MarginState, collateral_ratio_bp, liquidation_amount, next_state, ratio_meets
from .rejects import EngineError, RejectCode, Rejection
from .session import session_open, shanghai_ns
from .tiers import DEFAULT_TIERS, Tier, load_tiers
from .types import Lock, OrderStatus, Side
from .units import cny, format_cny, half_up_div

try:  # the compiled modules read these structs' slots where core/structs.pxd says they are: check
    from .structs import verify as _verify_struct_layouts
except ImportError:  # nothing built: the Python source reads fields by name
    pass
else:
    _verify_struct_layouts()

__all__ = [
    "Board", "DEFAULT_TIERS", "Decision", "Engine", "EngineConfig", "EngineError", "FeeSchedule", "Fees",
    "FillResult", "Instrument", "Lines", "Lock", "MarginChange", "MarginState", "OrderStatus", "RejectCode",
    "Rejection", "Side", "Tier", "Universe", "WaterfallStep", "backend_class", "board_of", "buy_quantity_ok", "buy_reservation",
    "cny", "collateral_ratio_bp", "commission_total", "fill_fees", "format_cny", "half_up_div", "limit_prices",
    "liquidation_amount", "load_tiers", "next_state", "ratio_meets", "sell_quantity_ok", "session_open",
    "shanghai_ns",
]
