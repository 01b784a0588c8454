"""The end-to-end latency suite: the gateway beside the echo floor, in one run.

    python -m bench.loadgen [--rate 10000] [--count 20000] [--placements spread pinned] [--no-search]
    python -m bench.loadgen --smoke        # seconds; for CI (nothing is asserted about time)

Targets: the aiohttp echo and the picows echo (the floor), and the gateway with each journal
fsync policy (every-batch, interval), the order-to-acknowledgement scenario: a new order
(a resting limit buy) answered by `order_accepted` once journaled. Placements: `spread`
(server on CPU 0, client on CPU 1) and `pinned` (both on CPU 0), by taskset. For each, an
open-loop run at --rate and a closed-loop run; then, unless --no-search, the highest open-loop
rate at which the gateway's p99 stays under 1 ms (a bounded search); then --rounds alternated
rounds of the floors and the gateways (spread, open loop), whose median ratios the goals are
also judged on.

Writes bench/results/loadgen/<UTC time>/: results.json (every run, with its HDR histogram),
report.md (tables, ratios to the echo, the goals) and percentiles.png.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hdrh.histogram import HdrHistogram

from tests.gateway.harness import ADMIN, ALICE, ROOT, Server

from . import stalls
from .echo import MAX_PUSH_BYTES, MAX_WORK_US

RESULTS = Path(__file__).parents[1] / "results" / "loadgen"
PLACEMENTS = {"spread": ("0", "1"), "pinned": ("0", "0")}  # (server CPU, client CPU)
GATEWAY_ENGINE = {"config": {"enforce_session": False, "order_rate_per_s": 10_000_000, "order_burst": 10_000_000,
                             "max_open_orders": 10_000_000}}
GATEWAY_SERVER = {"message_rate_per_s": 10_000_000, "message_burst": 10_000_000, "send_queue_limit": 10_000_000}


def taskset(cpu: str) -> list[str]:
    return ["taskset", "-c", cpu] if cpu and os.cpu_count() and os.cpu_count() > int(cpu) else []


class Echo:
    def __init__(self, kind: str, cpu: str, busy_poll_us: int = 0, work_us: tuple[float, float] = (0, 0),
                 push_bytes: int = 0):
        work = ["--work-us", ",".join(f"{x:g}" for x in work_us)] if any(work_us) else []
        work += ["--push-bytes", str(push_bytes)] if push_bytes else []
        self.proc = subprocess.Popen([*taskset(cpu), sys.executable, "-m", "bench.loadgen.echo", kind,
                                      "--busy-poll-us", str(busy_poll_us), *work], cwd=ROOT, stdout=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        self.url = f"ws://127.0.0.1:{int(line.split()[-1])}/ws"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Gateway:
    def __init__(self, policy: str, cpu: str, deposit: bool = True, ask_size: int = 0, port: str = "picows",
                 busy_poll_us: int = 0, **changes):
        engine = changes.pop("engine", GATEWAY_ENGINE)
        server = {**GATEWAY_SERVER, "order_port": 0} if port == "picows" else GATEWAY_SERVER
        server = {**server, "busy_poll_us": busy_poll_us}
        self.directory = tempfile.mkdtemp(prefix="beacon-bench-")
        self.server = Server(self.directory, prefix=tuple(taskset(cpu)),
                             journal={"fsync": policy}, engine=engine, server=server, **changes).start()
        self.server.tick("600036", 4336, ask=4337, ask_size=ask_size)
        if deposit:
            for account in (0, 1, 2):
                self.server.admin(f"/admin/accounts/{account}/deposit", {"amount": 10**13})  # never short of cash
        self.url = self.server.order_url if port == "picows" else self.server.url

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self.directory, ignore_errors=True)  # a make bench starts some 100 gateways


def client_args(url: str, cpu: str, mode: str, rate: float, count: int, warmup: int, gateway: bool, tag: str,
                max_seconds: float = 30.0, scenario: str = "order_ack", account: int = 0,
                extra: tuple = ()) -> tuple[list[str], str]:
    out = tempfile.mktemp(suffix=".json")
    args = [*taskset(cpu), sys.executable, "-m", "bench.loadgen.client", "--url", url, "--mode", mode, "--rate",
            str(rate), "--count", str(count), "--warmup", str(warmup), "--max-seconds", str(max_seconds),
            "--tag", tag, "--out", out, "--scenario", scenario, "--account", str(account), *extra]
    args += ["--login", f"{ALICE[1]}:{ALICE[2]}"] if gateway else ["--expect", "echo"]
    return args, out


@contextlib.contextmanager
def off_server_cpu():
    """Run this harness on the client's CPU, never on the server's, and give its CPUs back after:
    while a client runs the harness only waits, but a process the kernel may place on CPU 0 can
    take it from the server just when an order arrives (a traced run found the harness there 24
    times in 2 s, about 50 µs each). Servers and clients are placed by taskset all the same."""
    server_cpu = {int(cpu) for cpu, _ in PLACEMENTS.values()}
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    others = before - server_cpu
    if others:
        os.sched_setaffinity(0, others)
    try:
        yield
    finally:
        if others:
            os.sched_setaffinity(0, before)


def wait_quietly(proc: subprocess.Popen, timeout: float) -> int:
    """Wait for a child process without waking meanwhile (Popen.wait with a timeout polls, up to
    every 50 ms); kill it when it outlasts the timeout. Its exit status."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux 5.3+: the polling wait
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    try:
        if not select.select([fd], [], [], timeout)[0]:
            proc.kill()
            proc.wait()
            raise subprocess.TimeoutExpired(proc.args, timeout)
        return proc.wait()
    finally:
        os.close(fd)


