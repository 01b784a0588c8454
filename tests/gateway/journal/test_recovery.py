"""Replay is deterministic, snapshot + tail equals a full replay, and a wrong record is named."""

import msgspec
import pytest
from hypothesis import HealthCheck, given, seed, settings, strategies as st

from core.commands import Deposit, OpenAccount, Outcome, Tick, decode_entry, encode_entry
from core.machine import Machine
from gateway.journal.errors import Divergence, JournalError
from gateway.journal.file import FileJournal
from gateway.journal.format import iter_records
from gateway.journal.journaled import Journaled
from gateway.journal.recovery import recover, replay
from gateway.journal.snapshots import list_snapshots
from gateway.journal.synthetic import SyntheticSession
from tests.conftest import RUN_SEED
from tests.gateway.journal.conftest import write_session


def state_of(machine: Machine) -> bytes:
    return msgspec.msgpack.encode(machine.export_state())


@seed(RUN_SEED)
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(session_seed=st.integers(0, 2**32), steps=st.integers(1, 400))
def test_replay_reproduces_state_and_events(tmp_path_factory, session_seed, steps):
    """A random session, journaled live; replaying it gives the same state, and applying the
    recorded commands again gives the same outcomes and the same event stream."""
    directory = tmp_path_factory.mktemp("j")
    session = SyntheticSession(session_seed, accounts=6, instruments=10)
    live = Journaled.create(directory, session.genesis(), fsync="none")
    live_events = []
    gen = session.run(steps)
    command = next(gen)
    while True:
        _, outcome, events = live.submit_events(command)
        live_events += events
        try:
            command = gen.send(outcome)
        except StopIteration:
            break
    live.close()
    assert state_of(replay(directory).machine) == state_of(live.machine)
    again = Machine(session.genesis())
    events = []
    for record in iter_records(str(directory / "journal.log"), 1)[1:]:
        entry = decode_entry(record.payload)
        outcome, record_events = again.apply(entry.command, record.seq)
        assert outcome == entry.outcome
        events += record_events
    assert events == live_events


def test_snapshot_plus_tail_equals_full_replay(tmp_path):
    write_session(tmp_path / "j", 3000, seed=5, snapshot_every=700)
    snapshots = list_snapshots(tmp_path / "j")
    assert len(snapshots) >= 3
    fast = recover(tmp_path / "j")
    full = replay(tmp_path / "j")
    assert fast.snapshot_seq == snapshots[0].seq and fast.replayed == fast.last_seq - fast.snapshot_seq
    assert full.snapshot_seq == 0
    assert state_of(fast.machine) == state_of(full.machine)


def test_a_snapshot_that_does_not_match_the_chain_is_not_used(tmp_path):
    write_session(tmp_path / "a", 800, seed=1, snapshot_every=300)
    write_session(tmp_path / "b", 800, seed=2)
    newest = list_snapshots(tmp_path / "a")[0]
    (tmp_path / "b" / newest.path.name).write_bytes(newest.path.read_bytes())  # another journal's snapshot
    recovered = recover(tmp_path / "b")
    assert recovered.snapshot_seq == 0
    assert state_of(recovered.machine) == state_of(replay(tmp_path / "b").machine)


def test_a_damaged_snapshot_is_reported(tmp_path):
    write_session(tmp_path / "j", 500, snapshot_every=200)
    snap = list_snapshots(tmp_path / "j")[0].path
    data = bytearray(snap.read_bytes())
    data[-3] ^= 0xFF
    snap.write_bytes(bytes(data))
    with pytest.raises(JournalError, match="snapshot body is damaged"):
        recover(tmp_path / "j")


def test_replay_names_the_first_record_whose_decision_differs(tmp_path):
    """A journal whose recorded outcome was not what the engine decides (a forged record with a
    valid chain) fails replay at that seq."""
    session = SyntheticSession(3, accounts=2, instruments=4)
    live = Journaled.create(tmp_path / "j", session.genesis(), fsync="none")
    live.submit(OpenAccount(tier="standard"))
    live.submit(Deposit(account=0, amount=10_000))
    # forge: claim a deposit to an unknown account succeeded
    live.journal.append(encode_entry(Deposit(account=5, amount=10_000), Outcome(0)))
    live.close()
    with pytest.raises(Divergence, match="divergence at seq 4: Deposit recorded .*replayed .*201"):
        replay(tmp_path / "j")


