# cython: annotation_typing=False
"""The embedded file journal: append, group commit, and the fsync policies.

    every-batch (default)  each batch is written and fsync'd before anything in it is
                           acknowledged: an acknowledged command survives a process crash
                           and a machine crash or power loss.
    interval               each batch is written (to the OS) before it is acknowledged, and
                           fsync'd at most every `interval_ms`: survives a process crash
                           (kill -9: the kernel keeps the written pages); a machine crash or
                           power loss can lose what was acknowledged in the last interval.
    none                   written, never fsync'd (benchmarks, simulations): survives a
                           process crash; a machine crash can lose anything not yet flushed
                           by the OS.

The journal is single-writer: one process owns a file, enforced with an exclusive
lock (flock) held while it is open.

Space is allocated ahead of the records, `PREALLOCATE` bytes at a time (posix_fallocate): an
fsync after a write into space the file already has costs this VM about 100 µs and 38 µs of
CPU, against 172 µs and 71 µs after an append that grows the file (docs/journal.md). While a
journal is open its file ends in zeros after the last record; readers stop there (format.py),
and closing truncates them.
"""

from __future__ import annotations

import enum
import fcntl
import os
import time

from core.commands import ENCODER, SCHEMA_VERSION

from .errors import JournalError
from .format import (
    GENESIS_CHAIN, HEADER_SIZE, append_entry, append_record, file_header, file_identity, scan, write_all,
)

PREALLOCATE = 16 * 1024 * 1024  # bytes of file allocated ahead of the records at a time
_ENCODE_INTO = ENCODER.encode_into  # the journal's msgpack encoder (core.commands), writing into a buffer


class FsyncPolicy(str, enum.Enum):
    EVERY_BATCH = "every-batch"
    INTERVAL = "interval"
    NONE = "none"