def read_result(out: str) -> dict:
    """A client's result file, read and removed (a `make bench` runs some 200 clients)."""
    try:
        with open(out) as fh:
            return json.load(fh)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(out)


def client(url: str, cpu: str, mode: str, rate: float, count: int, warmup: int, gateway: bool, tag: str,
           max_seconds: float = 30.0, **kwargs) -> dict:
    args, out = client_args(url, cpu, mode, rate, count, warmup, gateway, tag, max_seconds, **kwargs)
    code = wait_quietly(subprocess.Popen(args, cwd=ROOT), max_seconds + 120)
    if code != 0:
        raise subprocess.CalledProcessError(code, args)
    return read_result(out)


def clients(url: str, cpu: str, rate: float, count: int, warmup: int, tag: str, accounts: tuple,
            extra: tuple = ()) -> list[dict]:
    """Several client processes at once, one per account, each at `rate`."""
    launched = []
    for account in accounts:
        args, out = client_args(url, cpu, "open", rate, count, warmup, True, f"{tag}a{account}", account=account,
                                extra=extra)
        launched.append((subprocess.Popen(args, cwd=ROOT), out))
    results = []
    for proc, out in launched:
        if wait_quietly(proc, 300) != 0:
            raise RuntimeError("a load client failed")
        results.append(read_result(out))
    return results


# gateway-<policy>: the order port (picows); gateway-<policy>-aiohttp: the main port's /ws (aiohttp);
# -spin: busy polling for BUSY_POLL_US after each request, the gateway and its floor alike (spread only:
# a polling server on the client's CPU would take the client's time)
# echo-working: the picows echo made to work like the gateway (WORKING_ECHO), a model, not a floor
TARGETS = ("echo-aiohttp", "echo-picows", "echo-picows-spin", "echo-working", "gateway-every-batch",
           "gateway-interval", "gateway-interval-aiohttp", "gateway-interval-spin")
BUSY_POLL_US = 2_000
#: The working echo's µs of CPU spun before each answer and after it, and the bytes it pushes after:
#: the gateway's shape on the Intel VM on 2026-12-06 (17-28 µs from read to answer at the p50, 50-74
#: µs of CPU per answer in all, and a 158-byte order_update after each acknowledgement). Beside the
#: gateway it says how much of its tail a server spending that CPU evenly would have
#: (docs/benchmarks.md, "The morning of 2026-12-06"). --working-echo changes it.
WORKING_ECHO_DEFAULT = (20.0, 25.0, 160)
WORKING_ECHO = WORKING_ECHO_DEFAULT


def start(target: str, cpu: str):
    if target == "echo-working":
        before, after, push = WORKING_ECHO
        return Echo("picows", cpu, work_us=(before, after), push_bytes=push)
    kind, _, detail = target.partition("-")
    spin = BUSY_POLL_US if detail.endswith("-spin") else 0
    detail = detail.removesuffix("-spin")
    if kind == "echo":
        return Echo(detail, cpu, busy_poll_us=spin)
    policy = detail.removesuffix("-aiohttp")  # the policy itself may have a hyphen (every-batch)
    return Gateway(policy, cpu, port="aiohttp" if detail.endswith("-aiohttp") else "picows", busy_poll_us=spin)


def server_pid(server) -> int:
    return server.proc.pid if isinstance(server, Echo) else server.server.proc.pid  # taskset execs it: same pid


def process_cpu_s(pid: int) -> float:
    """User and system CPU time of a process, every thread (the journal's fsync thread too)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_preemptions(pid: int) -> int:
    """Involuntary context switches of a process's threads so far: how often the kernel took the
    CPU away from a thread that could have run on (another thread of the server, a kernel worker),
    each one a delay for whatever that thread was about to answer."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/status") as fh:
                for line in fh:
                    if line.startswith("nonvoluntary_ctxt_switches:"):
                        total += int(line.split()[1])
        except OSError:  # the thread ended meanwhile
            continue
    return total


def loop_waited_s(pid: int) -> float:
    """How long a server's main thread, which runs its event loop and answers, has waited so far,
    runnable, while another task had the CPU (the second field of its schedstat): its own fsync
    thread, a kernel worker, the harness, or the kernel's memory monitor kdamond, which this VM
    runs and which held CPU 0 for up to 3.5 ms at a time in one traced run. (The other threads'
    waits are left out: the fsync thread waits behind the loop by design.)"""
    try:
        with open(f"/proc/{pid}/task/{pid}/schedstat") as fh:
            return int(fh.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):  # no schedstat in this kernel
        return 0.0


def cpu_stolen_s(cpu: int, stat: str | None = None) -> float | None:
    """How long the host has kept this VM's CPU `cpu` from it so far (the steal column of
    /proc/stat; None where there is none). Inside the guest a steal looks like whatever task was
    on the CPU running on; the trace's `--sched` table gives it to the loop when the loop was
    there. The counter moves in whole ticks (10 ms at USER_HZ 100), so a run's difference is
    within a tick either way: it tells a run the host stalled for tens of ms from one it did not."""
    if stat is None:
        try:
            with open("/proc/stat") as fh:
                stat = fh.read()
        except OSError:
            return None
    for line in stat.splitlines():
        fields = line.split()
        if fields and fields[0] == f"cpu{cpu}":
            return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else None
    return None


