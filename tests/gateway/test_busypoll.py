"""Busy polling ([server] busy_poll_us): after a request the loop keeps turning for the window, then
sleeps again; through the real server, requests open the window and the metric counts the turns;
an out-of-range setting is refused with a clear error."""

import asyncio
import subprocess
import sys
import time

from gateway.busypoll import BusyPoll
from tests.gateway.harness import Conn, ROOT, aio


@aio
async def test_a_request_keeps_the_loop_polling_for_the_window_and_no_longer():
    loop = asyncio.get_running_loop()
    poll = BusyPoll(loop, 20_000)  # 20 ms
    await asyncio.sleep(0.01)
    assert poll.turns == 0 and not poll.spinning  # nothing asked: the loop sleeps
    poll.touch(time.monotonic())
    await asyncio.sleep(0.005)
    assert poll.spinning and poll.turns > 10  # a sleeping task does not stop the loop from turning
    await asyncio.sleep(0.03)
    assert not poll.spinning  # the window closed: back to sleeping
    turns = poll.turns
    await asyncio.sleep(0.01)
    assert poll.turns == turns


@aio
async def test_a_second_request_extends_the_window_without_a_second_poller():
    loop = asyncio.get_running_loop()
    poll = BusyPoll(loop, 15_000)
    poll.touch(time.monotonic())
    await asyncio.sleep(0.01)
    poll.touch(time.monotonic())  # 10 ms in: the window now ends 15 ms from here
    await asyncio.sleep(0.01)
    assert poll.spinning  # 20 ms after the first request, still polling
    handles = [h for h in getattr(loop, "_ready", [])]  # uvloop has none; asyncio's must hold one poller at most
    assert sum(1 for h in handles if "BusyPoll" in repr(h)) <= 1
    await asyncio.sleep(0.02)
    assert not poll.spinning


def metric(server, name: str):
    status, text = server.http("GET", "/metrics", token=None)
    lines = [l for l in text.splitlines() if l.startswith(name + " ")]
    return int(float(lines[0].split()[1])) if lines else None


@aio
async def test_requests_through_the_server_open_the_window(fresh_server):
    server = fresh_server(server={"busy_poll_us": 50_000})
    conn = await Conn.open(server)
    before = metric(server, "beacon_busy_poll_turns_total")
    for _ in range(3):
        pong = await conn.request({"type": "ping"})
        assert pong["type"] == "pong"
    after = metric(server, "beacon_busy_poll_turns_total")
    assert after > (before or 0)
    await conn.close()


@aio
async def test_off_by_default(fresh_server):
    server = fresh_server()
    conn = await Conn.open(server)
    assert (await conn.request({"type": "ping"}))["type"] == "pong"
    assert metric(server, "beacon_busy_poll_turns_total") is None
    await conn.close()


def test_an_out_of_range_window_is_refused_by_name():
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "serve", "--busy-poll-us", "-5", "--port", "0"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "server.busy_poll_us must be 0..1000000" in out.stderr
