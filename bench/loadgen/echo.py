"""The floor: websocket echo servers with nothing behind them, on uvloop.

    python -m bench.loadgen.echo aiohttp|picows [--port 0] [--busy-poll-us N]
    python -m bench.loadgen.echo picows --work-us BEFORE,AFTER [--push-bytes N]

`aiohttp` is the same server stack as the gateway's (aiohttp's websocket handler on
uvloop); `picows` is a websocket library written for latency. Each answers every text frame
with the same bytes. Prints "echo: listening on PORT" when ready. `--busy-poll-us` keeps the
loop polling after each frame exactly as the gateway's `[server] busy_poll_us` does, so the
floor for a busy-polling gateway is measured the same way.

`--work-us` makes the picows echo a model of a server that spends CPU on each request: it
spins BEFORE µs between reading a frame and answering it, and AFTER µs once the answer is
sent (as the gateway answers first and then routes the order to its broker). `--push-bytes N`
then sends a second frame of N bytes that answers nothing, as the gateway pushes the broker's
`order_update` after each acknowledgement. Beside the gateway it says how much of the gateway's
tail its CPU per order and its second message explain, and what CPU per order a tail goal
allows (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import time

import uvloop

from gateway.busypoll import BusyPoll

MAX_WORK_US = 1_000_000  # the most --work-us spins per frame, before or after
MAX_PUSH_BYTES = 1 << 20  # the largest --push-bytes frame


async def aiohttp_echo(port: int) -> int:
    from aiohttp import WSMsgType, web

    async def handler(request):
        ws = web.WebSocketResponse(max_msg_size=1 << 20)
        await ws.prepare(request)
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await ws.send_str(message.data)
            elif message.type == WSMsgType.BINARY:
                await ws.send_bytes(message.data)
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    return site._server.sockets[0].getsockname()[1]


def spin(us: float) -> None:
    """Keep the CPU busy for `us` µs (of wall time, so a preemption meanwhile counts, as it
    would for real work)."""
    end = time.perf_counter() + us / 1e6
    while time.perf_counter() < end:
        pass


def push_frame(size: int) -> bytes:
    """A JSON push of `size` bytes (at least its envelope's) that carries no req_id: the load
    client skips it unparsed, as it skips the gateway's order updates."""
    envelope = b'{"type":"order_update","pad":""}'
    return envelope[:-2] + b"x" * max(0, size - len(envelope)) + b'"}'


async def picows_echo(port: int, busy_poll_us: int = 0, work_us: tuple[float, float] = (0, 0),
                      push_bytes: int = 0) -> int:
    from picows import WSListener, WSMsgType, ws_create_server

    poll = BusyPoll(asyncio.get_running_loop(), busy_poll_us) if busy_poll_us else None
    before, after = work_us
    push = push_frame(push_bytes) if push_bytes else None

    class Echo(WSListener):
        def on_ws_frame(self, transport, frame):
            if poll is not None:
                poll.touch(time.monotonic())
            if frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
                if before:
                    spin(before)
                transport.send(frame.msg_type, frame.get_payload_as_bytes())
                if after:
                    spin(after)
                if push is not None:
                    transport.send(WSMsgType.TEXT, push)
            elif frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

    server = await ws_create_server(lambda request: Echo(), "127.0.0.1", port)
    return server.sockets[0].getsockname()[1]


async def serve(kind: str, port: int, busy_poll_us: int = 0, work_us: tuple[float, float] = (0, 0),
                push_bytes: int = 0) -> None:
    actual = await (aiohttp_echo(port) if kind == "aiohttp" else picows_echo(port, busy_poll_us, work_us, push_bytes))
    print(f"echo: listening on {actual}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["aiohttp", "picows"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--busy-poll-us", type=int, default=0, help="picows only: poll this long after each frame")
    parser.add_argument("--work-us", default="0,0", metavar="BEFORE,AFTER",
                        help="picows only: µs of CPU spun before answering each frame and after")
    parser.add_argument("--push-bytes", type=int, default=0, metavar="N",
                        help="picows only: after each answer (and its work), push a frame of N bytes")
    args = parser.parse_args()
    if args.busy_poll_us and args.kind != "picows":
        parser.error("--busy-poll-us is for the picows echo")
    try:
        work_us = tuple(float(x) for x in args.work_us.split(","))
    except ValueError:
        work_us = ()
    if len(work_us) != 2 or min(work_us) < 0 or max(work_us) > MAX_WORK_US:
        parser.error(f"--work-us takes two numbers of µs from 0 to {MAX_WORK_US:,}, BEFORE,AFTER; got {args.work_us!r}")
    if any(work_us) and args.kind != "picows":
        parser.error("--work-us is for the picows echo")
    if not 0 <= args.push_bytes <= MAX_PUSH_BYTES:
        parser.error(f"--push-bytes takes 0 to {MAX_PUSH_BYTES:,} bytes; got {args.push_bytes}")
    if args.push_bytes and args.kind != "picows":
        parser.error("--push-bytes is for the picows echo")
    uvloop.run(serve(args.kind, args.port, args.busy_poll_us, work_us, args.push_bytes))


if __name__ == "__main__":
    main()
