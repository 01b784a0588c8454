"""Margin alerts pushed to an HTTP endpoint (a webhook), without slowing the gateway down.

Why it works this way:

* The gateway's event loop also matches orders, so an alert must never wait for a remote
  server. `notify` only puts the alert on a bounded queue and returns; one background task
  does the HTTP work. If the receiver is down for long enough to fill the queue, the
  oldest alert is dropped: a margin alert describes a state, and the newest state is the
  one worth knowing.
* There is a single worker, so alerts leave one at a time, in the order they were raised:
  a receiver never sees an account's "call" after the "liquidation" that followed it.
  A slow or failing receiver delays later alerts instead of reordering them.
* Delivery is at least once. An alert is retried on errors that may pass (connection
  failures, timeouts, 5xx, 429), with exponential backoff. A reply lost on the way back
  means the receiver can see an alert twice, so every alert carries an `X-Beacon-Event-Id`
  that stays the same across its retries: receivers de-duplicate on it.
* With a shared `secret`, each body is signed (`X-Beacon-Signature: sha256=<hex HMAC>`),
  so a receiver can reject alerts that did not come from this gateway.

Every alert ends as exactly one of delivered, failed (rejected by the receiver, or retries
used up) or dropped (pushed out of a full queue, or still unsent when `close` gave up);
`on_result` hears each of those, and each retry, for the gateway's metrics.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

log = logging.getLogger("beacon.webhooks")

MAX_BACKOFF_S = 30.0
DROP_LOG_INTERVAL_S = 10.0


class _Rejected(Exception):
    """The receiver answered with a status that retrying will not change."""


class _Transient(Exception):
    """The receiver answered with a status that may pass (5xx, 429)."""


class WebhookNotifier:
    def __init__(self, url: str, *, secret: str = "", timeout_s: float = 2.0, retries: int = 3,
                 backoff_s: float = 0.5, queue_limit: int = 10_000,
                 on_result: Callable[[str], Any] | None = None) -> None:
        if timeout_s <= 0 or retries < 0 or backoff_s < 0:
            raise ValueError("timeout_s must be positive; retries and backoff_s not negative")
        if queue_limit < 1:
            raise ValueError("queue_limit must be at least 1")  # asyncio reads 0 as unbounded
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.on_result = on_result
        self._secret = secret.encode()
        # Items are (event id, body): the body is encoded when notified, so that a caller
        # changing its dict afterwards cannot change an alert already raised.
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(maxsize=queue_limit)
        self._session: aiohttp.ClientSession | None = None
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self.retried = 0
        self._drops_unlogged = 0
        self._drop_logged_at = float("-inf")

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def start(self) -> None:
        if self._closed:
            raise RuntimeError("WebhookNotifier is closed")
        if self._worker is not None:
            return
        self._session = aiohttp.ClientSession()
        self._worker = asyncio.create_task(self._run(), name="webhook-notifier")

    def notify(self, payload: dict[str, Any]) -> None:
        """Queue one alert. Call from the event loop's thread; never blocks, never raises."""
        try:
            if self._closed:
                log.warning("webhook alert dropped: notifier is closed")
                self._count("dropped")
                return
            body = orjson.dumps(payload)
            event_id = str(payload.get("event_id") or uuid.uuid4().hex)
            if self._queue.full():
                self._queue.get_nowait()
                self._queue.task_done()  # keeps close()'s join() in step with what is left
                self._count("dropped")
                self._log_drop()
            self._queue.put_nowait((event_id, body))
        except Exception:
            # An alert that cannot be sent must not take down the code that raised it.
            log.exception("webhook alert not queued")
            self._count("failed")

    async def close(self, drain_timeout_s: float = 5.0) -> None:
        """Stop accepting alerts, send what is queued for up to `drain_timeout_s`, then stop."""
        if self._closed:
            return
        self._closed = True
        worker, self._worker = self._worker, None
        if worker is not None and not worker.done():
            try:
                await asyncio.wait_for(self._queue.join(), drain_timeout_s)
            except TimeoutError:
                log.warning("webhook close: gave up after %.1f s, %d alert(s) still queued",
                            drain_timeout_s, self.pending)
            worker.cancel()
            # wait() rather than awaiting the task: it neither raises the worker's
            # CancelledError nor swallows a cancellation of close() itself.
            await asyncio.wait([worker])
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
            self._count("dropped")
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        while True:
            event_id, body = await self._queue.get()
            try:
                await self._deliver(event_id, body)
            except asyncio.CancelledError:
                self._count("dropped")  # close() gave up on it mid-delivery
                raise
            except Exception:
                # Whatever went wrong with one alert, the ones behind it still go out.
                log.exception("webhook %s: unexpected error", event_id)
                self._count("failed")
            finally:
                self._queue.task_done()

    async def _deliver(self, event_id: str, body: bytes) -> None:
        headers = {"Content-Type": "application/json", "X-Beacon-Event-Id": event_id}
        if self._secret:
            digest = hmac.new(self._secret, body, hashlib.sha256).hexdigest()
            headers["X-Beacon-Signature"] = f"sha256={digest}"
        for attempt in range(self.retries + 1):
            try:
                await self._post(body, headers)
            except _Rejected as e:
                log.warning("webhook %s rejected: %s", event_id, e)
                self._count("failed")
                return
            except (_Transient, aiohttp.ClientError, TimeoutError) as e:
                # The URL is left out of logs: webhook URLs often carry a token.
                reason = str(e) or type(e).__name__
                if attempt == self.retries:
                    log.warning("webhook %s failed after %d attempt(s): %s", event_id, attempt + 1, reason)
                    self._count("failed")
                    return
                delay = min(self.backoff_s * 2**attempt, MAX_BACKOFF_S)
                log.info("webhook %s attempt %d failed (%s); retrying in %.2f s",
                         event_id, attempt + 1, reason, delay)
                self._count("retried")
                await asyncio.sleep(delay)
            else:
                self._count("delivered")
                return

    async def _post(self, body: bytes, headers: dict[str, str]) -> None:
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        # Redirects are not followed: they would send a signed alert to a host nobody configured.
        async with self._session.post(self.url, data=body, headers=headers, timeout=timeout,
                                      allow_redirects=False) as resp:
            if 200 <= resp.status < 300:
                return
            if resp.status >= 500 or resp.status == 429:
                raise _Transient(f"HTTP {resp.status}")
            raise _Rejected(f"HTTP {resp.status}")

    def _log_drop(self) -> None:
        # Drops come in bursts while the receiver is down; a log line per drop would put
        # synchronous I/O in notify()'s path exactly then. The counter sees every drop.
        self._drops_unlogged += 1
        now = time.monotonic()
        if now - self._drop_logged_at >= DROP_LOG_INTERVAL_S:
            log.warning("webhook queue full (%d): %d oldest alert(s) dropped",
                        self._queue.maxsize, self._drops_unlogged)
            self._drop_logged_at = now
            self._drops_unlogged = 0

    def _count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        if self.on_result is not None:
            try:
                self.on_result(outcome)
            except Exception:
                # A broken metrics hook must not stop alerts.
                log.exception("webhook on_result(%r) raised", outcome)
