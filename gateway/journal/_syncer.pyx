# cython: language_level=3
"""The interval policy's fsyncs, on a thread that never holds the GIL.

Under `interval` the loop writes each batch itself and a thread of its own fsyncs what has
been written, every `interval_ms`. Written in Python, that thread takes the GIL back after
every sleep and every fsync. Each time, it asks the loop thread to give the GIL up: on a busy
loop that is a forced switch after the interpreter's switch interval (5 ms), and in any case
two context switches on the loop's CPU (the gateway shares its core with nothing else, so the
fsync thread runs there). Measured end to end, the fsync thread was the largest part of the
gateway's p99 at 10,000 orders/s (docs/benchmarks.md).

Here the whole loop runs without the GIL: sleep, read how far the journal has been written,
fsync, record what is durable. It touches only C fields of the FileJournal (its fd and its
written, durable and last-sync marks), which the loop thread writes and this thread reads:
aligned 64-bit loads and stores, and every read follows a call into the C library, so the
compiler does not keep a stale copy in a register. The GIL is taken only to report a failed
fsync, and when the thread ends.

The pure-Python loop (GroupCommitter._interval_sync) is kept for a tree without this module.
"""

import logging

from libc.errno cimport errno
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, nanosleep, timespec
from posix.unistd cimport fsync

from gateway.journal.file cimport FileJournal

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
