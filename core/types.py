"""Small enums shared by both engine implementations and the edges."""

from __future__ import annotations

import enum


class Side(enum.IntEnum):
    BUY = 1
    SELL = 2


class OrderStatus(enum.IntEnum):
    OPEN = 1
    FILLED = 2
    CANCELED = 3  # canceled by the client, expired at the day roll, or refused by the broker


class Lock(enum.IntEnum):
    """Limit lock reported with a tick: at limit-down with no bids, at limit-up with no offers."""

    NONE = 0
    LIMIT_DOWN = -1
    LIMIT_UP = 1


#: Keys of the account view both engines return, in display order.
ACCOUNT_FIELDS = (
    "account", "tier", "state", "active", "frozen", "reduce_only", "reduce_only_manual", "killed",
    "cash", "debt", "accrued_interest", "deposits", "withdrawals", "net_deposits", "credit_line",
    "market_value", "reserved_buy", "cash_reserved_non_marginable", "sell_cash_today", "open_orders",
    "assets", "liabilities", "equity", "collateral_ratio_bp", "buying_power", "margin_call_deadline_ns",
    "receivable",
)
