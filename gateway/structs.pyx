# cython: language_level=3
"""The check that gateway/structs.pxd describes the websocket API's structs as they are: run when
`gateway` is imported (as core/structs.pyx does for core's)."""

from core.structs cimport BeaconSlotAt, beacon_slots_match

cdef extern from *:
    """
    static const BeaconSlotAt beacon_request_slots[] = {BEACON_REQUEST(BEACON_SLOT_AT) {NULL, 0}};
    static const BeaconSlotAt beacon_new_order_slots[] = {BEACON_NEW_ORDER(BEACON_SLOT_AT) {NULL, 0}};
    """
    const BeaconSlotAt* beacon_request_slots
    const BeaconSlotAt* beacon_new_order_slots


def verify(classes=None):
    """Raise ValueError if a struct's slots are not where gateway/structs.pxd declares them.

    classes: {layout name: class} to check against those layouts instead of the protocol's classes."""
    if classes is None:
        from gateway import protocol

        classes = {"Request": protocol.Request, "NewOrder": protocol.NewOrder}
    for name, cls in classes.items():
        beacon_slots_match(cls, _slots_of(name))


cdef const BeaconSlotAt* _slots_of(str name) except NULL:
    if name == "Request":
        return beacon_request_slots
    if name == "NewOrder":
        return beacon_new_order_slots
    raise KeyError(f"no layout named {name!r} in gateway/structs.pxd")
