"""Errors that name what is wrong with a journal, and where."""


class JournalError(Exception):
    """A journal cannot be used: not a journal, wrong version, unreadable."""


class CorruptJournal(JournalError):
    """A record is damaged or out of place; `seq` is the sequence number where it was found."""

    def __init__(self, seq: int, offset: int, reason: str):
        self.seq = seq
        self.offset = offset
        self.reason = reason
        super().__init__(f"record seq {seq} (byte offset {offset}): {reason}")


class Divergence(JournalError):
    """Replay did not reproduce a recorded decision."""

    def __init__(self, seq: int, command: object, recorded: object, replayed: object):
        self.seq = seq
        super().__init__(f"divergence at seq {seq}: {type(command).__name__} recorded {recorded}, "
                         f"replayed {replayed}")


class SnapshotMismatch(JournalError):
    """A snapshot's chain is not the journal's chain at its seq: it belongs to another journal,
    or the journal was edited since; recovery falls back to an older snapshot or to genesis."""
