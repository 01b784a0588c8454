"""The interval policy's fsync thread: it makes what was written durable on its timer, holds no
GIL while it does (gateway/journal/_syncer.pyx), gives way to the loop (nice 19), reports a
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
async def test_the_committers_fsync_thread_syncs_at_nice_19(tmp_path, monkeypatch, built):
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
