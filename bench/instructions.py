"""The order path's cost in instructions: a figure this machine's noise does not move.

    python -m bench.instructions [--batch 1] [--orders 1000] [--json] [--by-object]
    python -m bench.instructions --live     # the real gateway process under load (two minutes)

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

`--live` counts the gateway as it runs instead: the real server process (order port, fsync
`interval`), under callgrind, fed by the load client over loopback, once with 1,500 orders and
once with 3,000 in the same 15 seconds; the difference divided by 1,500. That includes what the
in-process path leaves out (picows, the loop, the socket calls' user side, the fsync thread) and
leaves out what it adds (its own loop turns: at one order per turn bench.order_path's harness
is about a quarter of its count). It is the figure of an order alone in its read.

`--by-object` also splits an order's instructions by the shared object that executed them
(callgrind_annotate's self cost per function, summed per object, differenced the same way):
how much of an order is the interpreter running Python, and how much compiled code (the
engine, the journal, msgspec, uvloop, libc, OpenSSL's hash). It is the yardstick for making
the path leaner: on the image of December 2026, 70 % of an order was the interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).parents[1]
WARMUP = 300  # orders before the counted ones: every path taken, caches of the interpreter warm
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")
# a function's line in callgrind_annotate's listing: "1,234 (0.05%)  file:function [object]"
_FUNCTION = re.compile(r"^\s*([\d,]+)\s+(?:\([\s\d.]+%\)\s+)?(\S.*?)\s+\[([^\]]+)\]\s*$")


class ValgrindMissing(RuntimeError):
    pass


def instructions_of(output: str) -> int:
    """The total instructions callgrind reports (its `I refs` line) in its output."""
    found = _REFS.search(output)
    if found is None:
        raise ValueError(f"no instruction count in valgrind's output: {output[-400:]!r}")
    return int(found.group(1).replace(",", ""))


def count(orders: int, batch: int, warmup: int = WARMUP, out_file: str = "/dev/null") -> int:
    """Instructions executed by one run of bench.order_path with this many measured orders
    (callgrind's own profile written to out_file, when one is wanted)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise ValgrindMissing("valgrind is not installed (Debian: apt-get install valgrind); "
                              "the order path's instructions cannot be counted")
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict layouts, run after run
    done = subprocess.run(
        [valgrind, "--tool=callgrind", f"--callgrind-out-file={out_file}", sys.executable, "-m", "bench.order_path",
         "--batch", str(batch), "--orders", str(orders), "--reps", "1", "--warmup", str(warmup)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"bench.order_path under valgrind failed ({done.returncode}): {done.stderr[-2000:]}")
    return instructions_of(done.stderr)


def by_object(listing: str) -> dict[str, int]:
    """Self instructions per shared object (its file name), from callgrind_annotate's function listing."""
    objects: dict[str, int] = {}
    for line in listing.splitlines():
        found = _FUNCTION.match(line)
        if found:
            name = os.path.basename(found.group(3))
            objects[name] = objects.get(name, 0) + int(found.group(1).replace(",", ""))
    return objects


def _annotated(profile: str) -> dict[str, int]:
    annotate = shutil.which("callgrind_annotate")
    if annotate is None:
        raise ValgrindMissing("callgrind_annotate (valgrind's) is not installed")
    done = subprocess.run([annotate, "--auto=no", "--threshold=100", profile], capture_output=True, text=True,
                          check=True, timeout=300)
    return by_object(done.stdout)


def per_object(batch: int = 1, orders: int = 1000, warmup: int = WARMUP) -> dict:
    """{"batch", "orders", "instructions_per_order", "objects": {object: instructions per order}},
    largest first; objects that do no work per order are left out."""
    with tempfile.TemporaryDirectory(prefix="beacon-callgrind-") as directory:
        small, large = f"{directory}/small.out", f"{directory}/large.out"
        total = count(2 * orders, batch, warmup, large) - count(orders, batch, warmup, small)
        before, after = _annotated(small), _annotated(large)
    objects = {name: round((after.get(name, 0) - before.get(name, 0)) / orders) for name in after.keys() | before}
    return {"batch": batch, "orders": orders, "instructions_per_order": round(total / orders),
            "objects": dict(sorted(((k, v) for k, v in objects.items() if v > 0), key=lambda kv: -kv[1]))}


LIVE_SECONDS = 15.0  # each live run's length: both runs last as long, so the timers' work cancels out
_SUMMARY = re.compile(r"^summary:\s+(\d+)", re.MULTILINE)


def count_live(orders: int, seconds: float, out_file: str, warmup: int = WARMUP) -> int:
    """Instructions the real gateway process executed (all its threads, user space) while a load
    client sent it `orders` orders over `seconds`, open loop, one order per read: the gateway as
    `make bench` starts it (order port, fsync interval), run under callgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise ValgrindMissing("valgrind is not installed (Debian: apt-get install valgrind); "
                              "the order path's instructions cannot be counted")
    from .loadgen.__main__ import GATEWAY_ENGINE, GATEWAY_SERVER, client
    from tests.gateway.harness import Server

    directory = tempfile.mkdtemp(prefix="beacon-callgrind-live-")
    server = Server(directory, prefix=(valgrind, "--tool=callgrind", f"--callgrind-out-file={out_file}"),
                    journal={"fsync": "interval"}, engine=GATEWAY_ENGINE,
                    server={**GATEWAY_SERVER, "order_port": 0}).start(timeout=300)  # (valgrind starts slowly)
    try:
        server.tick("600036", 4336, ask=4337, ask_size=0)
        server.admin("/admin/accounts/0/deposit", {"amount": 10**13})
        done = client(server.order_url, "", "open", orders / seconds, orders, warmup, True, "live",
                      max_seconds=4 * seconds + 60)
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
    if done["received"] != done["sent"]:
        raise RuntimeError(f"the gateway under valgrind answered {done['received']} of {done['sent']} orders")
    with open(out_file) as fh:
        return summary_of(fh.read(4096))


def summary_of(profile_head: str) -> int:
    """The total instructions in a callgrind profile (its `summary:` line, near the top)."""
    found = _SUMMARY.search(profile_head)
    if found is None:
        raise ValueError("no summary line in the callgrind profile: did the gateway stop cleanly?")
    return int(found.group(1))


def per_order_live(orders: int = 1500, seconds: float = LIVE_SECONDS, warmup: int = WARMUP) -> dict:
    """{"live", "orders", "instructions_per_order"}: the gateway process's instructions per order
    with the network, picows, the loop and the journal's threads, from runs of `orders` and
    2 x `orders` orders in the same time (so each order is alone in its read, and what the
    gateway's timers do in that time is the same in both and cancels out)."""
    with tempfile.TemporaryDirectory(prefix="beacon-callgrind-") as directory:
        small = count_live(orders, seconds, f"{directory}/small.out", warmup)
        large = count_live(2 * orders, seconds, f"{directory}/large.out", warmup)
    return {"live": True, "orders": orders, "instructions_per_order": round((large - small) / orders)}


def per_order(batch: int = 1, orders: int = 1000, warmup: int = WARMUP) -> dict:
    """{"batch", "orders", "instructions_per_order"}: from runs of `orders` and 2 x `orders`."""
    small = count(orders, batch, warmup)
    large = count(2 * orders, batch, warmup)
    return {"batch": batch, "orders": orders, "instructions_per_order": round((large - small) / orders)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1, help="orders per loop turn")
    parser.add_argument("--orders", type=int, default=None,
                        help="the difference in orders between the two runs (default 1,000; --live 1,500)")
    parser.add_argument("--warmup", type=int, default=WARMUP)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--by-object", action="store_true",
                        help="also split the instructions by the shared object that ran them")
    parser.add_argument("--live", action="store_true",
                        help="count the real gateway process under load instead (order port, network, picows, "
                             "the loop, the journal's threads; about two minutes)")
    args = parser.parse_args(argv)
    if args.orders is None:
        args.orders = 1500 if args.live else 1000
    if args.batch < 1 or args.orders < args.batch or args.warmup < 0:
        parser.error("need --batch >= 1, --orders >= --batch and --warmup >= 0")
    if args.live and args.by_object:
        parser.error("--live counts the whole process; --by-object splits the in-process path")
    try:
        if args.live:
            result = per_order_live(args.orders)
        else:
            result = (per_object if args.by_object else per_order)(args.batch, args.orders, args.warmup)
    except ValgrindMissing as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    elif args.live:
        print(f"the gateway process, order port, fsync interval, one order per read: "
              f"{result['instructions_per_order']:,} instructions per order (callgrind, {result['orders']:,} orders "
              f"more in the same {LIVE_SECONDS:.0f} s)")
    else:
        print(f"order path, fsync none, {args.batch} order(s) per turn: "
              f"{result['instructions_per_order']:,} instructions per order (callgrind, {args.orders:,} orders)")
        total = result["instructions_per_order"]
        for name, n in result.get("objects", {}).items():
            print(f"  {n:>9,} {n / total:6.1%}  {name}")
        if "objects" in result:  # functions under callgrind_annotate's threshold, and the rounding
            rest = total - sum(result["objects"].values())
            print(f"  {rest:>9,} {rest / total:6.1%}  (not attributed to an object)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
