"""Order latency through the real gateway with the broker in-process and over FIX 4.4 on
loopback, side by side in one run, for each journal fsync policy.

    python -m bench.fix_latency [--orders 3000] [--warmup 300] [--policies every-batch interval]

For each (broker, policy): a gateway process on 127.0.0.1 (market injected, limits lifted so
one client can send thousands); with the FIX broker, the broker simulator runs alone as a
FIX acceptor (`python -m simulators.broker --fix`, a third process). One client sends limit
buys under the market one after another (closed loop) and times each from the send to

- `order_accepted`: the gateway's acknowledgement (checked, reserved, journaled durable);
- `order_update` with status `new`: the broker's acknowledgement back through the gateway
  (in-process: a call; over FIX: NewOrderSingle out, ExecutionReport back, both through
  the codec and the session layer, on loopback TCP).

Client, gateway and broker share this machine's two cores; nothing is pinned.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.gateway.harness import ROOT, Conn, Server

ENGINE = {"config": {"enforce_session": False, "order_rate_per_s": 1_000_000, "order_burst": 1_000_000,
                     "max_open_orders": 100_000}}
SERVER = {"message_rate_per_s": 1_000_000, "message_burst": 1_000_000}


async def measure(server: Server, orders: int, warmup: int) -> tuple[list[float], list[float]]:
    conn = await Conn.open(server)
    server.admin("/admin/accounts/0/deposit", {"amount": 10_000_000_000})
    for _ in range(200):  # the broker session is up
        if server.http("GET", "/health", token=None)[1]["broker_connected"]:
            break
        await asyncio.sleep(0.05)
    acks, broker_acks = [], []
    for n in range(orders + warmup):
        req_id = f"q{n}"
        body = json.dumps({"type": "new_order", "req_id": req_id, "account": 0, "instrument": "600036",
                           "side": "buy", "qty": 100, "price": 4300 - n % 50, "client_order_id": f"lat-{n}"})
        t0 = time.perf_counter()
        await conn.ws.send(body)
        t_ack = t_new = 0.0
        while not (t_ack and t_new):  # one order in flight: any `new` update is this order's
            message = json.loads(await conn.ws.recv())
            now = time.perf_counter()
            if message.get("req_id") == req_id:
                assert message["type"] == "order_accepted", message
                t_ack = now
            elif message.get("type") == "order_update" and message.get("status") == "new":
                t_new = now
        if n >= warmup:
            acks.append(t_ack - t0)
            broker_acks.append(t_new - t0)
        if n % 200 == 199:
            await conn.request({"type": "cancel_all", "account": 0})
    await conn.close()
    return acks, broker_acks


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def row(label: str, seconds: list[float]) -> str:
    us = [v * 1e6 for v in seconds]
    return (f"| {label} | {pct(us, .5):.0f} | {pct(us, .9):.0f} | {pct(us, .99):.0f} | {pct(us, .999):.0f} | "
            f"{max(us):.0f} |")


def start_broker(directory: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "simulators.broker", "--fix", "--port", "0", "--scenario", "none",
                             "--store", str(Path(directory) / "broker")], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    return proc, int(line.split("127.0.0.1:")[1].split()[0])


def run(orders: int, warmup: int, policies: list[str]) -> list[tuple[str, str, list[float], list[float]]]:
    out = []
    for policy in policies:
        for transport in ("in-process", "FIX"):
            with tempfile.TemporaryDirectory(prefix="beacon-fix-latency-") as directory:
                broker_proc = None
                broker = {}
                if transport == "FIX":
                    broker_proc, port = start_broker(directory)
                    broker = {"kind": "fix", "fix": {"port": port, "reconnect_min_s": 0.05}}
                server = Server(directory, journal={"fsync": policy}, engine=ENGINE, server=SERVER, broker=broker).start()
                try:
                    server.tick("600036", 4336, ask_size=0)
                    acks, broker_acks = asyncio.run(measure(server, orders, warmup))
                finally:
                    server.stop()
                    if broker_proc is not None:
                        broker_proc.terminate()
                        broker_proc.wait(10)
            out.append((policy, transport, acks, broker_acks))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=3_000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--policies", nargs="+", default=["every-batch", "interval"])
    args = parser.parse_args()
    results = run(args.orders, args.warmup, args.policies)
    print(f"closed loop, {args.orders} orders after {args.warmup} warm-up; client, gateway (and the FIX broker "
          "process) share this 2-vCPU machine, unpinned; µs")
    print("| fsync, broker, measured to | p50 | p90 | p99 | p99.9 | max |")
    print("|---|---|---|---|---|---|")
    for policy, transport, acks, broker_acks in results:
        print(row(f"{policy}, {transport}, gateway ack", acks))
        print(row(f"{policy}, {transport}, broker ack", broker_acks))
    print()
    for policy in args.policies:
        by = {transport: (a, b) for p, transport, a, b in results if p == policy}
        if "FIX" in by and "in-process" in by:
            ratio = pct(by["FIX"][1], .5) / pct(by["in-process"][1], .5)
            extra = (pct(by["FIX"][1], .5) - pct(by["FIX"][0], .5)) * 1e6
            print(f"{policy}: broker ack p50 over FIX / in-process = {ratio:.2f}x; "
                  f"over FIX the broker's ack comes {extra:.0f} µs after the gateway's")


if __name__ == "__main__":
    main()
