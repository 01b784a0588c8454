"""WebhookNotifier against real local HTTP receivers (aiohttp.web on 127.0.0.1, one per test)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from aiohttp import web

from gateway.webhooks import WebhookNotifier

TEST_BOUND_S = 10.0  # no test may take longer than this, whatever goes wrong


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), TEST_BOUND_S))


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), timeout)


@dataclass
class Seen:
    headers: dict[str, str]
    body: bytes
    status: int


class Receiver:
    """A webhook endpoint: records every request; answers with `statuses` in turn, then 200."""

    def __init__(self, *statuses: int, delay_s: float = 0.0) -> None:
        self.statuses = list(statuses)
        self.delay_s = delay_s  # how long each answer takes (until the test ends, at most)
        self.seen: list[Seen] = []
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self.statuses.pop(0) if self.statuses else 200
        self.seen.append(Seen(dict(request.headers), body, status))
        if self.delay_s:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), self.delay_s)
        return web.Response(status=status)

    def bodies(self, ok_only: bool = False) -> list[dict[str, Any]]:
        return [orjson.loads(s.body) for s in self.seen if not ok_only or 200 <= s.status < 300]


@contextlib.asynccontextmanager
async def serve(receiver: Receiver) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        receiver.release.set()  # lets hanging handlers finish, so shutdown is quick
        await runner.cleanup()


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_delivers_signed_json_once():
    payload = {"event_id": "alert-42", "account": 3, "level": "CALL", "ratio_bp": 12950, "name": "账户"}
    secret = "s3cret"
    outcomes: list[str] = []

    async def scenario() -> None:
        rx = Receiver()
        async with serve(rx) as url:
            n = WebhookNotifier(url, secret=secret, on_result=outcomes.append)
            await n.start()
            n.notify(payload)
            await until(lambda: n.delivered == 1)
            await n.close(drain_timeout_s=1.0)
        assert len(rx.seen) == 1
        seen = rx.seen[0]
        assert orjson.loads(seen.body) == payload
        assert seen.headers["Content-Type"] == "application/json"
        assert seen.headers["X-Beacon-Event-Id"] == "alert-42"
        expected = hmac.new(secret.encode(), seen.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(seen.headers["X-Beacon-Signature"], f"sha256={expected}")
        assert (n.delivered, n.failed, n.dropped, n.retried, n.pending) == (1, 0, 0, 0, 0)
        assert outcomes == ["delivered"]

    run(scenario)


def test_unsigned_without_secret_and_generated_ids_are_unique():
    async def scenario() -> None:
        rx = Receiver()
        async with serve(rx) as url:
            n = WebhookNotifier(url)
            await n.start()
            n.notify({"seq": 0})
            n.notify({"seq": 1})
            await until(lambda: n.delivered == 2)
            await n.close(drain_timeout_s=1.0)
        assert all("X-Beacon-Signature" not in s.headers for s in rx.seen)
        ids = [s.headers["X-Beacon-Event-Id"] for s in rx.seen]
        assert len(set(ids)) == 2 and all(ids)

    run(scenario)


@pytest.mark.parametrize("status", [500, 503, 429])
def test_transient_error_is_retried_then_delivered_once(status):
    outcomes: list[str] = []

    async def scenario() -> None:
        rx = Receiver(status, 200)
        async with serve(rx) as url:
            n = WebhookNotifier(url, backoff_s=0.01, on_result=outcomes.append)
            await n.start()
            n.notify({"account": 1, "level": "WARN"})  # no event_id: the notifier makes one
            await until(lambda: n.delivered + n.failed == 1)
            await n.close(drain_timeout_s=1.0)
        assert [s.status for s in rx.seen] == [status, 200]
        ids = {s.headers["X-Beacon-Event-Id"] for s in rx.seen}
        assert len(ids) == 1 and ids != {""}
        assert rx.seen[0].body == rx.seen[1].body
        assert (n.delivered, n.failed, n.retried) == (1, 0, 1)
        assert outcomes == ["retried", "delivered"]

    run(scenario)


def test_client_error_is_not_retried():
    async def scenario() -> None:
        rx = Receiver(400)
        async with serve(rx) as url:
            n = WebhookNotifier(url, backoff_s=0.01)
            await n.start()
            n.notify({"account": 1})
            await until(lambda: n.failed == 1)
            await asyncio.sleep(0.1)  # room for a wrong retry to show up
            await n.close(drain_timeout_s=1.0)
        assert len(rx.seen) == 1
        assert (n.delivered, n.failed, n.retried) == (0, 1, 0)

    run(scenario)


def test_slow_endpoint_times_out_with_bounded_attempts():
    async def scenario() -> None:
        rx = Receiver(delay_s=5.0)
        async with serve(rx) as url:
            n = WebhookNotifier(url, timeout_s=0.2, retries=2, backoff_s=0.01)
            await n.start()
            t0 = time.monotonic()
            n.notify({"account": 2})
            await until(lambda: n.failed == 1, timeout=3.0)
            elapsed = time.monotonic() - t0
            await n.close(drain_timeout_s=1.0)
        assert len(rx.seen) == 3  # 1 attempt + 2 retries
        assert (n.delivered, n.failed, n.retried) == (0, 1, 2)
        assert 0.55 <= elapsed < 1.5  # three 0.2 s timeouts, plus backoff

    run(scenario)


def test_unreachable_endpoint_fails_after_retries_without_raising():
    outcomes: list[str] = []

    async def scenario() -> None:
        n = WebhookNotifier(f"http://127.0.0.1:{unused_port()}/hook", timeout_s=0.5, retries=2,
                            backoff_s=0.01, on_result=outcomes.append)
        await n.start()
        n.notify({"account": 3})
        await until(lambda: n.failed == 1)
        n.notify({"account": 4})  # the worker survived the failure
        await until(lambda: n.failed == 2)
        await n.close(drain_timeout_s=1.0)
        assert (n.delivered, n.failed, n.retried, n.dropped) == (0, 2, 4, 0)
        assert outcomes == ["retried", "retried", "failed"] * 2

    run(scenario)


def test_notify_never_blocks_and_keeps_the_newest(caplog):
    caplog.set_level(logging.WARNING, logger="beacon.webhooks")

    async def scenario() -> None:
        rx = Receiver()
        async with serve(rx) as url:
            n = WebhookNotifier(url, queue_limit=10)
            t0 = time.monotonic()
            for i in range(1000):
                n.notify({"seq": i})  # before start(): nothing can drain the queue meanwhile
            elapsed = time.monotonic() - t0
            assert elapsed < 0.5
            assert (n.dropped, n.pending) == (990, 10)
            assert len([r for r in caplog.records if "dropped" in r.getMessage()]) == 1  # not 990
            await n.start()
            await until(lambda: n.delivered == 10)
            await n.close(drain_timeout_s=1.0)
        assert [b["seq"] for b in rx.bodies()] == list(range(990, 1000))
        assert (n.delivered, n.failed, n.dropped) == (10, 0, 990)

    run(scenario)


def test_alerts_arrive_in_order_even_across_retries():
    async def scenario() -> None:
        rx = Receiver(200, 200, 200, 503)  # the fourth alert's first attempt fails
        async with serve(rx) as url:
            n = WebhookNotifier(url, backoff_s=0.05)
            await n.start()
            for i in range(20):
                n.notify({"seq": i})
            await until(lambda: n.delivered == 20)
            await n.close(drain_timeout_s=1.0)
        assert [b["seq"] for b in rx.bodies(ok_only=True)] == list(range(20))
        assert n.retried == 1

    run(scenario)


def test_close_drains_the_queue():
    async def scenario() -> None:
        rx = Receiver()
        async with serve(rx) as url:
            n = WebhookNotifier(url)
            await n.start()
            for i in range(5):
                n.notify({"seq": i})
            await n.close(drain_timeout_s=2.0)  # no wait before: close() itself sends them
            n.notify({"seq": 99})  # after close: counted, not sent, not raised
        assert [b["seq"] for b in rx.bodies()] == list(range(5))
        assert (n.delivered, n.dropped, n.pending) == (5, 1, 0)

    run(scenario)


def test_close_returns_within_bound_when_endpoint_hangs():
    async def scenario() -> None:
        rx = Receiver(delay_s=60.0)
        async with serve(rx) as url:
            n = WebhookNotifier(url, timeout_s=30.0)
            await n.start()
            for i in range(3):
                n.notify({"seq": i})
            await until(lambda: len(rx.seen) == 1)  # the first is in flight, hanging
            t0 = time.monotonic()
            await n.close(drain_timeout_s=0.3)
            elapsed = time.monotonic() - t0
        assert 0.25 <= elapsed < 1.0
        # Every alert is accounted for: the one in flight and the two queued were dropped.
        assert (n.delivered, n.failed, n.dropped, n.pending) == (0, 0, 3, 0)

    run(scenario)


def test_close_without_start_drops_what_was_queued():
    async def scenario() -> None:
        n = WebhookNotifier("http://127.0.0.1:9/hook")
        n.notify({"seq": 0})
        await asyncio.wait_for(n.close(), 1.0)
        assert (n.dropped, n.pending) == (1, 0)
        with pytest.raises(RuntimeError):
            await n.start()

    run(scenario)
