# cython: language_level=3
"""The check that core/structs.pxd describes the structs as they are: run when `core` is imported.

Cython's import of each declared class already refuses one of another size. This checks each
slot by name: the offset the compiled modules read it at against the offset of the class's own
member descriptor for that field, so a field renamed or moved fails here, loudly, instead of
being read from its neighbour's slot.
"""

cdef extern from *:
    """
    static const BeaconSlotAt beacon_place_order_slots[] = {BEACON_PLACE_ORDER(BEACON_SLOT_AT) {NULL, 0}};
    static const BeaconSlotAt beacon_broker_ack_slots[] = {BEACON_BROKER_ACK(BEACON_SLOT_AT) {NULL, 0}};
    static const BeaconSlotAt beacon_outcome_slots[] = {BEACON_OUTCOME(BEACON_SLOT_AT) {NULL, 0}};
    static const BeaconSlotAt beacon_order_accepted_slots[] = {BEACON_ORDER_ACCEPTED(BEACON_SLOT_AT) {NULL, 0}};
    static const BeaconSlotAt beacon_order_acknowledged_slots[] = {BEACON_ORDER_ACKNOWLEDGED(BEACON_SLOT_AT) {NULL, 0}};
    static const BeaconSlotAt beacon_order_record_slots[] = {BEACON_ORDER_RECORD(BEACON_SLOT_AT) {NULL, 0}};
    """
    const BeaconSlotAt* beacon_place_order_slots
    const BeaconSlotAt* beacon_broker_ack_slots
    const BeaconSlotAt* beacon_outcome_slots
    const BeaconSlotAt* beacon_order_accepted_slots
    const BeaconSlotAt* beacon_order_acknowledged_slots
    const BeaconSlotAt* beacon_order_record_slots


def verify(classes=None):
    """Raise ValueError if a struct's slots are not where core/structs.pxd declares them.

    classes: {layout name: class} to check against those layouts instead of core's own classes."""
    if classes is None:
        from core import commands, events, orders

        classes = {"PlaceOrder": commands.PlaceOrder, "BrokerAck": commands.BrokerAck, "Outcome": commands.Outcome,
                   "OrderAccepted": events.OrderAccepted, "OrderAcknowledged": events.OrderAcknowledged,
                   "OrderRecord": orders.OrderRecord}
    for name, cls in classes.items():
        beacon_slots_match(cls, _slots_of(name))


cdef const BeaconSlotAt* _slots_of(str name) except NULL:
    if name == "PlaceOrder":
        return beacon_place_order_slots
    if name == "BrokerAck":
        return beacon_broker_ack_slots
    if name == "Outcome":
        return beacon_outcome_slots
    if name == "OrderAccepted":
        return beacon_order_accepted_slots
    if name == "OrderAcknowledged":
        return beacon_order_acknowledged_slots
    if name == "OrderRecord":
        return beacon_order_record_slots
    raise KeyError(f"no layout named {name!r} in core/structs.pxd")
