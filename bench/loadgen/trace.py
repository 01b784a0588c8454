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

The gateway also stamps every run of its cyclic collector, and the report says how many of the
slowest 1 % of waits a collection overlapped.

With `--sched` (Linux, perf, root or perf_event_paranoid <= 0), perf also records every context
switch on the server's CPU, stamped with the same clock, and the report adds what that CPU ran
while the slowest 1 % of orders waited to be read: the gateway's loop, its other threads by their
kernel names (the journal's fsync thread is `gateway thread beacon-fsync`), kernel threads, other
programs, or nothing (idle, where the wait is the wake-up itself). Recording the switches costs the server a little more.

With `--profile` (the same conditions), perf samples the server's CPU 10,000 times a second, and
the report adds the functions it was running while the slowest 1 % of orders waited, beside each
function's share of the whole run: what a stall is made of (a collection, the kernel faulting in
memory, a table growing), where `--sched` only says which task it was. The samples come at a
steady pace whether the CPU is busy or idle, so a stretch without any is time the CPU did not run:
the host held it (or, rarely, the guest kernel ran with interrupts off). The report counts those
stretches and the slowest waits they overlapped: steals far shorter than /proc/stat's 10 ms ticks.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import percentile

from . import stalls
from .__main__ import PLACEMENTS, RESULTS, Gateway, client, off_server_cpu, server_pid, steal_meter

LOOP = "the gateway's loop"  # how the reports name the gateway's loop thread
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


def waits(client_trace: dict, server_trace: dict) -> list[tuple[int, int]]:
    """(sent, read by the session) in CLOCK_MONOTONIC ns for every measured order both sides saw."""
    received = server_trace["received"]
    return [(client_trace["sent"][i], received[str(i)]) for i in range(client_trace["warmup"], len(client_trace["due"]))
            if client_trace["sent"][i] and str(i) in received]


_SWITCH = re.compile(r"^\s*(\d+)\.(\d+): .*next_comm=(.*) next_pid=(\d+) next_prio=")


def parse_switches(script: str, names: dict[int, str] | None = None) -> list[tuple[int, str]]:
    """`perf script -F time,trace --ns` of sched:sched_switch: (ns, the task switched in), in time order.
    A task is named by `names` (thread id to name), else by its comm; the idle task is "(idle)"."""
    names = names or {}
    switches = []
    for line in script.splitlines():
        m = _SWITCH.match(line)
        if m:
            task = names.get(int(m.group(4))) or ("(idle)" if m.group(3).startswith("swapper/") else m.group(3))
            switches.append((int(m.group(1)) * 1_000_000_000 + int(m.group(2).ljust(9, "0")[:9]), task))
    switches.sort(key=lambda s: s[0])
    return switches


def attribute(intervals: list[tuple[int, int]], switches: list[tuple[int, str]]) -> dict[str, tuple[int, int]]:
    """For each task, the ns it held the CPU inside the intervals, and in how many of them it ran.
    `switches` as parse_switches gives them; time before the first switch is not attributed."""
    times = [t for t, _ in switches]
    held: dict[str, list[int]] = {}
    for start, end in intervals:
        j = max(bisect.bisect_right(times, start) - 1, 0)
        seen = set()
        while j < len(switches) and switches[j][0] < end:
            until = switches[j + 1][0] if j + 1 < len(switches) else end
            overlap = min(end, until) - max(start, switches[j][0])
            if overlap > 0:
                task = switches[j][1]
                entry = held.setdefault(task, [0, 0])
                entry[0] += overlap
                if task not in seen:
                    seen.add(task)
                    entry[1] += 1
            j += 1
    return {task: (ns, n) for task, (ns, n) in held.items()}


