# The C layout of the msgspec structs that core's compiled order path reads (docs/compiled.md).
#
# A msgspec struct keeps each field in a slot at a fixed offset, as a class with __slots__ does:
# CPython lays out each class's slots in the order of their names, after its bases'. Reading
# `command.price` on an untyped object is the generic attribute lookup (about 90 instructions:
# the type's method cache, the member descriptor, its getter); declared here as an extern class,
# a typed local reads the slot itself. Cython checks on import that each class is exactly the
# size declared (check_size error); core/structs.pyx `verify()`, run when `core` is imported,
# checks each slot's offset by name against the class's own member descriptors. A field added,
# renamed or removed in core/commands.py, core/events.py or core/orders.py must be made here too.
#
# The modules cimport these under a name of their own (`PlaceOrder as PlaceOrderSlots`): their
# Python source imports the class itself under its name.

cdef extern from *:
    """
    #ifndef BEACON_SLOTS_MATCH
    #define BEACON_SLOTS_MATCH
    #include <structmember.h>  /* PyMemberDef, the member descriptor's field (Python 3.11) */
    /* A struct's slots as its layout here has them, for the check on import (the structs.pyx). */
    typedef struct { const char *name; Py_ssize_t offset; } BeaconSlotAt;
    #define BEACON_SLOT_AT(type, name) {#name, offsetof(type, name)},

    /* 0 when each slot of the list is the class's member of that name at that offset and the list
       covers the class's size; otherwise -1 with a ValueError naming the class and the slot. */
    static inline int beacon_slots_match(PyObject *cls, const BeaconSlotAt *slots) {
        if (!PyType_Check(cls)) {
            PyErr_Format(PyExc_TypeError, "%R is not a class", cls);
            return -1;
        }
        Py_ssize_t count = 0;
        for (; slots->name != NULL; slots++, count++) {
            PyObject *descr = PyObject_GetAttrString(cls, slots->name);
            if (descr == NULL) {
                PyErr_Clear();
                PyErr_Format(PyExc_ValueError, "%R has no field %s: update its layout in the .pxd", cls, slots->name);
                return -1;
            }
            int same = Py_IS_TYPE(descr, &PyMemberDescr_Type)
                && ((PyMemberDescrObject *)descr)->d_member->offset == slots->offset;
            Py_DECREF(descr);
            if (!same) {
                PyErr_Format(PyExc_ValueError, "%R keeps %s elsewhere than its layout in the .pxd says",
                             cls, slots->name);
                return -1;
            }
        }
        if ((Py_ssize_t)sizeof(PyObject) + count * (Py_ssize_t)sizeof(PyObject *) != ((PyTypeObject *)cls)->tp_basicsize) {
            PyErr_Format(PyExc_ValueError, "%R has a field its layout in the .pxd leaves out", cls);
            return -1;
        }
        return 0;
    }
    #endif
    #ifndef BEACON_SLOT
    #define BEACON_SLOT(type, name) PyObject *name;
    #endif

    /* Each struct's slots in layout order, as an X-macro list: X(struct type, slot name). */
    #define BEACON_PLACE_ORDER(X) X(BeaconPlaceOrder, account) X(BeaconPlaceOrder, client_order_id) \
        X(BeaconPlaceOrder, instrument) X(BeaconPlaceOrder, liquidation) X(BeaconPlaceOrder, price) \
        X(BeaconPlaceOrder, qty) X(BeaconPlaceOrder, side) X(BeaconPlaceOrder, ts)
    #define BEACON_BROKER_ACK(X) X(BeaconBrokerAck, broker_order_id) X(BeaconBrokerAck, order) X(BeaconBrokerAck, ts)
    #define BEACON_OUTCOME(X) X(BeaconOutcome, cancels) X(BeaconOutcome, changes) X(BeaconOutcome, detail) \
        X(BeaconOutcome, orders) X(BeaconOutcome, result) X(BeaconOutcome, waterfall)
    /* events: the base Event's seq first */
    #define BEACON_ORDER_ACCEPTED(X) X(BeaconOrderAccepted, seq) X(BeaconOrderAccepted, account) \
        X(BeaconOrderAccepted, client_order_id) X(BeaconOrderAccepted, instrument) \
        X(BeaconOrderAccepted, liquidation) X(BeaconOrderAccepted, order) X(BeaconOrderAccepted, price) \
        X(BeaconOrderAccepted, qty) X(BeaconOrderAccepted, reserved) X(BeaconOrderAccepted, side)
    #define BEACON_ORDER_ACKNOWLEDGED(X) X(BeaconOrderAcknowledged, seq) X(BeaconOrderAcknowledged, account) \
        X(BeaconOrderAcknowledged, broker_order_id) X(BeaconOrderAcknowledged, order)
    #define BEACON_ORDER_RECORD(X) X(BeaconOrderRecord, account) X(BeaconOrderRecord, broker_order_id) \
        X(BeaconOrderRecord, client_order_id) X(BeaconOrderRecord, filled) X(BeaconOrderRecord, instrument) \
        X(BeaconOrderRecord, liquidation) X(BeaconOrderRecord, order) X(BeaconOrderRecord, price) \
        X(BeaconOrderRecord, qty) X(BeaconOrderRecord, reason) X(BeaconOrderRecord, side) \
        X(BeaconOrderRecord, state) X(BeaconOrderRecord, ts)

    typedef struct { PyObject_HEAD BEACON_PLACE_ORDER(BEACON_SLOT) } BeaconPlaceOrder;
    typedef struct { PyObject_HEAD BEACON_BROKER_ACK(BEACON_SLOT) } BeaconBrokerAck;
    typedef struct { PyObject_HEAD BEACON_OUTCOME(BEACON_SLOT) } BeaconOutcome;
    typedef struct { PyObject_HEAD BEACON_ORDER_ACCEPTED(BEACON_SLOT) } BeaconOrderAccepted;
    typedef struct { PyObject_HEAD BEACON_ORDER_ACKNOWLEDGED(BEACON_SLOT) } BeaconOrderAcknowledged;
    typedef struct { PyObject_HEAD BEACON_ORDER_RECORD(BEACON_SLOT) } BeaconOrderRecord;
    """
    ctypedef struct BeaconSlotAt:
        pass
    int beacon_slots_match(object cls, const BeaconSlotAt* slots) except -1

    ctypedef class core.commands.PlaceOrder [object BeaconPlaceOrder, check_size error]:
        cdef object account, client_order_id, instrument, liquidation, price, qty, side, ts

    ctypedef class core.commands.BrokerAck [object BeaconBrokerAck, check_size error]:
        cdef object broker_order_id, order, ts

    ctypedef class core.commands.Outcome [object BeaconOutcome, check_size error]:
        cdef object cancels, changes, detail, orders, result, waterfall

    ctypedef class core.events.OrderAccepted [object BeaconOrderAccepted, check_size error]:
        cdef object seq, account, client_order_id, instrument, liquidation, order, price, qty, reserved, side

    ctypedef class core.events.OrderAcknowledged [object BeaconOrderAcknowledged, check_size error]:
        cdef object seq, account, broker_order_id, order

    ctypedef class core.orders.OrderRecord [object BeaconOrderRecord, check_size error]:
        cdef object account, broker_order_id, client_order_id, filled, instrument, liquidation, order, price
        cdef object qty, reason, side, state, ts