def steal_meter(cpu: int | None):
    """A function giving the seconds the host has taken of CPU `cpu` since this call (None where
    the steal cannot be read, or no single CPU is named)."""
    start = cpu_stolen_s(cpu) if cpu is not None else None

    def since() -> float | None:
        now = cpu_stolen_s(cpu) if start is not None else None
        return now - start if now is not None else None
    return since


def only_cpu(pid: int) -> int | None:
    """The one CPU a process is pinned to, or None."""
    try:
        cpus = os.sched_getaffinity(pid)
    except (AttributeError, OSError):
        return None
    return next(iter(cpus)) if len(cpus) == 1 else None


def with_server_cpu(result: dict, cpu_s: float, preemptions: int | None = None, waited_s: float | None = None,
                    stolen_s: float | None = None) -> dict:
    """The server's CPU per answer and how busy its CPU was while the client ran: the load a
    latency figure was measured at (login and warm-up included; the clock ticks every 10 ms);
    its threads' involuntary context switches per 1,000 answers; and how long its loop waited,
    runnable, while something else had the CPU (ms)."""
    answered = max(1, result["received"])
    out = {**result, "server_cpu_us_per_answer": round(cpu_s / answered * 1e6, 1),
           "server_cpu_busy": round(cpu_s / max(1e-9, result["elapsed_s"]), 3)}
    if preemptions is not None:
        out["server_preempted_per_1k_answers"] = round(preemptions / answered * 1000, 1)
    if waited_s is not None:
        out["server_loop_waited_for_cpu_ms"] = round(waited_s * 1e3, 2)
    if stolen_s is not None:
        out["server_cpu_stolen_ms"] = round(stolen_s * 1e3)
    return out


def measured(server, client_cpu: str, mode: str, rate: float, count: int, warmup: int, gateway: bool,
             tag: str) -> dict:
    """One client run against a started server, with the server's CPU, preemptions and waits over
    it, and what the host took of the server's CPU meanwhile (when the server is pinned to one)."""
    pid = server_pid(server)
    stolen = steal_meter(only_cpu(pid))
    before, preempted, waited = process_cpu_s(pid), process_preemptions(pid), loop_waited_s(pid)
    result = client(server.url, client_cpu, mode, rate, count, warmup, gateway, tag)
    return with_server_cpu(result, process_cpu_s(pid) - before, process_preemptions(pid) - preempted,
                           loop_waited_s(pid) - waited, stolen())


def run_suite(rate: float, count: int, warmup: int, placements: list[str], targets: list[str], modes: list[str],
              closed_count: int) -> list[dict]:
    runs = []
    n = 0
    for placement in placements:
        server_cpu, client_cpu = PLACEMENTS[placement]
        for target in targets:
            if target.endswith("-spin") and server_cpu == client_cpu:
                continue  # busy polling on the client's own CPU: not a placement anyone should run
            server = start(target, server_cpu)
            try:
                for mode in modes:
                    n += 1
                    result = measured(server, client_cpu, mode, rate, count if mode == "open" else closed_count,
                                      warmup, target.startswith("gateway"), f"b{n}")
                    runs.append({"placement": placement, "target": target, **result})
                    lat = result["latency_us"]
                    print(f"  {placement:7} {target:20} {mode:6} p50 {lat['p50']:8.0f} µs  p99 {lat['p99']:8.0f} µs  "
                          f"{result['throughput_per_s']:9,.0f}/s  lost {result['lost']}  errors {result['errors']}  "
                          f"server CPU {result['server_cpu_us_per_answer']:.0f} µs/answer "
                          f"({result['server_cpu_busy']:.0%} busy)", flush=True)
            finally:
                server.stop()
    return runs


#: The targets of the alternated rounds: both floors and the gateway with each fsync policy.
ALTERNATED = ("echo-aiohttp", "echo-picows", "echo-working", "gateway-interval", "gateway-every-batch")


def run_alternated(rate: float, count: int, warmup: int, targets: list[str], rounds: int) -> list[dict]:
    """The open-loop runs of the floors and the gateways again, `rounds` times, alternated (spread
    placement; the order reversed every other round). On this VM one run's tail is a sample of
    the machine's quiet as much as of the code (docs/benchmarks.md), so the goals are also
    judged on the median of the rounds' ratios, each taken against its own round's floor."""
    chosen = [t for t in ALTERNATED if t in targets]
    server_cpu, client_cpu = PLACEMENTS["spread"]
    out = []
    for k in range(rounds):
        for target in (chosen if k % 2 == 0 else chosen[::-1]):
            server = start(target, server_cpu)
            try:
                result = measured(server, client_cpu, "open", rate, count, warmup, target.startswith("gateway"),
                                  f"r{k}{target}")
            finally:
                server.stop()
            out.append({"round": k, "placement": "spread", "mode": "open", "target": target, **result})
            lat = result["latency_us"]
            print(f"  round {k} {target:20} p50 {lat['p50']:8.0f} µs  p99 {lat['p99']:8.0f} µs  "
                  f"server CPU {result['server_cpu_us_per_answer']:.0f} µs/answer  "
                  f"host took {result.get('server_cpu_stolen_ms', '?')} ms  {stall_cell(result)}", flush=True)
    return out


#: A run in which the host took this much of the server's CPU (steal, ms; the counter's ticks are
#: 10 ms, so at least 20 ms were taken) measured the host: a stall of that size sets a p99 of its own.
STOLEN_MS_LIMIT = 30


