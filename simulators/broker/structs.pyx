# cython: language_level=3
"""The check that simulators/broker/structs.pxd describes the broker interface's structs (and the
broker's held order) as they are: run when `simulators.broker` is imported (as core/structs.pyx
does for core's)."""

from core.structs cimport BeaconSlotAt, beacon_slots_match

cdef extern from *:
    """
    static const BeaconSlotAt beacon_broker_new_order_slots[] = {BEACON_BROKER_NEW_ORDER(BEACON_SLOT_AT) {NULL, 0}};
    static const BeaconSlotAt beacon_execution_report_slots[] = {BEACON_EXECUTION_REPORT(BEACON_SLOT_AT) {NULL, 0}};
    static const BeaconSlotAt beacon_held_order_slots[] = {BEACON_HELD_ORDER(BEACON_SLOT_AT) {NULL, 0}};
    """
    const BeaconSlotAt* beacon_broker_new_order_slots
    const BeaconSlotAt* beacon_execution_report_slots
    const BeaconSlotAt* beacon_held_order_slots


def verify(classes=None):
    """Raise ValueError if a struct's slots are not where simulators/broker/structs.pxd declares them.

    classes: {layout name: class} to check against those layouts instead of the interface's classes."""
    if classes is None:
        from simulators.broker import holding, interface

        classes = {"NewOrder": interface.NewOrder, "ExecutionReport": interface.ExecutionReport,
                   "HeldOrder": holding.HeldOrder}
    for name, cls in classes.items():
        beacon_slots_match(cls, _slots_of(name))


cdef const BeaconSlotAt* _slots_of(str name) except NULL:
    if name == "NewOrder":
        return beacon_broker_new_order_slots
    if name == "ExecutionReport":
        return beacon_execution_report_slots
    if name == "HeldOrder":
        return beacon_held_order_slots
    raise KeyError(f"no layout named {name!r} in simulators/broker/structs.pxd")
