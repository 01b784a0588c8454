"""The journal: every command recorded with its outcome, durable before it is acknowledged."""

from .errors import CorruptJournal, JournalError
from .file import FileJournal, FsyncPolicy
from .format import FORMAT_VERSION, MAGIC, Record, scan
from .recovery import Recovered, recover, replay

__all__ = [
    "CorruptJournal", "FORMAT_VERSION", "FileJournal", "FsyncPolicy", "JournalError", "MAGIC", "Record",
    "Recovered", "recover", "replay", "scan",
]
