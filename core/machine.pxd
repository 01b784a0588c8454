# Types for machine.py, which Cython compiles as typed code (an "augmenting" .pxd): the Python source
# stays the one text of the machine, and runs uncompiled where no build exists.
# machine.py sets annotation_typing=False: its annotations are for readers and checkers, the types are these.
# Only what every order touches is typed; the rest of the machine's state lives in its __dict__.

cimport cython

from core.orders cimport OrderRegistry
from core.structs cimport BrokerAck as BrokerAckSlots, OrderRecord as OrderRecordSlots, Outcome as OutcomeSlots
from core.structs cimport PlaceOrder as PlaceOrderSlots


cdef class Machine:
    cdef dict __dict__
    cdef public object engine, config, liquidator
    cdef public OrderRegistry registry
    cdef public dict _instrument_ids, handlers
    cdef public list codes, account_clients, trade_cash, fees_paid

    cpdef execute(self, command)
    cpdef _place(self, PlaceOrderSlots command)
    @cython.locals(record=OrderRecordSlots)
    cpdef _broker_ack(self, BrokerAckSlots command)
    @cython.locals(ack=BrokerAckSlots, record=OrderRecordSlots)
    cpdef list events(self, command, OutcomeSlots outcome, long long seq=*)
    cpdef _accepted(self, PlaceOrderSlots command, long long order, long long seq)
