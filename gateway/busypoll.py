"""Busy polling: after each request, the event loop keeps polling for a while instead of sleeping.

An idle event loop sleeps in epoll_wait, and the next request has to wake it. On this kind
of machine (a virtual machine whose idle vCPU halts) that wake-up costs tens of microseconds
at the median and milliseconds in the tail, more than the gateway's own work on an order.
With `[server] busy_poll_us` = N, every request keeps the loop turning (epoll with a zero
timeout) for N µs after it, so a request arriving within that window finds the loop awake.
Under steady flow the loop never sleeps; a quiet gateway goes back to sleeping.

The price is a CPU: while the window is open the loop's thread runs at 100 %. It pays only
when the gateway has a core to itself; sharing one with its clients (or anything else
latency-sensitive) it takes their time instead. Off by default (0). docs/benchmarks.md has
the measurements that decided the figures in the documentation.
"""

from __future__ import annotations

import asyncio
import time


class BusyPoll:
    def __init__(self, loop: asyncio.AbstractEventLoop, window_us: int):
        self._loop = loop
        self.window_s = window_us / 1e6
        self._until = 0.0
        self.spinning = False
        self.turns = 0  # loop turns spent polling (for the metrics and the tests)

    def touch(self, now: float) -> None:
        """A request arrived at monotonic time `now`: poll until now + the window."""
        self._until = now + self.window_s
        if not self.spinning:
            self.spinning = True
            self._loop.call_soon(self._turn)

    def _turn(self) -> None:
        # one pending callback is what makes the loop poll with a zero timeout instead of sleeping
        if time.monotonic() < self._until:
            self.turns += 1
            self._loop.call_soon(self._turn)
        else:
            self.spinning = False
