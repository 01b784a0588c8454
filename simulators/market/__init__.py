"""The market data simulator: correlated A-share prices, L1 quotes, trades, limits, locks, halts."""

from .messages import DayClose, DayOpen, InstrumentStatus, MarketMessage, Tick
from .scenario import Scenario, list_scenarios, load_scenario
from .simulator import MarketSimulator

__all__ = ["DayClose", "DayOpen", "InstrumentStatus", "MarketMessage", "MarketSimulator", "Scenario", "Tick",
           "list_scenarios", "load_scenario"]
