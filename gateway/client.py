"""An asyncio client for Beacon's websocket API.

    async with BeaconClient("ws://127.0.0.1:8765/ws", "demo-alice", secret) as client:
        await client.subscribe("market", instruments=["600036"])
        ack = await client.place(1, "600036", "buy", 1_000, price=4336, client_order_id="my-1")
        if ack.type == "order_accepted":
            fill = await client.wait_fill(ack.order_id)
        async for push in client.pushes():     # fills, order updates, margin alerts, market data
            ...

Requests return the gateway's answer (the message carrying their req_id): an `order_accepted`
or `order_rejected`, an `account` view, an `error`, and so on. Everything else arrives on
`pushes()`. The client keeps the order states it has seen (`client.orders`).

Resilience: the client checks the gateway's sequence numbers. After a gap, and after every
reconnection, it re-reads its accounts' orders of today, so its view of them is whole
again (`client.orders`), and reports the gap (`client.gaps`). With `reconnect=True` a lost connection is
re-established with backoff; it logs in again and re-subscribes. Resubmitting an order with
the same client order id is safe: a duplicate is rejected, never doubled. A ping goes out
every heartbeat interval.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import AsyncIterator

import aiohttp
import msgspec

from . import protocol as p
from .auth import sign

log = logging.getLogger("beacon.client")

#: orders whose unawaited fills are kept for a later wait_fill (the oldest are forgotten first)
UNCLAIMED_FILLS_KEPT = 1_000


class GatewayError(Exception):
    """The gateway answered a request with an error."""

    def __init__(self, error: p.Error):
        self.error = error
        super().__init__(f"{error.code}: {error.message}")


class BeaconClient:
    def __init__(self, url: str, api_key: str, secret: str, *, cancel_on_disconnect: bool = False,
                 msgpack: bool = False, reconnect: bool = True, timeout: float = 10.0):
        self.url = url
        self.api_key = api_key
        self.secret = secret
        self.cancel_on_disconnect = cancel_on_disconnect
        self.msgpack = msgpack
        self.reconnect = reconnect
        self.timeout = timeout
        self.accounts: list[int] = []
        self.orders: dict[int, p.Push] = {}  # order id -> the latest message about it
        self.gaps = 0
        self.reconnects = 0
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future] = {}
        self._pushes: asyncio.Queue = asyncio.Queue()
        self._fill_waiters: dict[int, list[asyncio.Future]] = {}
        # fills that arrived before anyone waited for them: the reader can take an order's fill off
        # the socket before the coroutine that placed the order has even seen its acknowledgement
        self._unclaimed_fills: dict[int, list[p.FillReport]] = {}
        self._subscriptions: list[tuple[str, list[str], list[int]]] = []
        self._expected_seq = 1
        self._tasks: list[asyncio.Task] = []
        self._closing = False
        self._connected = asyncio.Event()
        self.heartbeat_s = 10.0

    # ---------------------------------------------------------------- connection
    async def __aenter__(self) -> "BeaconClient":
        await self.connect()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def connect(self) -> None:
        self._session = self._session or aiohttp.ClientSession()
        try:
            await self._open()
        except BaseException:
            await self.close()
            raise
        self._tasks.append(asyncio.create_task(self._pinger()))

    async def _open(self) -> None:
        protocols = (p.SUBPROTOCOL_MSGPACK,) if self.msgpack else ()
        self._ws = await self._session.ws_connect(self.url, protocols=protocols, max_msg_size=16 << 20)
        self._expected_seq = 1
        hello = await self._receive_one()
        if not isinstance(hello, p.Hello):
            raise ConnectionError(f"expected hello, got {hello!r}")
        self.heartbeat_s = hello.heartbeat_s
        reader = asyncio.create_task(self._reader())
        self._tasks.append(reader)
        stamp = int(time.time() * 1000)
        signature = sign(self.secret, hello.nonce, self.api_key, stamp)
        answer = await self._request(p.Login(req_id=self._next_id(), api_key=self.api_key, timestamp_ms=stamp,
                                             signature=signature, cancel_on_disconnect=self.cancel_on_disconnect))
        if isinstance(answer, p.Error):
            raise GatewayError(answer)
        self.accounts = answer.accounts
        for channel, instruments, accounts in self._subscriptions:
            await self._request(p.Subscribe(req_id=self._next_id(), channel=channel, instruments=instruments,
                                            accounts=accounts))
        self._connected.set()

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()

    async def _receive_one(self) -> p.Push:
        frame = await asyncio.wait_for(self._ws.receive(), self.timeout)
        if frame.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            raise ConnectionError(f"connection closed: {frame.extra or frame.type}")
        return self._decode(frame.data)

    def _decode(self, data) -> p.Push:
        message = (p.SERVER_MSGPACK_DECODER.decode(data) if self.msgpack
                   else p.SERVER_JSON_DECODER.decode(data))
        if message.seq != self._expected_seq:
            self.gaps += 1
            log.warning("sequence gap: expected %s, got %s; resynchronising", self._expected_seq, message.seq)
            asyncio.get_running_loop().create_task(self.resync())
        self._expected_seq = message.seq + 1
        return message

    async def _reader(self) -> None:
        ws = self._ws
        try:
            async for frame in ws:
                if frame.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    break
                self._dispatch(self._decode(frame.data))
        finally:
            self._connected.clear()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"connection closed ({ws.close_code}): "
                                                         f"{ws.exception() or ''}"))
            self._pending.clear()
            if not self._closing and self.reconnect:
                asyncio.get_running_loop().create_task(self._reconnect())

    def _dispatch(self, message: p.Push) -> None:
        req_id = getattr(message, "req_id", None)
        if isinstance(message, (p.OrderAck, p.OrderUpdate, p.FillReport)):
            self.orders[message.order_id] = message
            if isinstance(message, p.FillReport):
                waiters = [w for w in self._fill_waiters.pop(message.order_id, []) if not w.done()]
                if waiters:
                    for waiter in waiters:
                        waiter.set_result(message)
                else:
                    self._unclaimed_fills.setdefault(message.order_id, []).append(message)
                    if len(self._unclaimed_fills) > UNCLAIMED_FILLS_KEPT:  # a client that never waits
                        del self._unclaimed_fills[next(iter(self._unclaimed_fills))]
        future = self._pending.pop(req_id, None) if req_id is not None else None
        if future is not None and not future.done():
            future.set_result(message)
        elif not isinstance(message, (p.Heartbeat, p.Pong)):
            self._pushes.put_nowait(message)

    async def _reconnect(self) -> None:
        delay = 0.2
        while not self._closing:
            try:
                await asyncio.sleep(delay)
                await self._open()
                self.reconnects += 1
                await self.resync()
                return
            except (OSError, aiohttp.ClientError, ConnectionError, asyncio.TimeoutError, GatewayError) as exc:
                log.warning("reconnect failed (%s); retrying in %.1f s", exc, delay)
                delay = min(delay * 2, 10.0)

    async def _pinger(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.heartbeat_s / 2)
            if self._connected.is_set():
                try:
                    await self._request(p.Ping(req_id=self._next_id()))
                except (ConnectionError, asyncio.TimeoutError):
                    pass

    # ---------------------------------------------------------------- requests
    def _next_id(self) -> str:
        return f"r{next(self._ids)}"

    async def _request(self, request: p.Request) -> p.Push:
        future = asyncio.get_running_loop().create_future()
        self._pending[request.req_id] = future
        data = (p.MSGPACK_ENCODER.encode(request) if self.msgpack else p.JSON_ENCODER.encode(request))
        if self.msgpack:
            await self._ws.send_bytes(data)
        else:
            await self._ws.send_str(data.decode())
        return await asyncio.wait_for(future, self.timeout)

    async def send_raw(self, data: str | bytes) -> None:
        """Send a frame as is (for tests and tools)."""
        if isinstance(data, bytes):
            await self._ws.send_bytes(data)
        else:
            await self._ws.send_str(data)

    async def place(self, account: int, instrument: str, side: str, qty: int, price: int | None = None,
                    client_order_id: str | None = None, order_type: str | None = None) -> p.Push:
        """Place an order; the order_accepted or order_rejected answer (or an error)."""
        order_type = order_type or ("limit" if price is not None else "market")
        return await self._request(p.NewOrder(
            req_id=self._next_id(), account=account, instrument=instrument, side=side, qty=qty, price=price,
            order_type=order_type, client_order_id=client_order_id or f"c{time.time_ns()}"))

    async def cancel(self, account: int, client_order_id: str | None = None, order_id: int | None = None) -> p.Push:
        return await self._request(p.Cancel(req_id=self._next_id(), account=account,
                                            client_order_id=client_order_id, order_id=order_id))

    async def cancel_all(self, account: int, instrument: str | None = None) -> p.Push:
        return await self._request(p.CancelAll(req_id=self._next_id(), account=account, instrument=instrument))

    async def account(self, account: int) -> p.Push:
        return await self._request(p.QueryAccount(req_id=self._next_id(), account=account))

    async def positions(self, account: int) -> p.Push:
        return await self._request(p.QueryPositions(req_id=self._next_id(), account=account))

    async def open_orders(self, account: int, open_only: bool = True) -> p.Push:
        return await self._request(p.QueryOrders(req_id=self._next_id(), account=account, open_only=open_only))

    async def risk(self, account: int, gross_return_bp: list[int] | None = None, days: int = 1,
                   confidence: float = 0.95) -> p.Push:
        """DOMAIN.md section 8's figures for the account (a RiskView; docs/risk.md)."""
        extra = {} if gross_return_bp is None else {"gross_return_bp": list(gross_return_bp)}
        return await self._request(p.QueryRisk(req_id=self._next_id(), account=account, days=days,
                                               confidence=confidence, **extra))

    async def fills(self, account: int) -> p.Push:
        return await self._request(p.QueryFills(req_id=self._next_id(), account=account))

    async def subscribe(self, channel: str, instruments: list[str] = (), accounts: list[int] = ()) -> p.Push:
        entry = (channel, list(instruments), list(accounts))
        answer = await self._request(p.Subscribe(req_id=self._next_id(), channel=channel,
                                                 instruments=entry[1], accounts=entry[2]))
        if isinstance(answer, p.Subscribed):
            self._subscriptions.append(entry)
        return answer

    async def ping(self) -> p.Push:
        return await self._request(p.Ping(req_id=self._next_id()))

    # ---------------------------------------------------------------- pushes and waiting
    async def pushes(self) -> AsyncIterator[p.Push]:
        while True:
            yield await self._pushes.get()

    def next_push(self, timeout: float | None = None):
        return asyncio.wait_for(self._pushes.get(), timeout or self.timeout)

    async def wait_fill(self, order_id: int, timeout: float | None = None) -> p.FillReport:
        """The order's next fill not yet returned by wait_fill (one that already arrived counts)."""
        unclaimed = self._unclaimed_fills.get(order_id)
        if unclaimed:
            fill = unclaimed.pop(0)
            if not unclaimed:
                del self._unclaimed_fills[order_id]
            return fill
        future = asyncio.get_running_loop().create_future()
        self._fill_waiters.setdefault(order_id, []).append(future)
        return await asyncio.wait_for(future, timeout or self.timeout)

    async def resync(self) -> None:
        """Re-read every account's orders of today, open and closed (after a gap or a reconnection)."""
        for account in self.accounts:
            try:
                orders = await self.open_orders(account, open_only=False)
            except (ConnectionError, asyncio.TimeoutError):
                return
            if isinstance(orders, p.Orders):
                for view in orders.orders:
                    self.orders[view.order_id] = p.OrderUpdate(
                        order_id=view.order_id, client_order_id=view.client_order_id, account=account,
                        status=view.status, filled=view.filled, remaining=view.remaining, reason=view.reason)
