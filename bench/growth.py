"""What a table that grows all day costs the loop at its worst: a dict beside a ShardedDict.

    python -m bench.growth [--entries 1500000] [--pin CPU] [--out FILE]

One insertion at a time, each timed (time.perf_counter_ns on either side), of keys shaped as the
order path's: sequential order ids (the registry's orders) and (account, client order id)
tuples (its client order ids). For each key shape and each table, in one run side by side: the
slowest insertion, the slowest but 10 (the tail the loop feels when several tables grow in step),
the 99.99th percentile, and the whole run's time per insertion. A plain dict pays its growth in
single insertions that move the whole table (core/shardmap.py); a sharded table pays about the
same in total, spread over many small moves.

Prints a Markdown table and writes it, with the figures as JSON, to --out (default
bench/results/growth/<UTC time>.json). `make bench` runs it. Single process, pinned to one CPU
(the last by default; `--pin -1` leaves it to the scheduler).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

from core.shardmap import ShardedDict

RESULTS = Path(__file__).parent / "results" / "growth"


def _insert_times(table, keys) -> list[int]:
    put = table.put if isinstance(table, ShardedDict) else table.__setitem__
    clock = time.perf_counter_ns
    times = []
    append = times.append
    for key in keys:
        start = clock()
        put(key, 1)
        append(clock() - start)
    return times


def _summary(times: list[int]) -> dict:
    ordered = sorted(times)
    return {"max_us": ordered[-1] / 1e3, "eleventh_slowest_us": ordered[-11] / 1e3,
            "p99_99_us": ordered[int(len(ordered) * 0.9999)] / 1e3,
            "mean_ns": sum(ordered) / len(ordered), "over_1ms": sum(1 for t in ordered if t > 1_000_000)}


def run(entries: int) -> list[dict]:
    shapes = {"order id (int)": lambda: range(1, entries + 1),
              "(account, client order id)": lambda: ((i % 50, f"c-{i:09d}") for i in range(entries))}
    rows = []
    gc.disable()  # the collector's pauses are not the tables'; both runs alike
    try:
        for shape, keys in shapes.items():
            for name, make in (("dict", dict), ("ShardedDict", ShardedDict)):
                times = _insert_times(make(), keys())
                rows.append({"keys": shape, "table": name, "entries": entries, **_summary(times)})
    finally:
        gc.enable()
    return rows


def markdown(rows: list[dict]) -> list[str]:
    lines = ["| keys | table | entries | slowest insertion | 11th slowest | p99.99 | insertions over 1 ms | mean |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['keys']} | {r['table']} | {r['entries']:,} | {r['max_us']:,.0f} µs | "
                     f"{r['eleventh_slowest_us']:,.0f} µs | {r['p99_99_us']:,.1f} µs | {r['over_1ms']} | "
                     f"{r['mean_ns']:,.0f} ns |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_500_000)
    parser.add_argument("--pin", type=int, default=(os.cpu_count() or 1) - 1)
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)
    if args.entries < 100:
        parser.error(f"--entries must be at least 100, not {args.entries}")
    if args.pin >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.pin})
    rows = run(args.entries)
    lines = markdown(rows)
    when = time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime())
    out = Path(args.out) if args.out else RESULTS / f"{when}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"when": when, "pin": args.pin, "rows": rows, "markdown": lines}, indent=1))
    print(f"Insertions into a growing table, one at a time (pinned to CPU {args.pin}, collector off):")
    print("\n".join(lines))
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
