"""The platform's KPIs (DOMAIN.md section 9), from the machine's state: for the admin API
(`GET /admin/kpis`) and the stress report alike.

Ratios are floats for display; every amount is integer fen.
"""

from __future__ import annotations

import datetime as dt

from core.machine import Machine
from core.margin import MarginState
from core.units import half_up_div

TRADING_DAYS_PER_YEAR = 250
TRADING_DAYS_PER_MONTH = 21


def trading_days_elapsed(first: int, current: int) -> int:
    """Weekdays from the first trading day to the current one, both counted (at least 1)."""
    days = sum(1 for d in range(first, current + 1) if dt.date.fromordinal(d).weekday() < 5)
    return max(1, days)


def platform_kpis(machine: Machine, alert_counts: dict[str, int] | None = None) -> dict:
    engine = machine.engine
    platform = engine.platform()
    accounts = [engine.account(a) for a in range(platform["accounts"])]
    debt = sum(v["debt"] for v in accounts)
    credit = sum(v["credit_line"] for v in accounts)
    # asset-weighted leverage: sum of A x (A / E) over sum of A, both over the accounts with equity
    # (leverage is not defined at E <= 0: such an account is left out of both sums, not counted as 0)
    levered = [v for v in accounts if v["equity"] > 0]
    weighted = sum(v["assets"] * v["assets"] / v["equity"] for v in levered)
    assets = sum(v["assets"] for v in levered)
    active = sum(1 for v in accounts if v["active"])
    states = {s.name: 0 for s in MarginState}
    for v in accounts:
        states[MarginState(v["state"]).name] += 1
    # interest the clients paid: the platform's share and the insurance pool's (what it holds
    # plus what it has paid out); fees: the platform's commission
    interest_paid = (platform["interest_income"] + platform["insurance_pool"] + platform["covered_by_pool"]
                     - platform["insurance_funded"])
    days = trading_days_elapsed(machine.genesis.trading_day, platform["trading_day"])
    # the accounts that defaulted since the journal began, including those an operator has since
    # cleared: a default that happened stays one (the state count alone would forget it)
    defaulted = len({account for account, _ in machine.defaults})
    default_rate = defaulted / len(accounts) if accounts else 0.0
    liquidation = machine.liquidator.state
    notional = liquidation.liquidated_notional
    return {
        "trading_day": dt.date.fromordinal(platform["trading_day"]).isoformat(),
        "trading_days": days,
        "accounts": len(accounts),
        "accounts_by_state": states,
        "capital_utilization": debt / credit if credit else 0.0,
        "average_leverage": weighted / assets if assets else 0.0,
        "defaults": len(machine.defaults),
        "defaulted_accounts": defaulted,
        "default_rate": default_rate,
        "default_rate_monthly": default_rate * TRADING_DAYS_PER_MONTH / days,
        "default_rate_annualized": default_rate * TRADING_DAYS_PER_YEAR / days,
        "arpu_fen": half_up_div(interest_paid + platform["commission_income"], active) if active else 0,
        "liquidation_loss_rate": ((liquidation.liquidation_shortfall + liquidation.liquidation_fees) / notional
                                  if notional else 0.0),
        "insurance_pool_fen": platform["insurance_pool"],
        "insurance_coverage": platform["insurance_pool"] / debt if debt else None,
        "total_debt_fen": debt,
        "commission_income_fen": platform["commission_income"],
        "interest_income_fen": platform["interest_income"],
        "alerts_by_level": dict(alert_counts or {}),
        "controls": {**{k: platform[k] for k in ("global_kill", "halt_buys", "halt_deposits", "halt_accounts",
                                                 "line_raise_bp")},
                     "pause_liquidation": liquidation.paused},
        "waterfall": {k: platform[k] for k in ("backstop_line", "backstop_drawn", "receivables",
                                               "receivables_recovered", "covered_by_pool", "covered_by_backstop",
                                               "covered_by_receivable")},
        "liquidation": {"accounts": len(liquidation.accounts), "liquidated_notional_fen": notional,
                        "fills": liquidation.liquidation_fills},
    }
