"""Alternated A/B runs of the gateway built from two source trees, with each thread's share.

    python -m bench.loadgen.ab --tree before=/tmp/before --tree after=. --policy every-batch --mode closed
    python -m bench.loadgen.ab --tree before=/tmp/before --tree after=. --policy interval --rate 10000 --pairs 3

The tool behind the side-by-side figures in docs/benchmarks.md: on this VM the same code's tail
moves between runs minutes apart by more than most single changes, so a change is measured
against the tree before it, in pairs, the two run one after the other. Make the other tree with
`git worktree add /tmp/before <commit>` and `make -C /tmp/before build`.

For each pair and each tree in turn: a gateway started from that tree (its own .venv and its
own code; server on CPU 0), the tree's load client on CPU 1 (spread placement, client and
server sharing the machine's two vCPUs), open loop at --rate or closed loop. Printed per run:
p50, p90, p99 and p99.9 in µs, and for each thread of the server its CPU (user and system) per
order and its voluntary and involuntary context switches per order, from /proc: which thread
does the work, and which one waits or is preempted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve()


def _threads(pid: int) -> dict[int, list[float]]:
    """Per thread of a process: [user s, system s, voluntary switches, involuntary switches]."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/task/{tid}/status") as fh:
                status = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:  # the thread ended meanwhile
            continue
        out[int(tid)] = [int(fields[11]) / tick, int(fields[12]) / tick,
                         int(status["voluntary_ctxt_switches"]), int(status["nonvoluntary_ctxt_switches"])]
    return out


def child(tree: str, mode: str, rate: float, count: int, warmup: int, policy: str) -> dict:
    """One run, in the tree's own interpreter, with the tree's own harness, gateway and client."""
    sys.path.insert(0, tree)
    os.chdir(tree)
    from bench.loadgen.__main__ import GATEWAY_ENGINE, GATEWAY_SERVER, client, taskset
    from tests.gateway.harness import Server

    directory = tempfile.mkdtemp(prefix="beacon-ab-")
    server = Server(directory, prefix=tuple(taskset("0")), journal={"fsync": policy},
                    engine=GATEWAY_ENGINE, server={**GATEWAY_SERVER, "order_port": 0}).start()
    try:
        server.tick("600036", 4336, ask=4337, ask_size=0)
        server.admin("/admin/accounts/0/deposit", {"amount": 10**13})
        pid = server.proc.pid
        before = _threads(pid)
        result = client(server.order_url, "1", mode, rate, count, warmup, True, "ab")
        after = _threads(pid)
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
    orders = count + warmup
    threads = []
    for tid, now in sorted(after.items()):
        was = before.get(tid, [0, 0, 0, 0])
        d = [a - b for a, b in zip(now, was)]
        if d[0] + d[1] > 0.01 or d[2] > orders // 10:
            threads.append({"thread": "loop" if tid == pid else f"thread {tid}",
                            "user_us": d[0] / orders * 1e6, "system_us": d[1] / orders * 1e6,
                            "voluntary": d[2] / orders, "involuntary": d[3] / orders})
    return {"latency_us": result["latency_us"], "threads": threads}


def line(name: str, pair: int, run: dict) -> str:
    lat = run["latency_us"]
    parts = [f"pair {pair} {name:>10}: p50 {lat['p50']:7.0f} p90 {lat['p90']:7.0f} p99 {lat['p99']:7.0f} "
             f"p99.9 {lat['p99.9']:7.0f} µs"]
    for t in run["threads"]:
        parts.append(f"{t['thread']}: CPU {t['user_us']:.0f} user + {t['system_us']:.0f} system µs, "
                     f"switches {t['voluntary']:.2f} voluntary / {t['involuntary']:.3f} involuntary per order")
    return " | ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", action="append", required=True, metavar="NAME=PATH",
                        help="a source tree built with make (repeat: the trees alternate)")
    parser.add_argument("--policy", default="interval", choices=("every-batch", "interval", "none"))
    parser.add_argument("--mode", default="open", choices=("open", "closed"))
    parser.add_argument("--rate", type=float, default=10_000, help="orders/s in the open loop")
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:  # (on the CPU the parent keeps off the server's: affinity is inherited)
        print(json.dumps(child(args.child, args.mode, args.rate, args.count, args.warmup, args.policy)))
        return 0
    from bench.loadgen.__main__ import off_server_cpu
    with off_server_cpu():
        return pairs(args, parser)


def pairs(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    trees = []
    for spec in args.tree:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            parser.error(f"--tree takes NAME=PATH, not {spec!r}")
        root = Path(path).resolve()
        python = root / ".venv" / "bin" / "python"
        if not python.exists():
            parser.error(f"{root} has no .venv: build it first (make -C {root} build)")
        trees.append((name, root, python))
    if args.pairs < 1 or args.count < 1:
        parser.error("need --pairs >= 1 and --count >= 1")
    for pair in range(args.pairs):
        for name, root, python in trees:
            done = subprocess.run([str(python), str(HERE), "--child", str(root), "--policy", args.policy,
                                   "--mode", args.mode, "--rate", str(args.rate), "--count", str(args.count),
                                   "--warmup", str(args.warmup), "--tree", "unused=."],
                                  capture_output=True, text=True, cwd=root, timeout=600)
            if done.returncode:
                print(f"pair {pair} {name}: failed\n{done.stderr[-3000:]}", file=sys.stderr)
                return 1
            print(line(name, pair, json.loads(done.stdout.strip().splitlines()[-1])), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
