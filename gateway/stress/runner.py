"""`beacon stress SCENARIO`: a market scenario against a population of margin accounts, through
the gateway's own path (the same Gateway, machine, journal, liquidator and simulated broker as
live trading; only the websocket sessions are missing), and the figures for its report.

The run: a gateway in-process with a journal in a temporary directory (fsync none) and an
unpaced clock; the insurance pool funded; the population's accounts opened and funded; on
the trading day before the scenario, a quote at each previous close and the portfolios
bought through the order path (in slices, so that the per-order concentration checks pass
on the way up); then every message of the scenario, as fast as the machine goes. Every few
simulated minutes the run samples the accounts per margin state, the money liquidated and the
waterfall's balances. An emergency control can be applied at a scenario time (raise all lines
by N bp), to compare the same scenario with and without it.

Money is checked to the fen at the end: across all accounts, cash - debt - interest equals
what was deposited, plus what fills moved, minus the interest charged at the day rolls, plus
the shortfalls the waterfall covered, minus the receivables recovered; the insurance pool
equals what was paid in, plus its share of repaid interest, minus what it covered; the
backstop drawn and the receivables equal what they covered.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from core import EngineConfig
from core.commands import Deposit, FundInsurancePool, OpenAccount, RaiseLines
from core.events import DefaultCovered, LiquidationStaged, MarginStateChanged, OrderAccepted, OrderFilled
from core.instruments import Board, Universe
from core.margin import MarginState
from core.session import day_time_ns
from core.tiers import DEFAULT_TIERS
from core.units import half_up_div
from gateway import protocol as p
from gateway.config import BrokerSettings, Config, EngineSettings, JournalSettings, MarketSettings
from gateway.kpis import platform_kpis
from gateway.service import Gateway
from simulators.market import MarketSimulator, load_scenario
from simulators.market.messages import DayClose, DayOpen, Tick

from .population import population

_FILLS = ("fill", "partial_fill")

SLICES = 8  # portfolio orders are placed in this many rounds


class StressSettings(msgspec.Struct, frozen=True, kw_only=True):
    scenario: str
    accounts: int = 3_000
    seed: int = 7
    step_seconds: int = 30  # the scenario's step (its files say 3 s; coarser is faster, same story)
    sample_minutes: int = 15
    raise_bp: int = 0  # the emergency control: raise every line by this much...
    raise_at: str = ""  # ...at this scenario time, "DAY HH:MM"
    focus_share: float = 0.5  # accounts whose largest holding is a name the scenario's shocks single out
    insurance_pool: int = 0  # fen paid into the pool before the run (0: 2,000 CNY per account)
    backstop_line: int = 0  # fen (0: 5,000 CNY per account)
    progress: bool = True

    @property
    def variant(self) -> str:
        return f"lines +{self.raise_bp} bp at day {self.raise_at}" if self.raise_bp else "baseline"


def _slice(board: Board, qty: int, round_: int) -> int:
    """The part of a holding bought in a round: equal whole lots, the rest in the last round (STAR:
    slices of at least 200 shares, or everything in the first round)."""
    if board == Board.STAR:
        step = qty // SLICES
        if step < 200:
            return qty if round_ == 0 else 0
    else:
        step = qty // SLICES // 100 * 100
    return step if round_ < SLICES - 1 else qty - (SLICES - 1) * step


class _Quiet:
    """Stands in for a websocket session: the run places orders through the gateway's order path."""

    closed = False

    def __init__(self):
        self.placed: set[int] = set()
        self.rejected: dict[str, int] = {}
        self.refused: set[tuple[int, str]] = set()  # (account, client order id) of rejected orders

    def send(self, message) -> None:
        if isinstance(message, p.OrderReject):
            self.rejected[message.reason] = self.rejected.get(message.reason, 0) + 1
            self.refused.add((message.account, message.client_order_id))

    def error(self, req_id, code, message) -> None:
        self.rejected[code] = self.rejected.get(code, 0) + 1


