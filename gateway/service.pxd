# Types for service.py, which Cython compiles as typed code (an "augmenting" .pxd): the Python source
# stays the one text of the gateway, and runs uncompiled where no build exists.
# service.py sets annotation_typing=False: its annotations are for readers and checkers, the types are these.
# Only what every order touches is typed; the rest of the gateway's state lives in its __dict__.

cimport cython

from core.machine cimport Machine
from core.orders cimport remaining_of
from core.structs cimport OrderAccepted as OrderAcceptedSlots, OrderAcknowledged as OrderAcknowledgedSlots
from core.structs cimport OrderRecord as OrderRecordSlots, Outcome as OutcomeSlots, PlaceOrder as PlaceOrderSlots
from gateway.journal.committer cimport GroupCommitter
from gateway.metrics cimport Metrics
from gateway.outbox cimport Outbox
from gateway.structs cimport NewOrder as NewOrderSlots
from simulators.broker.structs cimport ExecutionReport as ExecutionReportSlots


cdef class _Answer  # (below: it holds the gateway)


cdef class Gateway:
    cdef dict __dict__
    cdef public Machine machine
    cdef public Metrics metrics
    cdef public object config, journaled, broker, clock, order_trace, busy_poll
    cdef public GroupCommitter committer
    cdef public Outbox outbox
    cdef public object market_subs, account_subs, order_subs, alert_subs  # defaultdicts
    cdef public dict answers, last_tick, clients, alert_counts
    cdef public list _to_broker
    cdef public set sessions
    cdef public bint _broker_keeps_our_clock, started
    cdef public long long _next_clock_ns

    cpdef tuple submit(self, command, on_safe=*)
    cpdef long long now(self)
    @cython.locals(answer=_Answer)
    cpdef place_order(self, session, NewOrderSlots request, double received)
    cpdef _route(self, long long order, PlaceOrderSlots command, bint market_like)
    cpdef _for_broker(self, long long order, broker_order)
    cpdef _after_release(self)
    cpdef _send_to_broker(self)
    @cython.locals(report=ExecutionReportSlots)
    cpdef on_broker_message(self, message)
    @cython.locals(accepted=OrderAcceptedSlots, record=OrderRecordSlots)
    cpdef publish(self, list events)
    @cython.locals(acknowledged=OrderAcknowledgedSlots, record=OrderRecordSlots)
    cpdef _order_update(self, event)
    cpdef _to_order_watchers(self, long long account, message, answer)


cdef class _Answer:
    cdef public Gateway gateway
    cdef public object session, command  # (a PlaceOrder, or a RefuseOrder when the broker is down)
    cdef public OutcomeSlots outcome
    cdef public list events
    cdef public bint market_like
    cdef public double received
