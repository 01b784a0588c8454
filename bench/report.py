"""Summarise a pytest-benchmark run: median, p90 and p99 per benchmark, and the ratio of the
reference model to the Cython engine in each group, as a Markdown table.

    python -m bench.report [RESULT.json]   (default: the newest file under bench/results)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def newest() -> Path:
    files = sorted(RESULTS.rglob("*.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise SystemExit("no benchmark results under bench/results: run `make bench` first")
    return files[-1]


def percentile(data: list[float], q: float) -> float:
    ordered = sorted(data)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def fmt(seconds: float) -> str:
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def summarise(path: Path) -> str:
    run = json.loads(path.read_text())
    machine = run["machine_info"]
    lines = [
        f"Benchmarks from `{path.name}` ({run['datetime'][:19]}), {machine.get('cpu', {}).get('brand_raw', '?')}, "
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
            data = stats.get("data") or [stats["median"]]
            extra = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}"
                              for k, v in (bench.get("extra_info") or {}).items())
            lines.append(f"| {group} | {backend} | {fmt(stats['median'])} | {fmt(percentile(data, 0.9))} | "
                         f"{fmt(percentile(data, 0.99))} | {stats['rounds']} | {ratio if backend == 'cython' else ''} "
                         f"| {extra} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else newest()
    print(summarise(path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
