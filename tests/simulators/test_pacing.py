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
    slept, clock = [], [100.0]

    async def sleep(delay):
        slept.append(delay)
        clock[0] += delay

    monkeypatch.setattr(pacing.asyncio, "sleep", sleep)
    monkeypatch.setattr(pacing.time, "monotonic", lambda: clock[0])

    async def run():
        await pacing.wait(0.0)
        await pacing.wait(-1.0)
        await pacing.wait(0.0002)
        await pacing.wait(0.25)

    uvloop.run(run())
    assert slept == [pacing.TIMER_RESOLUTION_S, 0.25]


def test_a_timer_that_fires_early_is_waited_out(monkeypatch):
    """libuv counts from the loop's cached time, so its timer can fire before the moment: the
    wait sleeps again for what is left (at least a tick), never returning early."""
    slept, clock = [], [100.0]

    async def early_sleep(delay):
        slept.append(delay)
        clock[0] += delay * 0.3  # fired after a third of what was asked

    monkeypatch.setattr(pacing.asyncio, "sleep", early_sleep)
    monkeypatch.setattr(pacing.time, "monotonic", lambda: clock[0])

    async def run():
        await pacing.wait(0.01)

    uvloop.run(run())
    assert clock[0] >= 100.01
    assert slept[0] == 0.01 and abs(slept[1] - 0.007) < 1e-9  # what was left of it
    assert all(d >= pacing.TIMER_RESOLUTION_S for d in slept)
