"""Framing, the hash chain, and what reading a damaged or foreign file reports."""

import os
import struct

import pytest
from hypothesis import given, settings, strategies as st

from gateway.journal import format as F
from gateway.journal.errors import CorruptJournal, JournalError
from gateway.journal.format import FRAME_OVERHEAD, HEADER_SIZE, scan
from gateway.journal.recovery import recover

LOG = "journal.log"


def test_the_c_framing_is_built_and_used_by_default():
    from gateway.journal import _framing

    assert F.framing is _framing and _framing.implementation == "c"


@settings(max_examples=300, deadline=None)
@given(seq=st.integers(1, 2**63), chain=st.binary(min_size=16, max_size=16), payload=st.binary(max_size=600))
def test_c_and_python_framing_write_identical_bytes(seq, chain, payload):
    from gateway.journal import _framing as C

    P = F.python_framing
    assert C.next_chain(chain, seq, payload) == P.next_chain(chain, seq, payload)
    assert C.frame(seq, chain, payload) == P.frame(seq, chain, payload)
    a, b = bytearray(b"x"), bytearray(b"x")
    assert C.append_record(a, seq, chain, payload) == P.append_record(b, seq, chain, payload)
    assert a == b


@settings(max_examples=300, deadline=None)
@given(seq=st.integers(1, 2**63), chain=st.binary(min_size=16, max_size=16), order=st.integers(-999, 2**40),
       detail=st.lists(st.integers(-2**62, 2**62), max_size=8), coid=st.text(min_size=1, max_size=64),
       head=st.binary(max_size=40))
def test_an_entry_encoded_in_place_is_the_entry_framed(seq, chain, order, detail, coid, head):
    """The order path's append_entry writes the bytes append_record writes for encode_entry's payload,
    in C and in Python, after whatever the buffer already held."""
    from core.commands import ENCODER, BrokerAck, Outcome, PlaceOrder, encode_entry
    from gateway.journal import _framing as C

    P = F.python_framing
    for command, outcome in (
            (PlaceOrder(account=7, instrument="600036", side=1, price=4300, qty=100, client_order_id=coid, ts=seq),
             Outcome(order, tuple(detail))),
            (BrokerAck(order=abs(order), broker_order_id=coid, ts=seq), Outcome(0))):
        expected = bytearray(head)
        new_chain = P.append_record(expected, seq, chain, encode_entry(command, outcome))
        for impl in (C, P):
            buf = bytearray(head)
            assert impl.append_entry(buf, seq, chain, ENCODER.encode_into, command, outcome) == new_chain
            assert buf == expected


def record_offsets(path) -> list[int]:
    offsets = []
    data = open(path, "rb").read()
    pos = HEADER_SIZE
    while pos + FRAME_OVERHEAD <= len(data):
        offsets.append(pos)
        (length,) = struct.unpack_from("<I", data, pos)
        pos += FRAME_OVERHEAD + length
    return offsets


def rewrite(path, mutate):
    data = bytearray(open(path, "rb").read())
    mutate(data)
    open(path, "wb").write(bytes(data))


def test_a_clean_journal_verifies(journal_dir, framing):
    result = scan(str(journal_dir / LOG), 1)
    assert result.last_seq > 600 and result.torn_bytes == 0


def test_flipping_a_byte_in_a_middle_record_names_its_seq(journal_dir, framing):
    path = journal_dir / LOG
    offsets = record_offsets(path)
    rewrite(path, lambda d: d.__setitem__(offsets[99] + FRAME_OVERHEAD + 2, d[offsets[99] + FRAME_OVERHEAD + 2] ^ 1))
    with pytest.raises(CorruptJournal) as err:
        scan(str(path), 1)
    assert err.value.seq == 100 and "checksum" in str(err.value)