def round_ratios(alternated: list[dict], target: str) -> tuple[list[float], list[float], int, int]:
    """Per round, the target's p50 and p99 over that round's aiohttp echo. A round gives no p99
    ratio when its aiohttp echo was disturbed (disturbed_floor), or when the host took
    STOLEN_MS_LIMIT ms or more of the server's CPU in the target's run or the echo's (either
    server's tail is then the host's). Returns (p50 ratios, p99 ratios, rounds left out of the p99
    for a disturbed echo, rounds left out for the host's steal)."""
    r50, r99, disturbed, stolen = [], [], 0, 0
    for k in sorted({r["round"] for r in alternated}):
        rows = {r["target"]: r for r in alternated if r["round"] == k}
        g, echo = rows.get(target), rows.get("echo-aiohttp")
        if not (g and echo):
            continue
        r50.append(g["latency_us"]["p50"] / echo["latency_us"]["p50"])
        if disturbed_floor(rows):
            disturbed += 1
        elif max(g.get("server_cpu_stolen_ms", 0), echo.get("server_cpu_stolen_ms", 0)) >= STOLEN_MS_LIMIT:
            stolen += 1
        else:
            r99.append(g["latency_us"]["p99"] / echo["latency_us"]["p99"])
    return r50, r99, disturbed, stolen


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def alternated_table(alternated: list[dict]) -> list[str]:
    lines = ["| round | target | p50 | p90 | p99 | p99.9 | max | p50 / aiohttp echo | p99 / aiohttp echo "
             "| server CPU µs per answer (busy) | host took the server's CPU (steal), ms "
             f"| stalls: count, orders held (over {stalls.STALL_US} µs and {stalls.STALL_MEDIANS}x the median), "
             "of the slowest 1 % in their wakes |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for k in sorted({r["round"] for r in alternated}):
        rows = [r for r in alternated if r["round"] == k]
        echo = next((r for r in rows if r["target"] == "echo-aiohttp"), None)
        for r in rows:
            lat = r["latency_us"]
            r50 = f"{lat['p50'] / echo['latency_us']['p50']:.2f}x" if echo else ""
            r99 = f"{lat['p99'] / echo['latency_us']['p99']:.2f}x" if echo else ""
            lines.append(f"| {k} | {r['target']} | {lat['p50']:.0f} | {lat['p90']:.0f} | {lat['p99']:.0f} | "
                         f"{lat['p99.9']:.0f} | {lat['max']:.0f} | {r50} | {r99} | {r['server_cpu_us_per_answer']:.0f} "
                         f"({r['server_cpu_busy']:.0%}) | {r.get('server_cpu_stolen_ms', '')} | {stall_cell(r)} |")
    return lines


def stall_cell(result: dict) -> str:
    """A run's stalls in short: how many, the orders they held up, and how many of the slowest 1 %
    were in their wakes (bench.loadgen.stalls)."""
    s = result.get("stalls")
    if not s:
        return ""
    return f"{s['stalls']}, {s['orders_held']}, {s['slowest_1pct_in_wakes']} of {s['slowest_1pct']}"


def run_scenarios(count: int, warmup: int, rate: float, policies: list[str]) -> list[dict]:
    """The other scenarios, spread placement: order to fill, cancel to acknowledgement, a rejected
    order, a tick to the margin alert, each closed loop; and a mixed flow (several clients on
    several accounts, open loop, market data from the simulator subscribed)."""
    server_cpu, client_cpu = PLACEMENTS["spread"]
    runs = []
    for policy in policies:
        target = f"gateway-{policy}"
        for scenario in ("order_fill", "cancel_ack", "reject"):
            gateway = Gateway(policy, server_cpu, ask_size=10**12 if scenario == "order_fill" else 0)
            try:
                result = client(gateway.url, client_cpu, "closed", rate, count, warmup, True, f"{scenario[:2]}",
                                scenario=scenario, extra=("--fill-price", "4337"))
            finally:
                gateway.stop()
            runs.append({"placement": "spread", "target": target, "scenario": scenario, **result})
            _print("spread", target, f"{scenario} closed", result)
        gateway = Gateway(policy, server_cpu, deposit=False)
        try:
            out = tempfile.mktemp(suffix=".json")
            args = [*taskset(client_cpu), sys.executable, "-m", "bench.loadgen.alerts", "--url", gateway.url,
                    "--admin", f"http://127.0.0.1:{gateway.server.port}", "--token", ADMIN,
                    "--login", f"{ALICE[1]}:{ALICE[2]}", "--count", str(max(20, count // 10)), "--out", out]
            code = wait_quietly(subprocess.Popen(args, cwd=ROOT), 300)
            if code != 0:
                raise subprocess.CalledProcessError(code, args)
            result = read_result(out)
        finally:
            gateway.stop()
        runs.append({"placement": "spread", "target": target, "scenario": "tick_alert", **result})
        _print("spread", target, "tick_alert closed", result)
        gateway = Gateway(policy, server_cpu, market={"source": "scenario", "scenario": "calm", "speed": 20},
                          engine={**GATEWAY_ENGINE, "trading_day": ""})
        try:
            results = clients(gateway.url, client_cpu, rate / 3, count // 3, warmup // 3, "mx", (0, 1, 2),
                              extra=("--subscribe", "600036,601318,000858,300750,688981"))
        finally:
            gateway.stop()
        merged = _merge(results)
        runs.append({"placement": "spread", "target": target, "scenario": f"mixed: 3 clients x {rate / 3:,.0f}/s, "
                     "market data on", **merged})
        _print("spread", target, "mixed open", merged)
    return runs


def _merge(results: list[dict]) -> dict:
    total = HdrHistogram(1_000, 60_000_000_000, 3)
    for r in results:
        total.add(HdrHistogram.decode(r["histogram"]))
    return {"mode": "open", "sent": sum(r["sent"] for r in results), "received": sum(r["received"] for r in results),
            "lost": sum(r["lost"] for r in results), "errors": sum(r["errors"] for r in results),
            "throughput_per_s": round(sum(r["throughput_per_s"] for r in results), 1),
            "latency_us": {**{f"p{p}": total.get_value_at_percentile(p) / 1000 for p in (50, 90, 99, 99.9, 99.99)},
                           "max": total.get_max_value() / 1000, "mean": round(total.get_mean_value() / 1000, 1),
                           "samples": total.get_total_count()},
            "histogram": total.encode().decode()}


def _print(placement: str, target: str, what: str, result: dict) -> None:
    lat = result["latency_us"]
    rate = f"{result['throughput_per_s']:9,.0f}/s" if result.get("throughput_per_s") else " " * 11
    print(f"  {placement:7} {target:20} {what:18} p50 {lat['p50']:8.0f} µs  p99 {lat['p99']:8.0f} µs  {rate}  "
          f"lost {result.get('lost', 0)}  errors {result.get('errors', 0)}", flush=True)


LADDER = (1_000, 2_000, 4_000, 6_000, 8_000, 10_000, 12_000, 14_000, 16_000, 20_000, 24_000, 32_000, 48_000,
          64_000)


MISSES_ABOVE = 3  # failing rungs in a row above a pass that end the climb
MISSES_BEFORE = 5  # failing rungs with no pass at all (1,000 to 8,000/s) that end it: no rate passes
CONFIRMATIONS = 3  # re-runs of the rate found, stepping down when one fails


def search_max_rate(target: str, placement: str, high: float, seconds: float, warmup: int,
                    p99_limit_us: float = 1_000.0, steps: int = 3) -> dict:
    """The highest open-loop rate with p99 under the limit and every message answered. A ladder of
    rates, climbed while the target keeps up (answers at least 95 % of the rate) and until
    MISSES_ABOVE rungs in a row fail above one that passed; then a bisection between the highest
    rung that passed and the rung above it; then the rate found is run again, and a rate that
    fails its re-run gives way to the next lower one that passed, up to CONFIRMATIONS re-runs (a
    2-second run at the edge passes or fails by chance on this VM: one pass is not enough to
    report; when the re-runs run out, the rate reported passed once and says so).

    Not a bisection from the start: on this VM the tail is not monotonic in the rate (at low rates
    every message wakes an idle CPU, which costs more than a busy one's work), so a failure below
    does not mean one above; above a pass, three failures in a row do, and with no pass at all
    five do. Bounded: at most len(LADDER) + steps + CONFIRMATIONS short runs."""
    server_cpu, client_cpu = PLACEMENTS[placement]
    trials = []

    def ok(rate: float) -> tuple[bool, bool]:
        server = start(target, server_cpu)
        try:
            result = client(server.url, client_cpu, "open", rate, max(200, int(rate * seconds)),
                            min(warmup, max(50, int(rate * seconds / 4))),
                            target.startswith("gateway"), f"s{len(trials)}", max_seconds=seconds * 3)
        finally:
            server.stop()
        kept_up = result["throughput_per_s"] >= 0.95 * rate and result["lost"] == 0 and result["errors"] == 0
        passed = kept_up and result["latency_us"]["p99"] < p99_limit_us
        trials.append({"rate": rate, "p99_us": result["latency_us"]["p99"], "throughput_per_s":
                       result["throughput_per_s"], "passed": passed})
        print(f"  search {target} {placement}: {rate:,.0f}/s -> p99 {result['latency_us']['p99']:.0f} µs, "
              f"{result['throughput_per_s']:,.0f}/s {'ok' if passed else 'too slow'}", flush=True)
        return passed, kept_up

    good, misses = 0.0, 0
    for rate in (r for r in LADDER if r <= high):
        passed, kept_up = ok(rate)
        good, misses = (rate, 0) if passed else (good, misses + 1)
        if not kept_up:
            break  # saturated: higher rates only queue more
        if misses >= (MISSES_ABOVE if good else MISSES_BEFORE):
            break
    above = [t["rate"] for t in trials if t["rate"] > good and not t["passed"]]
    bad = min(above) if above else None
    if good and bad:
        for _ in range(steps):
            middle = round((good + bad) / 2, -2)
            if middle in (good, bad):
                break
            if ok(middle)[0]:
                good = middle
            else:
                bad = middle
    confirmed = False
    for _ in range(CONFIRMATIONS):
        if not good:
            break
        if ok(good)[0]:
            confirmed = True
            break
        good = max((t["rate"] for t in trials if t["passed"] and t["rate"] < good), default=0.0)  # not sustainable
    above = [t["rate"] for t in trials if t["rate"] > good and not t["passed"]]
    bad = min(above) if above else None  # the lowest rate above it that failed, in any run
    return {"target": target, "placement": placement, "p99_limit_us": p99_limit_us, "max_rate": good,
            "first_failing": bad, "confirmed": confirmed, "trials": trials}


# ------------------------------------------------------------------ the report
def pct_table(runs: list[dict], placement: str, mode: str) -> list[str]:
    rows = [r for r in runs if r["placement"] == placement and r["mode"] == mode]
    echo = {r["target"]: r for r in rows if r["target"].startswith("echo")}
    base = echo.get("echo-aiohttp")
    lines = ["| target | p50 | p90 | p99 | p99.9 | max | answered/s | p50 / aiohttp echo | p99 / aiohttp echo "
             "| client's send lag p99 | server CPU µs per answer (busy) | server preempted per 1k answers "
             "| server's loop waited for its CPU, ms | host took the server's CPU (steal), ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lat = r["latency_us"]
        ratio50 = f"{lat['p50'] / base['latency_us']['p50']:.2f}x" if base else ""
        ratio99 = f"{lat['p99'] / base['latency_us']['p99']:.2f}x" if base else ""
        lag = f"{r['send_lag_us']['p99']:.0f}" if mode == "open" and "send_lag_us" in r else ""
        cpu = (f"{r['server_cpu_us_per_answer']:.0f} ({r['server_cpu_busy']:.0%})"
               if "server_cpu_us_per_answer" in r else "")
        preempted = f"{r['server_preempted_per_1k_answers']:.1f}" if "server_preempted_per_1k_answers" in r else ""
        waited = (f"{r['server_loop_waited_for_cpu_ms']:.1f}" if "server_loop_waited_for_cpu_ms" in r else "")
        lines.append(f"| {r['target']} | {lat['p50']:.0f} | {lat['p90']:.0f} | {lat['p99']:.0f} | "
                     f"{lat['p99.9']:.0f} | {lat['max']:.0f} | {r['throughput_per_s']:,.0f} | {ratio50} | {ratio99} "
                     f"| {lag} | {cpu} | {preempted} | {waited} | {r.get('server_cpu_stolen_ms', '')} |")
    return lines


#: Two floors whose p99 differ by more than this factor in one run do not both measure the machine:
#: one of them met a stall of its own, and a ratio to it says nothing about the gateway.
FLOOR_DISAGREEMENT = 2.0


def disturbed_floor(rows: dict) -> str:
    """Why the aiohttp echo's tail in these runs is not a floor, or "" when it is: its p99 above
    FLOOR_DISAGREEMENT times the picows echo's in the same placement and mode (the picows echo is
    the faster server, so its tail can only be lower on an undisturbed machine)."""
    aio, pic = rows.get("echo-aiohttp"), rows.get("echo-picows")
    if not (aio and pic):
        return ""
    a, b = aio["latency_us"]["p99"], pic["latency_us"]["p99"]
    if a > FLOOR_DISAGREEMENT * b:
        return (f"not judged: the aiohttp echo's own p99 in this run ({a:,.0f} µs) was {a / b:.1f}x the picows "
                f"echo's ({b:,.0f} µs), a stall of the floor's, so the ratio says nothing")
    return ""


def goals(runs: list[dict], rate: float, searches: list[dict], alternated: list[dict] = ()) -> list[str]:
    out = []
    for placement in sorted({r["placement"] for r in runs}):
        rows = {r["target"]: r for r in runs if r["placement"] == placement and r["mode"] == "open"}
        disturbed = disturbed_floor(rows)
        for target, floor in (("gateway-every-batch", "echo-aiohttp"), ("gateway-interval", "echo-aiohttp"),
                              ("gateway-interval-aiohttp", "echo-aiohttp"), ("gateway-interval-spin", "echo-aiohttp"),
                              ("gateway-interval-spin", "echo-picows-spin")):
            g, echo = rows.get(target), rows.get(floor)
            if not (g and echo):
                continue
            r50 = g["latency_us"]["p50"] / echo["latency_us"]["p50"]
            r99 = g["latency_us"]["p99"] / echo["latency_us"]["p99"]
            against = "the echo's" if floor == "echo-aiohttp" else f"{floor}'s (the floor polling the same way)"
            verdict = f"goal <= 2x: {'met' if r99 <= 2 else 'not met'}"
            if disturbed and floor == "echo-aiohttp":
                picows = g["latency_us"]["p99"] / rows["echo-picows"]["latency_us"]["p99"]
                verdict = f"{disturbed}; against the picows echo it is {picows:.2f}x"
            out.append(f"- {placement}, {target}, open loop at {rate:,.0f}/s: p50 {r50:.2f}x {against} "
                       f"(goal <= 1.5x: {'met' if r50 <= 1.5 else 'not met'}), p99 {r99:.2f}x ({verdict})")
    for target in ("gateway-every-batch", "gateway-interval"):
        r50, r99, disturbed, stolen = round_ratios(alternated, target)
        if not r50:
            continue
        p99 = (f"p99 {_median(r99):.2f}x (goal <= 2x: {'met' if _median(r99) <= 2 else 'not met'})" if r99
               else "p99 not judged")
        left_out = f"; {disturbed} round(s) left out of the p99, their aiohttp echo disturbed" if disturbed else ""
        left_out += (f"; {stolen} round(s) left out of the p99, the host having taken {STOLEN_MS_LIMIT} ms or more "
                     f"of the server's CPU" if stolen else "")
        out.append(f"- spread, {target}, open loop at {rate:,.0f}/s, the median of {len(r50)} alternated rounds: "
                   f"p50 {_median(r50):.2f}x the echo's (goal <= 1.5x: {'met' if _median(r50) <= 1.5 else 'not met'}), "
                   f"{p99} (rounds: p50 {', '.join(f'{x:.2f}x' for x in r50)}; p99 "
                   f"{', '.join(f'{x:.2f}x' for x in r99) or '-'}{left_out})")
    for s in searches:
        if s["target"].startswith("echo"):  # the floor's own limit: context, not a goal
            out.append(f"- {s['placement']}, {s['target']} (the floor): the highest rate with p99 under 1 ms was "
                       f"{s['max_rate']:,.0f}/s")
            continue
        out.append(f"- {s['placement']}, {s['target']}: the highest rate with p99 under 1 ms was "
                   f"{s['max_rate']:,.0f}/s ({rate_verdict(s, searches)})")
    return out


GOAL_RATE = 30_000  # orders/s with p99 under 1 ms (issue #8)


def rate_verdict(search: dict, searches: list[dict]) -> str:
    """The rate goal's verdict on a gateway's search. Not judged when it fell short and neither
    echo's search in the same placement reached the goal either: then the host held the machine
    back during the search (a bare echo manages 46,000-64,000/s here), and the gateway's figure
    says nothing about the gateway."""
    if search["max_rate"] >= GOAL_RATE:
        return f"goal >= {GOAL_RATE:,}/s: met"
    floors = [s["max_rate"] for s in searches
              if s["placement"] == search["placement"] and s["target"] in ("echo-aiohttp", "echo-picows")]
    if floors and max(floors) < GOAL_RATE:
        return (f"not judged: the echoes' own searches reached only {max(floors):,.0f}/s in this run, so the "
                f"host held the machine back")
    return f"goal >= {GOAL_RATE:,}/s: not met"


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    placements = sorted({r["placement"] for r in runs})
    fig, axes = plt.subplots(1, len(placements), figsize=(6.5 * len(placements), 4.8), squeeze=False)
    quantiles = [50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99]
    for ax, placement in zip(axes[0], placements):
        for r in runs:
            if r["placement"] != placement or r["mode"] != "open":
                continue
            h = HdrHistogram.decode(r["histogram"])
            xs = [1 / (1 - q / 100) for q in quantiles]
            ys = [h.get_value_at_percentile(q) / 1000 for q in quantiles]
            ax.plot(xs, ys, marker="o", markersize=3, label=r["target"],
                    linestyle="--" if r["target"].startswith("echo") else "-")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks([1 / (1 - q / 100) for q in quantiles])
        ax.set_xticklabels([f"{q:g}" for q in quantiles], rotation=45)
        ax.set_xlabel("percentile")
        ax.set_ylabel("latency (µs)")
        ax.set_title(f"{placement}: order to acknowledgement, open loop")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def scenario_table(scenarios: list[dict]) -> list[str]:
    lines = ["| target | scenario | mode | p50 | p90 | p99 | p99.9 | max | answered/s | lost | errors |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in scenarios:
        lat = r["latency_us"]
        rate = f"{r['throughput_per_s']:,.0f}" if r.get("throughput_per_s") else ""
        lines.append(f"| {r['target']} | {r['scenario']} | {r['mode']} | {lat['p50']:.0f} | {lat['p90']:.0f} | "
                     f"{lat['p99']:.0f} | {lat['p99.9']:.0f} | {lat['max']:.0f} | {rate} | {r.get('lost', 0)} | "
                     f"{r.get('errors', 0)} |")
    return lines


def write_report(directory: Path, meta: dict, runs: list[dict], searches: list[dict],
                 scenarios: list[dict] = (), alternated: list[dict] = ()) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "results.json").write_text(json.dumps({"meta": meta, "runs": runs, "searches": searches,
                                                        "scenarios": list(scenarios),
                                                        "alternated": list(alternated)}, indent=1))
    lines = [f"# Order to acknowledgement: the gateway beside the echo floor ({meta['when']})", "",
             f"Machine: {meta['cpu']}, {meta['cpus']} CPUs, Python {meta['python']}. Client and server share "
             "this machine: `spread` puts the server on CPU 0 and the client on CPU 1, `pinned` both on CPU 0. "
             f"Open loop at {meta['rate']:,.0f} messages/s ({meta['count']:,} measured after {meta['warmup']:,} "
             "warm-up; latency from the intended send time); closed loop one at a time. Latencies in µs. "
             "The gateway answers `order_accepted` once the order is journaled: `every-batch` includes an fsync "
             "per batch, `interval` a 5 ms group commit.", ""]
    if meta.get("working_echo"):
        before, after, push = meta["working_echo"]
        lines += [f"`echo-working` is not a floor but a model: the picows echo spinning {before:g} µs before each "
                  f"answer and {after:g} µs after it, then pushing {push:,} bytes, as the gateway answers, routes "
                  "the order and pushes its update. It spends the gateway's CPU per order evenly; where the gateway's "
                  "tail is above it, the gateway's work is lumpier than its average.", ""]
    for placement in meta["placements"]:
        for mode in meta["modes"]:
            lines += [f"## {placement}, {mode} loop", ""] + pct_table(runs, placement, mode) + [""]
    if alternated:
        lines += [f"## Alternated rounds (spread, open loop at {meta['rate']:,.0f}/s)", "",
                  "The floors and the gateway again, one after the other, the order reversed every other round: "
                  "the machine's quiet changes from minute to minute, and a ratio is only meaningful against a floor "
                  "measured beside it. The Goals below take the median of the rounds' ratios.", ""]
        lines += alternated_table(list(alternated)) + [""]
    if scenarios:
        lines += ["## The other scenarios (spread placement)", "",
                  "Order to fill: a marketable buy until its `fill` push (the broker simulated, zero latency). "
                  "Cancel to acknowledgement: `cancel_accepted` for a resting order placed beforehand. A rejected "
                  "order: 150 shares, `order_rejected` (INVALID_LOT). Tick to alert: a price shock injected through "
                  "the market path until the account holder's `margin` push. Mixed: three clients on three "
                  "accounts at once, open loop, with market data from the simulated market subscribed.", ""]
        lines += scenario_table(list(scenarios)) + [""]
    if searches:
        lines += ["## The highest sustainable rate (p99 under 1 ms, every order answered)", "",
                  "Each target climbs a ladder of 2-second runs, bisects above the highest rung that passed, "
                  "and runs the rate found once more: a rate is reported only after passing twice (the "
                  "trials list every run, in order).", "",
                  "| target | placement | max rate | first failing | trials |", "|---|---|---|---|---|"]
        for s in searches:
            trials = ", ".join(f"{t['rate']:,.0f}/s: {t['p99_us']:.0f} µs" for t in s["trials"])
            failing = f"{s['first_failing']:,.0f}/s" if s["first_failing"] else "none up to the cap"
            shown = f"{s['max_rate']:,.0f}/s" + ("" if s.get("confirmed", True) or not s["max_rate"]
                                                 else " (passed once; the re-runs of the rates above it failed)")
            lines.append(f"| {s['target']} | {s['placement']} | {shown} | {failing} | {trials} |")
        lines.append("")
    lines += ["## Goals", ""] + goals(runs, meta["rate"], searches, list(alternated)) + [
        "", "![percentiles](percentiles.png)", ""]
    (directory / "report.md").write_text("\n".join(lines))
    plot(runs, directory / "percentiles.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--closed-count", type=int, default=5_000)
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--placements", nargs="+", choices=list(PLACEMENTS), default=list(PLACEMENTS))
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    parser.add_argument("--modes", nargs="+", choices=["open", "closed"], default=["open", "closed"])
    parser.add_argument("--no-search", action="store_true")
    parser.add_argument("--no-scenarios", action="store_true", help="only order to acknowledgement")
    parser.add_argument("--scenario-count", type=int, default=3_000)
    parser.add_argument("--scenario-rate", type=float, default=1_500, help="the mixed flow's total rate")
    parser.add_argument("--search-seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=7,
                        help="alternated rounds of the floors and the gateways (spread, open loop; 0: none)")
    parser.add_argument("--smoke", action="store_true", help="a few seconds: the tools run; times mean nothing")
    parser.add_argument("--out", default="", help="directory (default: bench/results/loadgen/<UTC time>)")
    parser.add_argument("--working-echo", default=",".join(f"{x:g}" for x in WORKING_ECHO_DEFAULT),
                        metavar="BEFORE,AFTER,PUSH_BYTES",
                        help="the echo-working target: µs spun before each answer and after it, and bytes pushed")
    args = parser.parse_args(argv)
    try:
        before, after, push = args.working_echo.split(",")
        working = (float(before), float(after), int(push))
    except ValueError:
        working = None
    if working is None or min(working) < 0 or max(working[:2]) > MAX_WORK_US or working[2] > MAX_PUSH_BYTES:
        parser.error(f"--working-echo takes BEFORE,AFTER,PUSH_BYTES: µs from 0 to {MAX_WORK_US:,} and bytes from 0 "
                     f"to {MAX_PUSH_BYTES:,}; got {args.working_echo!r}")
    global WORKING_ECHO
    WORKING_ECHO = working
    with off_server_cpu():
        return suite(args)


def suite(args: argparse.Namespace) -> int:
    if args.smoke:
        args.rate, args.count, args.closed_count, args.warmup = 500, 200, 100, 20
        args.placements, args.no_search = ["spread"], True
        args.targets = ["echo-aiohttp", "gateway-interval", "gateway-interval-aiohttp"]
        args.scenario_count, args.scenario_rate = 90, 300
        args.rounds = min(args.rounds, 1)
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    meta = {"when": when, "cpu": cpu, "cpus": os.cpu_count(), "python": sys.version.split()[0], "rate": args.rate,
            "count": args.count, "warmup": args.warmup, "placements": args.placements, "modes": args.modes,
            "smoke": args.smoke, "working_echo": list(WORKING_ECHO) if "echo-working" in args.targets else None}
    print(f"bench.loadgen: {', '.join(args.targets)}; {', '.join(args.placements)}; {args.rate:,.0f}/s open loop",
          flush=True)
    started = time.monotonic()
    runs = run_suite(args.rate, args.count, args.warmup, args.placements, args.targets, args.modes,
                     args.closed_count)
    scenarios = []
    if not args.no_scenarios:
        policies = [t.removeprefix("gateway-") for t in args.targets
                    if t.startswith("gateway-") and not t.endswith(("-aiohttp", "-spin"))]
        scenarios = run_scenarios(args.scenario_count, args.warmup if not args.smoke else 10, args.scenario_rate,
                                  policies)
    searches = []
    if not args.no_search:
        # the floors' too (the polling floor's is left out: its ladder is the longest, and the
        # polling gateway is compared with it in the runs above)
        for target in ("echo-aiohttp", "echo-picows", "gateway-interval", "gateway-interval-spin",
                       "gateway-interval-aiohttp", "gateway-every-batch"):
            if target in args.targets:
                searches.append(search_max_rate(target, "spread", 64_000, args.search_seconds, args.warmup))
    alternated = run_alternated(args.rate, args.count, args.warmup, args.targets, args.rounds) \
        if args.rounds > 0 and "spread" in args.placements and "open" in args.modes else []
    directory = Path(args.out) if args.out else RESULTS / when
    write_report(directory, {**meta, "wall_s": round(time.monotonic() - started, 1)}, runs, searches, scenarios,
                 alternated)
    print(f"report: {directory / 'report.md'} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
