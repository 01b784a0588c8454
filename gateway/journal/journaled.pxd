# Types for journaled.py, compiled by Cython as typed code (an augmenting .pxd; the .py stays the one source).

from gateway.journal.file cimport FileJournal


cdef class Journaled:
    cdef public object machine, directory, recovered
    cdef public FileJournal journal
    cdef public long long snapshot_every, _since_snapshot

    cpdef tuple submit(self, command)
    cpdef tuple submit_events(self, command)
