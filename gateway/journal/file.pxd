# Types for file.py, compiled by Cython as typed code (an augmenting .pxd; the .py stays the one source).
# file.py sets annotation_typing=False: its annotations are for readers and checkers, the types are these.

cdef class FileJournal:
    cdef public str path
    cdef public object policy, chain
    cdef public double interval_s, _last_sync
    cdef public bytearray _pending
    cdef public long long torn_bytes, seq, written_seq, durable_seq, end, allocated, preallocate, last_offset
    cdef public int fd

    cpdef long long append(self, payload)
    cpdef long long append_entry(self, command, outcome)
    cpdef tuple take_batch(self)
    cpdef bint write_pending(self) except -1
    cpdef long long drop_unwritten(self)
    cdef bytearray _take_pending(self)
    cdef _reserve(self, long long size)
