"""Where an order's round trip goes: the gateway's and the client's stamps joined, order by order.

    python -m bench.loadgen.trace [--rate 10000] [--count 20000] [--policy interval] [--out DIR]

One open-loop run of order to acknowledgement (spread placement: server on CPU 0, client on
CPU 1), with the gateway stamping each request (`BEACON_ORDER_TRACE`, gateway/ordertrace.py)
and the client each message (`--trace`). Both read CLOCK_MONOTONIC, the one clock the
processes share, so each measured order's latency splits into:

- send lag: the client late to send it (its intended time to the send);
- to the server: the send until the session handles the frame (the kernel, and the frame
  waiting while the server's loop is busy with earlier work);
- server: the frame handled until the answer is handed to the transport (the checks, the
  journal, the batch it waits for);
- back: handed to the transport until the client reads it (uvloop sends at the end of the
  turn, the kernel, and the client's loop).

Prints the percentiles of each part and writes trace.json (every order's parts, µs) and
trace.md. The stamps cost a little: the latencies are a few µs above an untraced run's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.report import percentile

from .__main__ import PLACEMENTS, RESULTS, Gateway, client

PARTS = ("total", "send lag", "to the server", "server", "back")
PERCENTILES = (50, 90, 99, 99.9)


def join(client_trace: dict, server_trace: dict) -> list[tuple[float, ...]]:
    """(total, send lag, to the server, server, back) in µs for every measured order both sides saw."""
    received, answered = server_trace["received"], server_trace["answered"]
    rows = []
    for i in range(client_trace["warmup"], len(client_trace["due"])):
        key = str(i)
        due, sent, back = client_trace["due"][i], client_trace["sent"][i], client_trace["answered"][i]
        if not (due and sent and back) or key not in received or key not in answered:
            continue
        handled, queued = received[key], answered[key]
        rows.append(tuple(x / 1000 for x in (back - due, sent - due, handled - sent, queued - handled,
                                             back - queued)))
    return rows


def table(rows: list[tuple[float, ...]]) -> list[str]:
    lines = ["| percentile | " + " | ".join(PARTS) + " |", "|---" * (len(PARTS) + 1) + "|"]
    for q in PERCENTILES:
        cells = [f"{percentile([r[j] for r in rows], q / 100):,.0f}" for j in range(len(PARTS))]
        lines.append(f"| p{q:g} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--policy", choices=("interval", "every-batch", "none"), default="interval")
    parser.add_argument("--out", default="", help="directory (default: bench/results/loadgen/<UTC time>-trace)")
    args = parser.parse_args(argv)
    server_cpu, client_cpu = PLACEMENTS["spread"]
    scratch = Path(tempfile.mkdtemp(prefix="beacon-trace-"))
    server_file, client_file = scratch / "server.json", scratch / "client.json"
    os.environ["BEACON_ORDER_TRACE"] = str(server_file)  # the gateway subprocess inherits it
    try:
        gateway = Gateway(args.policy, server_cpu)
    finally:
        del os.environ["BEACON_ORDER_TRACE"]
    try:
        result = client(gateway.url, client_cpu, "open", args.rate, args.count, args.warmup, True, "t",
                        extra=("--trace", str(client_file)))
    finally:
        gateway.stop()  # the gateway writes its stamps as it stops
    rows = join(json.loads(client_file.read_text()), json.loads(server_file.read_text()))
    shutil.rmtree(scratch, ignore_errors=True)
    if not rows:
        print("no order was stamped on both sides", file=sys.stderr)
        return 1
    when = time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime())
    directory = Path(args.out) if args.out else RESULTS / f"{when}-trace"
    directory.mkdir(parents=True, exist_ok=True)
    head = (f"Order to acknowledgement, gateway fsync {args.policy}, {args.rate:,.0f}/s open loop, spread "
            f"(server CPU {server_cpu}, client CPU {client_cpu}), {len(rows):,} orders stamped on both sides; "
            f"µs. The client's own p50/p99: {result['latency_us']['p50']:,.0f}/{result['latency_us']['p99']:,.0f}.")
    lines = [f"# Where the round trip goes ({when})", "", head, ""] + table(rows) + [""]
    (directory / "trace.md").write_text("\n".join(lines))
    (directory / "trace.json").write_text(json.dumps({"parts": PARTS, "rows": rows, "client": result}))
    print("\n".join(lines[2:]))
    print(f"written: {directory / 'trace.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
