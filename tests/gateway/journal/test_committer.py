"""The group committer's inline writes (fsync none and interval): what a release itself submits
is written on the next turn, after the answers of the first have gone; and a release holds the
outbox, so output queued inside it costs no loop turn of its own."""

import asyncio
import logging

import pytest

from core.commands import SCHEMA_VERSION, Deposit, OpenAccount
from core.tiers import DEFAULT_TIERS
from gateway.journal.committer import GroupCommitter
from gateway.journal.format import scan
from gateway.journal.journaled import Journaled
from gateway.journal.recovery import LOG_NAME
from gateway.journal.synthetic import SyntheticSession
from gateway.outbox import Outbox
from tests.gateway.harness import aio


async def committer_on(directory, policy: str = "none", **hooks) -> GroupCommitter:
    journaled = Journaled.create(directory, SyntheticSession(1).genesis(), fsync=policy)
    committer = await GroupCommitter(journaled, **hooks).start()
    committer.submit(OpenAccount(tier=DEFAULT_TIERS[0].name, name="ONE"))
    await committer.flush()
    return committer


@pytest.mark.parametrize("policy", ["none", "interval"])
@aio
async def test_what_a_release_submits_is_written_on_the_next_turn(tmp_path, policy):
    """The in-process broker acknowledges an order inside the release that sent it; that second
    batch waits a turn, so uvloop sends the first batch's answers before it is written."""
    committer = await committer_on(tmp_path / "j", policy)
    batches, safe = committer.batches, []

    def first_safe(seq):
        safe.append(seq)
        committer.submit(Deposit(account=0, amount=100), lambda s: safe.append(s))

    seq, _, _ = committer.submit(Deposit(account=0, amount=1_000), first_safe)
    await asyncio.sleep(0)
    assert safe == [seq] and committer.journal.written_seq == seq and committer.batches == batches + 1
    await asyncio.sleep(0)
    assert safe == [seq, seq + 1] and committer.batches == batches + 2  # in order, a batch of its own
    await committer.close()


class RecordingSession:
    def __init__(self):
        self.flushes = 0

    def flush(self):
        self.flushes += 1


@aio
async def test_a_release_holds_the_outbox_and_flushes_it_once(tmp_path):
    outbox = Outbox()
    session = RecordingSession()
    committer = await committer_on(tmp_path / "j", before_release=outbox.hold, after_release=outbox.flush)

    scheduled = []

    def answered(seq):  # (the committer logs a callback's exception, so look afterwards)
        outbox.add(session)
        scheduled.append(outbox._scheduled)

    committer.submit(Deposit(account=0, amount=5), answered)
    await asyncio.sleep(0)
    assert scheduled == [False]  # held: the release's own flush takes it, no callback of its own
    assert session.flushes == 1
    outbox.add(session)  # outside a release: flushed on the next turn, as before
    assert outbox._scheduled
    await asyncio.sleep(0)
    assert session.flushes == 2
    await committer.close()


@pytest.mark.parametrize("policy", ["none", "interval"])
@aio
async def test_a_gathered_read_is_written_at_its_end_in_the_same_turn(tmp_path, policy):
    """What a read's requests submit is written and released when the reader says the read is
    over (gathered), with no loop turn in between, in one batch; and nothing is written before."""
    committer = await committer_on(tmp_path / "j", policy)
    batches, safe = committer.batches, []
    assert committer.gather() and not committer.gather()  # the second: already open
    first, _, _ = committer.submit(Deposit(account=0, amount=1), safe.append)
    second, _, _ = committer.submit(Deposit(account=0, amount=2), safe.append)
    assert not committer._scheduled and committer.journal.written_seq < first  # nothing due on a turn
    committer.gathered()
    assert safe == [first, second] and committer.journal.written_seq == second
    assert committer.batches == batches + 1  # both in one batch
    await committer.close()


@aio
async def test_a_gathered_read_that_submitted_nothing_writes_nothing(tmp_path):
    committer = await committer_on(tmp_path / "j", "interval")
    batches, seq = committer.batches, committer.journal.written_seq
    committer.gather()
    committer.gathered()
    assert committer.batches == batches and committer.journal.written_seq == seq and committer._gathering == 0
    await committer.close()


@aio
async def test_a_read_that_never_ends_is_ended_on_the_next_turn(tmp_path):
    """The order port schedules gathered() when a read's first frame is not its last: should the
    last never be delivered, the next turn writes what was submitted."""
    committer = await committer_on(tmp_path / "j", "interval")
    committer.gather()
    asyncio.get_running_loop().call_soon(committer.gathered)
    seq, _, _ = committer.submit(Deposit(account=0, amount=1))
    assert committer.journal.written_seq < seq
    await asyncio.sleep(0)
    assert committer.journal.written_seq == seq and committer.safe_seq == seq and committer._gathering == 0
    committer.submit(Deposit(account=0, amount=1))  # not gathering: scheduled on the next turn again
    assert committer._scheduled
    await committer.close()


@aio
async def test_every_batch_hands_a_gathered_read_to_the_writer_at_its_end(tmp_path):
    committer = await committer_on(tmp_path / "j", "every-batch")
    committer.gather()
    seq, _, _ = committer.submit(Deposit(account=0, amount=1))
    assert not committer._scheduled
    committer.gathered()
    assert await asyncio.wait_for(committer.safe(seq), 5) == seq
    await committer.close()


@pytest.mark.parametrize("policy", ["none", "interval"])
@aio
async def test_after_a_failed_write_nothing_more_is_acknowledged_or_written(tmp_path, policy, caplog):
    """The loop's own write fails (here: a closed descriptor). Without stopping, the next batch's
    release would have acknowledged the failed one's commands too, with a hole in the file where
    they should be. Now nothing after the failure is acknowledged, and the journal's close does
    not write it: the file ends at the last record that was written."""
    committer = await committer_on(tmp_path / "j", policy)
    good = committer.journal.written_seq
    fd, answered = committer.journal.fd, []
    with caplog.at_level(logging.CRITICAL, logger="beacon.journal"):
        committer.journal.fd = -1  # write(-1) fails with EBADF
        committer.submit(Deposit(account=0, amount=5), answered.append)
        await asyncio.sleep(0)
    assert committer._failed and answered == []
    assert any("nothing more will be acknowledged" in r.getMessage() for r in caplog.records)
    committer.journal.fd = fd  # the disk is back: what came after the failure still is not acknowledged
    committer.submit(Deposit(account=0, amount=6), answered.append)
    committer.gather()
    committer.submit(Deposit(account=0, amount=7), answered.append)
    committer.gathered()
    await asyncio.sleep(0.01)
    assert answered == [] and committer.journal.written_seq == good
    assert len(committer.journal._pending) == 0  # what came after is not kept either (it would only grow)
    await committer.close()  # does not wait for what can never become safe
    assert scan(str(tmp_path / "j" / LOG_NAME), SCHEMA_VERSION).last_seq == good
