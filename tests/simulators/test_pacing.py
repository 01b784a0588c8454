"""Pacing the simulators in wall-clock time: a short wait is waited, not polled."""

import time

import uvloop

from simulators import pacing


def test_a_wait_under_half_a_millisecond_is_not_rounded_to_none():
    """uvloop rounds such a timer to zero; the pacer's loop then spun on a CPU until its moment came."""

    async def run():
        began = time.monotonic()
        await pacing.wait(0.0003)
        return time.monotonic() - began

    assert uvloop.run(run()) >= 0.0003


def test_nothing_to_wait_for_is_not_waited(monkeypatch):
    slept = []

    async def sleep(delay):
        slept.append(delay)

    monkeypatch.setattr(pacing.asyncio, "sleep", sleep)

    async def run():
        await pacing.wait(0.0)
        await pacing.wait(-1.0)
        await pacing.wait(0.0002)
        await pacing.wait(0.25)

    uvloop.run(run())
    assert slept == [pacing.TIMER_RESOLUTION_S, 0.25]
