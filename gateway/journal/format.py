"""The journal file format: a header, then framed records chained by a running hash.

    file header (16 bytes): magic b"BEACONJ\\n", u16 format version, u16 schema version, u32 0
    record: u32 payload length | u32 crc32 | u64 seq | 16-byte chain | payload
    payload: u32 command length | command (msgpack) | outcome (msgpack)   (core.commands)

While a journal is open its file may end in zeros after the last record: the writer allocates
space ahead (file.py). Reading stops at the first record header that is all zeros when nothing
but zeros follows; a record that fails its checksum with only zeros after it is a torn tail,
like one cut short at the end of the file.

`crc32` (zlib's) covers seq, chain and payload: it tells a torn or damaged record
from a whole one. `chain` is the first 16 bytes of SHA-256 over (previous chain,
seq, payload), starting from 16 zero bytes: editing, deleting, inserting or
reordering any past record changes every chain after it, so it is detected on read
even when the CRC is recomputed. Integers are little-endian.

The framing runs in C (`_framing.pyx`, OpenSSL's SHA-256 and zlib's CRC-32) when the
extension is built, else in the Python below; both give identical bytes, and
BEACON_NO_EXTENSIONS=1 forces Python.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
import traceback
import zlib
from typing import NamedTuple

from .errors import CorruptJournal, JournalError, SnapshotMismatch

MAGIC = b"BEACONJ\n"
FORMAT_VERSION = 1
FILE_HEADER = struct.Struct("<8sHHI")
RECORD_HEADER = struct.Struct("<IIQ16s")
HEADER_SIZE = FILE_HEADER.size  # 16
FRAME_OVERHEAD = RECORD_HEADER.size  # 32
GENESIS_CHAIN = bytes(16)
MAX_PAYLOAD = 64 * 1024 * 1024  # a genesis record with a large universe is the biggest
_SEQ = struct.Struct("<Q")
_SEQ_CHAIN = struct.Struct("<Q16s")
_LEN = struct.Struct("<I")


_ZEROS = bytes(1 << 20)


def _zeros_from(view, start: int, size: int) -> bool:
    """Whether view[start:size] is all zero bytes (the space allocated ahead of the records)."""
    while start < size:
        n = min(size - start, len(_ZEROS))
        if view[start:start + n] != _ZEROS[:n]:
            return False
        start += n
    return True


def file_header(schema_version: int) -> bytes:
    return FILE_HEADER.pack(MAGIC, FORMAT_VERSION, schema_version, 0)


def read_file_header(head: bytes, path: str, supported_schema: int) -> int:
    """Check a journal's header; its schema version. Raises JournalError naming the problem."""
    if len(head) == 0:
        raise JournalError(f"{path}: empty file, not a journal")
    if len(head) < HEADER_SIZE or head[:8] != MAGIC:
        raise JournalError(f"{path}: not a Beacon journal (bad magic)")
    _, fmt, schema, _ = FILE_HEADER.unpack_from(head)
    if fmt != FORMAT_VERSION:
        raise JournalError(f"{path}: journal format version {fmt}; this Beacon reads version {FORMAT_VERSION}")
    if schema > supported_schema:
        raise JournalError(f"{path}: journal schema version {schema} is newer than this Beacon "
                           f"(supports up to {supported_schema}); upgrade to read it")
    return schema


