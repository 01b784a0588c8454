# cython: annotation_typing=False
"""The broker simulator behind the asynchronous broker interface, on simulated time.

Reports are delivered after the latency model's delay, in simulated time. With a clock that
runs as fast as possible (the default), simulated time moves only when the market does
(`on_market`) or when told (`advance`); a report is released as soon as its time has come.
With a paced clock, a background task releases each report at its wall-clock moment (within
the event loop's timer resolution, a millisecond, after it: never before).

Faults: a share of valid orders can be refused at random (`BrokerConfig.reject_rate`), and
the connection can drop (`disconnect`, or `disconnects_per_hour`): while it is down, submit
and cancel raise BrokerUnavailable and reports are held back; on reconnection they are
delivered in order, after a ConnectionStatus, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from time import monotonic as _monotonic  # (a module attribute less on every read of the paced clock)
from typing import AsyncIterator

from core.instruments import Universe
from simulators import pacing
from simulators.market.messages import MarketMessage

from .core import BrokerConfig, BrokerCore
from .interface import (
    BrokerMessage, BrokerUnavailable, CancelRequest, ConnectionStatus, ExecutionReport, NewOrder, ReportStream,
)


class SimClock:
    """Simulated time in UTC nanoseconds: as fast as possible (moved by advance()), or paced at
    `speed` simulated seconds per wall-clock second."""

    def __init__(self, start_ns: int, speed: float | None = None):
        self.speed = speed
        self._ns_per_wall_s = float(speed) * 1e9 if speed is not None else 0.0  # (now()'s product, in C)
        self._now = start_ns
        self._wall0 = time.monotonic()

    @property
    def paced(self) -> bool:
        return self.speed is not None

    def now(self) -> int:
        if self.speed is None:
            return self._now
        wall = _monotonic()  # (C: wall a double and elapsed a long long, typed in the .pxd)
        elapsed = int((wall - self._wall0) * self._ns_per_wall_s)
        return self._now + elapsed

    def advance(self, ts: int) -> None:
        """Simulated time reaches ts (never goes back)."""
        if self.speed is None:
            self._now = max(self._now, ts)
        else:  # re-anchor the pace to the market's clock
            if ts > self.now():
                self._now, self._wall0 = ts, time.monotonic()

    def wall_delay(self, ts: int) -> float:
        """Seconds of wall time until simulated time ts (0 when not paced or already past)."""
        if self.speed is None:
            return 0.0
        return max(0.0, (ts - self.now()) / 1e9 / self.speed)


class SimulatedBroker:
    def __init__(self, universe: Universe, config: BrokerConfig = BrokerConfig(), clock: SimClock | None = None,
                 trading_day: int = 0):
        self.core = BrokerCore(universe, config, trading_day)
        self.config = config
        self.clock = clock or SimClock(0)
        self.connected = True
        self._pending: list[tuple[int, int, BrokerMessage]] = []  # (due, seq, message)
        self._seq = 0
        self.stream = ReportStream()
        self._instant = config.latency.zero  # (the default) reports need no heap: they leave as they are made
        self._reconnect_at = 0
        self._pacer: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._next_disconnect = self._draw_disconnect(self.clock.now())

    @property
    def books(self):
        return self.core.books

    @property
    def idle(self) -> bool:
        """No report waiting to be sent or to be read."""
        return not self._pending and self.stream.empty()

    # ---------------------------------------------------------------- scheduling
    def _schedule(self, reports: list[ExecutionReport], now: int) -> None:
        if self._instant and self.connected and not self._pending:
            for report in reports:  # no delay and nothing ahead of them: out at once, in order
                self.stream.put(report)
            return
        for report in reports:
            self._seq += 1
            heapq.heappush(self._pending, (now + self.config.latency.draw(self.core.rng), self._seq, report))
        self._release()

    def _release(self) -> None:
        now = self.clock.now()
        if not self.connected:
            if self._reconnect_at and now >= self._reconnect_at:
                self.reconnect()
            else:
                return
        while self._pending and self._pending[0][0] <= now:
            self.stream.put(heapq.heappop(self._pending)[2])
        if self.clock.paced and self._pending:
            self._wake.set()

    def _draw_disconnect(self, now: int) -> int:
        rate = self.config.disconnects_per_hour
        if rate <= 0:
            return 0
        gap_s = -3600.0 / rate * __import__("math").log(self.core.rng.random())
        return now + int(gap_s * 1e9)

    async def _pace(self) -> None:
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            # (not asyncio.sleep: a wait under half a millisecond would spin the loop; simulators/pacing.py)
            await pacing.wait(self.clock.wall_delay(self._pending[0][0]))
            self._release()
            await asyncio.sleep(0)

    # ---------------------------------------------------------------- the interface
    def submit_nowait(self, order: NewOrder) -> None:
        """submit, synchronously: nothing here waits (the gateway saves a task per order)."""
        if not self.connected:
            self._check_connection()
        now = self.clock.now()
        self._schedule(self.core.submit(order, now), now)
        self._ensure_pacer()

    def cancel_nowait(self, request: CancelRequest) -> None:
        self._check_connection()
        now = self.clock.now()
        self._schedule(self.core.cancel(request.cl_ord_id, now), now)
        self._ensure_pacer()

    async def submit(self, order: NewOrder) -> None:
        self.submit_nowait(order)

    async def cancel(self, request: CancelRequest) -> None:
        self.cancel_nowait(request)

    def reports(self) -> AsyncIterator[BrokerMessage]:
        return self.stream.__aiter__()

    def pending_reports(self) -> list[BrokerMessage]:
        """Everything already released, without waiting (for synchronous drivers and tests)."""
        return self.stream.drain()

    def on_market(self, message: MarketMessage) -> None:
        """Feed a market message: moves simulated time, may fill resting orders."""
        self.clock.advance(message.ts)
        now = self.clock.now()
        if self._next_disconnect and now >= self._next_disconnect and self.connected:
            self.disconnect(int(self.config.disconnect_seconds * 1e9), "simulated disconnection")
            self._next_disconnect = self._draw_disconnect(now)
        self._schedule(self.core.on_market(message), now)

    def advance(self, ts: int) -> None:
        self.clock.advance(ts)
        self._release()

    def _check_connection(self) -> None:
        if not self.connected:
            self._release()  # a reconnection may be due
        if not self.connected:
            raise BrokerUnavailable("broker connection is down")

    def _ensure_pacer(self) -> None:
        if self._pacer is None and self.clock.paced:
            self._pacer = asyncio.get_running_loop().create_task(self._pace())

    # ---------------------------------------------------------------- faults
    def disconnect(self, duration_ns: int = 0, reason: str = "disconnected") -> None:
        """Drop the connection (for duration_ns of simulated time, or until reconnect())."""
        if not self.connected:
            return
        self.connected = False
        now = self.clock.now()
        self._reconnect_at = now + duration_ns if duration_ns else 0
        self.stream.put(ConnectionStatus(connected=False, reason=reason, ts=now))

    def reconnect(self) -> None:
        if self.connected:
            return
        self.connected = True
        self._reconnect_at = 0
        self.stream.put(ConnectionStatus(connected=True, reason="reconnected", ts=self.clock.now()))
        self._release()

    async def close(self) -> None:
        if self._pacer is not None:
            self._pacer.cancel()
            try:
                await self._pacer
            except asyncio.CancelledError:
                pass
