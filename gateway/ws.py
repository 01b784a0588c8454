# cython: annotation_typing=False
"""One websocket connection: login, requests, and everything the gateway pushes to it.

Outgoing messages are queued and written by one task per connection, which numbers them
(`seq`) as they leave. Order, fill, account and margin messages are never dropped: if a
client stops reading, so that its queue passes `send_queue_limit` or one message cannot
leave within `send_timeout_s`, the connection is closed with a reason (the client
recovers by queries when it reconnects). Market data is
conflated: a slow reader gets the latest tick of each instrument, not every tick.

Bad input (malformed JSON, unknown types, missing or mistyped fields, out-of-range
numbers, oversized frames, requests before login, floods) is answered with an `error`
naming the problem, and changes nothing; the connection stays open unless the abuse is
sustained (more than `max_errors_per_minute` errors, or a frame past the hard limit).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import struct
import time
from time import monotonic

import msgspec
import orjson
from aiohttp import WSMsgType, web

from core.riskcalc import account_risk
from core.shardmap import ACCOUNT_SHARDS, ShardedSet

from . import protocol as p
from .auth import Authenticator, new_nonce
from .service import market_push

log = logging.getLogger("beacon.ws")

CLOSE_GOING_AWAY = 1001  # the websocket code for a server that is shutting down
CLOSE_POLICY = 1008  # the websocket code for a policy violation
CLOSE_SLOW = 4008  # ours: the client did not read its messages

HIGH_WATER = 256 * 1024  # bytes waiting in a transport's buffer above which a session stops writing
LOW_WATER = 64 * 1024  # ... and below which it starts again
_HEADER1, _HEADER2, _HEADER3 = (struct.Struct(f).pack for f in ("!BB", "!BBH", "!BBQ"))  # RFC 6455 5.2


# the request types handle() tests every frame against (module globals: a lookup cheaper than p.<name>)
_LOGIN, _NEW_ORDER, _PING = p.Login, p.NewOrder, p.Ping


def _frame_header(first: int, n: int) -> bytes:
    """An unmasked server frame's header for a payload of n bytes (RFC 6455 5.2)."""
    return _HEADER1(first, n) if n < 126 else _HEADER2(first, 126, n) if n < 65536 else _HEADER3(first, 127, n)


