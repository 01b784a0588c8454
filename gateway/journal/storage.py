"""The storage interface the journal needs: narrow enough for a replicated log to implement.

`FileJournal` (file.py) is the embedded implementation and the only one built. A
replicated log (Kafka, NATS JetStream) would implement the same protocol; how, is in
docs/journal.md ("A replicated log").
"""

from __future__ import annotations

from typing import Callable, Iterable, Protocol


class JournalWriter(Protocol):
    """The single writer's side. Framing (seq, chain) happens in `append`, on the caller's thread;
    `write_batch` is the only blocking call and runs on a worker thread."""

    seq: int  # last appended
    chain: bytes  # chain value after record `seq`
    written_seq: int  # handed to the storage
    durable_seq: int  # survives a machine crash

    def append(self, payload: bytes) -> int:
        """Frame one record after the last; its seq. Nothing is stored yet."""

    def take_batch(self) -> tuple[bytes, int]:
        """The framed bytes appended since the last batch, and the seq they end at."""

    def write_batch(self, batch: bytes, last_seq: int) -> int:
        """Store a batch and make it as durable as the policy says; the highest seq that may now be
        acknowledged. Blocking."""

    def sync(self) -> None:
        """Make everything written durable now."""

    def close(self) -> None:
        """Flush, sync and release the writer's exclusive hold on the log."""


class JournalReader(Protocol):
    """Reading for recovery, replay and audit: verified records in order."""

    def records(self, after_seq: int = 0) -> Iterable[tuple[int, bytes]]:
        """(seq, payload) of every whole, verified record after `after_seq`; raises CorruptJournal
        naming the seq of a damaged or misplaced record."""

    def chain_at(self, seq: int) -> bytes:
        """The chain value after record `seq` (to check a snapshot against)."""


SnapshotWriter = Callable[[int, bytes, object], object]  # (seq, chain, state) -> location
