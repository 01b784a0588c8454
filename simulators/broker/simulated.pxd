# Types for simulated.py, which Cython compiles as typed code (an "augmenting" .pxd; the .py stays the one source).
# simulated.py sets annotation_typing=False: its annotations are for readers and checkers, the types are these.
# _schedule and _release stay Python methods: the stress runner and a test wrap them on an instance,
# which the __dict__ allows (a cpdef method of a class with a __dict__ would look for such a wrapper too).

cimport cython

from simulators.broker.core cimport BrokerCore
from simulators.broker.interface cimport ReportStream


cdef class SimClock:
    cdef readonly object speed  # (readonly: _ns_per_wall_s is derived from it once)
    cdef public long long _now
    cdef public double _wall0, _ns_per_wall_s

    @cython.locals(wall=double, elapsed=cython.longlong)
    cpdef long long now(self)


cdef class SimulatedBroker:
    cdef dict __dict__
    cdef public BrokerCore core
    cdef public SimClock clock
    cdef public ReportStream stream
    cdef public object config, _pacer
    cdef public list _pending
    cdef public bint connected, _instant

    cpdef submit_nowait(self, order)
    cpdef _ensure_pacer(self)
