"""One load-generating client, in a process of its own (picows on uvloop: the client's own
overhead stays small and is the same for every target).

    python -m bench.loadgen.client --url ws://127.0.0.1:PORT/ws --rate 10000 --count 20000 \
        [--mode open|closed] [--login API_KEY:SECRET] [--expect order_accepted|echo] [--out result.json]

Each message is a new order (a limit buy under the market, 100 shares of 600036) with its
own req_id; the answer carrying that req_id ends its latency. Against an echo server the
same bytes come back. Open loop: message i is due at start + i / rate, and its latency runs
from that intended moment, whether or not the client managed to send it on time (so a
server that stalls is charged for the queue it causes). Closed loop: the next message goes
when the previous is answered. Bounded by --count and --max-seconds; loopback only.

Latencies go into an HDR histogram (ns, 3 significant digits); the result is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from urllib.parse import urlparse

import orjson
import uvloop
from hdrh.histogram import HdrHistogram
from picows import WSListener, WSMsgType, ws_connect

from gateway.auth import sign

from . import stalls

PERCENTILES = (50, 90, 99, 99.9, 99.99)


SCENARIOS = {
    # scenario: (what answers message i, the answer's type)
    "order_ack": ("req_id", "order_accepted"),  # a resting limit buy, acknowledged once journaled
    "reject": ("req_id", "order_rejected"),  # 150 shares: refused by the lot rule, journaled too
    "order_fill": ("client_order_id", "fill"),  # a marketable buy: until its fill comes back
    "cancel_ack": ("req_id", "cancel_accepted"),  # a cancel of a resting order placed beforehand
}


def order_payloads(count: int, account: int, tag: str, scenario: str = "order_ack", fill_price: int = 0) -> list[bytes]:
    if scenario == "cancel_ack":
        return [orjson.dumps({"type": "cancel", "req_id": str(i), "account": account,
                              "client_order_id": f"{tag}-{i}"}) for i in range(count)]
    out = []
    for i in range(count):
        order = {"type": "new_order", "req_id": str(i), "account": account, "instrument": "600036", "side": "buy",
                 "qty": 100, "price": 4300 - i % 50, "client_order_id": f"{tag}-{i}"}
        if scenario == "reject":
            order["qty"] = 150
        elif scenario == "order_fill":
            order["price"] = fill_price
        out.append(orjson.dumps(order))
    return out


class Listener(WSListener):
    def __init__(self, run: "Run"):
        self.run = run

    def on_ws_frame(self, transport, frame):
        if frame.msg_type == WSMsgType.TEXT:
            self.run.on_message(frame.get_payload_as_bytes(), time.perf_counter_ns())

    def on_ws_disconnected(self, transport):
        self.run.disconnected = True


class Run:
    def __init__(self, args):
        self.args = args
        self.n = args.count + args.warmup
        self.tag = args.tag or f"lg{os.getpid()}"
        self.key, self.expect_type = SCENARIOS[args.scenario]
        if args.expect == "echo":
            self.key, self.expect_type = "req_id", "new_order"
        self.payloads = order_payloads(self.n, args.account, self.tag, args.scenario, args.fill_price)
        self.start_ns = [0] * self.n
        self.latency_ns = [0] * self.n  # each answered message's, for the run's stalls (bench.loadgen.stalls)
        self.done = [False] * self.n
        self.received = self.errors = 0
        self.histogram = HdrHistogram(1_000, 60_000_000_000, 3)  # 1 µs .. 60 s, in ns
        self.send_lag = HdrHistogram(1_000, 60_000_000_000, 3)  # open loop: how late the client itself sent
        self.first_error = ""
        self.waiter: asyncio.Future | None = None
        self.all_done = asyncio.get_running_loop().create_future()
        self.disconnected = False
        self.last_recv = 0
        self.started = False
        self.early: list[dict] = []
        # --trace: when each message was sent and its answer read (the due time is start_ns)
        self.sent_ns = [0] * self.n if args.trace else None
        self.answer_ns = [0] * self.n if args.trace else None

    # ------------------------------------------------------------------ receiving
    def on_message(self, payload: bytes, now: int) -> None:
        if not self.started:  # the login exchange: the hello may come before anyone waits for it
            self.early.append(orjson.loads(payload))
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(None)
            return
        if self.key == "req_id" and b'"req_id":"' not in payload:
            return  # a push without a req_id (order update, heartbeat): not an answer, and not worth parsing
        message = orjson.loads(payload)
        if self.key == "req_id":
            key = message.get("req_id")
            if key is None or not key.isdigit():
                return  # a push (order update, heartbeat): not an answer
        else:  # answered by a push naming the client's order id
            if message.get("type") not in (self.expect_type, "order_rejected"):
                return
            key = (message.get("client_order_id") or "").rpartition("-")[2]
            if not key.isdigit():
                return
        i = int(key)
        if i >= self.n or self.done[i]:
            return
        self.done[i] = True
        self.received += 1
        self.last_recv = now
        if self.answer_ns is not None:
            self.answer_ns[i] = now
        if message.get("type") != self.expect_type:
            self.errors += 1
            self.first_error = self.first_error or payload.decode()[:300]
        if i >= self.args.warmup:
            self.latency_ns[i] = latency = max(1_000, now - self.start_ns[i])
            self.histogram.record_value(latency)
        if self.closed_future is not None and not self.closed_future.done():
            self.closed_future.set_result(None)
        if self.received == self.n and not self.all_done.done():
            self.all_done.set_result(None)

    closed_future: asyncio.Future | None = None

    async def request_raw(self, transport, body: dict | None, wanted: str) -> dict:
        """Before the run: send body (if any) and wait for the first message of the wanted type."""
        if body is not None:
            transport.send(WSMsgType.TEXT, orjson.dumps(body))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for message in self.early:
                if message.get("type") in (wanted, "error", "login_failed"):
                    self.early.remove(message)
                    return message
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self.waiter, max(0.01, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
        raise SystemExit(f"no {wanted} from the server; saw {self.early}")

    async def login(self, transport) -> None:
        hello = await self.request_raw(transport, None, "hello")
        api_key, secret = self.args.login.split(":", 1)
        ts = int(time.time() * 1000)
        signature = sign(secret, hello["nonce"], api_key, ts)
        answer = await self.request_raw(transport, {"type": "login", "req_id": "login", "api_key": api_key,
                                                    "timestamp_ms": ts, "signature": signature}, "login_ok")
        if answer.get("type") != "login_ok":
            raise SystemExit(f"login refused: {answer}")

    async def place_resting(self, transport) -> None:
        """For the cancel scenario: the orders to cancel, placed (and acknowledged) first, unmeasured."""
        orders = order_payloads(self.n, self.args.account, self.tag, "order_ack")
        for i, body in enumerate(orders):
            transport.send(WSMsgType.TEXT, body)
            if i % 100 == 99 or i == self.n - 1:  # in windows of 100, each window acknowledged
                while sum(1 for m in self.early if m.get("type") in ("order_accepted", "order_rejected")) < i + 1:
                    self.waiter = asyncio.get_running_loop().create_future()
                    await asyncio.wait_for(self.waiter, 10)
        refused = [m for m in self.early if m.get("type") == "order_rejected"]
        if refused:
            raise SystemExit(f"placing the orders to cancel failed: {refused[0]}")
        self.early.clear()

    def answered_in_order(self) -> tuple[list[int], list[float]]:
        """The measured, answered messages' due times (ns) and latencies (µs), in send order."""
        w = self.args.warmup
        return ([self.start_ns[i] for i in range(w, self.n) if self.latency_ns[i]],
                [self.latency_ns[i] / 1000 for i in range(w, self.n) if self.latency_ns[i]])

    # ------------------------------------------------------------------ sending
    async def send_open(self, transport) -> int:
        interval = 1e9 / self.args.rate
        start = time.perf_counter_ns() + 5_000_000
        deadline = start + int(self.args.max_seconds * 1e9)
        sent = 0
        for i in range(self.n):
            due = start + int(i * interval)
            while True:
                delta = due - time.perf_counter_ns()
                if delta <= 0:
                    break
                if delta > 3_000_000:  # the loop's timers can wake a millisecond late: sleep short of it
                    await asyncio.sleep((delta - 2_000_000) / 1e9)
                else:  # close to the moment: give the CPU away and let the loop read, then look again
                    os.sched_yield()
                    await asyncio.sleep(0)
            if due > deadline or self.disconnected:
                break
            self.start_ns[i] = due
            now = time.perf_counter_ns()  # before the send: on loopback the server can read it before send() returns
            self.send_lag.record_value(max(1_000, now - due))
            if self.sent_ns is not None:
                self.sent_ns[i] = now
            transport.send(WSMsgType.TEXT, self.payloads[i])
            sent += 1
            if i % 64 == 63:
                await asyncio.sleep(0)  # read what came back even when running behind
        return sent

    async def send_closed(self, transport) -> int:
        deadline = time.perf_counter_ns() + int(self.args.max_seconds * 1e9)
        loop = asyncio.get_running_loop()
        sent = 0
        for i in range(self.n):
            if time.perf_counter_ns() > deadline or self.disconnected:
                break
            self.closed_future = future = loop.create_future()
            timer = loop.call_later(10, lambda: future.done() or future.set_result(None))  # a lost answer
            self.start_ns[i] = time.perf_counter_ns()
            transport.send(WSMsgType.TEXT, self.payloads[i])
            sent += 1
            await future
            timer.cancel()
            if not self.done[i]:
                break
        return sent

    async def execute(self) -> dict:
        transport, _ = await ws_connect(lambda: Listener(self), self.args.url, max_frame_size=1 << 24)
        if self.args.login:
            await self.login(transport)
        for code in filter(None, self.args.subscribe.split(",")):
            await self.request_raw(transport, {"type": "subscribe", "req_id": f"sub-{code}", "channel": "market",
                                               "instruments": [code]}, "subscribed")
        if self.args.scenario == "cancel_ack":
            await self.place_resting(transport)
        self.started = True
        began = time.perf_counter_ns()
        sent = await (self.send_open(transport) if self.args.mode == "open" else self.send_closed(transport))
        sent_done = time.perf_counter_ns()
        if sent:
            try:
                await asyncio.wait_for(asyncio.shield(self.all_done), 10 if sent == self.n else 2)
            except asyncio.TimeoutError:
                pass
        transport.disconnect()
        elapsed = max(1, (self.last_recv or sent_done) - began) / 1e9
        h = self.histogram
        return {
            "url": self.args.url, "mode": self.args.mode, "rate": self.args.rate if self.args.mode == "open" else None,
            "count": self.args.count, "warmup": self.args.warmup, "sent": sent, "received": self.received,
            "lost": sent - self.received, "errors": self.errors, "first_error": self.first_error,
            "elapsed_s": round(elapsed, 3), "throughput_per_s": round(self.received / elapsed, 1),
            "send_rate_per_s": round(sent / max(1e-9, (sent_done - began) / 1e9), 1),
            "latency_us": {**{f"p{p}": h.get_value_at_percentile(p) / 1000 for p in PERCENTILES},
                           "max": h.get_max_value() / 1000, "mean": round(h.get_mean_value() / 1000, 1),
                           "samples": h.get_total_count()},
            "histogram": h.encode().decode(),  # HdrHistogram's own compressed base64 form
            # the host's holds on the CPUs, as this run's orders met them (open loop)
            "stalls": stalls.summary(*self.answered_in_order()),
            # how late the client sent (open loop; part of every latency above, by design): a check
            # that the client, not the server, is not what the tail measures
            "send_lag_us": {"p50": self.send_lag.get_value_at_percentile(50) / 1000,
                            "p99": self.send_lag.get_value_at_percentile(99) / 1000,
                            "max": self.send_lag.get_max_value() / 1000},
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--mode", choices=["open", "closed"], default="open")
    parser.add_argument("--rate", type=float, default=1_000.0, help="messages per second (open loop)")
    parser.add_argument("--count", type=int, default=5_000, help="measured messages")
    parser.add_argument("--warmup", type=int, default=500, help="messages sent first and not measured")
    parser.add_argument("--max-seconds", type=float, default=30.0, help="stop sending after this long")
    parser.add_argument("--login", default="", help="API_KEY:SECRET (the gateway); none for an echo server")
    parser.add_argument("--account", type=int, default=0)
    parser.add_argument("--tag", default="", help="client order id prefix")
    parser.add_argument("--expect", default="", help="'echo' against an echo server")
    parser.add_argument("--scenario", choices=list(SCENARIOS), default="order_ack")
    parser.add_argument("--fill-price", type=int, default=0, help="order_fill: the marketable price (fen)")
    parser.add_argument("--subscribe", default="", help="comma-separated codes to take market data for")
    parser.add_argument("--out", default="", help="write the JSON result here (default: stdout)")
    parser.add_argument("--trace", default="", help="open loop: write each message's due, sent and answered "
                                                    "times (CLOCK_MONOTONIC ns) to this JSON file")
    args = parser.parse_args(argv)
    require_loopback(args.url)

    async def go():
        run = Run(args)
        result = await run.execute()
        if args.trace:
            with open(args.trace, "w") as fh:
                json.dump({"warmup": args.warmup, "due": run.start_ns, "sent": run.sent_ns,
                           "answered": run.answer_ns}, fh)
        return result
    emit(uvloop.run(go()), args.out)


def require_loopback(url: str) -> None:
    if urlparse(url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("the load generator talks to loopback only")


def emit(result: dict, out: str) -> None:
    """The result as JSON: into `out`, or on stdout."""
    text = json.dumps(result)
    if out:
        with open(out, "w") as fh:
            fh.write(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