class FileJournal:
    """Append-only journal file. `append` frames a record in memory and assigns its seq;
    `commit` writes everything appended and makes it durable according to the policy."""

    def __init__(self, path: str, fsync: FsyncPolicy | str = FsyncPolicy.EVERY_BATCH, interval_ms: int = 5,
                 truncate_torn_tail: bool = True, read=None):
        """`read`, if given, is the caller's verified reading of this file (a recovery's
        ReplayResult or Recovered: last_seq, chain, end, torn_bytes, identity); when the file is
        still the one it read, the journal continues from it instead of scanning the file again."""
        self.path = str(path)
        self.policy = FsyncPolicy(fsync)
        self.interval_s = interval_ms / 1000
        self._pending = bytearray()
        self._last_sync = time.monotonic()
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:  # the lock first: what is read below cannot change under it
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise JournalError(f"{self.path}: another process has this journal open for writing") from None
        st = os.fstat(self.fd)
        exists = st.st_size > 0
        self.torn_bytes = 0
        if exists:
            if read is None or tuple(read.identity) != file_identity(st):
                read = scan(self.path, SCHEMA_VERSION)
            self.seq, self.chain, end, self.torn_bytes = read.last_seq, read.chain, read.end, read.torn_bytes
            last_offset = read.last_offset
            if self.torn_bytes and not truncate_torn_tail:
                os.close(self.fd)
                raise JournalError(f"{self.path}: {self.torn_bytes} bytes of a torn record after seq {self.seq}")
        else:
            self.seq, self.chain, end, last_offset = 0, GENESIS_CHAIN, HEADER_SIZE, 0
        if not exists:
            os.write(self.fd, file_header(SCHEMA_VERSION))
            os.fsync(self.fd)
            self._sync_directory()
        elif self.torn_bytes:
            os.ftruncate(self.fd, end)  # drop the torn tail left by a crash
            os.fsync(self.fd)
        os.lseek(self.fd, end, os.SEEK_SET)
        self.end = end  # the file offset after the last record handed out for writing
        # where record `seq` starts (a snapshot at seq records it, so recovery can read from there);
        # opening takes it from the reading of the file (0: no record)
        self.last_offset = last_offset
        self.allocated = os.fstat(self.fd).st_size  # what the file has room for (zeros after `end`)
        self.preallocate = PREALLOCATE  # 0: append without allocating ahead
        self.written_seq = self.seq  # handed to the OS
        self.durable_seq = self.seq  # fsync'd

    def _sync_directory(self) -> None:
        dfd = os.open(os.path.dirname(os.path.abspath(self.path)), os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def append(self, payload: bytes) -> int:
        """Frame a record after the last one; its seq. Not yet written: see commit()."""
        seq = self.seq + 1
        self.last_offset = self.end + len(self._pending)
        self.chain = append_record(self._pending, seq, self.chain, payload)
        self.seq = seq
        return seq

    def append_entry(self, command, outcome) -> int:
        """append(encode_entry(command, outcome)), with the entry encoded straight into the pending
        bytes (format.append_entry): the order path's way."""
        seq = self.seq + 1
        self.last_offset = self.end + len(self._pending)
        self.chain = append_entry(self._pending, seq, self.chain, _ENCODE_INTO, command, outcome)
        self.seq = seq
        return seq

    def take_batch(self) -> tuple[bytes, int]:
        """The bytes appended since the last batch, and the seq they end at (for a writer thread).
        They are written at `end`, in the order taken; room for them is allocated here."""
        return bytes(self._take_pending()), self.seq

    def write_pending(self) -> bool:
        """take_batch and write_batch(sync=False) in one, on the loop's thread (the interval and none
        policies): the pending bytes are written as they are, without the copy a batch handed to
        another thread needs. False when nothing was pending."""
        pending = self._take_pending()
        if not pending:
            return False
        write_all(self.fd, pending)
        self.written_seq = self.seq
        return True

    def _take_pending(self) -> bytearray:
        """The bytes appended since the last batch, taken; room for them at `end` is allocated here."""
        pending, self._pending = self._pending, bytearray()
        if pending:
            self._reserve(len(pending))
            self.end += len(pending)
        return pending

    def _reserve(self, size: int) -> None:
        """Make sure the file has room for `size` more bytes after `end`."""
        if self.end + size <= self.allocated or not self.preallocate:
            return
        grow = max(self.preallocate, self.end + size - self.allocated)
        try:
            os.posix_fallocate(self.fd, self.allocated, grow)
        except OSError:  # a filesystem without fallocate, or no space: plain appends (which report ENOSPC)
            self.preallocate = 0
            return
        self.allocated += grow

    def write_batch(self, batch: bytes, last_seq: int, sync: bool = True) -> int:
        """Write a batch (may run in a worker thread) and fsync it as the policy says; the seq
        that is now safe to acknowledge under the policy. With sync=False the interval policy's
        fsync is left to the caller's timer (it must not block the caller)."""
        write_all(self.fd, batch)
        self.written_seq = last_seq
        if self.policy is FsyncPolicy.EVERY_BATCH:
            os.fsync(self.fd)
            self.durable_seq = last_seq
        elif sync and self.policy is FsyncPolicy.INTERVAL and time.monotonic() - self._last_sync >= self.interval_s:
            self.sync()
        return last_seq

    def drop_unwritten(self) -> int:
        """Forget what was appended and not yet taken for writing; the number of bytes. After a
        failed write nothing may follow it into the file: the records after it would not chain
        to what the file holds, and recovery would stop at the gap."""
        dropped = len(self._pending)
        self._pending = bytearray()
        return dropped

    def commit(self) -> int:
        """Write everything appended and apply the fsync policy; the acknowledgeable seq."""
        batch, last = self.take_batch()
        if batch:
            self.write_batch(batch, last)
        return last

    def sync(self) -> None:
        """fsync now, whatever the policy. May run on another thread than the writes: only what was
        written before the fsync began is called durable."""
        written = self.written_seq
        os.fsync(self.fd)
        self._last_sync = time.monotonic()
        self.durable_seq = max(self.durable_seq, written)

    # -- reading (JournalReader); recovery uses the faster replay_file on the same file
    def records(self, after_seq: int = 0):
        """(seq, payload) of every whole, verified record after after_seq that has been written."""
        from .format import iter_records

        return [(r.seq, r.payload) for r in iter_records(self.path, SCHEMA_VERSION) if r.seq > after_seq]

    def chain_at(self, seq: int) -> bytes:
        return scan(self.path, SCHEMA_VERSION, stop_after=seq, chain_at=(seq,)).chains[seq]

    def close(self) -> None:
        if self.fd >= 0:
            self.commit()
            if self.allocated > self.end:
                os.ftruncate(self.fd, self.end)  # a closed journal ends at its last record
                self.allocated = self.end
            if self.policy is not FsyncPolicy.NONE:
                self.sync()
            os.close(self.fd)  # releases the lock
            self.fd = -1

    def __enter__(self) -> "FileJournal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
