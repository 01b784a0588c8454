# The C layout of the broker interface's msgspec structs (and the broker's held order) that the
# compiled simulated broker and gateway read: a typed local reads a field from its slot, not through the generic attribute
# lookup. As core/structs.pxd explains (the rule, and why); simulators/broker/structs.pyx
# `verify()`, run when simulators.broker is imported, checks each slot by name. A field added,
# renamed or removed in simulators/broker/interface.py or holding.py must be made here too.

cdef extern from *:
    """
    #ifndef BEACON_SLOT
    #define BEACON_SLOT(type, name) PyObject *name;
    #endif
    /* Each struct's slots in layout order (CPython sorts each class's slots by name). */
    #define BEACON_BROKER_NEW_ORDER(X) X(BeaconBrokerNewOrder, account) X(BeaconBrokerNewOrder, cl_ord_id) \
        X(BeaconBrokerNewOrder, instrument) X(BeaconBrokerNewOrder, market_like) X(BeaconBrokerNewOrder, price) \
        X(BeaconBrokerNewOrder, qty) X(BeaconBrokerNewOrder, side)
    #define BEACON_EXECUTION_REPORT(X) X(BeaconExecutionReport, account) X(BeaconExecutionReport, avg_px) \
        X(BeaconExecutionReport, broker_order_id) X(BeaconExecutionReport, cl_ord_id) \
        X(BeaconExecutionReport, commission) X(BeaconExecutionReport, cum_notional) \
        X(BeaconExecutionReport, cum_qty) X(BeaconExecutionReport, exec_id) X(BeaconExecutionReport, exec_type) \
        X(BeaconExecutionReport, instrument) X(BeaconExecutionReport, last_px) X(BeaconExecutionReport, last_qty) \
        X(BeaconExecutionReport, leaves_qty) X(BeaconExecutionReport, price) X(BeaconExecutionReport, qty) \
        X(BeaconExecutionReport, reason) X(BeaconExecutionReport, side) X(BeaconExecutionReport, stamp_duty) \
        X(BeaconExecutionReport, status) X(BeaconExecutionReport, transfer_fee) X(BeaconExecutionReport, ts)

    #define BEACON_HELD_ORDER(X) X(BeaconHeldOrder, broker_id) X(BeaconHeldOrder, commission_paid) \
        X(BeaconHeldOrder, cum_notional) X(BeaconHeldOrder, cum_qty) X(BeaconHeldOrder, new) \
        X(BeaconHeldOrder, seq) X(BeaconHeldOrder, status)

    typedef struct { PyObject_HEAD BEACON_BROKER_NEW_ORDER(BEACON_SLOT) } BeaconBrokerNewOrder;
    typedef struct { PyObject_HEAD BEACON_EXECUTION_REPORT(BEACON_SLOT) } BeaconExecutionReport;
    typedef struct { PyObject_HEAD BEACON_HELD_ORDER(BEACON_SLOT) } BeaconHeldOrder;
    """

    ctypedef class simulators.broker.interface.NewOrder [object BeaconBrokerNewOrder, check_size error]:
        cdef object account, cl_ord_id, instrument, market_like, price, qty, side

    ctypedef class simulators.broker.interface.ExecutionReport [object BeaconExecutionReport, check_size error]:
        cdef object account, avg_px, broker_order_id, cl_ord_id, commission, cum_notional, cum_qty, exec_id
        cdef object exec_type, instrument, last_px, last_qty, leaves_qty, price, qty, reason, side, stamp_duty
        cdef object status, transfer_fee, ts

    # the order the simulated broker holds (simulators/broker/holding.py), read by its core
    ctypedef class simulators.broker.holding.HeldOrder [object BeaconHeldOrder, check_size error]:
        cdef object broker_id, commission_paid, cum_notional, cum_qty, new, seq, status
