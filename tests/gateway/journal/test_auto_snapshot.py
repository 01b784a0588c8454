"""A running gateway's snapshots: every `snapshot_every` records the group committer forks a
child that writes the machine as of that record, keeps the newest two, and exits; recovery then
starts from it instead of replaying the whole journal."""

import asyncio
import logging
import time

import msgspec

from core.commands import Deposit, OpenAccount
from core.tiers import DEFAULT_TIERS
from gateway.journal import committer as committer_module
from gateway.journal.committer import GroupCommitter
from gateway.journal.format import RECORD_HEADER
from gateway.journal.journaled import Journaled
from gateway.journal.recovery import recover
from gateway.journal.snapshots import list_snapshots, load_snapshot
from gateway.journal.synthetic import SyntheticSession
from tests.gateway.harness import aio


async def committer_on(directory, snapshot_every: int, policy: str = "interval") -> GroupCommitter:
    journaled = Journaled.create(directory, SyntheticSession(1).genesis(), fsync=policy,
                                 snapshot_every=snapshot_every)
    committer = await GroupCommitter(journaled).start()
    committer.submit(OpenAccount(tier=DEFAULT_TIERS[0].name, name="ONE"))
    await committer.flush()
    return committer


async def deposits(committer: GroupCommitter, amounts) -> None:
    """One deposit per amount, ten per loop turn (ten per batch)."""
    for k, amount in enumerate(amounts):
        committer.submit(Deposit(account=0, amount=amount))
        if k % 10 == 9:
            await asyncio.sleep(0)
    await committer.flush()


