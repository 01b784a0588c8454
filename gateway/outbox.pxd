# Types for outbox.py, which Cython compiles as typed code (an "augmenting" .pxd; the .py stays the one source).

cdef class Outbox:
    cdef public list sessions
    cdef public bint _scheduled, _held
    cdef public object _loop

    cpdef hold(self)
    cpdef add(self, session)
    cpdef flush(self)