class _Observer:
    """Watches the events the gateway publishes: who reached which state, what the pool got,
    what liquidation did, and whether the waterfall went in order."""

    def __init__(self, gateway: Gateway):
        self.gateway = gateway
        self.ever: dict[str, set[int]] = {s.name: set() for s in MarginState if s != MarginState.NORMAL}
        self.to_pool = 0
        self.liquidation_orders = 0
        self.liquidation_fills_by_day: dict[int, int] = {}
        self.liquidation_fills: list[tuple[int, str]] = []  # (day, instrument)
        self.locked_liquidation_fills = 0
        self.stages = 0
        self.waterfall_out_of_order = 0
        self.day = 0
        publish = gateway.publish

        def observe(events):
            for event in events:
                self.see(event)
            publish(events)

        gateway.publish = gateway.committer.publish = observe  # the committer publishes what becomes safe
        # the broker's own view at the moment it matches: a sell filled against a limit-down lock
        # (no bids) would be a broken market, counted here. The broker schedules a match's reports
        # right after matching, with the quote it matched against unchanged (its core is compiled,
        # so the match itself cannot be wrapped).
        broker = gateway.broker
        quotes, schedule = broker.core.quotes, broker._schedule

        def checked(reports, now):
            for report in reports:
                if report.exec_type in _FILLS and report.side == 2 and quotes[report.instrument].lock < 0:
                    self.locked_liquidation_fills += 1
            schedule(reports, now)

        broker._schedule = checked

    def see(self, event) -> None:
        kind = type(event)
        if kind is MarginStateChanged:
            if event.new != "NORMAL":
                self.ever[event.new].add(event.account)
        elif kind is OrderFilled:
            self.to_pool += event.to_insurance_pool
            record = self.gateway.machine.registry.orders.get(event.order)
            if record is not None and record.liquidation:
                self.liquidation_fills_by_day[self.day] = self.liquidation_fills_by_day.get(self.day, 0) + 1
                self.liquidation_fills.append((self.day, event.instrument))
        elif kind is OrderAccepted and event.liquidation and event.client_order_id is None:
            self.liquidation_orders += 1
        elif kind is LiquidationStaged:
            self.stages += 1
        elif kind is DefaultCovered:
            platform = self.gateway.machine.engine.platform()
            if (event.from_backstop and event.insurance_pool) or \
                    (event.to_receivable and event.backstop_drawn < platform["backstop_line"]):
                self.waterfall_out_of_order += 1


