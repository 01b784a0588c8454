# Types for machine.py, which Cython compiles as typed code (an "augmenting" .pxd): the Python source
# stays the one text of the machine, and runs uncompiled where no build exists.
# machine.py sets annotation_typing=False: its annotations are for readers and checkers, the types are these.
# Only what every order touches is typed; the rest of the machine's state lives in its __dict__.

from core.orders cimport OrderRegistry


cdef class Machine:
    cdef dict __dict__
    cdef public object engine, config, liquidator
    cdef public OrderRegistry registry
    cdef public dict _instrument_ids, handlers
    cdef public list codes, account_clients, trade_cash, fees_paid

    cpdef execute(self, command)
    cpdef _place(self, command)
    cpdef _broker_ack(self, command)
    cpdef list events(self, command, outcome, long long seq=*)
