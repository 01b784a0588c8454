"""A quick order-to-acknowledgement latency measurement through a real gateway process.

    python -m bench.ws_latency [--orders 5000] [--policies every-batch interval]

For each fsync policy: a gateway on 127.0.0.1 (market injected, broker simulated with zero
latency, the engine's per-account rate limit and open-order cap lifted so one client can send
thousands), then one client sends limit orders one after another (closed loop: the next when
the previous is answered) and times each from send to its `order_accepted`. Client and server
share this machine's cores. The full load generator (open loop, percentiles against an echo
server) is bench/loadgen.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time

from tests.gateway.harness import Conn, Server


async def measure(server: Server, orders: int, warmup: int) -> list[float]:
    conn = await Conn.open(server)
    server.tick("600036", 4336, ask_size=0)
    server.admin("/admin/accounts/0/deposit", {"amount": 10_000_000_000})  # 100 M CNY: never short of cash
    latencies = []
    for n in range(orders + warmup):
        body = json.dumps({"type": "new_order", "req_id": f"q{n}", "account": 0, "instrument": "600036",
                           "side": "buy", "qty": 100, "price": 4300 - n % 50, "client_order_id": f"lat-{n}"})
        t0 = time.perf_counter()
        await conn.ws.send(body)
        while True:
            message = json.loads(await conn.ws.recv())
            if message.get("req_id") == f"q{n}":
                break
        if n >= warmup:
            latencies.append(time.perf_counter() - t0)
        assert message["type"] == "order_accepted", message
        if n % 200 == 199:
            await conn.request({"type": "cancel_all", "account": 0})
    await conn.close()
    return latencies


def _histogram_mean(text: str, name: str) -> float:
    """The mean of a Prometheus histogram in the text exposition (its _sum over its _count)."""
    values = {}
    for line in text.splitlines():
        for part in ("_sum", "_count"):
            if line.startswith(name + part + " "):
                values[part] = float(line.split()[1])
    return values["_sum"] / values["_count"] if values.get("_count") else 0.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=5_000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--policies", nargs="+", default=["every-batch", "interval"])
    args = parser.parse_args()
    engine = {"config": {"enforce_session": False, "order_rate_per_s": 1_000_000, "order_burst": 1_000_000,
                         "max_open_orders": 100_000}}
    print(f"order -> order_accepted, closed loop, {args.orders} orders after {args.warmup} warm-up; "
          "client and gateway on the same 2-vCPU machine")
    print("| fsync policy | p50 | p90 | p99 | p99.9 | max | orders/s | mean inside the gateway |")
    print("|---|---|---|---|---|---|---|---|")
    for policy in args.policies:
        with tempfile.TemporaryDirectory(prefix="beacon-ws-latency-") as directory:
            server = Server(directory, journal={"fsync": policy}, engine=engine,
                            server={"message_rate_per_s": 1_000_000, "message_burst": 1_000_000}).start()
            try:
                started = time.perf_counter()
                latencies = asyncio.run(measure(server, args.orders, args.warmup))
                elapsed = time.perf_counter() - started
                metrics = server.http("GET", "/metrics", token=None)[1]
            finally:
                server.stop()
        inside = _histogram_mean(metrics, "beacon_order_ack_seconds")
        us = [v * 1e6 for v in latencies]
        print(f"| {policy} | {pct(us, .5):.0f} µs | {pct(us, .9):.0f} µs | {pct(us, .99):.0f} µs | "
              f"{pct(us, .999):.0f} µs | {max(us):.0f} µs | {(args.orders + args.warmup) / elapsed:,.0f} | "
              f"{inside * 1e6:.0f} µs |")


if __name__ == "__main__":
    main()