def test_an_edit_with_a_recomputed_checksum_breaks_the_chain(journal_dir, framing):
    """The attacker rewrites a record and fixes its CRC; the chain still catches it."""
    path = journal_dir / LOG
    offsets = record_offsets(path)
    at = offsets[199]

    def edit(d):
        length, _, seq, chain = struct.unpack_from("<IIQ16s", d, at)
        payload = bytearray(d[at + FRAME_OVERHEAD: at + FRAME_OVERHEAD + length])
        payload[-1] ^= 1
        d[at:at + FRAME_OVERHEAD + length] = F.python_framing.frame(seq, chain, bytes(payload))

    rewrite(path, edit)
    with pytest.raises(CorruptJournal) as err:
        scan(str(path), 1)
    assert err.value.seq == 200 and "hash chain" in str(err.value)


def test_deleting_a_record_is_reported(journal_dir, framing):
    path = journal_dir / LOG
    offsets = record_offsets(path)
    rewrite(path, lambda d: d.__delitem__(slice(offsets[49], offsets[50])))
    with pytest.raises(CorruptJournal) as err:
        scan(str(path), 1)
    assert err.value.seq == 50 and "found seq 51 where 50 was expected" in str(err.value)


def test_swapping_two_records_is_reported(journal_dir, framing):
    path = journal_dir / LOG
    offsets = record_offsets(path)

    def swap(d):
        a = bytes(d[offsets[299]:offsets[300]])
        b = bytes(d[offsets[300]:offsets[301]])
        d[offsets[299]:offsets[301]] = b + a

    rewrite(path, swap)
    with pytest.raises(CorruptJournal) as err:
        scan(str(path), 1)
    assert err.value.seq == 300 and "found seq 301 where 300 was expected" in str(err.value)


def test_a_renumbered_deletion_still_breaks_the_chain(journal_dir, framing):
    """Delete record 10 and renumber every later record with valid CRCs: the chain catches it."""
    path = journal_dir / LOG
    offsets = record_offsets(path)

    def delete_and_renumber(d):
        tail = bytearray()
        pos = offsets[10]
        while pos < len(d):
            length, _, seq, chain = struct.unpack_from("<IIQ16s", d, pos)
            payload = bytes(d[pos + FRAME_OVERHEAD: pos + FRAME_OVERHEAD + length])
            tail += F.python_framing.frame(seq - 1, chain, payload)
            pos += FRAME_OVERHEAD + length
        d[offsets[9]:] = tail

    rewrite(path, delete_and_renumber)
    with pytest.raises(CorruptJournal) as err:
        scan(str(path), 1)
    assert err.value.seq == 10 and "hash chain" in str(err.value)


@pytest.mark.parametrize("cut", [1, 7, FRAME_OVERHEAD, FRAME_OVERHEAD + 3])
def test_a_torn_tail_is_found_and_truncated_on_open(journal_dir, framing, cut):
    path = journal_dir / LOG
    whole = scan(str(path), 1)
    with open(path, "ab") as fh:  # a record cut short by a crash
        frame = F.python_framing.frame(whole.last_seq + 1, bytes(16), b"x" * 40)
        fh.write(frame[:cut])
    result = scan(str(path), 1)
    assert (result.last_seq, result.torn_bytes) == (whole.last_seq, cut)
    recovered = recover(journal_dir)
    assert recovered.torn_bytes == cut and recovered.last_seq == whole.last_seq
    from gateway.journal.journaled import Journaled

    journaled = Journaled.open(journal_dir)
    assert os.path.getsize(path) == whole.end
    journaled.close()


def test_a_damaged_last_record_is_a_torn_tail(journal_dir, framing):
    path = journal_dir / LOG
    size = os.path.getsize(path)
    rewrite(path, lambda d: d.__setitem__(size - 1, d[size - 1] ^ 0xFF))
    result = scan(str(path), 1)
    assert result.torn_bytes > 0 and result.end < size


def test_bad_files_give_clear_errors(tmp_path):
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    with pytest.raises(JournalError, match="empty file"):
        scan(str(empty), 1)
    foreign = tmp_path / "foreign.log"
    foreign.write_bytes(b"%PDF-1.7\n" + os.urandom(200))
    with pytest.raises(JournalError, match="not a Beacon journal"):
        scan(str(foreign), 1)
    short = tmp_path / "short.log"
    short.write_bytes(b"BEACONJ")
    with pytest.raises(JournalError, match="not a Beacon journal"):
        scan(str(short), 1)
    future = tmp_path / "future.log"
    future.write_bytes(F.FILE_HEADER.pack(F.MAGIC, 1, 99, 0))
    with pytest.raises(JournalError, match="schema version 99 is newer"):
        scan(str(future), 1)
    other_format = tmp_path / "format.log"
    other_format.write_bytes(F.FILE_HEADER.pack(F.MAGIC, 7, 1, 0))
    with pytest.raises(JournalError, match="format version 7"):
        scan(str(other_format), 1)
    with pytest.raises(JournalError, match="no such journal"):
        recover(tmp_path / "nothing-here")


