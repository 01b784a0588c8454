# Types for journaled.py, compiled by Cython as typed code (an augmenting .pxd; the .py stays the one source).
# journaled.py sets annotation_typing=False: its annotations are for readers and checkers, the types are these.

from gateway.journal.file cimport FileJournal


cdef class Journaled:
    cdef public object machine, directory, recovered
    cdef public FileJournal journal
    cdef public long long snapshot_every, _since_snapshot

    cpdef tuple submit(self, command)
    cpdef tuple submit_events(self, command)
