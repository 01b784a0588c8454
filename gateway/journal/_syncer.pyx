# cython: language_level=3
"""The journal's disk threads, which never hold the GIL: the interval policy's fsyncs
(IntervalSyncer) and every-batch's writes and fsyncs (BatchWriter, below).

Under `interval` the loop writes each batch itself and a thread of its own fsyncs what has
been written, every `interval_ms`. Written in Python, that thread takes the GIL back after
every sleep and every fsync. Each time, it asks the loop thread to give the GIL up: on a busy
loop that is a forced switch after the interpreter's switch interval (5 ms), and in any case
two context switches on the loop's CPU (the gateway shares its core with nothing else, so the
fsync thread runs there). Measured at 10,000 orders/s, that made 0.12 involuntary context
switches of the server per order, against 0.07-0.08 for this loop at the same priority
(docs/benchmarks.md).

Here the whole loop runs without the GIL: sleep, read how far the journal has been written,
fsync, record what is durable. It touches only C fields of the FileJournal (its fd and its
written, durable and last-sync marks), which the loop thread writes and this thread reads:
aligned 64-bit loads and stores, and every read follows a call into the C library, so the
compiler does not keep a stale copy in a register. The GIL is taken only to report a failed
fsync, and when the thread ends.

The pure-Python loop (GroupCommitter._interval_sync) is kept for a tree without this module.
"""

import logging

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.errno cimport EAGAIN, EINTR, errno
from libc.stdint cimport uint64_t
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, nanosleep, timespec
from posix.unistd cimport close, fsync, read, write

from gateway.journal.file cimport FileJournal

cdef extern from "<sys/eventfd.h>" nogil:
    int eventfd(unsigned int initval, int flags)
    int EFD_CLOEXEC
    int EFD_NONBLOCK

log = logging.getLogger("beacon.journal")


cdef double _monotonic() noexcept nogil:
    cdef timespec now
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now.tv_sec + now.tv_nsec * 1e-9


cdef class IntervalSyncer:
    """`run` is a thread's target: fsync the journal every interval until `stop`."""

    cdef FileJournal journal
    cdef timespec period
    cdef int _stopping
    cdef public long long syncs, failures

    def __init__(self, FileJournal journal):
        cdef long long ns = <long long>(journal.interval_s * 1e9)
        if ns < 1_000_000:
            ns = 1_000_000  # at most a thousand fsyncs a second, whatever the setting
        self.journal = journal
        self.period.tv_sec = ns // 1_000_000_000
        self.period.tv_nsec = ns % 1_000_000_000
        self._stopping = 0
        self.syncs = self.failures = 0

    def run(self) -> None:
        cdef FileJournal journal = self.journal
        cdef long long written
        cdef int failed_errno = 0
        while True:
            with nogil:
                while not self._stopping:
                    nanosleep(&self.period, NULL)
                    if self._stopping:
                        break
                    written = journal.written_seq  # read before the fsync: only that much is durable after it
                    if written <= journal.durable_seq:
                        continue
                    if fsync(journal.fd) != 0:
                        failed_errno = errno
                        self.failures += 1
                        break  # report it with the GIL, then go on
                    journal._last_sync = _monotonic()
                    if written > journal.durable_seq:
                        journal.durable_seq = written
                    self.syncs += 1
            if failed_errno:
                log.error("interval fsync failed: errno %d", failed_errno)
                failed_errno = 0
                continue
            return

    def stop(self) -> None:
        """Ends `run` within one interval (join the thread after this)."""
        self._stopping = 1


cdef int _signal(int fd) noexcept nogil:
    cdef uint64_t one = 1
    while write(fd, &one, 8) < 0:
        if errno != EINTR:
            return -1
    return 0


cdef class BatchWriter:
    """every-batch: one batch at a time written and fsync'd on a thread that never holds the GIL.

    The loop hands a batch over with `submit` (its bytes are kept alive here until written) and
    learns that it is safe when `done_fd`, an eventfd the loop watches, becomes readable; then
    `take_done` gives the seq that may now be acknowledged. Meanwhile the loop gathers the next
    batch. A Python executor thread did the same with the GIL in between: measured in the
    closed loop, 6.3 involuntary context switches of the loop and 11.7 waits of the writer per
    order, and about 150 µs more of the loop's CPU per order than under `interval`
    (docs/benchmarks.md). Here neither thread waits for the other except through the eventfds.
    """

    cdef FileJournal journal
    cdef readonly int submit_fd, done_fd
    cdef object _batch  # the bytes being written: referenced until the loop takes the result
    cdef const char* _data
    cdef Py_ssize_t _size
    cdef long long _last
    cdef int _errno, _stopping, _pending
    cdef public long long batches

    def __init__(self, FileJournal journal):
        self.journal = journal
        self.submit_fd = eventfd(0, EFD_CLOEXEC)
        self.done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)
        if self.submit_fd < 0 or self.done_fd < 0:
            raise OSError(errno, "eventfd")
        self._batch = None
        self._errno = self._stopping = self._pending = 0
        self.batches = 0

    @property
    def busy(self) -> bool:
        """A batch has been handed over and its result not yet taken."""
        return self._batch is not None

    def submit(self, bytes batch, long long last) -> None:
        """Hand a batch to the thread (the loop; one at a time: take_done before the next)."""
        if self._batch is not None:
            raise RuntimeError("a batch is already being written")
        self._batch = batch
        self._data = PyBytes_AS_STRING(batch)
        self._size = PyBytes_GET_SIZE(batch)
        self._last = last
        self._errno = 0
        self._pending = 1
        if _signal(self.submit_fd) != 0:  # the write to an eventfd is also the barrier the thread reads after
            self._batch = None
            raise OSError(errno, "eventfd write")

    def take_done(self):
        """The seq the finished batch made safe; None when nothing has finished (a spurious wake-up).
        A failed write or fsync raises OSError: nothing of that batch is safe."""
        cdef uint64_t count
        if read(self.done_fd, &count, 8) < 0:
            if errno == EAGAIN or errno == EINTR:
                return None
            raise OSError(errno, "eventfd read")
        self._batch = None
        if self._errno:
            raise OSError(self._errno, f"journal write or fsync failed after seq {self.journal.durable_seq}")
        self.batches += 1
        return self._last

    def run(self) -> None:
        """The thread: wait for a batch, write it all, fsync, tell the loop; until `stop`."""
        cdef FileJournal journal = self.journal
        cdef uint64_t count
        cdef const char* data
        cdef Py_ssize_t left
        cdef long n
        with nogil:
            while True:
                if read(self.submit_fd, &count, 8) < 0:
                    if errno == EINTR:
                        continue
                    self._errno = errno
                    _signal(self.done_fd)
                    break
                if self._pending:
                    data, left = self._data, self._size
                    while left > 0:
                        n = write(journal.fd, data, left)
                        if n < 0:
                            if errno == EINTR:
                                continue
                            self._errno = errno
                            break
                        data += n
                        left -= n
                    if not self._errno:
                        journal.written_seq = self._last
                        if fsync(journal.fd) != 0:
                            self._errno = errno
                        else:
                            journal.durable_seq = self._last
                            journal._last_sync = _monotonic()
                    self._pending = 0
                    _signal(self.done_fd)
                if self._stopping:
                    break

    def stop(self) -> None:
        """Ends `run` once a batch in hand is written (join the thread after this)."""
        self._stopping = 1
        _signal(self.submit_fd)

    def close(self) -> None:
        if self.submit_fd >= 0:
            close(self.submit_fd)
            close(self.done_fd)
            self.submit_fd = self.done_fd = -1
