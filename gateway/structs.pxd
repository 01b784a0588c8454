# The C layout of the websocket API's msgspec structs that the compiled session and gateway read
# on every order: a typed local reads a field from its slot, not through the generic attribute
# lookup. As core/structs.pxd explains (the rule, and why); gateway/structs.pyx `verify()`, run
# when `gateway` is imported, checks each slot by name. A field added, renamed or removed in
# gateway/protocol.py's Request or NewOrder must be made here too.

cdef extern from *:
    """
    #ifndef BEACON_SLOT
    #define BEACON_SLOT(type, name) PyObject *name;
    #endif
    /* Each struct's slots in layout order: the base Request's req_id, then the class's own by name. */
    #define BEACON_REQUEST(X) X(BeaconRequest, req_id)
    #define BEACON_NEW_ORDER(X) X(BeaconNewOrder, req_id) X(BeaconNewOrder, account) \
        X(BeaconNewOrder, client_order_id) X(BeaconNewOrder, instrument) X(BeaconNewOrder, order_type) \
        X(BeaconNewOrder, price) X(BeaconNewOrder, qty) X(BeaconNewOrder, side)

    typedef struct { PyObject_HEAD BEACON_REQUEST(BEACON_SLOT) } BeaconRequest;
    typedef struct { PyObject_HEAD BEACON_NEW_ORDER(BEACON_SLOT) } BeaconNewOrder;
    """

    # (every request is a Request: a local typed so reads req_id from any of them)
    ctypedef class gateway.protocol.Request [object BeaconRequest, check_size error]:
        cdef object req_id

    ctypedef class gateway.protocol.NewOrder [object BeaconNewOrder, check_size error]:
        cdef object req_id, account, client_order_id, instrument, order_type, price, qty, side