def test_the_journal_is_single_writer(tmp_path):
    write_session(tmp_path / "j", 10)
    first = FileJournal(str(tmp_path / "j" / "journal.log"))
    with pytest.raises(JournalError, match="another process"):
        FileJournal(str(tmp_path / "j" / "journal.log"))
    first.close()
    FileJournal(str(tmp_path / "j" / "journal.log")).close()


@pytest.mark.parametrize("policy", ["every-batch", "interval", "none"])
def test_fsync_policies(tmp_path, policy):
    session = SyntheticSession(1, accounts=2, instruments=4)
    journaled = Journaled.create(tmp_path / "j", session.genesis(), fsync=policy)
    journal = journaled.journal
    journal.interval_s = 3600  # the interval policy must not fsync within this test
    seq, _ = journaled.submit(Tick(instrument="600000", price=1))
    assert journal.written_seq < seq
    assert journaled.commit() == seq
    assert journal.written_seq == seq
    assert journal.durable_seq == (seq if policy == "every-batch" else 1)
    journal.sync()
    assert journal.durable_seq == seq
    journaled.close()


def test_creating_over_an_existing_journal_is_refused(tmp_path):
    write_session(tmp_path / "j", 10)
    with pytest.raises(FileExistsError):
        Journaled.create(tmp_path / "j", SyntheticSession(1).genesis())


def test_a_journal_continues_after_reopening(tmp_path):
    write_session(tmp_path / "j", 200, seed=9)
    reopened = Journaled.open(tmp_path / "j")
    before = reopened.journal.seq
    reopened.submit(Deposit(account=0, amount=12_345))
    reopened.close()
    recovered = recover(tmp_path / "j")
    assert recovered.last_seq == before + 1
    assert state_of(recovered.machine) == state_of(replay(tmp_path / "j").machine)


def test_the_file_journal_reads_back_what_it_wrote(tmp_path):
    journaled = write_session(tmp_path / "j", 50)
    reader = FileJournal(str(tmp_path / "j" / "journal.log"))
    records = reader.records(after_seq=40)
    assert [seq for seq, _ in records] == list(range(41, journaled.journal.seq + 1))
    assert reader.chain_at(journaled.journal.seq) == journaled.journal.chain
    reader.close()


def test_opening_after_recovery_does_not_scan_the_journal_again(tmp_path, monkeypatch):
    """Recovery verified every record; opening the journal for writing continues from its
    reading when the file is still the one it read."""
    from gateway.journal import file as journal_file

    write_session(tmp_path / "j", 400)
    scans = []
    real_scan = journal_file.scan
    monkeypatch.setattr(journal_file, "scan", lambda *a, **k: scans.append(a) or real_scan(*a, **k))
    journaled = Journaled.open(tmp_path / "j", fsync="none")
    assert scans == []
    recovered = journaled.recovered
    assert (journaled.journal.seq, journaled.journal.chain, journaled.journal.end) == \
        (recovered.last_seq, recovered.chain, recovered.end)
    journaled.submit(Deposit(account=0, amount=7))
    journaled.commit()
    journaled.close()
    assert replay(tmp_path / "j").last_seq == recovered.last_seq + 1


def test_a_journal_changed_since_it_was_read_is_scanned_again(tmp_path, monkeypatch):
    from gateway.journal import file as journal_file

    write_session(tmp_path / "j", 200)
    recovered = recover(tmp_path / "j")
    more = Journaled.open(tmp_path / "j", fsync="none")  # another writer adds a record after that reading
    more.submit(Deposit(account=0, amount=3))
    more.commit()
    more.close()
    scans = []
    real_scan = journal_file.scan
    monkeypatch.setattr(journal_file, "scan", lambda *a, **k: scans.append(a) or real_scan(*a, **k))
    journal = FileJournal(str(tmp_path / "j" / "journal.log"), "none", read=recovered)
    assert len(scans) == 1 and journal.seq == recovered.last_seq + 1
    journal.close()