async def until_written(committer: GroupCommitter, count: int, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while committer.snapshots < count or committer._snapshot_pid:
        assert time.monotonic() < deadline, f"{committer.snapshots} snapshots written, {count} expected"
        await asyncio.sleep(0.01)


def _snapshot_cash(directory, seq: int) -> int:
    info = next(s for s in list_snapshots(directory) if s.seq == seq)
    state = load_snapshot(info)
    return state.engine.accounts[0].cash


@aio
async def test_a_snapshot_is_written_by_a_child_every_n_records_and_recovery_starts_there(tmp_path):
    directory = tmp_path / "j"
    committer = await committer_on(directory, snapshot_every=100)
    head = committer.journal.seq
    await deposits(committer, range(1, 121))  # 120 records: past the first 100
    await until_written(committer, 1)
    snapshot_seq = committer.last_snapshot_seq
    assert 100 <= snapshot_seq <= committer.journal.seq  # due once 100 records were submitted
    # the child wrote the machine exactly as of its seq, while the loop went on: deposits 1..n
    n = snapshot_seq - head
    assert _snapshot_cash(directory, snapshot_seq) == n * (n + 1) // 2
    # and it says where its record is in the journal, for recovery to read from there
    info = next(s for s in list_snapshots(directory) if s.seq == snapshot_seq)
    _, _, seq_there, chain_there = RECORD_HEADER.unpack_from((directory / "journal.log").read_bytes(), info.offset)
    assert info.offset > 0 and (seq_there, chain_there) == (snapshot_seq, info.chain)
    live = msgspec.msgpack.encode(committer.journaled.machine.export_state())
    await committer.close()

    recovered = recover(directory)
    assert recovered.snapshot_seq == snapshot_seq and recovered.replayed == recovered.last_seq - snapshot_seq
    assert msgspec.msgpack.encode(recovered.machine.export_state()) == live
    assert recovered.machine.engine.account(0)["cash"] == 120 * 121 // 2


@aio
async def test_the_newest_two_snapshots_are_kept(tmp_path):
    directory = tmp_path / "j"
    committer = await committer_on(directory, snapshot_every=20)
    for round_ in range(5):
        await deposits(committer, [1] * 25)
        await until_written(committer, round_ + 1)
    await committer.close()
    kept = list_snapshots(directory)
    assert committer.snapshots == 5 and len(kept) == 2
    assert kept[0].seq == committer.last_snapshot_seq
    assert not list(directory.glob("*.tmp"))
    assert recover(directory).snapshot_seq == committer.last_snapshot_seq


@aio
async def test_closing_waits_for_a_snapshot_being_written(tmp_path, monkeypatch):
    directory = tmp_path / "j"
    real = committer_module.write_snapshot

    def slow(*args):  # the child takes its time, so that closing finds it still writing
        time.sleep(0.3)
        return real(*args)

    monkeypatch.setattr(committer_module, "write_snapshot", slow)  # the child inherits it
    committer = await committer_on(directory, snapshot_every=30, policy="every-batch")
    await deposits(committer, [5] * 35)
    assert committer._snapshot_pid  # started by the release that crossed 30 records
    await committer.close()
    assert committer.snapshots == 1 and not committer._snapshot_pid
    assert recover(directory).snapshot_seq == committer.last_snapshot_seq


@aio
async def test_a_failed_snapshot_is_logged_and_the_next_one_is_tried(tmp_path, monkeypatch, caplog):
    directory = tmp_path / "j"
    committer = await committer_on(directory, snapshot_every=20)

    def broken(*args):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(committer_module, "write_snapshot", broken)  # the child inherits it
    with caplog.at_level(logging.ERROR, logger="beacon.journal"):
        await deposits(committer, [1] * 25)
        deadline = time.monotonic() + 20
        while committer._snapshot_pid or "failed" not in caplog.text:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
    assert committer.snapshots == 0 and committer.snapshot_failures == 1 and not list_snapshots(directory)
    assert "snapshot at seq" in caplog.text and "failed" in caplog.text
    monkeypatch.undo()
    await deposits(committer, [1] * 25)  # nothing was acknowledged less; the next one succeeds
    await until_written(committer, 1)
    await committer.close()
    assert recover(directory).machine.engine.account(0)["cash"] == 50


@aio
async def test_no_snapshot_when_snapshot_every_is_zero(tmp_path):
    directory = tmp_path / "j"
    committer = await committer_on(directory, snapshot_every=0)
    await deposits(committer, [1] * 50)
    await committer.close()
    assert committer.snapshots == 0 and not list_snapshots(directory)


@aio
async def test_a_restart_counts_what_it_replayed_toward_the_next_snapshot(tmp_path):
    """A gateway restarted before it reaches snapshot_every records must not put the snapshot
    off for ever: the records the restart replayed count."""
    directory = tmp_path / "j"
    committer = await committer_on(directory, snapshot_every=100)
    await deposits(committer, [1] * 60)
    await committer.close()
    assert committer.snapshots == 0
    reopened = Journaled.open(directory, fsync="interval", snapshot_every=100)
    assert reopened._since_snapshot == reopened.recovered.replayed >= 60
    committer = await GroupCommitter(reopened).start()
    await deposits(committer, [1] * 45)  # 60 + 45 > 100 since the last snapshot (none)
    await until_written(committer, 1)
    await committer.close()
    assert recover(directory).snapshot_seq == committer.last_snapshot_seq > 0


@aio
async def test_a_snapshot_past_the_journals_end_is_refused_and_removed(tmp_path):
    """A crash that takes the journal's tail leaves the newest snapshot past its end: recovery
    starts from the older one, and opening the journal deletes the refused one, so that it does
    not count as one of the two kept."""
    directory = tmp_path / "j"
    committer = await committer_on(directory, snapshot_every=20)
    for round_ in range(2):
        await deposits(committer, [1] * 25)
        await until_written(committer, round_ + 1)
    older, newest = sorted(s.seq for s in list_snapshots(directory))
    await committer.close()
    # the power loss: the journal cut back to between the two snapshots
    from core.commands import SCHEMA_VERSION
    from gateway.journal.format import scan
    cut = scan(str(directory / "journal.log"), SCHEMA_VERSION, stop_after=older + 2).end
    with open(directory / "journal.log", "r+b") as fh:
        fh.truncate(cut)
    recovered = recover(directory)
    assert recovered.snapshot_seq == older and recovered.last_seq == older + 2 < newest
    reopened = Journaled.open(directory, fsync="interval", snapshot_every=20)
    assert [s.seq for s in list_snapshots(directory)] == [older]
    reopened.close()


def test_a_failed_snapshot_leaves_no_temporary_file(tmp_path, monkeypatch):
    from gateway.journal import snapshots
    from core.machine import MachineState

    def full(fd):
        raise OSError(28, "No space left on device (simulated)")

    journaled = Journaled.create(tmp_path / "j", SyntheticSession(1).genesis(), fsync="none")
    state = journaled.machine.export_state()
    assert isinstance(state, MachineState)
    monkeypatch.setattr(snapshots.os, "fsync", full)
    try:
        snapshots.write_snapshot(tmp_path / "j", 1, journaled.journal.chain, state)
    except OSError:
        pass
    else:
        raise AssertionError("the simulated full disk did not fail the write")
    monkeypatch.undo()
    journaled.close()
    assert not list((tmp_path / "j").glob("*.tmp")) and not list_snapshots(tmp_path / "j")
