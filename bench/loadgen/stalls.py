"""Stalls: stretches in which every order waited, whatever server was answering.

On this VM the host now and then holds one of the two vCPUs for 0.3-3 ms. Inside the VM the
task that was running seems to run on, and /proc/stat's steal counter (10 ms ticks) misses
most of these holds. An open-loop run sees each one as a stall: the orders due while it lasted
all wait for its end, so a 2 ms hold at 10,000 orders/s puts 20 orders past 500 µs at once, and
more while the server drains the backlog it left.

A run's stalls are counted from its own per-order latencies, for the echo and the gateway alike,
so a round's figures say how much of its tail the host made (docs/benchmarks.md, "the host's
100 ms beat"):

- a stall begins at an order held up (it waited over STALL_US, and over STALL_MEDIANS times the
  run's median: a target whose every order waits on a disk is not stalling all the time) when
  the one before it was not;
- its wake runs on until an order is back under twice the run's median latency;
- the holds come on a beat: their starts fall at one point of a BEAT_MS period, so the
  report says how many began within BEAT_TOLERANCE_MS of the most common point.
"""

from __future__ import annotations

from bench.report import percentile

STALL_US = 500  # an order that waited this long (µs) was held up by a stall, not by its own work
STALL_MEDIANS = 4  # ... if that is also this many times the run's median latency
BEAT_MS = 100  # the period the host's holds keep to (measured: docs/benchmarks.md)
BEAT_TOLERANCE_MS = 1.0  # a stall began "on the beat" within this much of the most common point


def _median(latency_us: list[float]) -> float:
    return percentile(latency_us, 0.5) if latency_us else 0.0


def held_over(latency_us: list[float], median: float | None = None) -> float:
    """The latency (µs) past which this run's orders count as held up by a stall (`median`: the
    run's median latency, when the caller has it already)."""
    return max(STALL_US, STALL_MEDIANS * (_median(latency_us) if median is None else median))


def stall_starts(latency_us: list[float], held: float | None = None) -> list[int]:
    """Indexes (in send order) of the orders that began a stall (`held`: held_over's figure, when
    the caller has it already)."""
    held = held_over(latency_us) if held is None else held
    return [i for i, value in enumerate(latency_us)
            if value > held and (i == 0 or latency_us[i - 1] <= held)]


def wakes(latency_us: list[float], starts: list[int] | None = None,
          median: float | None = None) -> list[tuple[int, int]]:
    """(first, past the last) index of each stall's wake: from the order that began it until an
    order is back under twice the run's median latency (`starts` and `median`, when the caller
    has them already)."""
    settled = 2 * (_median(latency_us) if median is None else median)
    spans = []
    for start in stall_starts(latency_us) if starts is None else starts:
        if spans and start < spans[-1][1]:
            continue  # (a second hold inside the first one's wake belongs to it)
        end = start + 1
        while end < len(latency_us) and latency_us[end] > settled:
            end += 1
        spans.append((start, end))
    return spans


def on_one_beat(starts_ms: list[float], period_ms: float = BEAT_MS,
                tolerance_ms: float = BEAT_TOLERANCE_MS) -> int:
    """How many of these start times (ms) fall within tolerance_ms of one point of a period_ms
    beat: the most such points share, over every start taken as the point."""
    phases = [t % period_ms for t in starts_ms]
    best = 0
    for point in phases:
        near = sum(1 for p in phases if min(abs(p - point), period_ms - abs(p - point)) <= tolerance_ms)
        best = max(best, near)
    return best


def summary(due_ns: list[int], latency_us: list[float]) -> dict:
    """A run's stalls, from its measured orders' due times (ns) and latencies (µs), in send order:
    {"held_over_us", "stalls", "orders_held", "on_one_beat", "slowest_1pct", "slowest_1pct_in_wakes"}."""
    median = _median(latency_us)
    held = held_over(latency_us, median)
    starts = stall_starts(latency_us, held)
    spans = wakes(latency_us, starts, median)
    in_wake = bytearray(len(latency_us))
    for first, end in spans:
        in_wake[first:end] = b"\x01" * (end - first)
    slowest = sorted(range(len(latency_us)), key=lambda i: -latency_us[i])[:max(1, len(latency_us) // 100)]
    return {
        "held_over_us": round(held),
        "stalls": len(starts),
        "orders_held": sum(1 for value in latency_us if value > held),
        "on_one_beat": on_one_beat([due_ns[i] / 1e6 for i in starts]),
        "slowest_1pct": len(slowest),
        "slowest_1pct_in_wakes": sum(in_wake[i] for i in slowest),
    }


def describe(s: dict) -> str:
    """One line for a report."""
    if not s["stalls"]:
        return f"no stall: no order waited over {s['held_over_us']:,} µs."
    return (f"{s['stalls']} stalls ({s['orders_held']} orders waited over {s['held_over_us']:,} µs; "
            f"{s['on_one_beat']} of the stalls began on one {BEAT_MS} ms beat); "
            f"{s['slowest_1pct_in_wakes']} of the slowest {s['slowest_1pct']} orders were in their wakes.")
