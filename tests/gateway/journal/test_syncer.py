"""The interval policy's fsync thread: it makes what was written durable on its timer, holds no
GIL while it does (gateway/journal/_syncer.pyx), gives way to the loop (nice 10), reports a
failed fsync and goes on, and stops when the committer closes."""

import asyncio
import logging
import os
import sys
import threading
import time

import pytest

from core.commands import Deposit, OpenAccount
from core.tiers import DEFAULT_TIERS
from gateway.journal import committer as committer_module
from gateway.journal.committer import GroupCommitter
from gateway.journal.file import FileJournal
from gateway.journal.journaled import Journaled
from gateway.journal.synthetic import SyntheticSession
from tests.gateway.harness import aio

_syncer = pytest.importorskip("gateway.journal._syncer", reason="the C syncer is built by make; this tree has none")


def _wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.002)
    return condition()


def _write(journal: FileJournal) -> None:
    """Hand what was appended to the OS as the committer does: the fsync is left to the syncer."""
    batch, last = journal.take_batch()
    journal.write_batch(batch, last, sync=False)


def test_what_was_written_becomes_durable_without_the_gil(tmp_path):
    journal = FileJournal(str(tmp_path / "journal.log"), "interval", interval_ms=2)
    syncer = _syncer.IntervalSyncer(journal)
    thread = threading.Thread(target=syncer.run)
    thread.start()
    try:
        for n in range(5):
            journal.append(b"record %d" % n)
        _write(journal)  # written to the OS: not yet durable under interval
        assert journal.written_seq == 5
        assert _wait_for(lambda: journal.durable_seq == 5)
        assert syncer.syncs >= 1 and syncer.failures == 0
        synced = syncer.syncs
        time.sleep(0.02)  # nothing new written: no fsync for nothing
        assert syncer.syncs == synced
        # it never needs the GIL: this thread keeps it (a switch interval of 100 s: a thread
        # waiting for the GIL would wait that long) and the syncer still makes the record durable
        interval = sys.getswitchinterval()
        sys.setswitchinterval(100.0)
        try:
            journal.append(b"more")
            _write(journal)
            deadline = time.monotonic() + 2
            while journal.durable_seq < 6 and time.monotonic() < deadline:
                pass
        finally:
            sys.setswitchinterval(interval)
        assert journal.durable_seq == 6
    finally:
        syncer.stop()
        thread.join(2)
    assert not thread.is_alive()
    journal.close()


def test_a_failed_fsync_is_reported_and_the_syncer_goes_on(tmp_path, caplog):
    journal = FileJournal(str(tmp_path / "journal.log"), "interval", interval_ms=2)
    fd = journal.fd
    syncer = _syncer.IntervalSyncer(journal)
    journal.append(b"x")
    _write(journal)
    journal.fd = -1  # fsync(-1) fails with EBADF
    thread = threading.Thread(target=syncer.run)
    with caplog.at_level(logging.ERROR, logger="beacon.journal"):
        thread.start()
        assert _wait_for(lambda: syncer.failures >= 2)  # reported, then tried again
        assert journal.durable_seq == 0  # a failed fsync makes nothing durable
        journal.fd = fd
        assert _wait_for(lambda: journal.durable_seq == 1)
        syncer.stop()
        thread.join(2)
    assert any("interval fsync failed: errno 9" in r.getMessage() for r in caplog.records)
    journal.close()


async def _committer(directory, policy="interval") -> GroupCommitter:
    journaled = Journaled.create(directory, SyntheticSession(1).genesis(), fsync=policy)
    journaled.journal.interval_s = 0.002
    committer = await GroupCommitter(journaled).start()
    committer.submit(OpenAccount(tier=DEFAULT_TIERS[0].name, name="ONE"))
    return committer


@pytest.mark.parametrize("built", [True, False], ids=["gil-free", "python-fallback"])
@aio
async def test_the_committers_fsync_thread_syncs_at_its_nice_value(tmp_path, monkeypatch, built):
    """The GIL-free loop where the extension is built; the Python loop where it is not."""
    if not built:
        monkeypatch.setattr(committer_module, "IntervalSyncer", None)
    committer = await _committer(tmp_path / "j")
    thread = committer._syncer
    assert (committer._c_syncer is not None) is built
    seq, _, _ = committer.submit(Deposit(account=0, amount=100))
    await committer.flush()
    for _ in range(500):
        if committer.journal.durable_seq >= seq:
            break
        await asyncio.sleep(0.002)
    assert committer.journal.durable_seq >= seq
    assert os.getpriority(os.PRIO_PROCESS, thread.native_id) == committer_module.SYNCER_NICE
    await committer.close()
    assert not thread.is_alive()


def _kernel_name(native_id: int) -> str:
    with open(f"/proc/self/task/{native_id}/comm") as fh:
        return fh.read().strip()


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="thread names are read from Linux's /proc")
@pytest.mark.parametrize("policy, attribute, name", [("interval", "_syncer", "beacon-fsync"),
                                                     ("every-batch", "_writer_thread", "beacon-writer")])