def slowest(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The slowest 1 % of (sent, read) pairs by their wait to be read, the slowest last."""
    by_wait = sorted(pairs, key=lambda p: p[1] - p[0])
    return by_wait[int(len(by_wait) * 0.99):]


def sched_table(pairs: list[tuple[int, int]], switches: list[tuple[int, str]], cpu: str) -> list[str]:
    """What the server's CPU ran while the slowest 1 % of orders (by their wait to be read) waited."""
    slow = slowest(pairs)
    if not slow or not switches:
        return []
    total = sum(end - start for start, end in slow)
    held = attribute(slow, switches)
    lines = [f"What CPU {cpu} ran while the slowest 1 % of orders waited to be read ({len(slow):,} orders, their "
             f"waits {(slow[0][1] - slow[0][0]) / 1e3:,.0f}-{(slow[-1][1] - slow[-1][0]) / 1e3:,.0f} µs, "
             f"{total / 1e3:,.0f} µs in all):", "",
             "| task on the server's CPU | µs | share of the waits | orders it ran in |", "|---|---|---|---|"]
    for task, (ns, n) in sorted(held.items(), key=lambda kv: -kv[1][0]):
        lines.append(f"| {task} | {ns / 1e3:,.0f} | {100 * ns / total:.1f} % | {n:,} |")
    return lines


def under_way(pairs: list[tuple[int, int]], spans: list) -> list:
    """The spans ((start ns, end ns, ...)) that overlap the time from the first order's send to the
    last one's read."""
    first, last = min(p[0] for p in pairs), max(p[1] for p in pairs)
    return [span for span in spans if span[1] > first and span[0] < last]


def overlapped(waits: list[tuple[int, int]], spans: list) -> int:
    """How many of the waits one of the spans ((start ns, end ns, ...)) overlapped."""
    return sum(1 for sent, read in waits if any(span[0] < read and span[1] > sent for span in spans))


def collector_lines(pairs: list[tuple[int, int]], collections: list[list[int]]) -> list[str]:
    """The cyclic collector's runs while the measured orders were sent and read, and how many of the
    slowest 1 % of waits one of them overlapped. `collections` as the gateway stamps them:
    (start ns, end ns, generation)."""
    if not pairs:
        return []
    runs = under_way(pairs, collections)
    slow = slowest(pairs)
    hit = overlapped(slow, runs)
    by_generation = []
    for generation in sorted({g for _, _, g in runs}):
        spans = [(end - start) / 1e3 for start, end, g in runs if g == generation]
        by_generation.append(f"generation {generation} {len(spans):,} times, {sum(spans) / 1e3:,.1f} ms in all, "
                             f"the longest {max(spans):,.0f} µs")
    return [f"The cyclic collector ran {len(runs):,} times while the measured orders were under way"
            + (f" ({'; '.join(by_generation)})" if by_generation else "")
            + f"; a collection overlapped {hit:,} of the slowest {len(slow):,} waits to be read."]


def perf_recorder(flag: str, cpu: str, path: Path, event: list[str]) -> subprocess.Popen | None:
    """perf recording `event` on `cpu` with CLOCK_MONOTONIC stamps; None where it cannot."""
    if not shutil.which("perf"):
        print(f"{flag}: perf is not installed; nothing recorded", file=sys.stderr)
        return None
    proc = subprocess.Popen(["perf", "record", "-q", "-k", "CLOCK_MONOTONIC", "-C", cpu, *event, "-o", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # perf opens its buffers; a client started earlier would run unrecorded
    if proc.poll() is not None:
        print(f"{flag}: perf could not record: {proc.stderr.read().strip()[:300]}", file=sys.stderr)
        return None
    return proc


def record_switches(cpu: str, path: Path) -> subprocess.Popen | None:
    """perf recording every context switch on `cpu`; None where it cannot."""
    return perf_recorder("--sched", cpu, path, ["-e", "sched:sched_switch"])


SAMPLES_PER_S = 10_000


def record_samples(cpu: str, path: Path) -> subprocess.Popen | None:
    """perf sampling what `cpu` runs, SAMPLES_PER_S times a second; None where it cannot."""
    return perf_recorder("--profile", cpu, path, ["-e", "cpu-clock", "-F", str(SAMPLES_PER_S)])


_SAMPLE = re.compile(r"^\s*(\d+)\s+(\d+)\.(\d+):\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")


def parse_samples(script: str, names: dict[int, str] | None = None) -> list[tuple[int, str]]:
    """`perf script -F tid,time,ip,sym,dso --ns` of cpu-clock samples: (ns, "function (object)"), in
    time order. A sample of one of `names`' threads other than the loop says which; the idle task's
    are "(idle)"."""
    names = names or {}
    samples = []
    for line in script.splitlines():
        m = _SAMPLE.match(line)
        if not m:
            continue
        tid, symbol, where = int(m.group(1)), m.group(4), os.path.basename(m.group(5))
        if tid == 0:
            what = "(idle)"
        else:
            symbol = re.sub(r"\+0x[0-9a-f]+$", "", symbol)
            what = f"{symbol} ({where})"
            thread = names.get(tid)
            if thread and thread != LOOP:
                what = f"{thread}: {what}"
        samples.append((int(m.group(2)) * 1_000_000_000 + int(m.group(3).ljust(9, "0")[:9]), what))
    samples.sort(key=lambda s: s[0])
    return samples


GAP_PERIODS = 3  # a stretch without samples for this many sampling periods is a gap


def sample_gaps(samples: list[tuple[int, str]], factor: int = GAP_PERIODS) -> list[tuple[int, int]]:
    """(start, end) ns of each stretch with no sample for over `factor` sampling periods. perf's
    clock samples the CPU idle or busy alike, so a gap is time the CPU did not run at all: inside
    a VM, the host running something else on it (a steal too short for /proc/stat's 10 ms ticks)."""
    limit = factor * 1_000_000_000 // SAMPLES_PER_S
    return [(samples[i][0], samples[i + 1][0]) for i in range(len(samples) - 1)
            if samples[i + 1][0] - samples[i][0] > limit]


def gap_lines(pairs: list[tuple[int, int]], samples: list[tuple[int, str]]) -> list[str]:
    """How long the host held the server's CPU while the orders were under way (sample_gaps), and
    how many of the slowest 1 % of waits such a gap overlapped."""
    if not pairs or not samples:
        return []
    gaps = under_way(pairs, sample_gaps(samples))
    slow = slowest(pairs)
    hit = overlapped(slow, gaps)
    longest = max((end - start for start, end in gaps), default=0)
    return [f"The server's CPU went unsampled (the host held it) {len(gaps):,} times for over "
            f"{GAP_PERIODS * 1_000_000 // SAMPLES_PER_S:,} µs while the measured orders were under way, "
            f"{sum(end - start for start, end in gaps) / 1e6:,.1f} ms in all, the longest {longest / 1e3:,.0f} µs; "
            f"such a gap overlapped {hit:,} of the slowest {len(slow):,} waits to be read."]


def profile_table(pairs: list[tuple[int, int]], samples: list[tuple[int, str]], rows: int = 20) -> list[str]:
    """The functions the server's CPU ran while the slowest 1 % of orders waited to be read (each
    sample counted once, however many of those waits it fell in), beside their share of the run's
    busy samples."""
    slow = slowest(pairs)
    if not slow or not samples:
        return []
    times = [t for t, _ in samples]
    inside: set[int] = set()
    for start, end in slow:
        inside.update(range(bisect.bisect_left(times, start), bisect.bisect_right(times, end)))
    during: dict[str, int] = {}
    for k in inside:
        during[samples[k][1]] = during.get(samples[k][1], 0) + 1
    overall: dict[str, int] = {}
    for _, what in samples:
        if what != "(idle)":
            overall[what] = overall.get(what, 0) + 1
    n, busy = len(inside), sum(overall.values())
    if not n:  # short waits between samples (a short run at a low rate): said, not left out
        return [f"What the server's CPU ran while the slowest 1 % of orders waited to be read, by function: no "
                f"sample fell in those {len(slow):,} waits ({SAMPLES_PER_S:,} samples a second)."]
    lines = [f"What the server's CPU ran while the slowest 1 % of orders waited to be read, by function ({n:,} "
             f"samples at {SAMPLES_PER_S:,}/s in those waits; beside it, the function's share of the run's "
             f"{busy:,} busy samples):", "",
             "| function (object) | samples | share of the waits | share of the run |", "|---|---|---|---|"]
    for what, count in sorted(during.items(), key=lambda kv: -kv[1])[:rows]:
        run_share = f"{100 * overall[what] / busy:.1f} %" if what in overall and busy else ""
        lines.append(f"| {what} | {count:,} | {100 * count / n:.1f} % | {run_share} |")
    return lines


def gateway_threads(pid: int) -> dict[int, str]:
    """The gateway's threads by id: its loop runs on the process's first thread, which keeps the
    process's name ("python"), so it is named here; the others by their kernel names."""
    names = {pid: LOOP}
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            if int(tid) != pid:
                with open(f"/proc/{pid}/task/{tid}/comm") as fh:
                    names[int(tid)] = f"gateway thread {fh.read().strip()}"
    except OSError:  # not Linux, or the gateway is gone: the loop alone is named
        pass
    return names


def stop_recording(proc: subprocess.Popen, path: Path, names: dict[int, str], fields: str = "time,trace",
                   parse=parse_switches) -> list[tuple[int, str]]:
    proc.send_signal(2)  # perf writes its file on SIGINT
    proc.wait(30)
    script = subprocess.run(["perf", "script", "-i", str(path), "-F", fields, "--ns"],
                            capture_output=True, text=True, timeout=300).stdout
    return parse(script, names)


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
    parser.add_argument("--sched", action="store_true",
                        help="also record the server CPU's context switches (perf) and say what ran while the "
                             "slowest orders waited")
    parser.add_argument("--profile", action="store_true",
                        help="also sample the server CPU's functions (perf) and say which ran while the slowest "
                             "orders waited")
    args = parser.parse_args(argv)
    with off_server_cpu():  # the harness, and perf with it, stay off the server's CPU
        return traced(args)


def traced(args: argparse.Namespace) -> int:
    server_cpu, client_cpu = PLACEMENTS["spread"]
    scratch = Path(tempfile.mkdtemp(prefix="beacon-trace-"))
    server_file, client_file = scratch / "server.json", scratch / "client.json"
    os.environ["BEACON_ORDER_TRACE"] = str(server_file)  # the gateway subprocess inherits it
    try:
        gateway = Gateway(args.policy, server_cpu)
    finally:
        del os.environ["BEACON_ORDER_TRACE"]
    recorder, sampler, switches, samples = None, None, [], []
    try:
        if args.sched:
            recorder = record_switches(server_cpu, scratch / "sched.data")
        if args.profile:
            sampler = record_samples(server_cpu, scratch / "samples.data")
        steal = steal_meter(int(server_cpu))
        result = client(gateway.url, client_cpu, "open", args.rate, args.count, args.warmup, True, "t",
                        extra=("--trace", str(client_file)))
        stolen = steal()
    finally:
        threads = gateway_threads(server_pid(gateway)) if recorder or sampler else {}
        if recorder is not None:
            switches = stop_recording(recorder, scratch / "sched.data", threads)
        if sampler is not None:
            samples = stop_recording(sampler, scratch / "samples.data", threads, "tid,time,ip,sym,dso", parse_samples)
        gateway.stop()  # the gateway writes its stamps as it stops
    client_trace, server_trace = json.loads(client_file.read_text()), json.loads(server_file.read_text())
    rows = join(client_trace, server_trace)
    pairs = waits(client_trace, server_trace)
    sched = sched_table(pairs, switches, server_cpu) if switches else []
    profile = (gap_lines(pairs, samples) + [""] + profile_table(pairs, samples)) if samples else []
    collector = collector_lines(pairs, server_trace.get("collections", []))
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
    if stolen is not None:
        head += (f" Meanwhile the host took {stolen * 1e3:,.0f} ms of CPU {server_cpu} from this VM (steal, "
                 f"counted in 10 ms ticks); inside the VM a steal looks like the task that was on the CPU running on.")
    lines = [f"# Where the round trip goes ({when})", "", head, ""] + table(rows) + [""]
    lines += collector + [""]
    lines += [f"The stalls the client met (bench.loadgen.stalls): {stalls.describe(result['stalls'])}", ""]
    for part in (sched, profile):
        if part:
            lines += part + [""]
    (directory / "trace.md").write_text("\n".join(lines))
    (directory / "trace.json").write_text(json.dumps({"parts": PARTS, "rows": rows, "client": result}))
    print("\n".join(lines[2:]))
    print(f"written: {directory / 'trace.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