class StressRun:
    def __init__(self, settings: StressSettings, directory: Path | None = None):
        self.settings = settings
        scenario = load_scenario(settings.scenario)
        self.scenario = msgspec.structs.replace(scenario, step_seconds=settings.step_seconds)
        self.universe = Universe.sample()
        self.simulator = MarketSimulator(self.scenario, self.universe)
        self.day1 = self.simulator.days[0]
        self.day0 = self.day1 - 1
        while dt.date.fromordinal(self.day0).weekday() >= 5:
            self.day0 -= 1
        self._tmp = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="beacon-stress-")
            directory = Path(self._tmp.name)
        self.directory = Path(directory)
        self.interest_charged = 0
        self.timeline: list[dict] = []
        self.locked_at_close: dict[int, list[str]] = {}  # day -> instruments locked limit-down at its close
        self.raise_ns = self._scenario_time(settings.raise_at) if settings.raise_bp and settings.raise_at else None

    def focus_codes(self) -> list[str]:
        """The names the scenario's shocks single out (an instrument, or a sector), not market-wide ones."""
        leads: list[str] = []
        codes: set[str] = set()
        for shock in self.scenario.shock:
            if shock.target.startswith("sector:"):
                sector = shock.target.split(":", 1)[1]
                codes.update(i.code for i in self.simulator.instruments if i.sector == sector)
            elif shock.target in self.simulator.index:
                leads.append(shock.target)
        return list(dict.fromkeys(leads)) + sorted(codes - set(leads))

    def _scenario_time(self, text: str) -> int:
        day, clock = text.split()
        hours, minutes = clock.split(":")[:2]
        return day_time_ns(self.simulator.days[int(day) - 1], int(hours) * 3600 + int(minutes) * 60)

    # ------------------------------------------------------------------------- the run
    async def run(self) -> dict:
        s = self.settings
        started = time.monotonic()
        n = s.accounts
        backstop = s.backstop_line or 500_000 * n
        config = Config(
            journal=JournalSettings(dir=str(self.directory / "journal"), fsync="none", snapshot_every=0),
            engine=EngineSettings(trading_day=dt.date.fromordinal(self.day0).isoformat(),
                                  config=EngineConfig(backstop_line=backstop)),
            market=MarketSettings(source="none", speed=0, clock_every_s=1.0),
            broker=BrokerSettings(latency="zero"))
        gateway = Gateway(config)
        await gateway.start()
        self.gateway = gateway
        self.observer = _Observer(gateway)
        try:
            gateway.clock.advance(day_time_ns(self.day0, 10 * 3600))
            pool = s.insurance_pool or 200_000 * n
            gateway.submit(FundInsurancePool(amount=pool))
            await self._build_population()
            self.pool_start = gateway.machine.engine.platform()["insurance_pool"]
            await self._play()
            await gateway.settled()
            return self._results(time.monotonic() - started)
        finally:
            await gateway.stop()
            if self._tmp is not None:
                self._tmp.cleanup()

    async def _build_population(self) -> None:
        gateway, s = self.gateway, self.settings
        plans = population(s.accounts, s.seed, self.simulator.instruments, list(DEFAULT_TIERS),
                           focus=self.focus_codes(), focus_share=s.focus_share)
        self.plans = plans
        for k, plan in enumerate(plans):
            gateway.submit(OpenAccount(tier=plan.tier, name=f"stress-{k}", client="stress"))
            gateway.submit(Deposit(account=k, amount=plan.deposit))
            gateway.broker.books.credit(str(k), plan.deposit)
        now = gateway.now()
        for instrument in self.simulator.instruments:
            gateway.on_market(Tick(ts=now, instrument=instrument.code, last=instrument.prev_close, volume=0,
                                   bid=instrument.prev_close - instrument.tick, bid_size=10**9,
                                   ask=instrument.prev_close, ask_size=10**9))
        session = _Quiet()
        requests: dict[tuple[int, str], p.NewOrder] = {}
        for round_ in range(SLICES):
            for k, plan in enumerate(plans):
                # the largest holding last in each round, so that no name is ever, on the way up, a
                # larger share of the assets than in the finished portfolio (the per-order
                # concentration check sees every intermediate state)
                for h in sorted(plan.holdings, key=lambda h: h.qty * self.universe.get(h.code).prev_close):
                    qty = _slice(self.universe.get(h.code).board, h.qty, round_)
                    if qty <= 0:
                        continue
                    price = self.universe.get(h.code).prev_close
                    request = p.NewOrder(req_id="s", account=k, instrument=h.code, side="buy", qty=qty, price=price,
                                         client_order_id=f"setup-{round_}-{h.code}")
                    requests[(k, request.client_order_id)] = request
                    gateway.place_order(session, request, 0.0)
            await self._drain()
        # slices refused on the way up (a name briefly too large a share of the assets) are tried
        # again once the rest of the portfolio is in, for as long as that makes progress
        for attempt in range(1, 6):
            retry, session.refused, session.rejected = session.refused, set(), {}
            for key, request in requests.items():
                if key in retry:
                    gateway.place_order(session, msgspec.structs.replace(
                        request, client_order_id=f"retry{attempt}-{key[1]}"), 0.0)
            requests = {(k, f"retry{attempt}-{clid}"): msgspec.structs.replace(r, client_order_id=f"retry{attempt}-{clid}")
                        for (k, clid), r in requests.items() if (k, clid) in retry}
            await self._drain()
            if not session.refused or len(session.refused) == len(retry):
                break
        self.setup_rejects = session.rejected
        await gateway.settled()

    async def _drain(self) -> None:
        """Let the orders reach the broker and its reports come back, until nothing moves."""
        broker = self.gateway.broker
        quiet = 0
        for _ in range(10_000):
            await asyncio.sleep(0)
            quiet = quiet + 1 if broker.idle else 0
            if quiet >= 5:
                break
        await self.gateway.settled()

    async def _play(self) -> None:
        gateway, s = self.gateway, self.settings
        sample_ns = s.sample_minutes * 60 * 10**9
        next_sample = 0
        total = len(self.simulator.days) * (4 * 3600 // self.scenario.step_seconds) * len(self.simulator.codes)
        done = 0
        shown = 0.0
        self.start_marks = {i.code: i.prev_close for i in self.simulator.instruments}
        for message in self.simulator.messages():
            if isinstance(message, DayOpen):
                self._charge_interest(message.day)
                self.observer.day += 1
            if self.raise_ns is not None and message.ts >= self.raise_ns:
                gateway.submit(RaiseLines(bp=s.raise_bp))
                self.raise_ns = None
            gateway.on_market(message)
            if isinstance(message, Tick):
                done += 1
                if done % 128 == 0:
                    await asyncio.sleep(0)
                if message.ts >= next_sample:
                    if next_sample:
                        self._sample(message.ts)
                    next_sample = message.ts - message.ts % sample_ns + sample_ns
            elif isinstance(message, DayClose):
                await self._drain()
                if gateway.reconciling is not None:
                    await gateway.reconciling
                self._sample(message.ts)
                machine = gateway.machine
                self.locked_at_close[self.observer.day] = [
                    code for code in self.simulator.codes
                    if machine.engine.instrument(machine.instrument_id(code))["lock"] == -1]
            if s.progress and time.monotonic() - shown > 0.25:
                shown = time.monotonic()
                self._progress(done, total, message.ts)
        await self._drain()
        if s.progress:
            self._progress(total, total, 0)
            print(file=sys.stderr)

    def _charge_interest(self, day: int) -> None:
        """What the day roll about to happen will charge: half_up(debt x rate x days / 360)."""
        engine = self.gateway.machine.engine
        platform = engine.platform()
        days = day - platform["trading_day"]
        if days <= 0:
            return
        for a in range(platform["accounts"]):
            v = engine.account(a)
            if v["debt"] > 0:
                rate = self.gateway.machine.tiers[v["tier"]].annual_rate_bp
                self.interest_charged += half_up_div(v["debt"] * rate * days, 10_000 * 360)

    def _progress(self, done: int, total: int, ts: int) -> None:
        width = 30
        share = min(1.0, done / total) if total else 1.0
        bar = "#" * int(width * share) + "-" * (width - int(width * share))
        clock = ""
        if ts:
            local = dt.datetime.fromtimestamp(ts / 1e9, dt.timezone(dt.timedelta(hours=8)))
            clock = f" day {self.observer.day}/{len(self.simulator.days)} {local:%H:%M}"
        liquidating = len(self.gateway.machine.liquidator.state.accounts)
        print(f"\r  {self.settings.scenario} [{self.settings.variant}] [{bar}] {share * 100:5.1f} %{clock}  "
              f"liquidating {liquidating:>5}", end="", file=sys.stderr, flush=True)

    def _sample(self, ts: int) -> None:
        machine = self.gateway.machine
        engine = machine.engine
        states = {s.name: 0 for s in MarginState}
        for a in range(len(self.plans)):
            states[MarginState(engine.account(a)["state"]).name] += 1
        platform = engine.platform()
        marks = [engine.instrument(machine.instrument_id(code))["mark"] * 10_000 // start
                 for code, start in self.start_marks.items()]
        local = dt.datetime.fromtimestamp(ts / 1e9, dt.timezone(dt.timedelta(hours=8)))
        self.timeline.append({
            "t": f"{local:%Y-%m-%d %H:%M}", "day": self.observer.day, "states": states,
            "liquidated_notional_fen": machine.liquidator.state.liquidated_notional,
            "insurance_pool_fen": platform["insurance_pool"], "backstop_drawn_fen": platform["backstop_drawn"],
            "receivables_fen": platform["receivables"], "market_index_bp": sum(marks) // len(marks)})

    # ------------------------------------------------------------------------- the figures
    def money_check(self) -> dict:
        machine = self.gateway.machine
        engine = machine.engine
        platform = engine.platform()
        lhs = rhs = 0
        for a in range(platform["accounts"]):
            v = engine.account(a)
            lhs += v["cash"] - v["debt"] - v["accrued_interest"]
            rhs += v["deposits"] - v["withdrawals"] + machine.trade_cash[a]
        covered = platform["covered_by_pool"] + platform["covered_by_backstop"] + platform["covered_by_receivable"]
        rhs += covered - self.interest_charged - platform["receivables_recovered"]
        pool = platform["insurance_funded"] + self.observer.to_pool - platform["covered_by_pool"]
        checks = {
            "accounts": lhs == rhs,
            "insurance_pool": platform["insurance_pool"] == pool,
            "backstop": platform["backstop_drawn"] == platform["covered_by_backstop"] <= platform["backstop_line"],
            "receivables": platform["receivables"] == platform["covered_by_receivable"]
            - platform["receivables_recovered"],
        }
        return {"ok": all(checks.values()), "checks": checks, "accounts_lhs": lhs, "accounts_rhs": rhs}

    def _results(self, wall: float) -> dict:
        machine = self.gateway.machine
        platform = machine.engine.platform()
        liquidation = machine.liquidator.state
        kpis = platform_kpis(machine, self.gateway.alert_counts)
        money = self.money_check()
        shortfall = platform["covered_by_pool"] + platform["covered_by_backstop"] + platform["covered_by_receivable"]
        tiers: dict[str, int] = {}
        for plan in self.plans:
            tiers[plan.tier] = tiers.get(plan.tier, 0) + 1
        summary = {
            "liquidated_notional_fen": liquidation.liquidated_notional,
            "liquidation_orders": self.observer.liquidation_orders,
            "liquidation_fills": liquidation.liquidation_fills,
            "liquidation_loss_rate": kpis["liquidation_loss_rate"],
            "accounts_ever": {k: len(v) for k, v in self.observer.ever.items()},
            "defaults": kpis["accounts_by_state"]["DEFAULTED"],
            "shortfall_fen": shortfall,
            "covered_by_pool_fen": platform["covered_by_pool"],
            "covered_by_backstop_fen": platform["covered_by_backstop"],
            "receivable_fen": platform["covered_by_receivable"],
            "insurance_pool_start_fen": self.pool_start,
            "insurance_pool_end_fen": platform["insurance_pool"],
            "insurance_coverage": kpis["insurance_coverage"],
            "kpis": {k: kpis[k] for k in ("capital_utilization", "average_leverage", "default_rate", "arpu_fen",
                                          "liquidation_loss_rate", "insurance_pool_fen", "insurance_coverage",
                                          "alerts_by_level")},
            "money_conserved": money["ok"],
            "commands": self.gateway.journaled.journal.seq,
            "wall_seconds": round(wall, 1),
        }
        return {
            "scenario": self.scenario.name, "description": self.scenario.description.strip(),
            "variant": self.settings.variant, "accounts": len(self.plans), "tiers": tiers, "seed": self.settings.seed,
            "days": [dt.date.fromordinal(d).isoformat() for d in self.simulator.days],
            "timeline": self.timeline, "summary": summary,
            "checks": {"money": money, "locked_liquidation_fills": self.observer.locked_liquidation_fills,
                       "liquidation_fills_by_day": {str(d): n for d, n in
                                                    sorted(self.observer.liquidation_fills_by_day.items())},
                       "liquidation_fills": self.observer.liquidation_fills,
                       "locked_at_close": {str(d): codes for d, codes in self.locked_at_close.items()},
                       "waterfall_out_of_order": self.observer.waterfall_out_of_order,
                       "setup_rejects": self.setup_rejects, "stages": self.observer.stages,
                       "reconciliation_breaks": len(machine.reconciliation.breaks) if machine.reconciliation else 0,
                       "step_seconds": self.scenario.step_seconds},
        }


def run_stress(settings: StressSettings, directory: Path | None = None) -> dict:
    import logging

    import uvloop

    # defaults and breaks are in the report; a stress run's log would only repeat them thousands of times
    logger = logging.getLogger("beacon")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return uvloop.run(StressRun(settings, directory).run())
    finally:
        logger.setLevel(level)


def default_raise_at(scenario_name: str) -> str:
    """Ten minutes after the scenario's first shock: "early", before the damage is done."""
    scenario = load_scenario(scenario_name)
    if not scenario.shock:
        return "1 10:00"
    day, clock = sorted(scenario.shock, key=lambda s: (int(s.at.split()[0]), s.at.split()[1]))[0].at.split()
    hours, minutes = (int(x) for x in clock.split(":")[:2])
    minutes += 10
    return f"{day} {hours + minutes // 60:02d}:{minutes % 60:02d}"


def stress_report(scenario: str, out: Path, accounts: int = 3_000, seed: int = 7, step_seconds: int = 30,
                  raise_bp: int = 1_000, raise_at: str = "", progress: bool = True) -> tuple[Path, list[dict]]:
    """Run the scenario twice, without and with the early line raise, and write the report."""
    from .report import render

    raise_at = raise_at or default_raise_at(scenario)
    base = StressSettings(scenario=scenario, accounts=accounts, seed=seed, step_seconds=step_seconds,
                          progress=progress)
    runs = [base, msgspec.structs.replace(base, raise_bp=raise_bp, raise_at=raise_at)] if raise_bp else [base]
    results = [run_stress(settings) for settings in runs]
    path = render(results, Path(out), title=f"Stress test: {scenario}, {accounts:,} accounts")
    return path, results