# ---------------------------------------------------------------- the Python framing
class _PyFraming:
    implementation = "python"

    @staticmethod
    def next_chain(chain: bytes, seq: int, payload) -> bytes:
        h = hashlib.sha256(chain)
        h.update(_SEQ.pack(seq))
        h.update(payload)
        return h.digest()[:16]

    @staticmethod
    def frame(seq: int, chain: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(payload, zlib.crc32(_SEQ_CHAIN.pack(seq, chain)))
        return RECORD_HEADER.pack(len(payload), crc, seq, chain) + payload

    @classmethod
    def append_record(cls, buf: bytearray, seq: int, chain: bytes, payload: bytes) -> bytes:
        new = cls.next_chain(chain, seq, payload)
        buf += cls.frame(seq, new, payload)
        return new

    @staticmethod
    def write_all(fd: int, data) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]

    @classmethod
    def append_entry(cls, buf: bytearray, seq: int, chain: bytes, encode_into, command, outcome) -> bytes:
        payload = bytearray(4)
        encode_into(command, payload, 4)
        payload[:4] = _LEN.pack(len(payload) - 4)
        encode_into(outcome, payload, -1)
        return cls.append_record(buf, seq, chain, bytes(payload))

    @staticmethod
    def scan_view(view: memoryview, size: int, on_record, stop_after: int, max_payload: int, chain_at, chains=None,
                  start=(HEADER_SIZE, 0, GENESIS_CHAIN)):
        """`start`: (offset, seq, chain) to read on from: the file's first record by default.
        Returns (last_seq, chain, end_offset, chains, last_offset), as _framing.scan_view."""
        unpack = RECORD_HEADER.unpack_from
        crc32 = zlib.crc32
        sha = hashlib.sha256
        pack_seq = _SEQ.pack
        pos, seq, chain = start
        last = 0
        chains = {} if chains is None else chains
        while pos + FRAME_OVERHEAD <= size:
            length, crc, rseq, rchain = unpack(view, pos)
            expected = seq + 1
            start = pos + FRAME_OVERHEAD
            end = start + length
            if end > size:
                if length > max_payload and size - pos > FRAME_OVERHEAD + max_payload:
                    raise CorruptJournal(expected, pos, f"record length {length} is not plausible")
                break  # the last record was cut short: a torn tail
            payload = view[start:end]
            if crc32(payload, crc32(view[pos + 8:start])) != crc:
                if end == size or _zeros_from(view, end, size):
                    break  # the last record is damaged (torn while being written), or the zeros after it
                raise CorruptJournal(expected, pos, "checksum mismatch: the record is damaged")
            if rseq != expected:
                what = "missing record(s) before it" if rseq > expected else "out of order or duplicated"
                raise CorruptJournal(expected, pos, f"found seq {rseq} where {expected} was expected ({what})")
            h = sha(chain)
            h.update(pack_seq(rseq))
            h.update(payload)
            chain = h.digest()[:16]
            if chain != rchain:
                raise CorruptJournal(rseq, pos, "hash chain broken: this record or one before it was edited")
            seq = rseq
            if chain_at and seq in chain_at:
                chains[seq] = chain
            if on_record is not None:
                on_record(seq, payload)
            last, pos = pos, end
            if stop_after and seq >= stop_after:
                break
        return seq, chain, pos, chains, last


    @classmethod
    def replay_view(cls, view, size, skip_until, decode, execute, encode, on_mismatch, on_entry, max_payload,
                    chain_at, empty=None, empty_bytes=None, expect_chain=None, handlers=None, anchor=0):
        replayed = 0
        anchored = bool(anchor) and expect_chain is not None
        start = (HEADER_SIZE, 0, GENESIS_CHAIN)
        if anchored:
            start = (_after_anchor(view, size, anchor, skip_until, expect_chain), skip_until, expect_chain)
        chain_at = set(chain_at) | {skip_until}
        found = {}

        def on_record(seq, payload):
            nonlocal replayed
            if seq <= skip_until:
                if seq == skip_until and expect_chain is not None and found.get(seq) != expect_chain:
                    raise SnapshotMismatch(f"the snapshot's chain differs from the journal's at seq {seq}")
                return
            if len(payload) < 4:
                raise CorruptJournal(seq, -1, "payload too short for an entry")
            (n,) = _LEN.unpack_from(payload)
            if 4 + n > len(payload):
                raise CorruptJournal(seq, -1, "entry command length runs past the record")
            command = decode(payload[4:4 + n])
            outcome = execute(command)
            recorded = payload[4 + n:]
            if encode(outcome) != recorded:
                on_mismatch(seq, command, outcome, recorded)
            if on_entry is not None:
                on_entry(seq, command, outcome, recorded)
            replayed += 1

        seq, chain, pos, chains, last = cls.scan_view(view, size, on_record, 0, max_payload, chain_at, found, start)
        if expect_chain is not None and seq < skip_until:
            raise SnapshotMismatch(f"the snapshot is at seq {skip_until}, past the journal's end at seq {seq}")
        if anchored and not last:
            last = anchor  # nothing after the snapshot's record: it is the last
        return seq, chain, pos, chains, replayed, last


def _after_anchor(view, size: int, anchor: int, seq: int, expect_chain: bytes) -> int:
    """The offset after the record at `anchor`, checked to be whole (its CRC) and to be record seq
    with the chain value expect_chain (a snapshot's); SnapshotMismatch if it is not."""
    if anchor < HEADER_SIZE or anchor + FRAME_OVERHEAD > size:
        raise SnapshotMismatch(f"the snapshot's record offset {anchor} is outside the journal")
    length, crc, rseq, rchain = RECORD_HEADER.unpack_from(view, anchor)
    end = anchor + FRAME_OVERHEAD + length
    if (end > size or zlib.crc32(view[anchor + FRAME_OVERHEAD:end], zlib.crc32(view[anchor + 8:anchor + 32])) != crc
            or rseq != seq or rchain != expect_chain):
        raise SnapshotMismatch(f"the journal's record at offset {anchor} is not the snapshot's seq {seq}")
    return end