class Session:
    def __init__(self, gateway, ws: web.WebSocketResponse, binary: bool, peer: str, transport=None):
        self.gateway = gateway
        self.outbox = gateway.outbox  # (held typed: output waiting enters it once per turn)
        self.settings = gateway.config.server
        self.ws = ws
        self.binary = binary
        self.peer = peer
        self.encode = p.MSGPACK_ENCODER.encode if binary else p.JSON_ENCODER.encode
        self.decode = p.MSGPACK_DECODER.decode if binary else p.JSON_DECODER.decode
        self._trace = getattr(gateway, "order_trace", None)  # BEACON_ORDER_TRACE (gateway/ordertrace.py)
        self.client = None
        self.nonce = new_nonce()
        self.seq = 0
        self.queue: list = []  # (a list, not a deque: the compiled session appends and empties it without method calls)
        self.market: dict[str, p.Market] = {}
        self.closed = False  # no more input is processed and no more output queued
        self.close_reason = ""
        self._close_code = 0
        self.transport = transport  # frames are written here (see flush)
        self._first_byte = 0x82 if binary else 0x81  # FIN and the binary or text opcode
        self._dirty = False  # output is queued and this session is in the outbox
        self._blocked = False  # the transport's buffer passed HIGH_WATER: waiting for it to drain
        self._final = False  # the close frame is going out: nothing more is written
        self._wake = asyncio.Event()  # wakes the writer task (drain, close)
        self._sending_since = 0.0  # when the output began waiting for the buffer to drain (0: not waiting)
        self._burst = float(self.settings.message_burst)
        self._rate = float(self.settings.message_rate_per_s)
        self._tokens = self._burst
        self._token_time = monotonic()
        self._messages_in = gateway.metrics.messages_in
        self._busy_poll = gateway.busy_poll
        self._errors: collections.deque = collections.deque()
        self.login_failures = 0
        self.cancel_on_disconnect = False
        self._left = False  # finish() has taken the session out of the gateway's tables
        self.placed: ShardedSet = ShardedSet(shards=ACCOUNT_SHARDS)  # grows all day (core/shardmap.py)
        self.last_in = self.last_out = monotonic()
        self.abort = None  # cuts the connection off when even a close cannot get through
        self.subscriptions: dict[str, set] = {"market": set(), "account": set(), "orders": set(), "alerts": set()}

    # ---------------------------------------------------------------- sending
    def send(self, message: p.Push) -> None:
        if self.closed and not self._close_code:
            return
        self.queue.append(message)
        if len(self.queue) > self.settings.send_queue_limit:
            self.gateway.metrics.slow_consumers.inc()
            self.close_soon(CLOSE_SLOW, "slow consumer: too many unread order and account messages", flush=False)
            return
        self._queued()

    def send_market(self, message: p.Market) -> None:
        if self.closed:
            return
        if self.settings.market_conflation:
            self.market.pop(message.instrument, None)
            self.market[message.instrument] = message  # the newest tick, at the back
        elif len(self.queue) < self.settings.send_queue_limit // 2:
            self.queue.append(message)  # without conflation, market data is what a full queue drops
        self._queued()

    def _queued(self) -> None:
        """Output is waiting: into the outbox once, until the flush that takes it."""
        if not self._dirty:
            self._dirty = True
            self.outbox.add(self)

    def error(self, req_id: str | None, code: str, message: str) -> None:
        self.gateway.metrics.errors.labels(code).inc()
        self.send(p.Error(req_id=req_id, code=code, message=message))
        now = monotonic()
        self._errors.append(now)
        while self._errors and now - self._errors[0] > 60:
            self._errors.popleft()
        if len(self._errors) > self.settings.max_errors_per_minute:
            self.close_soon(CLOSE_POLICY, "too many bad requests")

    def flush(self) -> None:
        """Write everything queued, numbered as it leaves, as websocket frames in one transport write
        (one system call for all of a batch's answers to this connection). The Outbox calls it.

        Frames are written to the transport directly rather than one `send_frame` each: a server's
        frames are unmasked and uncompressed here, so a frame is a 2-10 byte header and the
        payload, and aiohttp's own writes (pongs, the close) are whole frames written from this
        same thread, so nothing interleaves. Above the high-water mark nothing more is written
        until the buffer drains (the writer task waits for it)."""
        self._dirty = False
        if self._blocked:
            return
        transport = self.transport
        if self._final or self.ws.closed or transport is None or transport.is_closing():
            self.queue.clear()  # the close has begun or the connection is gone: nothing more can go
            self.market.clear()
        if not (self.queue or self.market):
            if self._close_code:
                self._wake.set()  # everything queued before the close has gone: the writer closes
            return
        queue, market, encode, first = self.queue, self.market, self.encode, self._first_byte
        if len(queue) == 1 and not market and self._trace is None:
            # the common case at one order per turn (an answer, or an update): one frame, no list to join
            message = queue[0]
            queue.clear()
            message.seq = self.seq = self.seq + 1
            payload = encode(message)
            transport.write(_frame_header(first, len(payload)) + payload)
        else:
            parts = []
            traced = [] if self._trace is not None else None
            seq = self.seq
            messages = queue + list(market.values()) if market else queue  # the replies first, then the ticks
            try:
                for message in messages:
                    seq += 1
                    message.seq = seq
                    if traced is not None and getattr(message, "req_id", None):
                        traced.append(message.req_id)
                    payload = encode(message)
                    parts.append(_frame_header(first, len(payload)))
                    parts.append(payload)
            finally:  # taken, whatever happens: never numbered and sent twice
                queue.clear()
                market.clear()
            self.seq = seq
            if traced:  # stamped before the write: on loopback the client can read it before write() returns
                self._trace.on_answered(traced)
            transport.write(b"".join(parts))
        self.last_out = monotonic()
        if transport.get_write_buffer_size() > HIGH_WATER:
            # the client is not keeping up: stop writing until the buffer drains (the heartbeat task
            # times the wait against send_timeout_s)
            self._blocked = True
            self._sending_since = self.last_out
            self._wake.set()
        elif self._close_code:
            self._wake.set()

    async def _writer(self) -> None:
        """The slow path: wait for a full transport buffer to drain, and close once the queue is out."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._blocked:
                # aiohttp offers no public "drained" signal for a response's transport; a slow client is
                # the rare case, so poll its buffer
                transport = self.transport
                while transport.get_write_buffer_size() > LOW_WATER and not transport.is_closing():
                    await asyncio.sleep(0.002)
                self._blocked = False
                self._sending_since = 0.0
                self.flush()
                continue
            if self._close_code and not (self.queue or self.market):
                self._final = True  # no frame may follow the close frame
                if not self.ws.closed:
                    await self._close(self._close_code, self.close_reason)
                return

    def _check_stuck_send(self, now: float) -> None:
        """A send waiting on a full socket longer than send_timeout_s: the client is not reading."""
        if self._sending_since and now - self._sending_since > self.settings.send_timeout_s and not self.closed:
            self.gateway.metrics.slow_consumers.inc()
            self.close_soon(CLOSE_SLOW, f"slow consumer: a message waited more than "
                                        f"{self.settings.send_timeout_s:g} s to be sent", flush=False)

    async def _heartbeat(self) -> None:
        interval = self.settings.heartbeat_s
        tick = min(interval, 1.0, max(0.05, self.settings.send_timeout_s / 4))
        while not self.closed:
            await asyncio.sleep(tick)
            now = monotonic()
            self._check_stuck_send(now)
            if self.closed:
                break
            if self.client is None and now - self._started > self.settings.login_timeout_s:
                self.close_soon(CLOSE_POLICY, "no login within the login timeout")
            elif now - self.last_in > self.settings.idle_timeout_s:
                self.close_soon(CLOSE_POLICY, f"nothing received for {self.settings.idle_timeout_s:.0f} s")
            elif now - self.last_out >= interval:
                self.send(p.Heartbeat(server_time_ms=time.time_ns() // 1_000_000))

    def close_soon(self, code: int, reason: str, flush: bool = True) -> None:
        """Stop taking requests and close with a reason, after sending what is queued (unless the
        client is not reading: then at once)."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        self._close_code = code
        if not flush:  # the client is not reading: do not wait for the queue
            self.queue.clear()
            self.market.clear()
            self._final = True
            asyncio.get_running_loop().create_task(self._close(code, reason))
            return
        if self._dirty or self._blocked:
            return  # the flush (or the drain) that is due closes after it
        self._wake.set()

    async def _close(self, code: int, reason: str) -> None:
        """Send the close frame and let aiohttp read until the client's (draining what the client still
        had in flight), within a bound; a client that does not take even that is cut off."""
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=reason.encode()[:120]), 6.0)
        except Exception:
            if self.abort is not None:
                self.abort()

    # ---------------------------------------------------------------- receiving
    def start(self) -> None:
        """The connection is open: greet it, and start its writer and heartbeat tasks."""
        self._started = monotonic()
        self.gateway.sessions.add(self)
        self.gateway.metrics.connections.inc()
        self.send(p.Hello(nonce=self.nonce, server_time_ms=time.time_ns() // 1_000_000,
                          heartbeat_s=self.settings.heartbeat_s))
        self._tasks = [asyncio.create_task(self._writer()), asyncio.create_task(self._heartbeat())]

    async def serve(self) -> None:
        """aiohttp's websocket: read frames until the connection ends."""
        self.start()
        try:
            async for frame in self.ws:
                if frame.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await self.on_frame(frame.data)
                elif frame.type == WSMsgType.ERROR:
                    self.close_reason = f"transport error: {self.ws.exception()}"
                    break
                if self.closed:
                    # closing: stop receiving here, the close reads (and drops) what the client still
                    # sends until its close frame; two readers at once would break the connection
                    break
        finally:
            await self.finish()

    async def finish(self) -> None:
        """The connection has ended (or is closing): let a close in progress complete, then leave."""
        self.closed = True
        self._wake.set()
        writer, heartbeat = self._tasks
        heartbeat.cancel()
        try:
            if self._close_code:
                # the writer is sending what was queued and then closing: let it finish the close
                # handshake, or the socket would be reset under a client that is still sending
                done, _ = await asyncio.wait({writer}, timeout=8.0)
                if not done:
                    writer.cancel()
            else:
                writer.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            # even when the wait above is cancelled (a server may cancel a handler whose client has
            # gone; aiohttp's test server does): the session leaves the gateway's tables, and its
            # orders are canceled if it asked for that, once
            if not self._left:
                self._left = True
                writer.cancel()
                self.gateway.metrics.connections.dec()
                self._leave()

    def _leave(self) -> None:
        gw = self.gateway
        gw.sessions.discard(self)
        for code in self.subscriptions["market"]:
            gw.market_subs[code].discard(self)
        for channel, table in (("account", gw.account_subs), ("orders", gw.order_subs), ("alerts", gw.alert_subs)):
            for account in self.subscriptions[channel]:
                table[account].discard(self)
        if self.cancel_on_disconnect:
            for order in sorted(self.placed):
                record = gw.machine.registry.orders.get(order)
                if record is not None and record.state.open and record.state.value != "cancel_pending":
                    gw.cancel(order)

    def _take_token(self, now: float) -> bool:
        tokens = self._tokens + (now - self._token_time) * self._rate
        if tokens > self._burst:
            tokens = self._burst
        self._token_time = now
        if tokens < 1:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1
        return True

    async def on_frame(self, data) -> None:
        pending = self.handle(data)
        if pending is not None:
            await pending

    def handle(self, data):
        """One request frame, handled now; a query, which answers once the journal has caught up,
        returns the coroutine that finishes it (the caller awaits it before the next frame)."""
        received = self.last_in = monotonic()
        self._messages_in.value += 1
        if self._busy_poll is not None:
            self._busy_poll.touch(received)
        size = len(data)
        if size > self.settings.max_frame_bytes:
            self.error(None, "FRAME_TOO_LARGE", f"frame of {size} bytes exceeds the {self.settings.max_frame_bytes}-byte limit")
            return None
        if not self._take_token(received):
            self.error(None, "RATE_LIMITED", f"more than {self.settings.message_rate_per_s} requests per second")
            return None
        try:
            request = self.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            self._bad_message(data, exc)
            return None
        if self._trace is not None and request.req_id:
            self._trace.on_received(request.req_id, received)
        kind = type(request)
        if kind is _LOGIN:  # (not isinstance: for any other type that walks the metaclass, ~600 instructions)
            self.on_login(request)
            return None
        if self.client is None:
            self.error(request.req_id, "NOT_AUTHENTICATED", "log in first")
            return None
        if self.gateway.committer.failed and kind is not _PING:
            return self._journal_stopped(request)
        if kind is _NEW_ORDER:  # most requests: called directly, typed (and not in _HANDLERS)
            self.on_new_order(request, received)
            return None
        return _HANDLERS[kind](self, request, received)  # None, or a query's coroutine

    def _journal_stopped(self, request) -> None:
        """A journal write has failed: nothing more can be acknowledged, so nothing is taken (an order
        is refused before the engine sees it) and a query, which answers once the journal has caught
        up, would wait for ever. Say so instead."""
        if isinstance(request, p.NewOrder):
            self.send(p.OrderReject(req_id=request.req_id, client_order_id=request.client_order_id,
                                    account=request.account, code=909, reason="JOURNAL_FAILED",
                                    detail="the journal has stopped after a failed write; the order was not taken"))
            self.gateway.metrics.rejects.labels("909", "JOURNAL_FAILED").inc()
        else:
            self.error(request.req_id, "JOURNAL_FAILED",
                       "the journal has stopped after a failed write: nothing can be acknowledged until the "
                       "gateway is restarted")

    def _bad_message(self, data, exc: Exception) -> None:
        req_id = None
        try:
            parsed = orjson.loads(data) if not self.binary else msgspec.msgpack.decode(data)
            if isinstance(parsed, dict) and isinstance(parsed.get("req_id"), str):
                req_id = parsed["req_id"][:64]
        except Exception:
            pass
        text = str(exc)
        code = "UNKNOWN_TYPE" if "`$.type`" in text and "Invalid value" in text else "BAD_MESSAGE"
        if isinstance(exc, msgspec.DecodeError) and not isinstance(exc, msgspec.ValidationError):
            text = f"not valid {'MessagePack' if self.binary else 'JSON'}: {text}"
        self.error(req_id, code, text)

    # ---------------------------------------------------------------- requests
    def on_login(self, request: p.Login) -> None:
        if self.client is not None:
            self.error(request.req_id, "ALREADY_AUTHENTICATED", f"logged in as {self.client.client}")
            return
        auth = Authenticator(self.gateway.config.clients, self.settings.clock_skew_s)
        result = auth.check(request.api_key, request.timestamp_ms, request.signature, self.nonce,
                            time.time_ns() // 1_000_000)
        self.nonce = new_nonce()  # a nonce signs one attempt only
        if isinstance(result, str):
            self.login_failures += 1
            self.error(request.req_id, "LOGIN_FAILED", f"{result}; sign the new nonce {self.nonce} to try again")
            if self.login_failures >= self.settings.login_attempts:
                self.close_soon(CLOSE_POLICY, "too many failed logins")
            return
        self.client = result
        self.cancel_on_disconnect = request.cancel_on_disconnect
        accounts = self.gateway.accounts_of(result.client)
        for account in accounts:
            self._watch("orders", account)
            self._watch("alerts", account)
        self.send(p.LoginOk(req_id=request.req_id, client=result.client, accounts=accounts))

    def entitled(self, account: int) -> bool:
        owners = self.gateway.machine.account_clients  # the client of each account, by account id
        return 0 <= account < len(owners) and owners[account] == self.client.client

    def _refuse(self, req_id: str, account: int) -> None:
        self.error(req_id, "NOT_ENTITLED", f"client {self.client.client} may not use account {account}")

    def on_new_order(self, request: p.NewOrder, received: float) -> None:
        if not self.entitled(request.account):
            # DOMAIN check 1 in its order: the account exists (201), then the caller may trade it
            # (203). Whether someone else's account is active is not told: that is the engine's
            # 202, for the caller's own accounts.
            known = 0 <= request.account < len(self.gateway.machine.account_clients)
            code, reason = (203, "NOT_ENTITLED") if known else (201, "UNKNOWN_ACCOUNT")
            self.send(p.OrderReject(req_id=request.req_id, client_order_id=request.client_order_id,
                                    account=request.account, code=code, reason=reason,
                                    detail=f"account={request.account}"))
            self.gateway.metrics.rejects.labels(str(code), reason).inc()
            return
        self.gateway.place_order(self, request, received)

    def on_cancel(self, request: p.Cancel, received: float) -> None:
        if not self.entitled(request.account):
            return self._refuse(request.req_id, request.account)
        registry = self.gateway.machine.registry
        if request.client_order_id is not None:
            record = registry.find(request.account, request.client_order_id)
        elif request.order_id is not None:
            record = registry.orders.get(request.order_id)
        else:
            return self.error(request.req_id, "INVALID_REQUEST", "name the order: client_order_id or order_id")
        if record is None or record.account != request.account:
            return self.error(request.req_id, "UNKNOWN_ORDER", "no such order on this account today")
        self.gateway.cancel(record.order, self, request.req_id)

    def on_cancel_all(self, request: p.CancelAll, received: float) -> None:
        if not self.entitled(request.account):
            return self._refuse(request.req_id, request.account)
        orders = [r.order for r in self.gateway.machine.registry.open_orders(request.account)
                  if r.state.value != "cancel_pending"
                  and (request.instrument is None or r.instrument == request.instrument)]
        for order in orders:
            self.gateway.cancel(order)
        if not orders:
            self.send(p.CancelAck(req_id=request.req_id, order_ids=[]))
            return
        self.gateway.committer.when_safe(self.gateway.journaled.journal.seq,
                                         lambda seq: self.send(p.CancelAck(req_id=request.req_id, order_ids=orders)))

    async def on_query_account(self, request: p.QueryAccount, received: float) -> None:
        if not self.entitled(request.account):
            return self._refuse(request.req_id, request.account)
        await self.gateway.settled()
        self.send(self.gateway.account_view(request.account, request.req_id))

    async def on_query_positions(self, request: p.QueryPositions, received: float) -> None:
        if not self.entitled(request.account):
            return self._refuse(request.req_id, request.account)
        await self.gateway.settled()
        self.send(self.gateway.positions_view(request.account, request.req_id))

    async def on_query_orders(self, request: p.QueryOrders, received: float) -> None:
        if not self.entitled(request.account):
            return self._refuse(request.req_id, request.account)
        await self.gateway.settled()
        self.send(self.gateway.orders_view(request.account, request.open_only, request.req_id))

    async def on_query_fills(self, request: p.QueryFills, received: float) -> None:
        if not self.entitled(request.account):
            return self._refuse(request.req_id, request.account)
        await self.gateway.settled()
        self.send(self.gateway.fills_view(request.account, request.req_id))

    async def on_query_risk(self, request: p.QueryRisk, received: float) -> None:
        if not self.entitled(request.account):
            return self._refuse(request.req_id, request.account)
        await self.gateway.settled()
        figures = account_risk(self.gateway.machine, request.account, tuple(request.gross_return_bp),
                               request.days, request.confidence)
        self.send(p.RiskView(req_id=request.req_id, account=request.account, figures=figures))

    def _watch(self, channel: str, key, on: bool = True) -> None:
        gw = self.gateway
        table = {"market": gw.market_subs, "account": gw.account_subs, "orders": gw.order_subs,
                 "alerts": gw.alert_subs}[channel]
        if on:
            table[key].add(self)
            self.subscriptions[channel].add(key)
        else:
            table[key].discard(self)
            self.subscriptions[channel].discard(key)

    def on_subscribe(self, request: p.Subscribe, received: float) -> None:
        on = not isinstance(request, p.Unsubscribe)
        if request.channel == "market":
            unknown = [c for c in request.instruments if c not in self.gateway.universe]
            if unknown or not request.instruments:
                return self.error(request.req_id, "UNKNOWN_INSTRUMENT" if unknown else "INVALID_REQUEST",
                                  f"unknown instrument(s): {', '.join(unknown[:10])}" if unknown
                                  else "name the instruments")
            for code in request.instruments:
                self._watch("market", code, on)
        else:
            accounts = request.accounts or self.gateway.accounts_of(self.client.client)
            refused = [a for a in accounts if not self.entitled(a)]
            if refused:
                return self.error(request.req_id, "NOT_ENTITLED",
                                  f"client {self.client.client} may not use account(s) {refused[:10]}")
            for account in accounts:
                self._watch(request.channel, account, on)
            request = msgspec.structs.replace(request, accounts=accounts)
        self.send(p.Subscribed(req_id=request.req_id, channel=request.channel if on else f"-{request.channel}",
                               instruments=list(request.instruments), accounts=list(request.accounts)))
        if on and request.channel == "market":
            # a new subscriber starts from the latest quote of each instrument, not from nothing
            for code in request.instruments:
                tick = self.gateway.last_tick.get(code)
                if tick is not None:
                    self.send_market(market_push(tick))

    def on_ping(self, request: p.Ping, received: float) -> None:
        self.send(p.Pong(req_id=request.req_id, server_time_ms=time.time_ns() // 1_000_000))


_HANDLERS = {  # (a NewOrder is handled before these: Session.handle)
    p.Cancel: Session.on_cancel, p.CancelAll: Session.on_cancel_all,
    p.QueryAccount: Session.on_query_account, p.QueryPositions: Session.on_query_positions,
    p.QueryOrders: Session.on_query_orders, p.QueryFills: Session.on_query_fills,
    p.QueryRisk: Session.on_query_risk,
    p.Subscribe: Session.on_subscribe, p.Unsubscribe: Session.on_subscribe, p.Ping: Session.on_ping,
}


async def websocket_handler(request: web.Request) -> web.WebSocketResponse:
    gateway = request.app["gateway"]
    settings = gateway.config.server
    # the hard limit closes the connection (1009); up to it, an oversized frame gets an error and the
    # connection lives on
    ws = web.WebSocketResponse(protocols=(p.SUBPROTOCOL_MSGPACK,), max_msg_size=settings.max_frame_bytes * 16,
                               compress=False, timeout=5.0)  # a close waits at most 5 s for the client
    await ws.prepare(request)
    if settings.send_buffer_bytes:
        sock = request.transport.get_extra_info("socket")
        if sock is not None:
            import socket

            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, settings.send_buffer_bytes)
    session = Session(gateway, ws, ws.ws_protocol == p.SUBPROTOCOL_MSGPACK, request.remote or "",
                      transport=request.transport)
    session.abort = request.transport.abort if request.transport is not None else None
    await session.serve()
    return ws


async def close_all(gateway, reason: str = "the gateway is shutting down", timeout: float = 7.0) -> None:
    """Close every session with 1001 after sending what it has queued; wait for them, within a bound."""
    for session in list(gateway.sessions):
        session.close_soon(CLOSE_GOING_AWAY, reason)
    deadline = asyncio.get_running_loop().time() + timeout
    while gateway.sessions and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
