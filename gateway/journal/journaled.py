# cython: annotation_typing=False
"""The machine with its journal: apply a command, record it with its outcome, commit in groups."""

from __future__ import annotations

import os
from pathlib import Path

from core.commands import AnyCommand, Genesis, Outcome
from core.events import Event
from core.machine import Machine

from .file import FileJournal, FsyncPolicy
from .recovery import LOG_NAME, Recovered, journal_paths, recover
from .snapshots import prune_snapshots, write_snapshot


class Journaled:
    """Every command goes through `submit`: applied, then appended to the journal with its
    outcome. The caller acknowledges a command only once `commit()` (or the async group
    committer) has returned a seq at or past it."""

    def __init__(self, machine: Machine, journal: FileJournal, directory: Path, snapshot_every: int = 0):
        self.machine = machine
        self.journal = journal
        self.directory = Path(directory)
        self.snapshot_every = snapshot_every
        self._since_snapshot = 0
        self.recovered: Recovered | None = None

    @classmethod
    def create(cls, directory: str | os.PathLike, genesis: Genesis, fsync: FsyncPolicy | str = "every-batch",
               backend: str | None = None, snapshot_every: int = 0) -> "Journaled":
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        log = directory / LOG_NAME
        if log.exists() and log.stat().st_size > 0:
            raise FileExistsError(f"{log} already exists: open it instead of creating it")
        journaled = cls(Machine(genesis, backend), FileJournal(str(log), fsync), directory, snapshot_every)
        journaled.submit(genesis)
        journaled.commit()
        journaled.journal.sync()  # a new journal's genesis is durable whatever the policy
        return journaled

    @classmethod
    def open(cls, path: str | os.PathLike, fsync: FsyncPolicy | str = "every-batch", backend: str | None = None,
             snapshot_every: int = 0) -> "Journaled":
        """Recover the machine (snapshot + tail), truncate a torn tail, and continue the journal."""
        directory, log = journal_paths(path)
        recovered = recover(directory, backend)
        journal = FileJournal(str(log), fsync, read=recovered)  # (recovery verified the file: no second scan)
        assert journal.seq == recovered.last_seq
        journaled = cls(recovered.machine, journal, directory, snapshot_every)
        journaled.recovered = recovered
        # what was replayed counts toward the next snapshot, so restarts cannot put it off for ever;
        # snapshots recovery refused (past the journal's end after a crash) go, or they would count
        # as one of the newest two kept and push out a usable one
        journaled._since_snapshot = recovered.replayed
        prune_snapshots(directory, above=recovered.snapshot_seq)
        return journaled

    def submit(self, command: AnyCommand) -> tuple[int, Outcome]:
        """Apply and append; (seq, outcome). Durable only after commit()."""
        outcome = self.machine.handlers[type(command)](command)  # (Machine.execute, a Python call less per command)
        seq = self.journal.append_entry(command, outcome)  # (encode_entry's bytes, encoded in place)
        self._since_snapshot += 1
        return seq, outcome

    def submit_events(self, command: AnyCommand) -> tuple[int, Outcome, list[Event]]:
        seq, outcome = self.submit(command)
        return seq, outcome, self.machine.events(command, outcome, seq)

    def commit(self) -> int:
        """Write and (per policy) fsync everything submitted; take a snapshot when one is due."""
        seq = self.journal.commit()
        if self.snapshot_every and self._since_snapshot >= self.snapshot_every:
            self.snapshot()
        return seq

    def snapshot(self) -> Path:
        """Snapshot the machine at the journal's current seq (after making the journal durable)."""
        self.journal.commit()
        self.journal.sync()
        self._since_snapshot = 0
        return write_snapshot(self.directory, self.journal.seq, self.journal.chain, self.machine.export_state(),
                              self.journal.last_offset)

    def close(self) -> None:
        self.journal.close()
