# cython: annotation_typing=False
"""Group commit on an asyncio loop: the loop applies and appends, and each command's callback
runs once its batch is safe to acknowledge under the fsync policy.

The loop never blocks on the disk:

- every-batch: one worker thread writes and fsyncs a batch while the commands that arrive
  meanwhile accumulate into the next one, so the number of fsyncs per second stays bounded
  however fast commands come (one per batch, not per command). The thread never holds the
  GIL (gateway/journal/_syncer.pyx: BatchWriter); batches go to it and come back through two
  eventfds, the second watched by the loop. Where the extension is not built, an executor
  thread does the same with the GIL.
- interval and none: a write() into the page cache takes microseconds, less than handing it
  to a thread would, so the loop writes the batch itself, on the turn after the commands
  were applied (everything applied in one turn is one batch), and releases its callbacks at
  once. A reader that knows where its read ends (the order port: picows marks a read's last
  frame) has its requests' batch written there instead, in the same turn (`gather`): the
  answer does not wait for the loop to poll its sockets once more. The interval policy's
  fsyncs run on a thread of their own, on a timer, without
  waking the loop; that thread never holds the GIL (gateway/journal/_syncer.pyx) and runs
  at nice 10, so it seldom preempts the loop on the CPU they share. What a release itself
  submits (the in-process broker's acknowledgements of the orders it has just sent) is
  written on the next turn, not in this one: uvloop sends a write queued by a callback once
  the turn's callbacks have all run, so a second batch in the same turn would hold the first
  one's answers back (measured: docs/benchmarks.md).

A command's events go to `publish` once it is safe, right after its own callback (the
requester's answer before what everyone watching sees). After each release `after_release`
runs: the gateway writes the batch's answers there, one write per connection, in the same turn.

Every `snapshot_every` records (the journaled machine's setting) a release starts a snapshot in
a forked child: the fork freezes the machine as of the journal's head, the child exports and
writes it and keeps the newest two, and the loop goes on (`_start_snapshot`). Exporting on the
loop instead would stop it for 32-50 ms with 20,000 open orders and 280 ms with 100,000; the
fork stops it for 4-10 ms (docs/journal.md).
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import gc
import logging
import os
import signal
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from core.commands import AnyCommand, Outcome
from core.events import Event

from .file import FsyncPolicy
from .journaled import Journaled
from .snapshots import prune_snapshots, write_snapshot

try:  # the journal's disk threads, which never hold the GIL (gateway/journal/_syncer.pyx)
    from ._syncer import BatchWriter, IntervalSyncer
except ImportError:  # a tree without the extension: the Python thread and loop below
    BatchWriter = IntervalSyncer = None

log = logging.getLogger("beacon.journal")
_PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies (Linux)
_PR_SET_NAME = 15  # prctl(2): the calling thread's name, as top -H, perf and /proc/<pid>/task/<tid>/comm show it
try:  # resolved here, not in the forked child
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None
#: How long closing waits for a snapshot child before killing it.
SNAPSHOT_CLOSE_WAIT_S = 30.0

#: The fsync thread's nice value. It shares the loop's CPU; at the default 0 every wake-up of
#: the thread (after each sleep, after each fsync) preempted the loop: 0.07-0.08 involuntary
#: context switches of the server per order at 10,000 orders/s, against 0.02-0.03 at 10 and
#: 0.01-0.02 at 19. But the interval is a promise about durability, and under a loop that
#: saturates the CPU a nice-19 thread fsynced every 15-18 ms instead of every 5 (the most
#: written and not yet durable: 586-957 records), a nice-10 thread every 6.8 ms (268). The
#: tail at 10,000/s did not tell the three apart (docs/benchmarks.md).
SYNCER_NICE = 10
#: The kernel's names for the journal's threads (the loop's thread keeps the process's name).
SYNCER_THREAD = "beacon-fsync"
WRITER_THREAD = "beacon-writer"


def _name_os_thread(name: str) -> None:
    """Give the calling thread its name in the kernel too (at most 15 bytes): Python 3.11 names
    threads only for itself, and a scheduler trace of the loop's CPU (bench.loadgen.trace
    --sched) or `top -H` should tell the journal's threads from the loop."""
    if _prctl is not None:
        _prctl(_PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)


