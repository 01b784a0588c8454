"""The order path's cost in instructions: a figure this machine's noise does not move.

    python -m bench.instructions [--batch 1] [--orders 1000] [--json]

On this VM the same code's CPU time per order moves by 10-40 % between runs minutes apart
(docs/benchmarks.md), so a change worth 1-3 % of the order path cannot be told from noise by
timing it. Valgrind's callgrind counts the instructions executed instead, which repeat to
about 0.1 %. `bench.order_path` (the real gateway, journal, engine, simulated broker and
session in one process; fsync none; one order per loop turn by default) is run under callgrind
twice, with `--orders` and with twice that many, and the difference in instructions divided by
the difference in orders is the cost of one order: start-up, imports and warm-up cancel out.

It counts instructions, not time: a cache miss or a system call costs far more than its
instructions, so this is the tool for the interpreter's and the libraries' work on the path,
and bench.loadgen stays the judge of latency. The figure depends on the interpreter's build and
the libraries' versions, so a baseline holds on the machine image it was taken on.
`make bench-check` compares it with bench/baseline.json (bench.check).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
WARMUP = 300  # orders before the counted ones: every path taken, caches of the interpreter warm
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


class ValgrindMissing(RuntimeError):
    pass


def instructions_of(output: str) -> int:
    """The total instructions callgrind reports (its `I refs` line) in its output."""
    found = _REFS.search(output)
    if found is None:
        raise ValueError(f"no instruction count in valgrind's output: {output[-400:]!r}")
    return int(found.group(1).replace(",", ""))


def count(orders: int, batch: int, warmup: int = WARMUP) -> int:
    """Instructions executed by one run of bench.order_path with this many measured orders."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise ValgrindMissing("valgrind is not installed (Debian: apt-get install valgrind); "
                              "the order path's instructions cannot be counted")
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict layouts, run after run
    done = subprocess.run(
        [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-m", "bench.order_path",
         "--batch", str(batch), "--orders", str(orders), "--reps", "1", "--warmup", str(warmup)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"bench.order_path under valgrind failed ({done.returncode}): {done.stderr[-2000:]}")
    return instructions_of(done.stderr)


def per_order(batch: int = 1, orders: int = 1000, warmup: int = WARMUP) -> dict:
    """{"batch", "orders", "instructions_per_order"}: from runs of `orders` and 2 x `orders`."""
    small = count(orders, batch, warmup)
    large = count(2 * orders, batch, warmup)
    return {"batch": batch, "orders": orders, "instructions_per_order": round((large - small) / orders)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1, help="orders per loop turn")
    parser.add_argument("--orders", type=int, default=1000, help="the difference in orders between the two runs")
    parser.add_argument("--warmup", type=int, default=WARMUP)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.batch < 1 or args.orders < args.batch or args.warmup < 0:
        parser.error("need --batch >= 1, --orders >= --batch and --warmup >= 0")
    try:
        result = per_order(args.batch, args.orders, args.warmup)
    except ValgrindMissing as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        print(f"order path, fsync none, {args.batch} order(s) per turn: "
              f"{result['instructions_per_order']:,} instructions per order (callgrind, {args.orders:,} orders)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
