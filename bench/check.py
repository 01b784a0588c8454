"""The regression gate: a fresh run of the micro-benchmarks against the committed baseline.

    python -m bench.check              # make bench-check: exit 1 on a regression beyond tolerance
    python -m bench.check --baseline   # make bench-baseline: measure the baseline (and the noise)

Each benchmark's median is divided by a yardstick (a fixed piece of interpreter work,
bench/test_calibration.py) measured just before and after that benchmark (bench/conftest.py),
so a machine that is slower or faster as a whole shifts both and cancels. The baseline is several runs: per benchmark the median of the normalised medians,
and its noise, the spread between the runs (max / min - 1). A fresh value regresses when it
exceeds the baseline by more than max(MIN_TOLERANCE, NOISE_FACTOR x noise): the tolerance
each benchmark gets is what this machine's own repeat runs justify. An apparent regression
is run again, alone, up to CONFIRMATIONS times, and counts only if it stays beyond tolerance
every time (the VM's speed shifts for seconds at a time; a real regression does not go away).

The order path is also held to its instruction count (bench/instructions.py: callgrind, which
repeats to about 0.2 % where time moves by tens of per cent): one order per turn and ten, each
against the baseline's `instructions` within INSTRUCTION_TOLERANCE. A change that makes the
order path do 3 % more work is caught there, where no timing could see it. That part needs
valgrind (`--no-instructions` leaves it out, and says so); `--baseline-instructions` measures
it again without touching the micro-benchmarks' baseline.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from .instructions import ValgrindMissing, per_order

ROOT = Path(__file__).parents[1]
BASELINE = Path(__file__).parent / "baseline.json"
CALIBRATION = "bench/test_calibration.py::test_interpreter_loop"
MIN_TOLERANCE = 0.25
NOISE_FACTOR = 2.0
CONFIRMATIONS = 2  # re-runs of apparent regressions before one counts
#: How much more work per order the order path may do before it counts as a regression. Three
#: repeats of one build spread by 0.17 % (234,252-234,657 instructions per order); a change of
#: the kind that is worth measuring at all moves it by 1 % or more.
INSTRUCTION_TOLERANCE = 0.02
INSTRUCTION_BATCHES = (1, 10)


def run_suite(only: list[str] | None = None) -> dict[str, float]:
    """One run of every micro-benchmark (or of the named ones): {name: median seconds}."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        subprocess.run([sys.executable, "-m", "pytest", *(only or ["bench"]), "-q", "--benchmark-only", "-p",
                        "no:cacheprovider", f"--benchmark-json={out}"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        return medians(json.loads(out.read_text()))


def medians(report: dict) -> dict[str, float]:
    """{name: median seconds}, and under "<name>#yardstick" the yardstick measured beside it."""
    out = {}
    for b in report["benchmarks"]:
        out[b["fullname"]] = b["stats"]["median"]
        if "yardstick_s" in b.get("extra_info", {}):
            out[b["fullname"] + "#yardstick"] = b["extra_info"]["yardstick_s"]
    return out


def normalise(run: dict[str, float]) -> dict[str, float]:
    """Each benchmark over the yardstick measured beside it (or, failing that, the calibration
    benchmark's median from the same run)."""
    fallback = run.get(CALIBRATION, 1.0)
    return {name: value / run.get(name + "#yardstick", fallback) for name, value in run.items()
            if name != CALIBRATION and not name.endswith("#yardstick")}


def make_baseline(runs: list[dict[str, float]]) -> dict:
    normalised = [normalise(run) for run in runs]
    names = sorted(set.intersection(*(set(n) for n in normalised)))
    benchmarks = {}
    for name in names:
        values = [n[name] for n in normalised]
        benchmarks[name] = {"normalised": statistics.median(values), "noise": max(values) / min(values) - 1,
                            "median_s": statistics.median(run[name] for run in runs)}
    raw = {name: max(run[name] for run in runs) / min(run[name] for run in runs) - 1 for name in names}
    return {"calibration": CALIBRATION, "runs": len(runs), "calibration_s": [run[CALIBRATION] for run in runs],
            "raw_noise_median": statistics.median(raw.values()), "benchmarks": benchmarks}


def tolerance(entry: dict) -> float:
    return max(MIN_TOLERANCE, NOISE_FACTOR * entry["noise"])


def compare(baseline: dict, fresh: dict[str, float]) -> tuple[list[dict], list[str]]:
    """Each baselined benchmark against the fresh run: rows, and the names that regressed."""
    now = normalise(fresh)
    rows, regressed = [], []
    for name, entry in baseline["benchmarks"].items():
        if name not in now:
            rows.append({"name": name, "verdict": "missing"})
            continue
        ratio = now[name] / entry["normalised"]
        allowed = 1 + tolerance(entry)
        verdict = "REGRESSION" if ratio > allowed else ("faster" if ratio < 1 / allowed else "ok")
        if verdict == "REGRESSION":
            regressed.append(name)
        rows.append({"name": name, "ratio": ratio, "allowed": allowed, "verdict": verdict})
    for name in sorted(set(now) - set(baseline["benchmarks"])):
        rows.append({"name": name, "verdict": "new (not in the baseline)"})
    return rows, regressed


