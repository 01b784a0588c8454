"""Group commit on an asyncio loop: the loop applies and appends, one worker thread writes and
fsyncs, and each command's future resolves when its batch is safe to acknowledge.

The loop never blocks on the disk: while one batch is being written and fsync'd, the
commands that arrive meanwhile accumulate into the next batch, so the number of fsyncs
per second stays bounded however fast commands come (one per batch, not per command).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from concurrent.futures import ThreadPoolExecutor

from core.commands import AnyCommand, Outcome
from core.events import Event

from .file import FsyncPolicy
from .journaled import Journaled
from .snapshots import write_snapshot

log = logging.getLogger("beacon.journal")


class GroupCommitter:
    def __init__(self, journaled: Journaled):
        self.journaled = journaled
        self.journal = journaled.journal
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-writer")
        self._waiters: collections.deque[tuple[int, object]] = collections.deque()  # (seq, on_safe)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.safe_seq = self.journal.seq
        self.batches = 0

    async def start(self) -> "GroupCommitter":
        self._tasks.append(asyncio.create_task(self._writer(), name="journal-writer"))
        if self.journal.policy is FsyncPolicy.INTERVAL:
            self._tasks.append(asyncio.create_task(self._interval_sync(), name="journal-interval-sync"))
        return self

    def submit(self, command: AnyCommand, on_safe=None, events: bool = True) -> tuple[int, Outcome, list[Event]]:
        """Apply and append a command; on_safe(seq), if given, is called on the loop once the command
        may be acknowledged. Without `events` the readable events are not built."""
        if events:
            seq, outcome, built = self.journaled.submit_events(command)
        else:
            (seq, outcome), built = self.journaled.submit(command), []
        if on_safe is not None:
            self._waiters.append((seq, on_safe))
        self._wake.set()
        return seq, outcome, built

    def when_safe(self, seq: int, callback) -> None:
        """Call callback(seq) on the loop once seq may be acknowledged (now, if it already may).
        Waiters are kept in the order they are registered; registering an older seq after a
        newer one can only delay it, never acknowledge it early."""
        if seq <= self.safe_seq:
            callback(seq)
        else:
            self._waiters.append((seq, callback))
            self._wake.set()

    def safe(self, seq: int) -> asyncio.Future:
        """A future that resolves once seq may be acknowledged."""
        future = asyncio.get_running_loop().create_future()
        self.when_safe(seq, lambda s: future.done() or future.set_result(s))
        return future

    async def _writer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, last = self.journal.take_batch()
            if not batch:
                continue
            if self.journal.policy is FsyncPolicy.EVERY_BATCH:
                # the fsync blocks for a fraction of a millisecond or more: a worker thread waits for it
                safe = await loop.run_in_executor(self._executor, self.journal.write_batch, batch, last)
            else:
                # a write() into the page cache takes microseconds: a thread hand-off would cost more than
                # it saves; the interval policy's fsyncs still run on the worker thread
                safe = self.journal.write_batch(batch, last, sync=False)
                await asyncio.sleep(0)  # let the loop gather the next batch
            self.batches += 1
            self._release(safe)

    def _release(self, safe: int) -> None:
        self.safe_seq = safe
        waiters = self._waiters
        while waiters and waiters[0][0] <= safe:
            seq, on_safe = waiters.popleft()
            try:
                on_safe(seq)
            except Exception:  # a failing acknowledgement must not stop the journal's writer
                log.exception("callback for seq %s failed", seq)

    async def _interval_sync(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.journal.interval_s)
            if self.journal.written_seq > self.journal.durable_seq:
                await loop.run_in_executor(self._executor, self.journal.sync)

    async def flush(self) -> int:
        """Wait until everything appended so far is safe; that seq."""
        await self.safe(self.journal.seq)
        return self.safe_seq

    async def snapshot(self):
        """Snapshot the machine at the current seq, once that seq is durable, off the loop."""
        state = self.journaled.machine.export_state()
        seq, chain = self.journal.seq, self.journal.chain
        await self.flush()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.journal.sync)
        return await loop.run_in_executor(self._executor, write_snapshot, self.journaled.directory, seq, chain, state)

    async def close(self) -> None:
        await self.flush()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._executor.shutdown(wait=True)
        self.journal.close()
