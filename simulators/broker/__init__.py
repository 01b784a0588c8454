"""The broker simulator: the other side of the gateway's orders (rules, matching, books)."""

from .interface import (
    Broker, BrokerUnavailable, CancelRequest, ConnectionStatus, ExecutionReport, NewOrder,
)
from .books import CustodianBooks
from .core import BrokerConfig, BrokerCore
from .latency import LatencyModel
from .simulated import SimClock, SimulatedBroker

__all__ = [
    "Broker", "BrokerConfig", "BrokerCore", "BrokerUnavailable", "CancelRequest", "ConnectionStatus",
    "CustodianBooks", "ExecutionReport", "LatencyModel", "NewOrder", "SimClock", "SimulatedBroker",
]
