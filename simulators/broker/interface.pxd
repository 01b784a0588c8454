# Types for interface.py, which Cython compiles as typed code (an "augmenting" .pxd; the .py stays the one source).
# interface.py sets annotation_typing=False: its annotations are for readers and checkers, the types are these.

cdef class ReportStream:
    cdef public object _items, _handler, _loop, _waiter
    cdef public bint _scheduled, _held

    cpdef put(self, message)
    cpdef hold(self)
    cpdef flush(self)
    cpdef _deliver(self)
