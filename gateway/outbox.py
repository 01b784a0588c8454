# cython: annotation_typing=False
"""The outbox: connections with output waiting, written together.

A journal release flushes the outbox at its end (GroupCommitter.after_release), so a batch's
answers leave in the same loop turn they became safe, with one write per connection however
many answers it has. Output from anywhere else (market data, errors, heartbeats, pushes
from the broker's reports) is flushed on the next turn, again one write per connection.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("beacon.ws")


class Outbox:
    """Sessions with output waiting. A journal release flushes them at its end, so a batch's answers
    leave in the turn they became safe, one write per connection; output from anywhere else (market
    data, errors, heartbeats) is flushed on the next turn."""

    def __init__(self):
        self.sessions: list = []
        self._scheduled = False
        self._held = False  # a journal release is running and flushes at its end: no turn of our own
        self._loop: asyncio.AbstractEventLoop | None = None

    def hold(self) -> None:
        """A journal release begins; its end flushes (GroupCommitter.before_release). What is
        queued meanwhile needs no callback on the next turn, which would only cost the loop an
        extra iteration."""
        self._held = True

    def add(self, session) -> None:
        self.sessions.append(session)
        if not (self._scheduled or self._held):
            self._scheduled = True
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = self._held = False
        sessions, self.sessions = self.sessions, []
        for session in sessions:
            try:
                session.flush()
            except Exception:  # one broken connection must not keep the others' output back
                log.exception("output to %s failed", session.peer)
