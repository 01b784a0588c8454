"""Recovery reads the journal from the newest snapshot's record on, not from its start.

A snapshot (format 2) records where its record sits in the journal file. Recovery checks that
record (whole, the snapshot's seq, the snapshot's chain) and verifies and replays only what
follows; a snapshot whose record is not there is refused like one whose chain differs, and an
older one (or the genesis) is used instead. The full check of the journal from its start is
`replay` (`beacon replay`, `beacon journal verify`).
"""

import msgspec
import pytest

from core.commands import Deposit
from gateway.journal.errors import CorruptJournal
from gateway.journal.file import FileJournal
from gateway.journal.format import RECORD_HEADER
from gateway.journal.journaled import Journaled
from gateway.journal.recovery import recover, replay
from gateway.journal.snapshots import HEADER, HEADER_V1, list_snapshots
from tests.gateway.journal.conftest import write_session


def state_of(machine) -> bytes:
    return msgspec.msgpack.encode(machine.export_state())


def record_at(log, offset: int) -> tuple[int, bytes]:
    """(seq, chain) of the record that starts at offset."""
    _, _, seq, chain = RECORD_HEADER.unpack_from(log.read_bytes(), offset)
    return seq, chain


def damage_record(log, offset: int) -> None:
    """Flip a byte in the payload of the record at offset (its CRC no longer matches)."""
    data = bytearray(log.read_bytes())
    data[offset + RECORD_HEADER.size + 2] ^= 0xFF
    log.write_bytes(bytes(data))


