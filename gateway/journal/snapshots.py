"""Snapshots of the machine at a journal sequence number.

    header: magic b"BEACONS\\n", u16 format version, u16 schema version, u32 0,
            u64 seq, 16-byte journal chain at seq, 32-byte BLAKE2b of the body, u64 body length,
            u64 offset of record seq in the journal file (format 2; 0: not known)
    body:   msgpack MachineState

A snapshot is only used when its chain equals the journal's chain at its seq,
so a snapshot from another journal, or of a journal since edited, is never
loaded. With the record's offset, recovery checks that record (whole, seq, chain)
and reads the journal from there on, not from its start (docs/journal.md). Format 1
files (no offset) are still read, from the journal's start. Files are written to a
temporary name, fsync'd and renamed.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from pathlib import Path
from typing import NamedTuple

import msgspec

from core.commands import SCHEMA_VERSION
from core.machine import MachineState

from .errors import JournalError

MAGIC = b"BEACONS\n"
FORMAT_VERSION = 2
HEADER_V1 = struct.Struct("<8sHHIQ16s32sQ")
HEADER = struct.Struct("<8sHHIQ16s32sQQ")
_NAME = re.compile(r"^snapshot-(\d{12})\.snap$")
_DECODER = msgspec.msgpack.Decoder(MachineState)


class SnapshotInfo(NamedTuple):
    path: Path
    seq: int
    chain: bytes
    offset: int = 0  # of record seq in the journal file (0: not known, read the journal from its start)


def snapshot_path(directory: Path, seq: int) -> Path:
    return Path(directory) / f"snapshot-{seq:012d}.snap"


def write_snapshot(directory: Path, seq: int, chain: bytes, state: MachineState, offset: int = 0) -> Path:
    """`offset`: where record seq starts in the journal file (FileJournal.last_offset), 0 if not known."""
    body = msgspec.msgpack.encode(state)
    header = HEADER.pack(MAGIC, FORMAT_VERSION, SCHEMA_VERSION, 0, seq, chain,
                         hashlib.blake2b(body, digest_size=32).digest(), len(body), offset)
    final = snapshot_path(directory, seq)
    tmp = final.with_suffix(".tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(header)
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:  # (a full disk: the partial file must not take what the journal needs)
        tmp.unlink(missing_ok=True)
        raise
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return final


def list_snapshots(directory: Path) -> list[SnapshotInfo]:
    """Snapshots in the directory, newest first (headers only; bodies are checked on load)."""
    out = []
    for entry in Path(directory).iterdir():
        if not _NAME.match(entry.name):
            continue
        with open(entry, "rb") as fh:
            head = fh.read(HEADER.size)
        if len(head) < HEADER_V1.size or head[:8] != MAGIC:
            continue
        _, fmt, schema, _, seq, chain, _, _ = HEADER_V1.unpack_from(head)
        if schema > SCHEMA_VERSION:
            continue
        if fmt == 1:
            out.append(SnapshotInfo(entry, seq, chain))
        elif fmt == FORMAT_VERSION and len(head) == HEADER.size:
            out.append(SnapshotInfo(entry, seq, chain, HEADER.unpack(head)[-1]))
    return sorted(out, key=lambda s: s.seq, reverse=True)


def load_snapshot(info: SnapshotInfo) -> MachineState:
    data = info.path.read_bytes()
    header = HEADER_V1 if HEADER_V1.unpack_from(data)[1] == 1 else HEADER
    digest, length = header.unpack_from(data)[6:8]
    body = memoryview(data)[header.size:]
    if len(body) != length or hashlib.blake2b(body, digest_size=32).digest() != digest:
        raise JournalError(f"{info.path}: snapshot body is damaged (length or hash mismatch)")
    return _DECODER.decode(body)


#: Snapshots a running gateway keeps: the newest, and the one before it in case the newest is
#: past what a crash left of the journal (recovery then falls back to the older one).
KEEP_SNAPSHOTS = 2


def prune_snapshots(directory: Path, keep: int = KEEP_SNAPSHOTS, above: int | None = None) -> list[Path]:
    """Delete all but the newest `keep` snapshots, those past seq `above` if given (snapshots
    recovery refused: past what a crash left of the journal, they can never match it again),
    and temporary files of unfinished ones; what was deleted."""
    snapshots = list_snapshots(directory)
    if above is not None:
        removed = [s.path for s in snapshots if s.seq > above]
        snapshots = [s for s in snapshots if s.seq <= above]
    else:
        removed = []
    removed += [s.path for s in snapshots[keep:]]
    removed += [p for p in Path(directory).glob("snapshot-*.tmp")]
    for path in removed:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
    return removed