def measure_instructions() -> dict[str, int]:
    """{"batch_1": instructions per order, "batch_10": ...} of the order path (bench.instructions)."""
    return {f"batch_{b}": per_order(b)["instructions_per_order"] for b in INSTRUCTION_BATCHES}


def compare_instructions(baseline: dict, fresh: dict[str, int]) -> tuple[list[dict], list[str]]:
    """The order path's instructions per order against the baseline's: rows, and what regressed."""
    rows, regressed = [], []
    for key, value in sorted(fresh.items()):
        name = f"order path instructions per order, {key.replace('_', ' ')}"
        before = baseline.get("instructions", {}).get(key)
        if before is None:
            rows.append({"name": name, "verdict": "new (not in the baseline)"})
            continue
        ratio, allowed = value / before, 1 + INSTRUCTION_TOLERANCE
        verdict = "REGRESSION" if ratio > allowed else ("fewer" if ratio < 1 / allowed else "ok")
        if verdict == "REGRESSION":
            regressed.append(name)
        rows.append({"name": name, "ratio": ratio, "allowed": allowed, "verdict": verdict,
                     "detail": f"{value:,} against {before:,}"})
    return rows, regressed


def table(rows: list[dict]) -> str:
    lines = ["| benchmark | fresh / baseline | allowed | verdict |", "|---|---|---|---|"]
    for r in rows:
        short = r["name"].replace("bench/", "").replace(".py::", " ")
        if "detail" in r:
            lines.append(f"| {short} ({r['detail']}) | {r['ratio']:.3f}x | {r['allowed']:.2f}x | {r['verdict']} |")
        elif "ratio" in r:
            lines.append(f"| {short} | {r['ratio']:.2f}x | {r['allowed']:.2f}x | {r['verdict']} |")
        else:
            lines.append(f"| {short} | | | {r['verdict']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", action="store_true", help="measure and write the baseline")
    parser.add_argument("--runs", type=int, default=3, help="runs for the baseline")
    parser.add_argument("--file", default=str(BASELINE))
    parser.add_argument("--no-instructions", action="store_true",
                        help="leave out the order path's instruction count (no valgrind here)")
    parser.add_argument("--baseline-instructions", action="store_true",
                        help="measure the order path's instructions into the baseline, and nothing else")
    args = parser.parse_args(argv)
    path = Path(args.file)
    if args.baseline_instructions:
        baseline = json.loads(path.read_text()) if path.exists() else {"benchmarks": {}}
        baseline["instructions"] = measure_instructions()
        path.write_text(json.dumps(baseline, indent=1, sort_keys=True) + "\n")
        print(f"wrote the order path's instructions per order into {path}: {baseline['instructions']}")
        return 0
    if args.baseline:
        runs = []
        for n in range(args.runs):
            print(f"baseline run {n + 1} of {args.runs} ...", flush=True)
            runs.append(run_suite())
        baseline = make_baseline(runs)
        if not args.no_instructions:
            baseline["instructions"] = measure_instructions()
        path.write_text(json.dumps(baseline, indent=1, sort_keys=True) + "\n")
        noise = sorted(e["noise"] for e in baseline["benchmarks"].values())
        print(f"wrote {path}: {len(noise)} benchmarks; noise between runs median {statistics.median(noise):.1%}, "
              f"max {noise[-1]:.1%}; calibration medians {', '.join(f'{c * 1e6:.1f} µs' for c in baseline['calibration_s'])}")
        return 0
    if not path.exists():
        print(f"no baseline at {path}: run `make bench-baseline` first", file=sys.stderr)
        return 2
    baseline = json.loads(path.read_text())
    fresh = run_suite()
    rows, regressed = compare(baseline, fresh)
    for attempt in range(CONFIRMATIONS):
        if not regressed:
            break
        # confirm: run what looked slower again, alone, and keep each one's better value; a real
        # regression is slow every time, a moment of a slow VM is not
        print(f"confirming {len(regressed)} apparent regression(s), attempt {attempt + 1} of {CONFIRMATIONS} ...",
              flush=True)
        again = run_suite(regressed)
        for name in regressed:
            if name in again and again[name] / again.get(name + "#yardstick", 1.0) < \
                    fresh[name] / fresh.get(name + "#yardstick", 1.0):
                fresh[name] = again[name]
                if name + "#yardstick" in again:
                    fresh[name + "#yardstick"] = again[name + "#yardstick"]
        rows, regressed = compare(baseline, fresh)
    if args.no_instructions:
        print("the order path's instruction count was left out (--no-instructions)")
    else:
        try:
            more, worse = compare_instructions(baseline, measure_instructions())
        except ValgrindMissing as exc:
            print(f"{exc}; run with --no-instructions to check the rest", file=sys.stderr)
            return 2
        rows, regressed = rows + more, regressed + worse
    print(table(rows))
    if regressed:
        print(f"\n{len(regressed)} regression(s) beyond tolerance", file=sys.stderr)
        return 1
    print("\nno regression beyond tolerance")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
