"""The host's holds on this VM's CPUs, seen from inside: a process that only reads the clock.

    python -m bench.loadgen.hostbeat [--seconds 4] [--rounds 3]

A process pinned to CPU 0 reads the clock in a loop; any gap between two readings longer than
HOLD_US is time it did not run. It runs alone (CPU 1 idle), then with a second such process busy
on CPU 1, in turns. Nothing else of Beacon runs, so what it finds is the machine's.

On the Intel VM of December 2026 (docs/benchmarks.md, "the host's 100 ms beat") a CPU 0 busy alone
went unheld, and with CPU 1 busy too it was held for 0.3-2 ms a few times in 4 s, each hold
starting at the same point of a 100 ms period. Those holds are the stalls the load generator
counts (bench.loadgen.stalls), for the echo and the gateway alike: a benchmark's client and
server keep both vCPUs busy.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time

from .stalls import BEAT_MS, on_one_beat

HOLD_US = 200  # a gap between two clock readings longer than this: the CPU was taken


def spin(cpu: int, seconds: float, hold_us: int = HOLD_US) -> list[tuple[int, int]]:
    """Read the clock on `cpu` for `seconds`; the (start ns, length ns) of every gap over hold_us."""
    os.sched_setaffinity(0, {cpu})
    clock = time.perf_counter_ns
    limit = hold_us * 1000
    holds = []
    last = clock()
    end = last + int(seconds * 1e9)
    while last < end:
        now = clock()
        if now - last > limit:
            holds.append((last, now - last))
        last = now
    return holds


def _spin_into(cpu: int, seconds: float, out) -> None:
    out.send(spin(cpu, seconds))
    out.close()


def measure(seconds: float, busy_other: bool, cpu: int = 0, other: int = 1) -> list[tuple[int, int]]:
    """CPU `cpu`'s holds over `seconds`, with CPU `other` busy too or left idle."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    watcher = context.Process(target=_spin_into, args=(cpu, seconds, send))
    busy = context.Process(target=spin, args=(other, seconds + 0.2)) if busy_other else None
    if busy is not None:
        busy.start()
    watcher.start()
    holds = receive.recv()
    watcher.join()
    if busy is not None:
        busy.join()
    return holds


def line(holds: list[tuple[int, int]], what: str, seconds: float) -> str:
    if not holds:
        return f"{what}: no hold over {HOLD_US} µs in {seconds:g} s"
    lengths = [n / 1000 for _, n in holds]
    return (f"{what}: {len(holds)} holds over {HOLD_US} µs in {seconds:g} s, {sum(lengths) / 1000:.1f} ms in all, "
            f"the longest {max(lengths):,.0f} µs; {on_one_beat([s / 1e6 for s, _ in holds])} of them began on one "
            f"{BEAT_MS} ms beat")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="each measurement's length")
    parser.add_argument("--rounds", type=int, default=3, help="alone, then beside a busy CPU 1, this many times")
    args = parser.parse_args(argv)
    if (os.cpu_count() or 1) < 2:
        print("hostbeat: needs two CPUs", file=sys.stderr)
        return 1
    for k in range(args.rounds):
        for busy_other in (False, True):
            holds = measure(args.seconds, busy_other)
            print(line(holds, f"round {k}, CPU 0 busy, CPU 1 {'busy' if busy_other else 'idle'}", args.seconds),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
