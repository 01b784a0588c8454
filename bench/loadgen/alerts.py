"""Tick to margin alert: how long from a price shock entering the gateway until the client
holding the account receives its `margin` push.

    python -m bench.loadgen.alerts --url ws://127.0.0.1:PORT/ws --admin http://127.0.0.1:PORT \
        --token ADMIN --login KEY:SECRET --count 300 [--out result.json]

Set-up (not measured): the client's conservative account 0 buys 64,000 shares of 301638 (a new
listing with no daily limit, so one tick may move it anywhere) on credit. Then, one at a time,
a tick enters through the market injection path (the path the simulator's messages take) at
a price that puts the account under its warning line, and the next at one that brings it
back: each is a margin state change, pushed to the client. The latency runs from just
before the tick is sent until the push arrives on the client's websocket.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp
import uvloop
from hdrh.histogram import HdrHistogram

from gateway.auth import sign

from .client import emit, require_loopback

CODE = "301638"
QTY = 64_000


async def run(args) -> dict:
    headers = {"Authorization": f"Bearer {args.token}"}
    async with aiohttp.ClientSession(headers=headers) as http, http.ws_connect(args.url) as ws:
        async def admin(path: str, body: dict) -> dict:
            async with http.post(args.admin + path, json=body) as response:
                answer = await response.json()
                if response.status != 200:
                    raise SystemExit(f"{path}: {response.status} {answer}")
                return answer

        async def tick(price: int) -> None:
            await admin("/admin/market/tick", {"instrument": CODE, "last": price, "bid": price - 1, "ask": price,
                                               "bid_size": 10_000_000, "ask_size": 10_000_000, "volume": 10_000_000,
                                               "lock": 0})

        hello = await ws.receive_json()
        api_key, secret = args.login.split(":", 1)
        ts = int(time.time() * 1000)
        signature = sign(secret, hello["nonce"], api_key, ts)
        await ws.send_json({"type": "login", "req_id": "l", "api_key": api_key, "timestamp_ms": ts,
                            "signature": signature})

        async def until(predicate, timeout=10.0) -> tuple[dict, int]:
            deadline = time.monotonic() + timeout
            while True:
                message = await asyncio.wait_for(ws.receive_json(), max(0.01, deadline - time.monotonic()))
                if predicate(message):
                    return message, time.perf_counter_ns()

        await until(lambda m: m.get("type") == "login_ok")
        # a leveraged book: buy 64,000 x 301638 at 30.16 with 1,000,000.00 CNY of cash
        await tick(3016)
        await ws.send_json({"type": "new_order", "req_id": "buy", "account": args.account, "instrument": CODE,
                            "side": "buy", "qty": QTY, "price": 3016, "client_order_id": "alert-book"})
        await until(lambda m: m.get("type") == "fill" and m.get("remaining") == 0)
        await ws.send_json({"type": "query_account", "req_id": "q", "account": args.account})
        view, _ = await until(lambda m: m.get("req_id") == "q")
        liabilities = view["liabilities"]
        low = -(-14_500 * liabilities // (10_000 * QTY))  # R 145 %: under the 150 % warning line
        high = -(-17_000 * liabilities // (10_000 * QTY))  # R 170 %: clear of the line and its band
        histogram = HdrHistogram(1_000, 60_000_000_000, 3)
        states = []
        for n in range(args.count + args.warmup):
            price = low if n % 2 == 0 else high
            t0 = time.perf_counter_ns()
            send = asyncio.create_task(tick(price))
            push, t1 = await until(lambda m: m.get("type") == "margin" and m.get("account") == args.account)
            await send
            states.append(push["new_state"])
            if n >= args.warmup:
                histogram.record_value(max(1_000, t1 - t0))
        h = histogram
        return {"scenario": "tick_alert", "count": args.count, "warmup": args.warmup, "received": len(states),
                "states": sorted(set(states)), "lost": 0, "errors": 0, "mode": "closed",
                "throughput_per_s": None,
                "latency_us": {**{f"p{p}": h.get_value_at_percentile(p) / 1000 for p in (50, 90, 99, 99.9, 99.99)},
                               "max": h.get_max_value() / 1000, "mean": round(h.get_mean_value() / 1000, 1),
                               "samples": h.get_total_count()},
                "histogram": h.encode().decode()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--admin", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--login", required=True)
    parser.add_argument("--account", type=int, default=0)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)
    for url in (args.url, args.admin):
        require_loopback(url)
    emit(uvloop.run(run(args)), args.out)


if __name__ == "__main__":
    main()
