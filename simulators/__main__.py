"""`python -m simulators`: print a scenario's message stream and a summary.

    python -m simulators --list
    python -m simulators contagion --limit 20 --instrument 601318
    python -m simulators cascade --summary-only
    python -m simulators --bars history.csv
    python -m simulators calm --throughput
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time

from core.units import format_cny

from .market import MarketSimulator, list_scenarios, load_scenario
from .market.messages import DayClose, DayOpen, InstrumentStatus, Tick
from .market.replay import replay_bars, replay_ticks

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def show(message) -> str:
    when = dt.datetime.fromtimestamp(message.ts / 1e9, SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(message, Tick):
        lock = {-1: "  LOCKED limit-down (no bids)", 1: "  LOCKED limit-up (no offers)"}.get(message.lock, "")
        return (f"{when}  {message.instrument}  last {format_cny(message.last):>9}  vol {message.volume:>9,}  "
                f"bid {format_cny(message.bid):>9} x {message.bid_size:<9,} ask {format_cny(message.ask):>9} x "
                f"{message.ask_size:,}{lock}")
    if isinstance(message, InstrumentStatus):
        return f"{when}  {message.instrument}  {'HALTED' if message.halted else 'RESUMED'}"
    if isinstance(message, DayOpen):
        return f"{when}  --- trading day {dt.date.fromordinal(message.day)} opens ---"
    if isinstance(message, DayClose):
        return f"{when}  --- trading day {dt.date.fromordinal(message.day)} closes ---"
    return repr(message)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", nargs="?", help="scenario name or TOML file")
    parser.add_argument("--list", action="store_true", help="list the scenarios")
    parser.add_argument("--bars", help="replay a daily-bar CSV instead of a scenario")
    parser.add_argument("--ticks", help="replay a tick CSV instead of a scenario")
    parser.add_argument("--instrument", action="append", default=[], help="only these codes (repeatable)")
    parser.add_argument("--limit", type=int, default=40, help="print at most this many messages (0: none)")
    parser.add_argument("--every", type=int, default=1, help="print one tick in this many")
    parser.add_argument("--summary-only", action="store_true")
    parser.add_argument("--throughput", action="store_true", help="measure ticks generated per second")
    args = parser.parse_args(argv)

    if args.list:
        for name in list_scenarios():
            scenario = load_scenario(name)
            print(f"{name:<12} {scenario.days} day(s)  {' '.join(scenario.description.split())}")
        return 0
    if args.bars or args.ticks:
        stream = replay_bars(args.bars) if args.bars else replay_ticks(args.ticks)
        sim = None
    elif args.scenario:
        try:
            sim = MarketSimulator(load_scenario(args.scenario))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if args.throughput:
            return throughput(sim)
        stream = sim.messages()
    else:
        parser.print_help()
        return 2
    wanted = set(args.instrument)
    printed = seen = 0
    limit = 0 if args.summary_only else args.limit
    for message in stream:
        if isinstance(message, (Tick, InstrumentStatus)) and wanted and message.instrument not in wanted:
            continue
        if isinstance(message, Tick):
            seen += 1
            if seen % args.every:
                continue
        if printed < limit:
            print(show(message))
            printed += 1
    if sim is not None:
        print(sim.summary_text())
    return 0


def throughput(sim: MarketSimulator) -> int:
    steps = sim.steps_per_day
    started = time.perf_counter()
    ticks = sim.kernel.steps(steps)
    kernel_s = time.perf_counter() - started
    started = time.perf_counter()
    messages = sum(1 for _ in sim.messages())
    message_s = time.perf_counter() - started
    print(f"kernel: {ticks:,} ticks in {kernel_s:.3f} s = {ticks / kernel_s:,.0f} ticks/s "
          f"({len(sim.codes)} instruments x {steps:,} steps of {sim.scenario.step_seconds} s)")
    print(f"as messages: {messages:,} in {message_s:.3f} s = {messages / message_s:,.0f} messages/s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        sys.stderr.close()
        sys.exit(0)
