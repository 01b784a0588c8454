# Types for committer.py, compiled by Cython as typed code (an augmenting .pxd; the .py stays the one source).
# committer.py sets annotation_typing=False: its annotations are for readers and checkers, the types are these.

cimport cython

from gateway.journal.file cimport FileJournal
from gateway.journal.journaled cimport Journaled


cdef class GroupCommitter:
    cdef public Journaled journaled
    cdef public FileJournal journal
    cdef public object before_release, after_release, publish, _executor, _waiters, _wake, _loop
    cdef public object _syncer, _stop_syncer, _c_syncer, _c_writer, _writer_thread
    cdef public list _tasks
    cdef public bint _inline, _scheduled, _failed, _closing
    cdef public int _gathering
    cdef public long long safe_seq, batches
    cdef public long long _snapshot_pid, _snapshot_fd, _snapshot_seq, snapshots, last_snapshot_seq
    cdef public long long snapshot_failures

    cpdef tuple submit(self, command, on_safe=*, bint events=*)
    cpdef bint gather(self)
    cpdef gathered(self)
    cpdef _kick(self)
    cpdef _write_due(self, bint now)
    cpdef _write_inline(self)
    cpdef _fail(self)
    @cython.locals(journaled=Journaled)
    cpdef _release(self, long long safe)
