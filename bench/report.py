"""Summarise a pytest-benchmark run: median, p90 and p99 per benchmark, and the ratio of the
reference model to the Cython engine in each group, as a Markdown table.

    python -m bench.report [RESULT.json]   (default: the newest pytest-benchmark result)

`make bench` saves every round's timing (`--benchmark-save-data`) so that the tails can be
computed; that is 50-70 MB of JSON a run, too much to keep in the repository run after run.
So the report condenses the file it reads: the percentiles it needs (p90, p99, p99.9) are
written into each benchmark's stats and the per-round timings are dropped. A condensed file
reports exactly as it did before condensing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
TAILS = {"p90": 0.9, "p99": 0.99, "p99_9": 0.999}  # kept in a condensed file's stats


def newest() -> Path:
    """The newest pytest-benchmark result (`<machine>/NNNN_<commit>_<time>.json`); the load
    generator's results.json files under bench/results/loadgen are not pytest-benchmark's."""
    files = sorted((p for p in RESULTS.glob("*/[0-9][0-9][0-9][0-9]_*.json") if p.parent.name != "loadgen"),
                   key=lambda p: p.stat().st_mtime)
    if not files:
        raise SystemExit("no benchmark results under bench/results: run `make bench` first")
    return files[-1]


def percentile(data: list[float], q: float) -> float:
    ordered = sorted(data)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def tail(stats: dict, name: str) -> float:
    """A tail percentile of one benchmark: from its rounds, or as kept by `condense`; the
    median when the run kept neither."""
    data = stats.get("data")
    if data:
        return percentile(data, TAILS[name])
    return stats.get(name, stats["median"])


def condense(run: dict) -> bool:
    """Replace each benchmark's per-round timings by the tails computed from them; whether
    anything changed."""
    changed = False
    for bench in run["benchmarks"]:
        stats = bench["stats"]
        if stats.get("data"):
            for name in TAILS:
                stats[name] = tail(stats, name)
            del stats["data"]
            changed = True
    return changed


def fmt(seconds: float) -> str:
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def summarise(run: dict, name: str) -> str:
    machine = run["machine_info"]
    lines = [
        f"Benchmarks from `{name}` ({run['datetime'][:19]}), {machine.get('cpu', {}).get('brand_raw', '?')}, "
        f"{machine.get('cpu', {}).get('count', '?')} CPUs, Python {machine['python_version']}; engine in-process, "
        "no journal, no network.",
        "",
        "| group | variant | median | p90 | p99 | rounds | reference / Cython (median) | measured |",
        "|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[str, dict[str, dict]] = {}
    for bench in run["benchmarks"]:
        backend = bench["param"] or bench["name"].removeprefix("test_")
        groups.setdefault(bench["group"], {})[backend] = bench
    for group, by_backend in groups.items():
        medians = {b: s["stats"]["median"] for b, s in by_backend.items()}
        ratio = f"{medians['python'] / medians['cython']:.0f}x" if {"python", "cython"} <= medians.keys() else ""
        order = sorted(by_backend, key=lambda b: (b not in ("cython", "python"), b != "cython", b))
        for backend in order:
            bench = by_backend[backend]
            stats = bench["stats"]
            extra = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}"
                              for k, v in (bench.get("extra_info") or {}).items())
            lines.append(f"| {group} | {backend} | {fmt(stats['median'])} | {fmt(tail(stats, 'p90'))} | "
                         f"{fmt(tail(stats, 'p99'))} | {stats['rounds']} | {ratio if backend == 'cython' else ''} "
                         f"| {extra} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    keep = "--keep-data" in argv
    args = [a for a in argv if a != "--keep-data"]
    path = Path(args[0]) if args else newest()
    run = json.loads(path.read_text())
    print(summarise(run, path.name))
    if not keep and condense(run):
        path.write_text(json.dumps(run, indent=4) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
