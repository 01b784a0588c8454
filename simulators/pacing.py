"""Waiting for a simulated moment in wall-clock time, without spinning the event loop.

uvloop's timers (libuv's) count whole milliseconds and round a wait shorter than half of one to
none: `asyncio.sleep(0.0003)` returns on the loop's next iteration. A pacer that slept exactly
until its next due moment would, whenever that moment is under half a millisecond away, wake at
once, find nothing due, and sleep again: thousands of loop iterations, and a CPU held at 100 %,
for every such wait. (Measured: 37,561 iterations of `sleep(0.0004)` in 100 ms, against 92 of
`sleep(0.0006)`.) The simulators wait at least the timer's millisecond instead, so what they
pace is delivered within that millisecond after its time, with whatever else is due by then;
never before it.

Never before it takes a check: libuv counts a timer from the loop's cached time, taken when the
loop last woke, so under load a timer can fire up to a millisecond early in real time (a 1 ms
sleep was seen to return after 0.29 ms in a test suite under load). The wait goes
on until the moment has come.
"""

from __future__ import annotations

import asyncio
import time

TIMER_RESOLUTION_S = 0.001


async def wait(delay_s: float) -> None:
    """Wait delay_s of wall time (nothing when it is not positive), at least a timer tick."""
    if delay_s <= 0:
        return
    deadline = time.monotonic() + delay_s
    while delay_s > 0:
        await asyncio.sleep(delay_s if delay_s > TIMER_RESOLUTION_S else TIMER_RESOLUTION_S)
        delay_s = deadline - time.monotonic()