def set_offset(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[HEADER.size - 8:HEADER.size] = offset.to_bytes(8, "little")
    path.write_bytes(bytes(data))


@pytest.fixture
def journal(tmp_path, framing):
    directory = tmp_path / "j"
    write_session(directory, 3000, seed=7, snapshot_every=700)
    more = Journaled.open(directory, fsync="none")  # a tail after the newest snapshot, to replay
    for amount in range(1, 51):
        more.submit(Deposit(account=0, amount=amount))
    more.close()
    return directory


def test_each_snapshot_records_where_its_record_is(journal):
    log = journal / "journal.log"
    snapshots = list_snapshots(journal)
    assert len(snapshots) >= 2
    for snapshot in snapshots:
        assert snapshot.offset > 0
        assert record_at(log, snapshot.offset) == (snapshot.seq, snapshot.chain)


def test_recovery_starts_at_the_snapshots_record_and_reads_nothing_before_it(journal):
    log = journal / "journal.log"
    intact = state_of(replay(journal).machine)
    newest = list_snapshots(journal)[0]
    # a record long before the snapshot is damaged: only a reading from the start can see it
    damage_record(log, 16)  # the genesis record, the first in the file
    recovered = recover(journal)
    assert recovered.snapshot_seq == newest.seq and recovered.replayed == 50
    assert state_of(recovered.machine) == intact
    with pytest.raises(CorruptJournal, match="seq 1"):
        replay(journal)  # the full check still finds it


@pytest.mark.parametrize("wrong", ["another record", "inside a record", "past the end", "before the records"])
def test_a_snapshot_whose_record_is_not_at_its_offset_is_refused(journal, wrong):
    log = journal / "journal.log"
    newest, older = list_snapshots(journal)[:2]
    size = log.stat().st_size
    offset = {"another record": older.offset, "inside a record": newest.offset + 5, "past the end": size + 100,
              "before the records": 3}[wrong]
    set_offset(newest.path, offset)
    recovered = recover(journal)
    assert recovered.snapshot_seq == older.seq  # the older snapshot, still anchored at its own record
    assert state_of(recovered.machine) == state_of(replay(journal).machine)


def test_a_snapshot_past_a_journal_cut_short_is_refused(journal):
    """The journal lost its tail (a crash before the writes reached the disk): the newest
    snapshot's record is gone, and recovery starts from the older one."""
    log = journal / "journal.log"
    newest, older = list_snapshots(journal)[:2]
    with open(log, "r+b") as fh:
        fh.truncate(newest.offset + 10)  # the snapshot's own record is cut short
    recovered = recover(journal)
    assert recovered.snapshot_seq == older.seq and recovered.last_seq == newest.seq - 1
    assert recovered.torn_bytes == 10


def test_a_format_1_snapshot_is_still_read_from_the_journals_start(journal):
    log = journal / "journal.log"
    for snapshot in list_snapshots(journal):  # rewrite every snapshot as format 1 (no offset)
        data = snapshot.path.read_bytes()
        fields = list(HEADER.unpack_from(data))
        fields[1] = 1
        snapshot.path.write_bytes(HEADER_V1.pack(*fields[:-1]) + data[HEADER.size:])
    newest = list_snapshots(journal)[0]
    assert newest.offset == 0
    recovered = recover(journal)
    assert recovered.snapshot_seq == newest.seq
    assert state_of(recovered.machine) == state_of(replay(journal).machine)
    damage_record(log, 16)
    with pytest.raises(CorruptJournal, match="seq 1"):
        recover(journal)  # read from the start: the damage is found


def test_a_snapshot_after_reopening_is_anchored_too(tmp_path, framing):
    directory = tmp_path / "j"
    write_session(directory, 500, seed=3)
    reopened = Journaled.open(directory, fsync="none")
    reopened.submit(Deposit(account=0, amount=777))
    path = reopened.snapshot()
    seq = reopened.journal.seq
    reopened.close()
    snapshot = next(s for s in list_snapshots(directory) if s.path == path)
    assert snapshot.seq == seq and record_at(directory / "journal.log", snapshot.offset) == (seq, snapshot.chain)
    recovered = recover(directory)
    assert recovered.snapshot_seq == seq and recovered.replayed == 0


def test_opening_knows_where_the_last_record_starts(tmp_path, framing):
    directory = tmp_path / "j"
    write_session(directory, 300, seed=4)
    log = directory / "journal.log"
    for reading in ("recovered", "scanned"):  # Journaled.open hands its recovery over; a bare open scans
        journal = Journaled.open(directory, fsync="none").journal if reading == "recovered" \
            else FileJournal(str(log), "none")
        assert journal.last_offset > 0 and record_at(log, journal.last_offset) == (journal.seq, journal.chain)
        journal.close()


def snapshot_at_rest(tmp_path):
    """A journal opened and snapshotted at once, nothing appended (`beacon journal snapshot`):
    its directory and that snapshot."""
    directory = tmp_path / "j"
    write_session(directory, 300, seed=4)
    reopened = Journaled.open(directory, fsync="none")
    reopened.snapshot()
    reopened.close()
    return directory, list_snapshots(directory)[0]


def test_a_snapshot_right_after_opening_is_anchored(tmp_path, framing):
    """`beacon journal snapshot` opens the journal and snapshots its head at once, with nothing
    appended: that snapshot too records where its record is, so the next start reads from there."""
    directory, newest = snapshot_at_rest(tmp_path)
    assert newest.offset > 0 and record_at(directory / "journal.log", newest.offset) == (newest.seq, newest.chain)
    damage_record(directory / "journal.log", 16)  # only a reading from the journal's start could see it
    recovered = recover(directory)
    assert recovered.snapshot_seq == newest.seq and recovered.replayed == 0
    assert recovered.last_offset == newest.offset  # nothing after it: the snapshot's record is the last


def test_the_last_record_survives_a_torn_tail(tmp_path, framing):
    directory = tmp_path / "j"
    write_session(directory, 300, seed=4)
    log = directory / "journal.log"
    whole = FileJournal(str(log), "none")
    seq, chain, last = whole.seq, whole.chain, whole.last_offset
    end = whole.end
    whole.close()
    with open(log, "r+b") as fh:  # half a record after the last whole one, as a crash leaves it
        fh.seek(end)
        fh.write(b"\x40\x00\x00\x00" + b"\xee" * 30)
    reopened = FileJournal(str(log), "none")
    assert reopened.torn_bytes > 0 and (reopened.seq, reopened.chain, reopened.last_offset) == (seq, chain, last)
    reopened.close()


def test_a_snapshot_of_an_unknown_offset_is_read_from_the_start(tmp_path):
    directory, newest = snapshot_at_rest(tmp_path)
    set_offset(newest.path, 0)  # as written before the offset was known at opening: 0, not known
    assert list_snapshots(directory)[0].offset == 0
    recovered = recover(directory)
    assert recovered.snapshot_seq == newest.seq and recovered.replayed == 0
