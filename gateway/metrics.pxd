# Types for metrics.py, which Cython compiles as typed code (an "augmenting" .pxd; the .py stays the one source).
# metrics.py sets annotation_typing=False: its annotations are for readers and checkers, the types are these.
# Only the counters every order bumps are compiled classes (the acknowledgement's latency histogram among
# them: its observe() was interpreted Python on every order); the rest is prometheus_client's.

cdef class Tally:
    cdef public long long value

    cpdef inc(self, long long amount=*)


cdef class LatencyHistogram:
    cdef public list bounds, counts
    cdef public double sum

    cpdef observe(self, double seconds)