def test_a_truncated_journal_recovers_to_its_last_whole_record(journal_dir, framing):
    path = journal_dir / LOG
    offsets = record_offsets(path)
    os.truncate(path, offsets[400] + 20)  # cut inside record 401
    recovered = recover(journal_dir)
    assert recovered.last_seq == 400 and recovered.torn_bytes == 20


# ---------------------------------------------------------------- the space allocated ahead


def _open_copy(journal_dir, tmp_path, extra: int = 64 * 1024):
    """The journal as a crash leaves it while open: its records, then zeros (the allocated space)."""
    from gateway.journal.file import FileJournal

    journal = FileJournal(str(journal_dir / LOG), "none")
    journal.append(b"one more record")
    journal.commit()
    assert os.path.getsize(journal.path) >= journal.end + extra  # room allocated ahead while open
    copy = tmp_path / "crashed"
    copy.mkdir()
    (copy / LOG).write_bytes(open(journal.path, "rb").read())  # what is on disk at that moment
    seq, end = journal.seq, journal.end
    journal.close()
    assert os.path.getsize(journal.path) == end  # a closed journal ends at its last record
    return copy / LOG, seq, end


def test_the_zeros_after_the_records_are_not_a_torn_tail(journal_dir, tmp_path, framing):
    path, seq, end = _open_copy(journal_dir, tmp_path)
    result = scan(str(path), 1)
    assert (result.last_seq, result.end, result.torn_bytes) == (seq, end, 0)
    from gateway.journal.file import FileJournal

    journal = FileJournal(str(path), "none")  # reopened after the crash: appends go after the last record
    assert journal.torn_bytes == 0 and journal.end == end
    journal.append(b"after the crash")
    journal.close()
    records = F.iter_records(str(path), 1)
    assert records[-1].seq == seq + 1 and records[-1].payload == b"after the crash"
    assert os.path.getsize(path) == journal.end


def test_a_damaged_record_before_the_zeros_is_a_torn_tail(journal_dir, tmp_path, framing):
    path, seq, end = _open_copy(journal_dir, tmp_path)
    rewrite(path, lambda d: d.__setitem__(end - 1, d[end - 1] ^ 0xFF))  # the last record's last byte
    result = scan(str(path), 1)
    assert result.last_seq == seq - 1 and result.torn_bytes == os.path.getsize(path) - result.end > 0
    assert recover(path.parent).last_seq == seq - 1


def test_data_after_the_zeros_is_corruption(journal_dir, tmp_path, framing):
    path, seq, end = _open_copy(journal_dir, tmp_path)
    rewrite(path, lambda d: d.__setitem__(end + 4096, 1))  # something written past a hole
    with pytest.raises(CorruptJournal) as found:
        scan(str(path), 1)
    assert found.value.seq == seq + 1


@pytest.mark.parametrize("data", [b"", b"x", bytes(range(256)) * 300, bytearray(b"journal batch")])
def test_write_all_writes_every_byte_in_c_and_in_python(tmp_path, data):
    from gateway.journal import _framing as C

    for impl in (C, F.python_framing):
        path = tmp_path / f"out-{impl.implementation}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            impl.write_all(fd, data)
            impl.write_all(fd, data)
        finally:
            os.close(fd)
        assert path.read_bytes() == bytes(data) * 2


def test_write_all_raises_oserror_with_the_errno_in_c_and_in_python():
    import errno

    from gateway.journal import _framing as C

    for impl in (C, F.python_framing):
        with pytest.raises(OSError) as failure:
            impl.write_all(-1, b"lost")
        assert failure.value.errno == errno.EBADF
