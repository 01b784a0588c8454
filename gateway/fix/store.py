"""A FIX session's message store on disk: its sequence numbers and the application messages
it sent, so that a restarted process resumes the session where it was and can answer a
ResendRequest for anything it sent before.

Per session, three files in the store directory:
- `<id>.seqnums`: 16 bytes, the next sequence number to send and the next one expected,
  rewritten in place (pwrite) after every message;
- `<id>.body`: every application message sent, appended as (seq, length, frame); on open
  the file is scanned for the offsets, frames are read back only to be resent;
- `<id>.session`: when the session's sequence numbers started (UTC ns), to know when a new
  scheduled session begins.

Administrative messages are not stored: a resend replaces them with a gap fill. Writes go
to the kernel on every message (a crashed process loses nothing); `fsync` makes each one
durable against a power cut as well, at the cost of a disk flush per message.
"""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

from core.shardmap import ShardedDict

_SEQNUMS = struct.Struct("<QQ")
_RECORD = struct.Struct("<QI")


class MessageStore:
    def __init__(self, directory: str | Path, session_id: str, fsync: bool = False):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.session_id = session_id
        self.fsync = fsync
        base = self.directory / session_id
        self._seq_path, self._body_path, self._created_path = (
            base.with_suffix(".seqnums"), base.with_suffix(".body"), base.with_suffix(".session"))
        # seq -> (offset, length) of every frame sent this session: grows with each one (core/shardmap.py)
        self._offsets: ShardedDict = ShardedDict()
        self._open()

    def _open(self) -> None:
        self._seq_fd = os.open(self._seq_path, os.O_RDWR | os.O_CREAT, 0o644)
        raw = os.pread(self._seq_fd, _SEQNUMS.size, 0)
        if len(raw) == _SEQNUMS.size:
            self.next_sender, self.next_target = _SEQNUMS.unpack(raw)
        else:
            self.next_sender = self.next_target = 1
            self._write_seqnums()
        self._body_fd = os.open(self._body_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        self._end = self._scan()
        if self._created_path.exists():
            self.created_ns = int(self._created_path.read_text() or 0)
        else:
            self._stamp_created()

    def _scan(self) -> int:
        """Index the body file; a torn last record (a crash mid-write) is cut off."""
        size = os.fstat(self._body_fd).st_size
        offset = 0
        while offset + _RECORD.size <= size:
            seq, length = _RECORD.unpack(os.pread(self._body_fd, _RECORD.size, offset))
            if offset + _RECORD.size + length > size:
                break
            self._offsets.put(seq, (offset + _RECORD.size, length))
            offset += _RECORD.size + length
        if offset != size:
            os.ftruncate(self._body_fd, offset)
        return offset

    def _stamp_created(self) -> None:
        self.created_ns = time.time_ns()
        self._created_path.write_text(str(self.created_ns))

    def _write_seqnums(self) -> None:
        os.pwrite(self._seq_fd, _SEQNUMS.pack(self.next_sender, self.next_target), 0)
        if self.fsync:
            os.fsync(self._seq_fd)

    # ------------------------------------------------------------------ writing
    def sent(self, seq: int, frame: bytes | None) -> None:
        """A message went out with this sequence number (frame: an application message to keep)."""
        if frame is not None:
            os.write(self._body_fd, _RECORD.pack(seq, len(frame)) + frame)
            self._offsets.put(seq, (self._end + _RECORD.size, len(frame)))
            self._end += _RECORD.size + len(frame)
            if self.fsync:
                os.fsync(self._body_fd)
        self.next_sender = seq + 1
        self._write_seqnums()

    def set_next_sender(self, seq: int) -> None:
        self.next_sender = seq
        self._write_seqnums()

    def set_next_target(self, seq: int) -> None:
        self.next_target = seq
        self._write_seqnums()

    def reset(self) -> None:
        """A new session: both sequence numbers back to 1, the sent messages forgotten."""
        os.ftruncate(self._body_fd, 0)
        self._offsets.clear()
        self._end = 0
        self.next_sender = self.next_target = 1
        self._write_seqnums()
        self._stamp_created()

    # ------------------------------------------------------------------ reading
    def get(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        """Stored frames with begin <= seq <= end, in order (seqs not stored are absent)."""
        out = []
        for seq in range(begin, end + 1):
            where = self._offsets.get(seq)
            if where is not None:
                out.append((seq, os.pread(self._body_fd, where[1], where[0])))
        return out

    def close(self) -> None:
        for fd in (self._seq_fd, self._body_fd):
            try:
                os.close(fd)
            except OSError:
                pass
