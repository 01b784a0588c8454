"""Per-request timestamps for latency diagnosis, off unless `BEACON_ORDER_TRACE=<file>` is set.

For each request with a req_id: when the session handled its frame, and when the first answer
carrying that req_id was handed to the transport, in CLOCK_MONOTONIC nanoseconds (the clock
every process on the machine shares). Written as JSON when the gateway stops.
`python -m bench.loadgen.trace` joins it with the load client's own stamps to split a round
trip into its parts: the client's send lag, the frame's wait to be read, the server's work,
and the way back (docs/benchmarks.md). Like BEACON_GC_PROBE, a diagnostic: a gateway in
service leaves it unset, and the order path then only tests one attribute for None.
"""

from __future__ import annotations

import json
import os
import time


class OrderTrace:
    def __init__(self, path: str):
        self.path = path
        self.received: dict[str, int] = {}
        self.answered: dict[str, int] = {}

    @classmethod
    def from_env(cls) -> "OrderTrace | None":
        path = os.environ.get("BEACON_ORDER_TRACE")
        return cls(path) if path else None

    def on_received(self, req_id: str, monotonic_s: float) -> None:
        """The session's own clock reading for the frame (time.monotonic, CLOCK_MONOTONIC)."""
        self.received.setdefault(req_id, int(monotonic_s * 1e9))

    def on_answered(self, req_ids: list[str]) -> None:
        now = time.monotonic_ns()
        for req_id in req_ids:
            self.answered.setdefault(req_id, now)

    def dump(self) -> None:
        with open(self.path, "w") as fh:
            json.dump({"received": self.received, "answered": self.answered}, fh)
