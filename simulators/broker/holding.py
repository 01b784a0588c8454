"""An order the simulated broker holds: what it was sent, and how far it has filled.

A module of its own so that the compiled broker (core.py) can read its fields through their
slots (simulators/broker/structs.pxd): Cython imports a class declared that way when the module
that reads it starts, so the class cannot live in that module.
"""

from __future__ import annotations

import msgspec

from .interface import NewOrder


class HeldOrder(msgspec.Struct, gc=False):
    """One per order of the day, all alive until the close: numbers, strings and the (gc=False)
    order, never a cycle, so gc=False keeps them out of the cyclic collector's full scans (as
    tracked objects a day's orders made those take tens of ms). A msgspec struct rather than a
    compiled class: Cython's classes cannot opt out of the collector from a .pxd."""

    new: NewOrder
    broker_id: str
    seq: int
    cum_qty: int = 0
    cum_notional: int = 0
    commission_paid: int = 0
    status: str = "new"

    @property
    def leaves(self) -> int:
        return self.new.qty - self.cum_qty
