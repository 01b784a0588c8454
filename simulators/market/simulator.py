"""The market simulator: a scenario played over the instrument universe, step by step.

    sim = MarketSimulator(load_scenario("contagion"))
    for message in sim.messages():      # DayOpen, Tick..., InstrumentStatus, DayClose
        ...
    print(sim.summary_text())

Each step (every `step_seconds` of simulated time, in the continuous sessions 09:30-11:30
and 13:00-15:00 Shanghai) every instrument that is not halted gets an L1 snapshot with
its last trade. Between days the previous close becomes the last price, the limits move
with it, and an overnight gap is drawn. The same scenario and seed give the same
messages, byte for byte.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import random
import time
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

from core.instruments import Instrument, Universe, limit_prices
from core.session import day_time_ns

from simulators import pacing

from ._kernel import Kernel
from .messages import DayClose, DayOpen, InstrumentStatus, MarketMessage, Tick
from .scenario import Scenario, parse_at

SESSIONS_S = ((9 * 3600 + 30 * 60, 11 * 3600 + 30 * 60), (13 * 3600, 15 * 3600))
TRADING_SECONDS = sum(end - start for start, end in SESSIONS_S)  # 14,400
DEFAULT_ADV = 2_000_000  # shares per day when the universe does not say
BURST = 16  # paced messages delivered back to back before the loop gets a turn (play)


class Step(NamedTuple):
    """One step: its time and the kernel rows (instrument index, last, volume, bid, bid_size,
    ask, ask_size, lock) of every instrument that ticked."""

    ts: int
    rows: list


def trading_days(start: dt.date, count: int) -> list[int]:
    """`count` weekdays from `start` as date ordinals (holidays are not modelled)."""
    days, day = [], start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day.toordinal())
        day += dt.timedelta(days=1)
    return days


class _Event(NamedTuple):
    day: int
    seconds: int
    order: int
    action: Callable[[], list]


class MarketSimulator:
    def __init__(self, scenario: Scenario, universe: Universe | None = None):
        self.scenario = scenario.validate()
        self.universe = universe or _load_universe(scenario.instruments.universe)
        self.instruments: list[Instrument] = self._select()
        if not self.instruments:
            raise ValueError(f"scenario {scenario.name}: no instruments match its selection")
        self.codes = [i.code for i in self.instruments]
        self.index = {code: n for n, code in enumerate(self.codes)}
        sectors = sorted({i.sector for i in self.instruments})
        self.sector_of = [sectors.index(i.sector) for i in self.instruments]
        self.sectors = sectors
        self.steps_per_day = TRADING_SECONDS // scenario.step_seconds
        self.kernel = Kernel(len(self.instruments), len(sectors), scenario.seed)
        self.kernel.set_correlation(scenario.market_correlation, scenario.sector_correlation)
        root = math.sqrt(self.steps_per_day)
        self.prev_close = [i.prev_close for i in self.instruments]
        for n, inst in enumerate(self.instruments):
            sigma_step = inst.daily_vol_bp / 10_000 * scenario.vol_scale / root
            adv = inst.adv_shares or DEFAULT_ADV
            self.kernel.set_instrument(n, self.sector_of[n], sigma_step, adv / self.steps_per_day,
                                       scenario.jumps_per_day / self.steps_per_day, scenario.jump_bp / 10_000,
                                       inst.tick, inst.prev_close)
            self.kernel.set_halted(n, inst.halted)
        self.halted = [i.halted for i in self.instruments]
        self.days = trading_days(dt.date.fromisoformat(scenario.start_day), scenario.days)
        self._rng = random.Random(scenario.seed)  # for choosing shock targets only
        self._events = self._schedule()
        self._moves: list[list] = []  # [indexes, per-step log drift, steps left]
        self.stats = _Stats(len(self.instruments))

    # ------------------------------------------------------------------ setup
    def _select(self) -> list[Instrument]:
        sel = self.scenario.instruments
        chosen = [i for i in self.universe if i.prev_close > 0]
        if sel.codes or sel.sectors:
            chosen = [i for i in chosen if i.code in sel.codes or i.sector in sel.sectors]
            missing = set(sel.codes) - {i.code for i in chosen}
            if missing:
                raise ValueError(f"scenario {self.scenario.name}: unknown codes {sorted(missing)}")
        if sel.count:
            rng = random.Random(self.scenario.seed ^ 0x5EED)
            chosen = sorted(rng.sample(chosen, min(sel.count, len(chosen))), key=lambda i: i.code)
        return chosen

    def targets(self, target: str) -> list[int]:
        if target == "market":
            return list(range(len(self.codes)))
        if target.startswith("sector:"):
            name = target.split(":", 1)[1]
            found = [n for n, i in enumerate(self.instruments) if i.sector == name]
        elif target.startswith("sample:"):
            share = float(target.split(":", 1)[1].rstrip("%")) / 100
            found = sorted(self._rng.sample(range(len(self.codes)), max(1, round(share * len(self.codes)))))
        else:
            found = [self.index[target]] if target in self.index else []
        if not found:
            raise ValueError(f"scenario {self.scenario.name}: shock target {target!r} matches no instrument")
        return found

    def _schedule(self) -> list[_Event]:
        events: list[_Event] = []
        days = self.scenario.days
        for order, regime in enumerate(self.scenario.regime):
            day, seconds = parse_at(regime.at, days)
            events.append(_Event(day, seconds, order, lambda v=regime.vol: self._set_vol(v)))
        self.shock_targets: list[list[int]] = []  # per shock, in file order: the instruments it hits
        for order, shock in enumerate(self.scenario.shock, start=len(events)):
            day, seconds = parse_at(shock.at, days)
            idx = self.targets(shock.target)
            self.shock_targets.append(idx)
            until = parse_at(shock.until, days) if shock.until else (day, 15 * 3600)
            if shock.kind == "move":
                steps = max(1, round(shock.over_minutes * 60 / self.scenario.step_seconds))
                drift = math.log(1 + shock.size_bp / 10_000) / steps
                events.append(_Event(day, seconds, order, lambda i=idx, d=drift, s=steps: self._move(i, d, s)))
            elif shock.kind == "jump":
                size = math.log(1 + shock.size_bp / 10_000)
                events.append(_Event(day, seconds, order, lambda i=idx, s=size: self._jump(i, s)))
            elif shock.kind == "lock":
                direction = -1 if shock.direction == "down" else 1
                events.append(_Event(day, seconds, order, lambda i=idx, d=direction: self._force(i, d)))
                events.append(_Event(*until, order, lambda i=idx: self._force(i, 0)))
            elif shock.kind == "halt":
                events.append(_Event(day, seconds, order, lambda i=idx: self._halt(i, True)))
                events.append(_Event(*until, order, lambda i=idx: self._halt(i, False)))
        return sorted(events, key=lambda e: (e.day, e.seconds, e.order))

    def _set_vol(self, vol: float) -> list:
        self.kernel.vol_mult = vol
        return []

    def _move(self, idx: list[int], drift: float, steps: int) -> list:
        self._moves.append([idx, drift, steps])
        return []

    def _jump(self, idx: list[int], size: float) -> list:
        for i in idx:
            self.kernel.jump(i, size)
        return []

    def _force(self, idx: list[int], direction: int) -> list:
        for i in idx:
            self.kernel.set_force(i, direction)
        return []

    def _halt(self, idx: list[int], halted: bool) -> list:
        changed = []
        for i in idx:
            if self.halted[i] != halted:
                self.halted[i] = halted
                self.kernel.set_halted(i, halted)
                changed.append(i)
        return [(i, halted) for i in changed]

    def _set_limits(self) -> None:
        for n, inst in enumerate(self.instruments):
            if inst.no_limit:
                self.kernel.set_limits(n, 0, 0)
            else:
                down, up = limit_prices(self.prev_close[n], inst.effective_limit_pct)
                self.kernel.set_limits(n, down, up)

    def limits(self, code: str) -> tuple[int, int] | None:
        """Today's (down, up) of an instrument, or None when it has no limit."""
        n = self.index[code]
        inst = self.instruments[n]
        return None if inst.no_limit else limit_prices(self.prev_close[n], inst.effective_limit_pct)

    # ------------------------------------------------------------------ running
    def run(self) -> Iterator[Step | MarketMessage]:
        """DayOpen, then per step a Step (and InstrumentStatus on halts and resumptions), DayClose."""
        events = list(self._events)
        cursor = 0
        kernel = self.kernel
        step_ns = self.scenario.step_seconds * 1_000_000_000
        for d, day in enumerate(self.days):
            if d > 0:
                self.prev_close = [kernel.last_price(n) for n in range(len(self.codes))]
                kernel.overnight(self.scenario.overnight_vol * math.sqrt(self.steps_per_day))
            self._set_limits()
            yield DayOpen(ts=day_time_ns(day, SESSIONS_S[0][0]), day=day)
            for start, end in SESSIONS_S:
                for seconds in range(start, end, self.scenario.step_seconds):
                    ts = day_time_ns(day, seconds)
                    while cursor < len(events) and (events[cursor].day, events[cursor].seconds) <= (d, seconds):
                        for i, halted in events[cursor].action():
                            yield InstrumentStatus(ts=ts, instrument=self.codes[i], halted=halted)
                        cursor += 1
                    if self._moves:
                        for move in self._moves:
                            for i in move[0]:
                                kernel.add_drift(i, move[1])
                            move[2] -= 1
                        self._moves = [m for m in self._moves if m[2] > 0]
                    kernel.step()
                    rows = kernel.rows()
                    self.stats.add(rows)
                    yield Step(ts, rows)
            yield DayClose(ts=day_time_ns(day, SESSIONS_S[1][1]), day=day)
            # the rest of the day's events (a lock that lasts until the close) still apply
            while cursor < len(events) and events[cursor].day == d:
                for i, halted in events[cursor].action():
                    yield InstrumentStatus(ts=day_time_ns(day, SESSIONS_S[1][1]), instrument=self.codes[i],
                                           halted=halted)
                cursor += 1

    def messages(self) -> Iterator[MarketMessage]:
        """Every message of the scenario, in order (Steps unfolded into Tick messages)."""
        codes = self.codes
        for item in self.run():
            if isinstance(item, Step):
                ts = item.ts
                for i, last, volume, bid, bid_size, ask, ask_size, lock in item.rows:
                    yield Tick(ts, codes[i], last, volume, bid, bid_size, ask, ask_size, lock)
            else:
                yield item

    async def play(self, deliver: Callable[[MarketMessage], object], speed: float = 1.0) -> None:
        """Deliver every message paced to wall-clock time: `speed` simulated seconds per real second.
        Time between sessions and between days is skipped."""
        wall0 = time.monotonic()
        sim0 = None
        session_offset = 0
        last_ts = None
        burst = 0  # messages delivered since the loop last had a turn
        for message in self.messages():
            ts = message.ts
            if sim0 is None:
                sim0 = ts
            if isinstance(message, DayOpen) and last_ts is not None:
                session_offset += ts - last_ts  # skip the night
            elif last_ts is not None and ts - last_ts > 3_600_000_000_000:
                session_offset += ts - last_ts - self.scenario.step_seconds * 1_000_000_000  # skip lunch
            due = wall0 + (ts - sim0 - session_offset) / 1e9 / speed
            delay = due - time.monotonic()
            if delay > 0:
                await pacing.wait(delay)  # (asyncio.sleep would spin under half a millisecond)
                burst = 0
            elif burst >= BURST:
                # A step's snapshots share one moment: a whole universe of them delivered in one
                # callback kept the loop from reading orders for a millisecond and more (346
                # instruments). Let what else is due in between, a slice at a time.
                await asyncio.sleep(0)
                burst = 0
            deliver(message)
            burst += 1
            last_ts = ts

    # ------------------------------------------------------------------ summary
    def summary_text(self) -> str:
        s = self.stats
        lines = [f"scenario {self.scenario.name}: {len(self.codes)} instruments, {len(self.days)} day(s), "
                 f"{s.ticks:,} ticks, {s.lock_ticks:,} locked ticks"]
        moves = []
        for n, code in enumerate(self.codes):
            if s.first[n]:
                moves.append(((s.last[n] - s.first[n]) / s.first[n], code, n))
        if moves:
            moves.sort()
            avg = sum(m for m, _, _ in moves) / len(moves)
            lines.append(f"  average move {avg * 100:+.2f} %; worst {moves[0][1]} {moves[0][0] * 100:+.2f} %, "
                         f"best {moves[-1][1]} {moves[-1][0] * 100:+.2f} %")
            by_sector: dict[str, list[float]] = {}
            for m, code, n in moves:
                by_sector.setdefault(self.instruments[n].sector, []).append(m)
            worst = sorted((sum(v) / len(v), k) for k, v in by_sector.items())[:3]
            lines.append("  weakest sectors: " + ", ".join(f"{k} {m * 100:+.2f} %" for m, k in worst))
        locked = [self.codes[n] for n in range(len(self.codes)) if s.locked[n]]
        if locked:
            lines.append(f"  names that locked at a limit: {len(locked)} ({', '.join(locked[:8])}"
                         f"{', ...' if len(locked) > 8 else ''})")
        return "\n".join(lines)


class _Stats:
    def __init__(self, n: int):
        self.ticks = 0
        self.lock_ticks = 0
        self.first = [0] * n
        self.last = [0] * n
        self.locked = [False] * n

    def add(self, rows: list) -> None:
        self.ticks += len(rows)
        first, last, locked = self.first, self.last, self.locked
        for row in rows:
            i = row[0]
            if not first[i]:
                first[i] = row[1]
            last[i] = row[1]
            if row[7]:
                self.lock_ticks += 1
                locked[i] = True


def _load_universe(source: str) -> Universe:
    if source == "sample":
        return Universe.sample()
    return Universe.from_csv(Path(source))
