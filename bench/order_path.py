"""The order path in one process: CPU time per order, without the network.

    python -m bench.order_path [--policy none] [--batch 10] [--orders 8000] [--reps 7]

A real Gateway (journal, engine, simulated broker, outbox) on uvloop, and one Session whose
transport only counts what it is given. Orders arrive as the same JSON frames the load
generator sends (resting limit buys), `--batch` of them per loop turn, and each batch is let
run to the end: the acknowledgement written, the broker's acknowledgement journaled and its
update written. The figure is the loop thread's CPU time (time.thread_time) divided by the
orders; repeated `--reps` times, and the minimum is the one to compare (the others show the
noise of the machine).

This is the tool for changes to the order path: the end-to-end suite (bench.loadgen) adds
the kernel's websocket and the client's own CPU and varies run to run by more than most
single changes move it. It does not replace it: latency is only measured there.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import shutil
import sys
import tempfile
import time

import msgspec
import orjson
import uvloop

from core.commands import Deposit
from gateway.config import Config
from gateway.service import Gateway
from gateway.ws import Session
from simulators.market.messages import Tick
from tests.gateway.harness import ALICE, BASE_CONFIG, merge

from .loadgen.__main__ import GATEWAY_ENGINE, GATEWAY_SERVER

WARMUP = 2_000
TURNS_PER_BATCH = 6  # loop turns given to each batch: journal write, release, broker, its ack's write and release


class CountingTransport:
    """Where a session's frames go: counted, not sent."""

    def __init__(self):
        self.writes = 0
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.bytes += len(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False


class _Socket:
    closed = False


def order_frames(count: int, start: int = 0) -> list[bytes]:
    return [orjson.dumps({"type": "new_order", "req_id": str(i), "account": 0, "instrument": "600036", "side": "buy",
                          "qty": 100, "price": 4300 - i % 50, "client_order_id": f"op-{i}"})
            for i in range(start, start + count)]


async def started_gateway(policy: str, directory: str) -> Gateway:
    """The load generator's gateway (engine and server settings), started, with a mark for the
    instrument and a funded account 0: what the measured orders need."""
    config = msgspec.convert(merge(merge(BASE_CONFIG, {"engine": GATEWAY_ENGINE, "server": GATEWAY_SERVER}),
                                   {"journal": {"fsync": policy, "dir": f"{directory}/journal"}}), Config)
    gateway = Gateway(config)
    await gateway.start()
    gateway.on_market(Tick(ts=gateway.now(), instrument="600036", last=4336, volume=0, bid=4335, bid_size=0,
                           ask=4337, ask_size=0, lock=0))
    gateway.submit(Deposit(account=0, amount=10**13))
    await gateway.settled()
    return gateway


class Young:
    """What the orders leave for the cyclic collector: the objects it tracks that they make and keep.
    Generation 0's count goes up with each such object made and down with each freed, and every
    700 of them start a collection, which stops the loop (and sets the count back to zero); so
    the objects kept are the counts each collection found, plus the count at the end. The order
    path should keep none (docs/benchmarks.md, "the host's 100 ms beat")."""

    def __init__(self):
        self.objects = -gc.get_count()[0]
        gc.callbacks.append(self._on_collection)

    def _on_collection(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.objects += gc.get_count()[0]

    def stop(self) -> None:
        gc.callbacks.remove(self._on_collection)
        self.objects += gc.get_count()[0]


async def measure(policy: str, batch: int, orders: int, reps: int, warmup: int = WARMUP) -> dict:
    directory = tempfile.mkdtemp(prefix="beacon-order-path-")
    gateway = await started_gateway(policy, directory)
    transport = CountingTransport()
    session = Session(gateway, _Socket(), False, "bench", transport=transport)
    session.start()
    session.client = gateway.clients[ALICE[0]]
    for account in gateway.accounts_of(ALICE[0]):
        session._watch("orders", account)

    async def play(frames: list[bytes]) -> None:
        for k in range(0, len(frames), batch):
            for frame in frames[k:k + batch]:
                session.handle(frame)
            for _ in range(TURNS_PER_BATCH):
                await asyncio.sleep(0)
        await gateway.settled()

    await play(order_frames(warmup))
    cpu_us = []
    young = Young()
    for rep in range(reps):
        frames = order_frames(orders, warmup + rep * orders)
        gc.collect()
        before = time.thread_time()
        await play(frames)
        cpu_us.append((time.thread_time() - before) / orders * 1e6)
    young.stop()
    sent = session.seq - 1  # all but the hello
    await gateway.stop()
    shutil.rmtree(directory, ignore_errors=True)
    total = warmup + reps * orders
    return {"policy": policy, "batch": batch, "orders": orders, "cpu_us_per_order": cpu_us,
            "min": min(cpu_us), "median": statistics.median(cpu_us), "messages_per_order": sent / total,
            "young_objects_per_order": young.objects / (reps * orders),
            "writes_per_batch": (transport.writes - 1) / (total / batch)}  # the hello had its own write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", choices=("none", "interval", "every-batch"), default="none",
                        help="journal fsync policy (none: the path without the disk's share)")
    parser.add_argument("--batch", type=int, default=10, help="orders per loop turn")
    parser.add_argument("--orders", type=int, default=8_000, help="orders per repetition")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=WARMUP, help="orders before the measured ones")
    args = parser.parse_args(argv)
    if args.batch < 1 or args.orders < args.batch or args.reps < 1 or args.warmup < 0:
        parser.error("need --batch >= 1, --orders >= --batch, --reps >= 1 and --warmup >= 0")
    result = uvloop.run(measure(args.policy, args.batch, args.orders, args.reps, args.warmup))
    print(f"order path, fsync {result['policy']}, {result['batch']} orders per turn: "
          f"min {result['min']:.1f} µs CPU per order, median {result['median']:.1f} "
          f"({' '.join(f'{x:.1f}' for x in result['cpu_us_per_order'])}); "
          f"{result['messages_per_order']:.2f} messages and {result['writes_per_batch']:.1f} writes per batch; "
          f"{result['young_objects_per_order']:.3f} objects left per order for the cyclic collector")
    return 0


if __name__ == "__main__":
    sys.exit(main())