def _select():
    if os.environ.get("BEACON_NO_EXTENSIONS", "") not in ("", "0"):
        return _PyFraming
    try:
        from . import _framing
    except ImportError:
        return _PyFraming
    return _framing


framing = _select()
python_framing = _PyFraming
zeros_from = getattr(framing, "zeros_from", _zeros_from)
next_chain = framing.next_chain
frame = framing.frame
append_record = framing.append_record
append_entry = framing.append_entry
write_all = framing.write_all


class Record(NamedTuple):
    seq: int
    payload: bytes


class ScanResult(NamedTuple):
    last_seq: int
    chain: bytes
    end: int  # offset just after the last whole record
    torn_bytes: int  # bytes after it that do not make a whole record (a torn tail); zeros are not torn
    chains: dict  # chain values at the requested seqs
    last_offset: int = 0  # where the last whole record starts (0: no record)


def file_identity(st: os.stat_result) -> tuple[int, int, int, int]:
    """What tells a journal file unchanged since it was read: device, inode, size, mtime."""
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _with_mapped(path: str, supported_schema: int, use):
    """Map the journal read-only and call use(view, size); (its result, or None for a header-only
    file, and the file's stat as read).

    An error raised inside leaves memoryview slices of the map alive in its traceback; they are
    cleared before unmapping, so the caller sees that error and not a BufferError."""
    with open(path, "rb") as fh:
        read_file_header(fh.read(HEADER_SIZE), path, supported_schema)
        st = os.fstat(fh.fileno())
        size = st.st_size
        if size == HEADER_SIZE:
            return None, st
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        view = memoryview(mm)
        try:
            return use(view, size), st
        except BaseException as exc:
            traceback.clear_frames(exc.__traceback__)
            raise
        finally:
            view.release()
            mm.close()


def scan(path: str, supported_schema: int, on_record=None, stop_after: int = 0, chain_at=(),
         impl=None) -> ScanResult:
    """Read and verify every record, calling on_record(seq, payload) for each whole one
    (payload is a memoryview valid during the call).

    A damaged record followed by more data is corruption (CorruptJournal naming its seq). A
    damaged or incomplete record at the very end is a torn tail from a crash: the result
    says how many bytes it has, and the caller may truncate them.
    """
    impl = impl or framing

    def use(view, size):
        seq, chain, end, chains, last = impl.scan_view(view, size, on_record, stop_after, MAX_PAYLOAD,
                                                       set(chain_at))
        return seq, chain, end, chains, last, zeros_from(view, end, size)

    found, st = _with_mapped(path, supported_schema, use)
    size = st.st_size
    if found is None:
        return ScanResult(0, GENESIS_CHAIN, HEADER_SIZE, 0, {})
    seq, chain, end, chains, last, clean = found
    return ScanResult(seq, chain, end, 0 if clean or (stop_after and seq >= stop_after) else size - end, chains,
                      last)


class ReplayResult(NamedTuple):
    last_seq: int
    chain: bytes
    end: int
    torn_bytes: int
    chains: dict
    replayed: int
    identity: tuple = ()  # the file as read (file_identity): a writer that finds it unchanged need not scan it again
    last_offset: int = 0  # where the last whole record starts (0: no record)


def replay_file(path: str, supported_schema: int, skip_until: int, decode, execute, encode, on_mismatch,
                on_entry=None, chain_at=(), impl=None, empty=None, expect_chain=None, handlers=None,
                anchor: int = 0) -> ReplayResult:
    """Verify every record and re-execute those after skip_until (see _framing.replay_view); with an
    anchor (the offset of record skip_until, whose chain is expect_chain), read only from there."""
    impl = impl or framing
    empty_bytes = None if empty is None else encode(empty)

    def use(view, size):
        found = impl.replay_view(view, size, skip_until, decode, execute, encode, on_mismatch, on_entry, MAX_PAYLOAD,
                                 set(chain_at), empty, empty_bytes, expect_chain, handlers, anchor)
        return found, zeros_from(view, found[2], size)

    result, st = _with_mapped(path, supported_schema, use)
    if result is None:
        return ReplayResult(0, GENESIS_CHAIN, HEADER_SIZE, 0, {}, 0, file_identity(st))
    (seq, chain, end, chains, replayed, last), clean = result
    return ReplayResult(seq, chain, end, 0 if clean else st.st_size - end, chains, replayed, file_identity(st),
                        last)


def iter_records(path: str, supported_schema: int) -> list[Record]:
    """All whole, verified records of a journal (a torn tail is left out), payloads copied."""
    out: list[Record] = []
    scan(path, supported_schema, lambda seq, payload: out.append(Record(seq, bytes(payload))))
    return out