@aio
async def test_the_journals_threads_carry_their_names_in_the_kernel(tmp_path, policy, attribute, name):
    """What perf, top -H and bench.loadgen.trace --sched show: the fsync thread is not the loop."""
    committer = await _committer(tmp_path / "j", policy=policy)
    thread = getattr(committer, attribute)
    assert _wait_for(lambda: _kernel_name(thread.native_id) == name)
    assert name == getattr(committer_module, "SYNCER_THREAD" if policy == "interval" else "WRITER_THREAD")
    assert _kernel_name(threading.main_thread().native_id) != name  # the loop's thread keeps its own
    await committer.close()


# ---------------------------------------------------------------- every-batch: the BatchWriter


def _readable(fd: int, timeout: float = 5.0) -> bool:
    import select

    return bool(select.select([fd], [], [], timeout)[0])


def _writer_on(tmp_path):
    journal = FileJournal(str(tmp_path / "journal.log"), "every-batch")
    writer = _syncer.BatchWriter(journal)
    thread = threading.Thread(target=writer.run)
    thread.start()
    return journal, writer, thread


def _stop(journal, writer, thread):
    writer.stop()
    thread.join(2)
    assert not thread.is_alive()
    writer.close()
    journal.close()


def test_a_batch_is_written_and_fsynced_before_the_loop_hears_of_it(tmp_path):
    journal, writer, thread = _writer_on(tmp_path)
    try:
        for n in range(3):
            journal.append(b"record %d" % n)
        batch, last = journal.take_batch()
        writer.submit(batch, last)
        assert writer.busy
        with pytest.raises(RuntimeError, match="already being written"):
            writer.submit(b"more", last + 1)  # one batch at a time
        assert _readable(writer.done_fd)
        assert writer.take_done() == 3
        assert not writer.busy and writer.batches == 1
        assert journal.written_seq == journal.durable_seq == 3
        assert writer.take_done() is None  # nothing more has finished
        assert [payload for _, payload in journal.records()] == [b"record 0", b"record 1", b"record 2"]
    finally:
        _stop(journal, writer, thread)


def test_a_failed_write_is_raised_and_nothing_of_it_is_safe(tmp_path):
    journal, writer, thread = _writer_on(tmp_path)
    fd = journal.fd
    try:
        journal.append(b"x")
        batch, last = journal.take_batch()
        journal.fd = -1  # write(-1) fails with EBADF
        writer.submit(batch, last)
        assert _readable(writer.done_fd)
        with pytest.raises(OSError) as failure:
            writer.take_done()
        assert failure.value.errno == 9
        assert journal.durable_seq == 0 and journal.written_seq == 0
    finally:
        journal.fd = fd
        _stop(journal, writer, thread)


@pytest.mark.parametrize("built", [True, False], ids=["gil-free", "executor-fallback"])
@aio
async def test_every_batch_acknowledges_only_what_is_fsynced_in_one_batch_per_turn(tmp_path, monkeypatch, built):
    if not built:
        monkeypatch.setattr(committer_module, "BatchWriter", None)
    committer = await _committer(tmp_path / "j", policy="every-batch")
    assert (committer._c_writer is not None) is built
    await committer.flush()
    batches = committer.batches
    seen = []

    def answered(seq):
        seen.append((seq, committer.journal.durable_seq))

    seqs = [committer.submit(Deposit(account=0, amount=n + 1), answered)[0] for n in range(20)]
    await committer.flush()
    assert [seq for seq, _ in seen] == seqs  # every one, in order
    assert all(durable >= seq for seq, durable in seen)  # each only once fsync'd
    assert committer.batches == batches + 1  # the twenty of one turn in one batch
    await committer.close()
    if built:
        assert not committer._writer_thread.is_alive()


@aio
async def test_every_batch_stops_acknowledging_after_a_failed_fsync(tmp_path, caplog):
    committer = await _committer(tmp_path / "j", policy="every-batch")
    await committer.flush()
    fd = committer.journal.fd
    answered = []
    with caplog.at_level(logging.CRITICAL, logger="beacon.journal"):
        committer.journal.fd = -1
        committer.submit(Deposit(account=0, amount=5), answered.append)
        for _ in range(500):
            if committer._failed:
                break
            await asyncio.sleep(0.002)
    assert committer._failed and answered == []
    assert any("nothing more will be acknowledged" in r.getMessage() for r in caplog.records)
    committer.submit(Deposit(account=0, amount=6), answered.append)  # taken, never acknowledged
    await asyncio.sleep(0.05)
    assert answered == [] and len(committer.journal._pending) == 0  # nor kept
    committer.journal.fd = fd
    await committer.close()  # does not wait for what can never become safe, nor writes it
