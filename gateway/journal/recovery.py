"""Rebuilding the machine from a journal: snapshot plus tail, or a full replay that proves
every recorded decision is reproduced."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, NamedTuple

from core.commands import (
    COMMAND_DECODER, ENCODER, OUTCOME_DECODER, SCHEMA_VERSION, Entry, Genesis, Outcome, split_entry,
)
from core.machine import EMPTY_OUTCOME, Machine

from .errors import Divergence, JournalError, SnapshotMismatch
from .format import replay_file, scan
from .snapshots import SnapshotInfo, list_snapshots, load_snapshot

LOG_NAME = "journal.log"


def journal_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """(directory, log file) for a journal named by its directory or its log file."""
    p = Path(path)
    if p.is_dir():
        return p, p / LOG_NAME
    return p.parent, p


class Recovered(NamedTuple):
    machine: Machine
    last_seq: int
    chain: bytes
    torn_bytes: int
    snapshot_seq: int  # 0 when replayed from genesis
    replayed: int  # records applied after the snapshot
    seconds: float
    end: int = 0  # the offset after the last whole record
    identity: tuple = ()  # the file as read (format.file_identity)
    last_offset: int = 0  # where the last whole record starts (a snapshot taken now records it)


def recover(path: str | os.PathLike, backend: str | None = None, use_snapshots: bool = True,
            verify: bool = True, on_entry: Callable[[int, Entry, object], None] | None = None) -> Recovered:
    """The machine as of the journal's last whole record.

    The newest snapshot whose chain matches the journal at its seq is loaded and the
    records after it replayed; every record's framing, checksum and chain are verified
    on the way. With verify, each replayed outcome must equal the recorded one
    (Divergence names the first that does not). on_entry(seq, entry, outcome) sees each
    replayed record (for replay summaries and audits).
    """
    directory, log = journal_paths(path)
    if not log.exists():
        raise JournalError(f"{log}: no such journal")
    candidates = list_snapshots(directory) if use_snapshots else []
    started = time.perf_counter()
    for snapshot in candidates + [None]:
        try:
            return _recover_from(log, snapshot, backend, verify, on_entry, started)
        except SnapshotMismatch:
            continue  # not this journal's (or the journal was edited since): try an older one
    raise AssertionError("unreachable: a replay from genesis has no snapshot to mismatch")


def _recover_from(log: Path, snapshot: SnapshotInfo | None, backend, verify, on_entry, started) -> Recovered:
    if snapshot is not None:
        machine = Machine.from_state(load_snapshot(snapshot), backend)
        start_seq = snapshot.seq
    else:
        machine = Machine(_genesis(log), backend)
        start_seq = 1  # the genesis record built the machine
        if on_entry is not None:
            on_entry(1, Entry(machine.genesis, Outcome()), Outcome())

    def on_mismatch(seq, command, outcome, recorded_bytes):
        # Bytes differ: decode the recorded outcome (a journal from an older schema may encode
        # the same outcome differently); a different value is a divergence.
        recorded = OUTCOME_DECODER.decode(recorded_bytes)
        if verify and recorded != outcome:
            raise Divergence(seq, command, recorded, outcome)

    entry_hook = None
    if on_entry is not None:
        def entry_hook(seq, command, outcome, recorded_bytes):
            on_entry(seq, Entry(command, OUTCOME_DECODER.decode(recorded_bytes)), outcome)

    result = replay_file(str(log), SCHEMA_VERSION, start_seq, COMMAND_DECODER.decode, machine.execute,
                         ENCODER.encode, on_mismatch, entry_hook, empty=EMPTY_OUTCOME,
                         expect_chain=snapshot.chain if snapshot is not None else None,
                         handlers=machine.handlers, anchor=snapshot.offset if snapshot is not None else 0)
    return Recovered(machine, result.last_seq, result.chain, result.torn_bytes,
                     start_seq if snapshot is not None else 0, result.replayed, time.perf_counter() - started,
                     result.end, result.identity, result.last_offset)


def _genesis(log: Path) -> Genesis:
    """The command of record 1, which must be the genesis record."""
    first: list = []
    scan(str(log), SCHEMA_VERSION, lambda seq, payload: first.append(bytes(payload)), stop_after=1)
    if not first:
        raise JournalError(f"{log}: the journal has no records (not even its genesis)")
    command = COMMAND_DECODER.decode(split_entry(first[0])[0])
    if not isinstance(command, Genesis):
        raise JournalError(f"{log}: record 1 is {type(command).__name__}, not the genesis record")
    return command


def replay(path: str | os.PathLike, backend: str | None = None,
           on_entry: Callable[[int, Entry, object], None] | None = None) -> Recovered:
    """Rebuild from the genesis record, proving every recorded decision (Divergence if not)."""
    return recover(path, backend, use_snapshots=False, verify=True, on_entry=on_entry)
