"""The broker simulator: the other side of the gateway's orders (rules, matching, books)."""

from .interface import (
    Broker, BrokerUnavailable, CancelRequest, ConnectionStatus, ExecutionReport, NewOrder,
)
from .books import CustodianBooks
from .core import BrokerConfig, BrokerCore
from .latency import LatencyModel
from .simulated import SimClock, SimulatedBroker

try:  # the compiled modules read the interface's structs where simulators/broker/structs.pxd says: check
    from .structs import verify as _verify_struct_layouts
except ImportError:  # nothing built: the Python source reads fields by name
    pass
else:
    _verify_struct_layouts()

__all__ = [
    "Broker", "BrokerConfig", "BrokerCore", "BrokerUnavailable", "CancelRequest", "ConnectionStatus",
    "CustodianBooks", "ExecutionReport", "LatencyModel", "NewOrder", "SimClock", "SimulatedBroker",
]
