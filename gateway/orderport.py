# cython: annotation_typing=False
"""The order port: the same websocket API on picows, a websocket server written in Cython.

The main port is aiohttp's, and serves the admin API, health, metrics and documents beside
`/ws`. The order port serves only `/ws`, on a port of its own (`[server] order_port`), for
clients that want the lowest latency: picows parses frames in Cython and calls us for each
one directly from the protocol's `data_received`, with no queue and no task between the
socket and the session (docs/benchmarks.md has the side-by-side figures and the decision).

Everything above the frames is the one Session of gateway/ws.py: login, limits, errors,
answers, pushes, slow-consumer handling and closing behave the same on both ports.
Fragmented messages are reassembled, up to the same hard limit as the main port.

The listener is compiled as a typed subclass of picows' WSListener (orderport.pxd): picows calls
it as C, with no Python frame per read (docs/compiled.md).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket

import picows.picows as _picows  # its WSListener, which the listener extends
from picows import WSMsgType, WSUpgradeRequest, WSUpgradeResponse, WSUpgradeResponseWithListener
from picows import ws_create_server

from . import protocol as p
from .ws import Session

log = logging.getLogger("beacon.ws")


class _Socket:
    """What a Session needs of its websocket: whether it is closed, and a close handshake."""

    def __init__(self, transport):
        self.transport = transport
        self.closed = False

    async def close(self, code: int, message: bytes) -> None:
        if self.closed:
            return
        self.closed = True
        self.transport.send_close(code, message)
        try:  # the client answers with its close; the listener then disconnects
            await asyncio.wait_for(self.transport.wait_disconnected(), 5.0)
        except (asyncio.TimeoutError, Exception):
            self.transport.disconnect(graceful=False)


class OrderPortListener(_picows.WSListener):
    def __init__(self, gateway, binary: bool):
        self.gateway = gateway
        self.binary = binary
        self.session: Session | None = None
        self.socket: _Socket | None = None
        self.inbox: collections.deque = collections.deque()  # frames that arrived while a query was answered
        self.busy = False
        self.partial: bytearray | None = None  # a fragmented message being reassembled
        self.loop = asyncio.get_running_loop()

    def on_ws_connected(self, transport) -> None:
        raw = transport.underlying_transport
        settings = self.gateway.config.server
        if settings.send_buffer_bytes:
            sock = raw.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, settings.send_buffer_bytes)
        peer = raw.get_extra_info("peername")
        self.socket = _Socket(transport)
        self.session = Session(self.gateway, self.socket, self.binary, f"{peer[0]}:{peer[1]}" if peer else "",
                               transport=raw)
        self.session.abort = self._abort
        self.session.start()

    def _abort(self) -> None:
        self.socket.transport.disconnect(graceful=False)

    def on_ws_frame(self, transport, frame) -> None:
        """One frame of a read, as picows gives it: a whole request's payload, and whether the
        frame is the read's last."""
        kind = frame.msg_type  # (compiled: picows' C enum, compared as C; a Python enum object cost 640 instructions)
        whole = frame.fin and (kind == _picows.WSMsgType.TEXT or kind == _picows.WSMsgType.BINARY)
        self.arrived(transport, frame, frame.get_payload_as_bytes() if whole else None, frame.last_in_buffer)

    def arrived(self, transport, frame, payload, last) -> None:
        """A frame: `payload` is a whole request's (None for any other frame), `last` whether the
        read has no frame after it. The journal writes what a read's requests submitted at the
        read's end, in this loop turn (GroupCommitter.gather): picows marks the read's last frame."""
        committer = self.gateway.committer
        began = committer.gather()  # (False: this read's earlier frames began it)
        if began and not last:
            # a read whose last frame picows does not deliver must not leave the journal
            # gathering: on the next turn, before any other read, this ends it
            # (the listener's loop, kept: asyncio.get_running_loop() costs a getpid system call on 3.11)
            self.loop.call_soon(self._gathered)
        try:
            if payload is not None and not (self.busy or self.session.closed):
                pending = self.session.handle(payload)  # the common case, handled here
                if pending is not None:
                    self._after_query(pending)
            else:
                self._frame(transport, frame)
        finally:
            if last:
                committer.gathered()

    def _gathered(self) -> None:
        self.gateway.committer.gathered()

    def _frame(self, transport, frame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.CLOSE:
            self.socket.closed = True
            if not transport.is_close_frame_sent:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
            return
        if kind in (WSMsgType.TEXT, WSMsgType.BINARY):
            if not frame.fin:
                self.partial = bytearray(frame.get_payload_as_memoryview())
                return
            data = frame.get_payload_as_bytes()
        elif kind is WSMsgType.CONTINUATION and self.partial is not None:
            self.partial += frame.get_payload_as_memoryview()
            if len(self.partial) > self.gateway.config.server.max_frame_bytes * 16:
                self.partial = None
                self.session.close_soon(1009, "message too big", flush=False)
                return
            if not frame.fin:
                return
            data, self.partial = bytes(self.partial), None
        else:
            return  # pings are answered by picows itself; pongs need nothing
        if self.session.closed:
            return  # closing: what the client still sends is dropped
        if self.busy:
            self.inbox.append(data)
            return
        self._handle(data)

    def _handle(self, data: bytes) -> None:
        pending = self.session.handle(data)
        if pending is not None:
            self._after_query(pending)

    def _after_query(self, pending) -> None:
        """A query: later frames wait until it is answered, as on the main port."""
        self.busy = True
        asyncio.get_running_loop().create_task(self._after(pending))

    async def _after(self, pending) -> None:
        try:
            await pending
        except Exception:
            log.exception("request failed on the order port")
        self.busy = False
        while self.inbox and not self.busy and not self.session.closed:
            self._handle(self.inbox.popleft())

    def on_ws_disconnected(self, transport) -> None:
        if self.session is None:
            return
        self.socket.closed = True
        self.inbox.clear()
        asyncio.get_running_loop().create_task(self.session.finish())


async def serve_order_port(gateway, host: str, port: int) -> asyncio.AbstractServer:
    settings = gateway.config.server

    def route(request: WSUpgradeRequest):
        if request.path not in (b"/ws", "/ws"):
            return None  # 404
        offered = request.headers.get("Sec-WebSocket-Protocol", "") if request.headers else ""
        if isinstance(offered, bytes):
            offered = offered.decode("latin-1")
        binary = p.SUBPROTOCOL_MSGPACK in [s.strip() for s in offered.split(",")]
        listener = OrderPortListener(gateway, binary)
        if binary:
            response = WSUpgradeResponse.create_101_response(
                extra_headers={"Sec-WebSocket-Protocol": p.SUBPROTOCOL_MSGPACK})
            return WSUpgradeResponseWithListener(response, listener)
        return listener

    return await ws_create_server(route, host, port, max_frame_size=settings.max_frame_bytes * 16,
                                  enable_auto_pong=True, websocket_handshake_timeout=5)
