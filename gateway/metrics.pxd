# Types for metrics.py, which Cython compiles as typed code (an "augmenting" .pxd; the .py stays the one source).
# metrics.py sets annotation_typing=False: its annotations are for readers and checkers, the types are these.
# Only the counters every order bumps are compiled classes (the acknowledgement's latency histogram among
# them: its observe() was interpreted Python on every order); the rest is prometheus_client's. Metrics
# types the fields that hold them, so the gateway reaches a counter without an attribute lookup.

cimport cython


cdef class Tally:
    cdef public long long value

    cpdef inc(self, long long amount=*)


cdef class LatencyHistogram:
    cdef public list bounds, counts
    cdef public double sum

    @cython.locals(bounds=list, i=Py_ssize_t, n=Py_ssize_t, edge=double)
    cpdef observe(self, double seconds)


cdef class Metrics:
    cdef dict __dict__  # prometheus_client's metrics, the registry, the gateway
    cdef public Tally order_accepted, order_rejected, fills, ticks, messages_in
    cdef public LatencyHistogram order_latency
    cdef public dict _reports

    cpdef broker_report(self, str exec_type)