def _lower_priority() -> None:
    """The calling thread gives way to the loop (Linux: a nice value is per thread)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SYNCER_NICE)
    except (OSError, AttributeError):  # not Linux, or not allowed: the interval holds all the same
        pass


class GroupCommitter:
    def __init__(self, journaled: Journaled, after_release=None, publish=None, before_release=None):
        self.journaled = journaled
        self.journal = journaled.journal
        self.before_release = before_release  # called as a release begins (the gateway holds its outbox)
        self.after_release = after_release
        self.publish = publish  # publish(events) once their command is safe (None: events are not kept)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-writer")
        # (seq, on_safe or None, events or None), in seq order
        self._waiters: collections.deque[tuple[int, object, object]] = collections.deque()
        self._inline = self.journal.policy is not FsyncPolicy.EVERY_BATCH  # the loop writes (see above)
        self._scheduled = False  # an inline write is due on the next turn
        # 1: a reader is handling one read's requests and writes at its end (gather); 2: and they submitted
        self._gathering = 0
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task] = []
        self._syncer: threading.Thread | None = None
        self._stop_syncer = threading.Event()
        self._c_syncer = None  # the IntervalSyncer the syncer thread runs, when the extension is built
        self._c_writer = None  # every-batch: the BatchWriter, when the extension is built
        self._writer_thread: threading.Thread | None = None
        self._failed = False  # a write or fsync failed: nothing more is acknowledged
        self.safe_seq = self.journal.seq
        self.batches = 0
        self._snapshot_pid = 0  # the child writing a snapshot (0: none)
        self._snapshot_fd = -1  # its pidfd, readable once it has exited
        self._snapshot_seq = 0  # the seq it writes
        self.snapshots = 0  # snapshots written by children
        self.snapshot_failures = 0
        self._closing = False
        self.last_snapshot_seq = 0

    async def start(self) -> "GroupCommitter":
        self._loop = asyncio.get_running_loop()
        if not self._inline and BatchWriter is not None:
            self._c_writer = BatchWriter(self.journal)
            # at the loop's own priority: every acknowledgement waits for this thread
            self._writer_thread = threading.Thread(target=self._writer_thread_main, name="journal-writer", daemon=True)
            self._writer_thread.start()
            self._loop.add_reader(self._c_writer.done_fd, self._on_written)
        elif not self._inline:
            self._tasks.append(asyncio.create_task(self._writer(), name="journal-writer"))
        if self.journal.policy is FsyncPolicy.INTERVAL:
            if IntervalSyncer is not None:
                self._c_syncer = IntervalSyncer(self.journal)
            self._syncer = threading.Thread(target=self._sync_thread, name="journal-interval-sync", daemon=True)
            self._syncer.start()
        return self

    def submit(self, command: AnyCommand, on_safe=None, events: bool = True) -> tuple[int, Outcome, list[Event]]:
        """Apply and append a command; on_safe(seq), if given, is called on the loop once the command
        may be acknowledged, and then `publish(events)`. Without `events` the readable events are
        not built."""
        if events:
            seq, outcome, built = self.journaled.submit_events(command)
        else:
            (seq, outcome), built = self.journaled.submit(command), []
        published = built if built and self.publish is not None else None
        if on_safe is not None or published is not None:
            self._waiters.append((seq, on_safe, published))
        self._kick()
        return seq, outcome, built

    def when_safe(self, seq: int, callback) -> None:
        """Call callback(seq) on the loop once seq may be acknowledged (now, if it already may).
        Waiters are kept in the order they are registered; registering an older seq after a
        newer one can only delay it, never acknowledge it early."""
        if seq <= self.safe_seq:
            callback(seq)
        else:
            self._waiters.append((seq, callback, None))
            self._kick()

    def safe(self, seq: int) -> asyncio.Future:
        """A future that resolves once seq may be acknowledged."""
        future = asyncio.get_running_loop().create_future()
        self.when_safe(seq, lambda s: future.done() or future.set_result(s))
        return future

    def gather(self) -> bool:
        """A reader begins handling the requests of one read from its socket: what they submit is
        written when it calls `gathered()` at the read's end, in the same loop turn, instead of on
        the next turn, which comes only after the loop has polled its sockets again (one loop
        iteration more between an order and its answer). The caller calls `gathered()` in a
        `finally`: until then nothing is scheduled. False when a gathering is already open (this
        read's earlier frames began it)."""
        if self._gathering:
            return False
        self._gathering = 1
        return True

    def gathered(self) -> None:
        """The read's requests are all handled: write (or hand to the writer thread) what they
        submitted, now, as the scheduled write would have on the next turn."""
        due = self._gathering == 2
        self._gathering = 0
        if due:
            self._write_due(True)

    def _kick(self) -> None:
        if self._gathering:
            self._gathering = 2  # due: the reader writes at the end of its read (gathered)
            return
        self._write_due(False)

    def _write_due(self, now: bool) -> None:
        """Something was submitted: have it written, now (a read's end) or on the next turn."""
        if self._c_writer is not None:
            if self._scheduled or self._c_writer.busy:  # a busy writer hands the next batch on itself
                return
            write = self._hand_over
        elif not self._inline:
            self._wake.set()
            return
        elif self._scheduled:  # a write is due on the next turn already: it takes this too
            return
        else:
            write = self._write_inline
        if now:
            write()
        else:
            self._scheduled = True
            # on the next turn, after every frame this turn read: one batch for all of them
            (self._loop or asyncio.get_running_loop()).call_soon(write)

    def _write_inline(self) -> None:
        self._scheduled = False
        if self._failed:  # a write failed: nothing after it is written or acknowledged
            self.journal.drop_unwritten()  # (nor kept: the market and the clock go on submitting)
            return
        try:
            if self.journal.write_pending():  # (take_batch and write_batch(sync=False), without the copy)
                self.batches += 1
        except OSError:
            # the next batch's release would otherwise acknowledge this one's commands too,
            # and the file would have a hole where they should be
            self._fail()
            return
        self._release(self.journal.written_seq)

    @property
    def failed(self) -> bool:
        """A journal write or fsync has failed: nothing applied since is acknowledged (health says so)."""
        return self._failed

    def _fail(self) -> None:
        self._failed = True
        log.critical("journal write or fsync failed: nothing more will be acknowledged", exc_info=True)

    def _hand_over(self) -> None:
        """every-batch, GIL-free writer: give it what was appended since its last batch."""
        self._scheduled = False
        writer = self._c_writer
        if self._failed:
            self.journal.drop_unwritten()  # nothing after a failure is written, nor kept
            return
        if writer.busy:
            return
        batch, last = self.journal.take_batch()
        if batch:
            writer.submit(batch, last)
        elif self._waiters and self._waiters[0][0] <= self.journal.written_seq:
            self._release(self.journal.written_seq)

    def _on_written(self) -> None:
        """every-batch: the writer's eventfd is readable: its batch is durable (or failed). Release it,
        then hand over at once what arrived meanwhile (the group commit)."""
        try:
            safe = self._c_writer.take_done()
        except OSError:
            self._loop.remove_reader(self._c_writer.done_fd)
            self._fail()
            return
        if safe is None:
            return
        self.batches += 1
        self._release(safe)
        if self.journal.seq > self.journal.written_seq:
            self._hand_over()

    async def _writer(self) -> None:
        """every-batch: the worker thread writes and fsyncs; the loop gathers the next batch meanwhile."""
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, last = self.journal.take_batch()
            if not batch:
                if self._waiters and self._waiters[0][0] <= self.journal.written_seq:
                    self._release(self.journal.written_seq)
                continue
            try:
                safe = await loop.run_in_executor(self._executor, self.journal.write_batch, batch, last)
            except OSError:
                self._fail()
                return
            self.batches += 1
            self._release(safe)

    def _release(self, safe: int) -> None:
        self.safe_seq = safe
        if self.before_release is not None:
            self.before_release()
        waiters, publish = self._waiters, self.publish
        while waiters and waiters[0][0] <= safe:
            seq, on_safe, events = waiters.popleft()
            try:
                if on_safe is not None:
                    on_safe(seq)
                if events is not None:
                    publish(events)
            except Exception:  # a failing acknowledgement must not stop the journal's writer
                log.exception("callback for seq %s failed", seq)
        if self.after_release is not None:
            try:
                self.after_release()
            except Exception:
                log.exception("after-release hook failed")
        journaled = self.journaled
        if journaled.snapshot_every > 0 and journaled._since_snapshot >= journaled.snapshot_every \
                and not self._snapshot_pid and not self._failed and not self._closing:
            self._start_snapshot()

    # ---------------------------------------------------------------- snapshots in a child
    def _start_snapshot(self) -> None:
        """Fork: the child holds the machine exactly as of the journal's head (the loop is between
        callbacks, nothing half-applied) and writes it; the loop hears of the child's exit on its
        pidfd. The snapshot may be written before the journal is durable up to its seq; recovery
        refuses a snapshot past the journal's end and takes the older one kept beside it."""
        journaled, journal = self.journaled, self.journal
        journaled._since_snapshot = 0  # a failed snapshot is tried again snapshot_every records later
        seq, chain, offset, directory = journal.seq, journal.chain, journal.last_offset, journaled.directory
        gateway_pid = os.getpid()
        try:
            pid = os.fork()
        except (OSError, AttributeError):  # (no fork: not a POSIX system)
            self.snapshot_failures += 1
            log.exception("snapshot at seq %s not started: fork failed", seq)
            return
        if pid == 0:
            _write_snapshot_child(journaled.machine, directory, seq, chain, offset, gateway_pid)  # never returns
        self._snapshot_pid, self._snapshot_seq = pid, seq
        try:
            self._snapshot_fd = os.pidfd_open(pid)
            self._loop.add_reader(self._snapshot_fd, self._snapshot_exited)
        except (OSError, AttributeError):  # no pidfd (an old kernel): a thread waits for the child
            if self._snapshot_fd >= 0:
                os.close(self._snapshot_fd)
                self._snapshot_fd = -1
            future = self._loop.run_in_executor(None, _reap, pid, None)
            future.add_done_callback(lambda f: self._reaped(f.result()))

    def _snapshot_exited(self) -> None:
        """The child's pidfd is readable: it has exited; reap it."""
        self._stop_watching_snapshot()
        self._reaped(_reap(self._snapshot_pid, None))

    def _stop_watching_snapshot(self) -> None:
        self._loop.remove_reader(self._snapshot_fd)
        os.close(self._snapshot_fd)
        self._snapshot_fd = -1

    def _reaped(self, code) -> None:
        """The child is gone: its exit code (None: it was reaped elsewhere and nobody knows)."""
        seq, self._snapshot_pid = self._snapshot_seq, 0
        if code == 0:
            self.snapshots += 1
            self.last_snapshot_seq = seq
            log.info("snapshot at seq %s written", seq)
        else:
            self.snapshot_failures += 1
            log.error("snapshot at seq %s failed (the child's exit status %s; it printed why)", seq, code)

    async def _wait_for_snapshot(self) -> None:
        """Closing: let a snapshot being written finish (it is the restart's shortcut), but not
        for ever; a child that overruns SNAPSHOT_CLOSE_WAIT_S is killed (its file is only a .tmp)."""
        if not self._snapshot_pid:
            return
        if self._snapshot_fd >= 0:
            self._stop_watching_snapshot()
        pid = self._snapshot_pid
        code = await asyncio.get_running_loop().run_in_executor(self._executor, _reap, pid,
                                                                SNAPSHOT_CLOSE_WAIT_S)
        if self._snapshot_pid == pid:  # (the no-pidfd path's thread may have reaped it meanwhile)
            self._reaped(code)

    def _writer_thread_main(self) -> None:
        _name_os_thread(WRITER_THREAD)
        self._c_writer.run()

    def _sync_thread(self) -> None:
        _name_os_thread(SYNCER_THREAD)
        _lower_priority()
        if self._c_syncer is not None:
            self._c_syncer.run()
        else:
            self._interval_sync()

    def _interval_sync(self) -> None:
        """The interval policy's fsyncs, on this thread's own timer: fsync releases the GIL, and the
        loop is never woken for it."""
        journal = self.journal
        while not self._stop_syncer.wait(journal.interval_s):
            if journal.written_seq > journal.durable_seq:
                try:
                    journal.sync()
                except OSError:
                    log.exception("interval fsync failed")

    async def flush(self) -> int:
        """Wait until everything appended so far is safe; that seq."""
        await self.safe(self.journal.seq)
        return self.safe_seq

    async def close(self) -> None:
        if not self._failed:  # after a failed write nothing more becomes safe: do not wait for it
            await self.flush()
        else:  # and nothing applied after it is written by the journal's close either
            self.journal.drop_unwritten()
        self._closing = True  # no snapshot starts from here on
        await self._wait_for_snapshot()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._c_writer is not None:
            self._loop.remove_reader(self._c_writer.done_fd)
            self._c_writer.stop()
            self._writer_thread.join()
            self._c_writer.close()
        if self._syncer is not None:
            self._stop_syncer.set()
            if self._c_syncer is not None:
                self._c_syncer.stop()
            self._syncer.join()
        self._executor.shutdown(wait=True)
        self.journal.close()


def _reap(pid: int, timeout_s):
    """Wait for a snapshot child (at most timeout_s, then kill it); its exit code, or None when
    something else reaped it."""
    try:
        if timeout_s is not None:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    return os.waitstatus_to_exitcode(status)
                time.sleep(0.01)
            log.error("snapshot child %s still writing after %.0f s: killed", pid, timeout_s)
            os.kill(pid, signal.SIGKILL)
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    except ChildProcessError:
        return None


def _write_snapshot_child(machine, directory, seq: int, chain: bytes, offset: int, gateway_pid: int) -> None:
    """The forked child: write the machine's snapshot, keep the newest two, exit. It shares
    nothing with the gateway but the memory the fork copied: its own copies of the gateway's
    sockets and files are closed first (a listening port or a client's connection must not
    outlive the gateway in it); it dies with the gateway (a gateway restarted meanwhile must not
    find a dead one's child writing and pruning beside it), but not of the gateway's own SIGINT
    or SIGTERM (an orderly close waits for it); the cyclic collector stays off (a collection
    would write to every object's header; reference counts still copy the pages the export
    reads). Errors are written to fd 2 directly: another thread may have held a lock of
    sys.stderr at the fork."""
    code = 1
    try:
        gc.disable()
        if threading.current_thread() is threading.main_thread():  # (signals are the main thread's)
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_IGN)
            signal.set_wakeup_fd(-1)
        if _prctl is not None and _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
            os.write(2, f"snapshot at seq {seq}: prctl failed, errno {ctypes.get_errno()}\n".encode())
        if os.getppid() != gateway_pid:  # the gateway died before prctl: nobody waits for this one
            os._exit(1)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        write_snapshot(directory, seq, chain, machine.export_state(), offset)
        prune_snapshots(directory)
        code = 0
    except BaseException:
        try:
            os.write(2, f"snapshot at seq {seq} failed:\n{traceback.format_exc()}".encode())
        except BaseException:
            pass
    finally:
        os._exit(code)
