"""Per-request timestamps for latency diagnosis, off unless `BEACON_ORDER_TRACE=<file>` is set.

For each request with a req_id: when the session handled its frame, and when the first answer
carrying that req_id was handed to the transport, in CLOCK_MONOTONIC nanoseconds (the clock
every process on the machine shares). Also every run of the cyclic collector (its start, its end
and its generation), which stops the loop like any work does. Written as JSON when the gateway
stops. `python -m bench.loadgen.trace` joins it with the load client's own stamps to split a
round trip into its parts: the client's send lag, the frame's wait to be read, the server's
work, and the way back (docs/benchmarks.md). Like BEACON_GC_PROBE, a diagnostic: a gateway in
service leaves it unset, and the order path then only tests one attribute for None.

The stamps are kept in sharded tables (core/shardmap.py): a traced run keeps a stamp per order,
and a plain dict growing past 21,845 of them would stop the loop for a millisecond or more to
move them, a stall the trace would then find in its own figures.
"""

from __future__ import annotations

import gc
import json
import os
import time

from core.shardmap import ShardedDict


class OrderTrace:
    def __init__(self, path: str):
        self.path = path
        self.received = ShardedDict()
        self.answered = ShardedDict()
        self.collections: list[tuple[int, int, int]] = []  # (start ns, end ns, generation)
        self._collecting_since = 0
        gc.callbacks.append(self._on_collector)

    @classmethod
    def from_env(cls) -> "OrderTrace | None":
        path = os.environ.get("BEACON_ORDER_TRACE")
        return cls(path) if path else None

    def on_received(self, req_id: str, monotonic_s: float) -> None:
        """The session's own clock reading for the frame (time.monotonic, CLOCK_MONOTONIC)."""
        if not self.received.has(req_id):
            self.received.put(req_id, int(monotonic_s * 1e9))

    def on_answered(self, req_ids: list[str]) -> None:
        now = time.monotonic_ns()
        for req_id in req_ids:
            if not self.answered.has(req_id):
                self.answered.put(req_id, now)

    def _on_collector(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._collecting_since = time.monotonic_ns()
        elif self._collecting_since:
            self.collections.append((self._collecting_since, time.monotonic_ns(), info["generation"]))
            self._collecting_since = 0

    def dump(self) -> None:
        if self._on_collector in gc.callbacks:
            gc.callbacks.remove(self._on_collector)
        with open(self.path, "w") as fh:
            json.dump({"received": dict(self.received.items()), "answered": dict(self.answered.items()),
                       "collections": self.collections}, fh)
