# cython: annotation_typing=False
"""The gateway: one event loop that owns the journaled margin engine, the broker and the market feed.

Every state-changing input becomes a command, applied by the machine and appended to the
journal (GroupCommitter.submit). What the command caused (answers, pushes, routing to the
broker) happens only in its `on_safe` callback, once the journal says the command is
durable under the fsync policy; callbacks run in journal order, so clients see effects in
the order they were decided. Queries answer from the engine once every applied command is
safe. Nothing blocks the loop: fsyncs run in the committer's worker thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from time import monotonic
from collections import defaultdict
from pathlib import Path

import msgspec

from core.commands import (
    AnyCommand, Break, BrokerAck, BrokerCancelReject, CancelOrder, ClockAdvance, DayRoll, Deposit, Fill, Genesis,
    HaltInstrument, OpenAccount, OrderClosed, Outcome, PlaceOrder, Reconciled, RefuseOrder, Tick as TickCommand,
)
from core.events import (
    AccountFlagSet, AccountOpened, CancelRejected, CancelRequested, DefaultCleared, DefaultCovered, Deposited, Event,
    LiquidationStaged, MarginStateChanged, OrderAccepted, OrderAcknowledged, OrderCanceled, OrderFilled,
    OrderRejected, ReceivableRecovered, ReconciliationReported, TierSet, Withdrawn,
)
from core.instruments import Universe
from core.machine import Machine
from core.margin import MarginState
from core.orders import OrderState, remaining_of
from core.session import day_time_ns
from core.tiers import DEFAULT_TIERS, load_tiers
from gateway.journal.committer import GroupCommitter
from gateway.journal.journaled import Journaled
from gateway.journal.recovery import LOG_NAME
from gateway.fix.broker import FixBroker
from simulators.broker import (
    BrokerConfig, BrokerUnavailable, CancelRequest, ConnectionStatus, ExecutionReport, NewOrder as BrokerOrder,
    SimClock, SimulatedBroker,
)
from simulators.broker.latency import PRESETS
from simulators import pacing
from simulators.market import MarketSimulator, load_scenario
from simulators.market.messages import DayClose, DayOpen, InstrumentStatus, MarketMessage, Tick

from . import protocol as p
from .busypoll import BusyPoll
from .config import Config
from .metrics import Metrics
from .ordertrace import OrderTrace
from .outbox import Outbox
from .webhooks import WebhookNotifier

log = logging.getLogger("beacon")
SIDE = {1: "buy", 2: "sell"}


class _Answer:
    """A new order's answer, once its journal entry is safe: the committer calls it with the entry's
    seq. An accepted order counts, joins its session's placed orders and goes to the broker; a
    rejected or refused one counts by its reason (publish() sends the answer itself).

    A class rather than a closure in place_order: a closure is a scope and a function object built
    for every order, and a function with one cannot be compiled as typed code (Cython), so every
    field of the request was read by name. Built with __new__ and its fields set by place_order."""

    def __call__(self, seq: int) -> None:
        gateway = self.gateway
        metrics = gateway.metrics
        if type(self.command) is PlaceOrder:  # (a RefuseOrder, the broker being down, is not timed)
            metrics.order_latency.observe(monotonic() - self.received)
        order = self.outcome.result
        if order > 0:
            metrics.order_accepted.value += 1  # (not .inc(): a call less per order)
            self.session.placed.add(order)
            gateway._route(order, self.command, self.market_like)
        else:
            metrics.order_rejected.inc()
            reject = self.events[0]
            metrics.rejects.labels(str(reject.code), reject.reason).inc()


class Gateway:
    def __init__(self, config: Config):
        self.config = config
        self.universe = Universe.sample() if config.engine.universe == "sample" else Universe.from_csv(
            config.engine.universe)
        self.tiers = load_tiers(config.engine.tiers, config.engine.config.hysteresis_band_bp) \
            if config.engine.tiers else DEFAULT_TIERS
        self.metrics = Metrics(self)
        self.machine: Machine | None = None
        self.journaled: Journaled | None = None
        self.committer: GroupCommitter | None = None
        self.broker: SimulatedBroker | None = None
        self.sessions: set = set()
        self.outbox = Outbox()  # sessions with output waiting, written at the end of each journal release
        self.order_trace = OrderTrace.from_env()  # a diagnostic, normally None (gateway/ordertrace.py)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.market_subs: dict[str, set] = defaultdict(set)
        self.last_tick: dict[str, Tick] = {}  # instrument -> its latest tick, for a new subscriber's snapshot
        self.account_subs: dict[int, set] = defaultdict(set)
        self.order_subs: dict[int, set] = defaultdict(set)
        self.alert_subs: dict[int, set] = defaultdict(set)
        self.answers: dict[int, tuple[object, str]] = {}  # journal seq of an order -> (session, req_id)
        self._to_broker: list[tuple[int, BrokerOrder]] = []  # accepted in this release, sent at its end
        self.alert_counts = {"info": 0, "warning": 0, "critical": 0}
        self.clients = {c.client: c for c in config.clients}
        self.simulator: MarketSimulator | None = None
        self._tasks: list[asyncio.Task] = []
        self._next_clock_ns = 0
        self.webhook: WebhookNotifier | None = None
        self.reconciling: asyncio.Task | None = None  # the close's reconciliation, while it waits
        self.started = False
        self.busy_poll: BusyPoll | None = None  # [server] busy_poll_us: the loop polls after each request
        self._broker_keeps_our_clock = False  # its reports' timestamps are the gateway's time (start())

    # ================================================================= start and stop
    async def start(self) -> None:
        cfg = self.config
        if cfg.market.source == "scenario":
            self.simulator = MarketSimulator(load_scenario(cfg.market.scenario), self.universe)
        start_day = self._start_day()
        directory = Path(cfg.journal.dir)
        if (directory / LOG_NAME).exists():
            self.journaled = Journaled.open(directory, fsync=cfg.journal.fsync, snapshot_every=cfg.journal.snapshot_every)
            recovered = self.journaled.recovered
            log.info("recovered the journal: %s records, from the snapshot at seq %s with %s replayed, in %.2f s",
                     recovered.last_seq, recovered.snapshot_seq, recovered.replayed, recovered.seconds)
        else:
            genesis = Genesis(instruments=self.universe.instruments, tiers=list(self.tiers), config=cfg.engine.config,
                              trading_day=start_day)
            self.journaled = Journaled.create(directory, genesis, fsync=cfg.journal.fsync,
                                              snapshot_every=cfg.journal.snapshot_every)
        self.journaled.journal.interval_s = cfg.journal.interval_ms / 1000
        self.machine = self.journaled.machine
        self.loop = asyncio.get_running_loop()
        if cfg.server.busy_poll_us:
            self.busy_poll = BusyPoll(self.loop, cfg.server.busy_poll_us)
        self.committer = await GroupCommitter(self.journaled, before_release=self.outbox.hold,
                                              after_release=self._after_release, publish=self.publish).start()
        if self.simulator is not None:
            start_ns = day_time_ns(self.simulator.days[0], 9 * 3600 + 30 * 60)
            self.clock = SimClock(start_ns, speed=cfg.market.speed or None)
        elif cfg.market.speed:  # prices arrive from an operator: wall-clock time
            self.clock = SimClock(time.time_ns(), speed=cfg.market.speed)
        else:  # a driver moves time (stress runs): from the trading day's open, only when told
            self.clock = SimClock(day_time_ns(self.machine.engine.platform()["trading_day"], 9 * 3600 + 30 * 60))
        if cfg.broker.kind == "fix":
            self.broker = FixBroker(cfg.broker.fix, store_dir=str(directory / "fix"))
            self.broker.restore(self._open_orders())  # asked after at the Logon: a FIX broker keeps them
            self.broker.start()
        else:
            broker_config = BrokerConfig(seed=cfg.broker.seed, reject_rate=cfg.broker.reject_rate,
                                         latency=PRESETS[cfg.broker.latency])
            self.broker = SimulatedBroker(self.universe, broker_config, self.clock,
                                          trading_day=self.machine.engine.platform()["trading_day"])
            self._load_custodian_books()
            await self._close_orders_the_broker_lost()
        # the in-process broker runs on the gateway's simulated clock and stamps its reports with it
        self._broker_keeps_our_clock = self.broker.books is not None
        if cfg.demo.accounts:
            await self._open_demo_accounts()
        alerts = cfg.alerts
        if alerts.webhook_url:
            self.webhook = WebhookNotifier(alerts.webhook_url, secret=alerts.webhook_secret,
                                           timeout_s=alerts.timeout_s, retries=alerts.retries,
                                           backoff_s=alerts.backoff_s, queue_limit=alerts.queue_limit,
                                           on_result=lambda outcome: self.metrics.webhooks.labels(outcome).inc())
            await self.webhook.start()
        # each report on the turn after it is put, or at once right after a turn's orders are sent
        self.broker.stream.listen(self.on_broker_message)
        if self.simulator is not None:
            self._tasks.append(asyncio.create_task(self._market_feed(), name="market-feed"))
        self._tasks.append(asyncio.create_task(self._clock_ticker(), name="clock"))
        self.started = True

    def _start_day(self) -> int:
        if self.config.engine.trading_day:
            return dt.date.fromisoformat(self.config.engine.trading_day).toordinal()
        if self.simulator is not None:
            return self.simulator.days[0]
        today = dt.date.today()
        while today.weekday() >= 5:
            today -= dt.timedelta(days=1)
        return today.toordinal()

    def _load_custodian_books(self) -> None:
        """The in-process broker starts empty: give its books the engine's opening positions and the
        cash the account has moved (deposits, withdrawals, fills)."""
        engine = self.machine.engine
        for account in range(engine.platform()["accounts"]):
            view = engine.account(account)
            self.broker.books.credit(str(account), view["deposits"] - view["withdrawals"]
                                     + self.machine.trade_cash[account])
            for pos in engine.positions_of(account):
                if pos["start_of_day"]:
                    self.broker.books.load_position(str(account), self.universe.instruments[pos["instrument"]].code,
                                                    pos["start_of_day"])

    def _open_orders(self) -> list[tuple[BrokerOrder, int, int]]:
        return [(BrokerOrder(cl_ord_id=str(r.order), account=str(r.account), instrument=r.instrument, side=r.side,
                             price=r.price, qty=r.qty, market_like=r.liquidation), r.filled, 0)
                for r in self.machine.registry.records() if r.state.open]

    async def _close_orders_the_broker_lost(self) -> None:
        """After a restart the in-process broker knows none of today's open orders: close them, journaled,
        so reservations are released and clients are told (a FIX broker would be asked instead)."""
        for record in self.machine.registry.records():
            if record.state.open:
                self.submit(OrderClosed(order=record.order, reason="canceled", ts=self.clock.now(),
                                        detail="gateway restarted: the in-process broker does not keep orders"))
        await self.committer.flush()

    async def _open_demo_accounts(self) -> None:
        if self.machine.engine.platform()["accounts"]:
            return  # a recovered journal already has its accounts
        for client in self.config.clients:
            for tier in self.tiers:
                _, outcome, _ = self.submit(OpenAccount(tier=tier.name, name=f"{client.client}-{tier.name}",
                                                        client=client.client))
                self.submit(Deposit(account=outcome.result, amount=self.config.demo.deposit_fen))
                if self.broker.books is not None:
                    self.broker.books.credit(str(outcome.result), self.config.demo.deposit_fen)
        await self.committer.flush()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.webhook is not None:
            await self.webhook.close()
        if self.broker is not None:
            await self.broker.close()
        if self.committer is not None:
            await self.committer.close()
        if self.order_trace is not None:
            self.order_trace.dump()

    # ================================================================= commands
    def submit(self, command: AnyCommand, on_safe=None) -> tuple[int, Outcome, list[Event]]:
        """Apply and journal a command; once it is safe, on_safe(seq) runs (the requester's answer) and
        then its events are published (what everyone watching sees)."""
        return self.committer.submit(command, on_safe)

    async def settled(self) -> None:
        """Wait until every command applied so far is safe (queries answer after this)."""
        await self.committer.flush()
        self.metrics.journal_safe.set(self.committer.safe_seq)

    def now(self) -> int:
        return self.clock.now()

    # ================================================================= orders
    def place_order(self, session, request: p.NewOrder, received: float) -> None:
        side = 1 if request.side == "buy" else 2
        price, market_like = request.price, request.order_type == "market"
        if market_like:
            price = self._aggressive_price(request.instrument, side)
        elif price is None:
            session.error(request.req_id, "INVALID_REQUEST", "a limit order needs a price (fen)")
            return
        answer = _Answer.__new__(_Answer)  # (the fields below; a class of its own rather than a closure: see _Answer)
        answer.gateway, answer.session, answer.market_like, answer.received = self, session, market_like, received
        if not self.broker.connected:
            # Refused, not checked; journaled all the same, so the id counts as answered for the day.
            answer.command = RefuseOrder(account=request.account, instrument=request.instrument, side=side,
                                         price=price, qty=request.qty, client_order_id=request.client_order_id,
                                         ts=self.clock.now())
        else:
            answer.command = PlaceOrder(account=request.account, instrument=request.instrument, side=side,
                                        price=price, qty=request.qty, client_order_id=request.client_order_id,
                                        ts=self.clock.now())
        # (the committer's submit, not self.submit: one call less)
        seq, answer.outcome, answer.events = self.committer.submit(answer.command, answer)
        self.answers[seq] = (session, request.req_id)  # publish() answers the requester with its req_id

    def _aggressive_price(self, code: str, side: int) -> int:
        """A market order as a limit: through the mark by the collar, inside the daily band."""
        instr = self.machine.instrument_id(code)
        if instr < 0:
            return 1
        view = self.machine.engine.instrument(instr)
        mark = view["mark"]
        collar = self.machine.config.price_collar_bp
        tick = self.universe.instruments[instr].tick
        if mark <= 0:  # no mark to price from: any valid price, so the engine answers NO_MARK_PRICE (check 3)
            return tick
        if side == 1:
            price = (mark * (10_000 + collar) // 10_000) // tick * tick
            return min(price, view["limit_up"]) if view["limit_up"] else price
        price = -(-(mark * (10_000 - collar)) // 10_000 // tick) * tick
        return max(price, view["limit_down"]) if view["limit_down"] else max(price, tick)

    def _route_record(self, record) -> None:
        """A liquidation child the machine placed: sent as a market-like sell (its limit is the floor)."""
        broker_order = BrokerOrder(cl_ord_id=str(record.order), account=str(record.account),
                                   instrument=record.instrument, side=record.side, price=record.price,
                                   qty=record.qty, market_like=True)
        self._for_broker(record.order, broker_order)

    def _route(self, order: int, command: PlaceOrder, market_like: bool) -> None:
        broker_order = BrokerOrder(cl_ord_id=str(order), account=str(command.account), instrument=command.instrument,
                                   side=command.side, price=command.price, qty=command.qty, market_like=market_like)
        self._for_broker(order, broker_order)

    def _for_broker(self, order: int, broker_order: BrokerOrder) -> None:
        """Sent at the end of the journal release that accepted it, after the answers (_after_release),
        with the other orders of the batch; both brokers send without waiting, so no task per order.
        Orders are only ever routed from a release's callbacks (the acknowledgement, or publishing a
        liquidation order), so every one is sent by that release's end."""
        self._to_broker.append((order, broker_order))

    def _after_release(self) -> None:
        """A journal batch is safe and its callbacks have run: its answers leave first (one write per
        connection), then the orders it accepted go to the broker, in the same turn."""
        self.outbox.flush()
        if self._to_broker:
            self._send_to_broker()

    def _send_to_broker(self) -> None:
        orders, self._to_broker = self._to_broker, []
        self.broker.stream.hold()  # flushed below, whatever happens to each order
        # What the broker's answers submit is written at the end of this, in this turn, like a read's
        # requests (GroupCommitter.gather), rather than on a turn of its own: the order updates leave a
        # loop iteration sooner and the loop runs one callback less per batch. The answers of the
        # release that got here have already left (_after_release), so they do not wait for it.
        began = self.committer.gather()
        try:
            for order, broker_order in orders:
                try:
                    self.broker.submit_nowait(broker_order)
                except BrokerUnavailable as exc:
                    self.submit(OrderClosed(order=order, reason="rejected", ts=self.now(),
                                            detail=f"BROKER_UNAVAILABLE: {exc}"))
                except Exception:  # one order's failure must not keep the others of the turn from the broker
                    log.exception("order %s not sent to the broker", order)
            self.broker.stream.flush()  # the in-process broker answers at once: its acknowledgements now
        finally:
            if began:
                self.committer.gathered()

    def cancel(self, order: int, session=None, req_id: str | None = None) -> None:
        command = CancelOrder(order=order, ts=self.now())

        def answered(seq: int) -> None:
            if outcome.result == 0:
                if session is not None and req_id is not None:
                    session.send(p.CancelAck(req_id=req_id, order_ids=[order]))
                self._cancel_at_broker(order)
            elif session is not None:
                code = "ORDER_NOT_OPEN" if outcome.result == 902 else "UNKNOWN_ORDER"
                session.error(req_id, code, f"order {order} cannot be canceled: {code.lower().replace('_', ' ')}")

        _, outcome, _ = self.submit(command, answered)

    def _cancel_at_broker(self, order: int) -> None:
        try:
            self.broker.cancel_nowait(CancelRequest(cl_ord_id=str(order)))
        except BrokerUnavailable:
            # the cancel cannot reach the broker now; the order stays cancel-pending and is
            # canceled by the broker at the close at the latest
            log.warning("cancel of order %s not sent: broker unavailable", order)

    # ================================================================= the broker
    def on_broker_message(self, message) -> None:
        if type(message) is ConnectionStatus:  # (not isinstance: a report would walk the metaclass, ~600 instructions)
            log.warning("broker %s: %s", "connected" if message.connected else "disconnected", message.reason)
            return
        report: ExecutionReport = message
        kind = report.exec_type
        self.metrics.broker_report(kind).value += 1  # (not .inc(): a call less per report)
        try:
            order = int(report.cl_ord_id)
        except ValueError:
            log.error("broker report for an order we never sent: %r", report)
            return
        ts = report.ts if self._broker_keeps_our_clock else self.clock.now()  # a remote broker's clock is not ours
        if kind == "new":
            self.committer.submit(BrokerAck(order=order, broker_order_id=report.broker_order_id, ts=ts))
        elif kind in ("fill", "partial_fill"):
            self.metrics.fills.inc()
            self.submit(Fill(order=order, qty=report.last_qty, price=report.last_px, exec_id=report.exec_id, ts=ts))
        elif kind in ("canceled", "expired", "rejected"):
            self.submit(OrderClosed(order=order, reason=kind, ts=ts, detail=report.reason))
        elif kind == "cancel_rejected":
            self.submit(BrokerCancelReject(order=order, reason=report.reason, ts=ts))

    def advance_clock(self) -> None:
        """Time passes for the engine (margin-call deadlines, liquidation stages), at most once per
        clock_every_s of simulated time."""
        now = self.clock.now()
        if now >= self._next_clock_ns:
            self.submit(ClockAdvance(ts=now))
            self._next_clock_ns = now + int(self.config.market.clock_every_s * 1e9)

    async def _clock_ticker(self) -> None:
        """Quiet markets still have a clock: deadlines pass and liquidation goes on between trades."""
        market = self.config.market
        wall_step = market.clock_every_s / market.speed if market.speed else market.clock_every_s
        while True:
            await pacing.wait(wall_step)  # (at a high market speed the step is under a millisecond)
            try:
                self.advance_clock()
            except Exception:  # the clock must keep ticking
                log.exception("clock advance failed")

    async def _reconcile_when_quiet(self, day: int) -> None:
        """The close's reconciliation, once the broker's last reports of the day are in (the
        custodian books a fill when it happens; the engine when its report arrives)."""
        if self.broker.books is None:
            log.info("end of day: no custodian statement from a FIX broker; reconciliation skipped")
            return
        for _ in range(10_000):
            await asyncio.sleep(0)
            if self.broker.idle:
                break
        self.reconcile(day)

    def reconcile(self, day: int | None = None) -> Reconciled:
        """Compare every account's cash moved, fees and positions with the custodian's statement;
        the comparison is journaled (a Reconciled command) and its breaks reported."""
        statement = self.broker.books.statement()
        engine = self.machine.engine
        breaks: list[Break] = []
        n = engine.platform()["accounts"]
        for account in range(n):
            view = engine.account(account)
            theirs = statement.get(str(account), {"cash": 0, "fees": 0, "positions": {}})
            ours_cash = view["deposits"] - view["withdrawals"] + self.machine.trade_cash[account]
            if ours_cash != theirs["cash"]:
                breaks.append(Break(account, "cash", ours_cash, theirs["cash"]))
            if self.machine.fees_paid[account] != theirs["fees"]:
                breaks.append(Break(account, "fees", self.machine.fees_paid[account], theirs["fees"]))
            ours_positions = {self.universe.instruments[pos["instrument"]].code: pos["held"]
                              for pos in engine.positions_of(account) if pos["held"]}
            for code in sorted(set(ours_positions) | set(theirs["positions"])):
                a, b = ours_positions.get(code, 0), theirs["positions"].get(code, 0)
                if a != b:
                    breaks.append(Break(account, f"position {code}", a, b))
        for account in sorted(set(statement) - {str(a) for a in range(n)}):
            breaks.append(Break(-1, f"custodian account {account} unknown to the gateway", 0,
                                statement[account]["cash"]))
        day = engine.platform()["trading_day"] if day is None else day
        command = Reconciled(day=day, accounts=n, breaks=breaks, ts=self.now())
        self.submit(command)
        return command

    # ================================================================= the market
    async def _market_feed(self) -> None:
        speed = self.config.market.speed
        if speed:
            await self.simulator.play(self.on_market, speed)
        else:
            for n, message in enumerate(self.simulator.messages()):
                self.on_market(message)
                if n % 64 == 0:
                    await asyncio.sleep(0)
        log.info("the market scenario has ended")

    def on_market(self, message: MarketMessage) -> None:
        """A market message: the broker sees it, the engine is re-marked (journaled), subscribers get it."""
        self.clock.advance(message.ts)
        self.broker.on_market(message)
        if isinstance(message, Tick):
            self.metrics.ticks.inc()
            self.submit(TickCommand(instrument=message.instrument, price=message.last, lock=message.lock,
                                    volume=message.volume, ts=message.ts))
            self.last_tick[message.instrument] = message
            subscribers = self.market_subs.get(message.instrument)
            if subscribers:
                push = market_push(message)
                for session in list(subscribers):
                    session.send_market(push)
        elif isinstance(message, DayClose):
            self.reconciling = asyncio.get_running_loop().create_task(
                self._reconcile_when_quiet(self.machine.engine.platform()["trading_day"]))
        elif isinstance(message, DayOpen):
            if message.day > self.machine.engine.platform()["trading_day"]:
                self.submit(DayRoll(day=message.day))
        elif isinstance(message, InstrumentStatus):
            self.submit(HaltInstrument(instrument=message.instrument, halted=message.halted))
        if message.ts >= self._next_clock_ns:
            self.advance_clock()

    # ================================================================= publishing
    def publish(self, events: list[Event]) -> None:
        """Send the readable consequences of a safe command to the sessions that should see them."""
        # accounts whose view changed: a list, cheaper than a set, deduplicated only when views are watched
        touched: list = []
        for event in events:
            kind = type(event)
            if kind is OrderAccepted:
                accepted = event  # (typed in the .pxd, as `acknowledged` below: read from its slots)
                account = accepted.account
                record = self.machine.registry.orders.get(accepted.order)
                if accepted.liquidation and record is not None and accepted.client_order_id is None:
                    self.metrics.liquidation_orders.inc()
                    self._route_record(record)
                message = p.OrderAck(order_id=accepted.order, client_order_id=accepted.client_order_id,
                                     account=account, instrument=accepted.instrument, side=accepted.side,
                                     qty=accepted.qty, price=accepted.price, reserved=accepted.reserved,
                                     status=_STATUS[record.state] if record is not None else "pending_new",
                                     liquidation=accepted.liquidation)
                self._to_order_watchers(account, message, self.answers.pop(accepted.seq, None))
                touched.append(account)
            elif kind is OrderRejected:
                message = p.OrderReject(client_order_id=event.client_order_id, account=event.account,
                                        code=event.code, reason=event.reason, detail=event.detail)
                self._to_order_watchers(event.account, message, self.answers.pop(event.seq, None))
            elif kind in (OrderAcknowledged, CancelRequested, CancelRejected, OrderCanceled):
                if kind is CancelRequested and event.reason:  # the platform's own cancel (liquidation)
                    self._cancel_at_broker(event.order)
                account = event.account
                self._to_order_watchers(account, self._order_update(event), None)
                touched.append(account)
            elif kind is OrderFilled:
                record = self.machine.registry.orders.get(event.order)
                message = p.FillReport(order_id=event.order,
                                       client_order_id=record.client_order_id if record is not None else None,
                                       account=event.account, instrument=event.instrument, side=event.side,
                                       qty=event.qty, price=event.price, exec_id=event.exec_id,
                                       commission=event.commission, stamp_duty=event.stamp_duty,
                                       transfer_fee=event.transfer_fee, filled=event.filled, remaining=event.remaining,
                                       status=_STATUS[record.state] if record is not None else "")
                self._to_order_watchers(event.account, message, None)
                touched.append(event.account)
            elif kind is MarginStateChanged:
                new = MarginState[event.new]
                level = {MarginState.NORMAL: "info", MarginState.WARNING: "warning"}.get(new, "critical")
                self.metrics.alerts.labels(level).inc()
                self.alert_counts[level] += 1
                view = self.machine.engine.account(event.account)
                message = p.MarginUpdate(account=event.account, old_state=event.old, new_state=event.new,
                                         collateral_ratio_bp=event.collateral_ratio_bp, level=level,
                                         message=_ALERTS[new],
                                         deadline_ms=view["margin_call_deadline_ns"] // 1_000_000)
                for session in list(self.alert_subs.get(event.account, ())):
                    session.send(message)
                if self.webhook is not None:
                    self.webhook.notify({
                        "event_id": f"beacon-{event.seq}-{event.account}-{event.new}", "type": "margin_state",
                        "seq": event.seq, "account": event.account,
                        "client": self.machine.account_clients[event.account], "old_state": event.old,
                        "new_state": event.new, "level": level, "collateral_ratio_bp": event.collateral_ratio_bp,
                        "deadline_ms": message.deadline_ms, "message": message.message,
                        "ts_ms": self.now() // 1_000_000})
                touched.append(event.account)
            elif kind is DefaultCovered:
                self.metrics.shortfall.labels("insurance_pool").inc(event.from_pool)
                self.metrics.shortfall.labels("backstop").inc(event.from_backstop)
                self.metrics.shortfall.labels("receivable").inc(event.to_receivable)
                log.warning("default waterfall for account %s: shortfall %s fen (pool %s, backstop %s, receivable %s)",
                            event.account, event.shortfall, event.from_pool, event.from_backstop, event.to_receivable)
                touched.append(event.account)
            elif kind in (ReceivableRecovered, DefaultCleared):
                touched.append(event.account)
            elif kind is LiquidationStaged:
                self.metrics.liquidation_stages.inc()
            elif kind is ReconciliationReported:
                self.metrics.reconciliation_breaks.set(len(event.breaks))
                for b in event.breaks:
                    log.error("reconciliation break on %s: account %s %s ours %s custodian %s", event.day,
                              b["account"], b["item"], b["ours"], b["theirs"])
            elif kind in (Deposited, Withdrawn, TierSet, AccountFlagSet):
                touched.append(event.account)
            elif kind is AccountOpened:
                owner = self.machine.account_clients[event.account]
                for session in list(self.sessions):  # the owner's open sessions start watching it
                    if session.client is not None and session.client.client == owner:
                        session._watch("orders", event.account)
                        session._watch("alerts", event.account)
        if not (touched and self.account_subs):
            return
        for account in dict.fromkeys(touched):  # each once, first touched first
            subscribers = self.account_subs.get(account)
            if subscribers:
                view = self.account_view(account)
                for session in list(subscribers):
                    session.send(view)

    def _order_update(self, event) -> p.OrderUpdate:
        """The order's state as the event left it (the registry may have moved on since: report the event)."""
        reason = ""
        kind = type(event)
        if kind is OrderAcknowledged:  # by the broker: the common case, first
            acknowledged = event
            order, account, status = acknowledged.order, acknowledged.account, _NEW
        else:
            order, account = event.order, event.account
            if kind is OrderCanceled:
                status, reason = event.reason, event.detail
            elif kind is CancelRejected:
                status, reason = event.state, event.reason
            else:  # CancelRequested
                status = _CANCEL_PENDING
        record = self.machine.registry.orders.get(order)
        if record is None:
            return p.OrderUpdate(order_id=order, client_order_id=None, account=account, status=status,
                                 filled=0, remaining=0, reason=reason or "")
        return p.OrderUpdate(order_id=order, client_order_id=record.client_order_id, account=account,
                             status=status, filled=record.filled,
                             remaining=remaining_of(record.qty, record.filled, record.state), reason=reason or "")

    def _to_order_watchers(self, account: int, message, answer: tuple | None) -> None:
        """Order messages go to every session watching the account's orders; the session that asked gets
        its req_id on it (and gets it even when it does not watch the orders channel)."""
        watchers = self.order_subs.get(account)
        if answer is None:
            if watchers:
                for session in list(watchers):
                    session.send(message)
            return
        origin, req_id = answer
        if not watchers or (len(watchers) == 1 and origin in watchers):
            others = ()  # the common case: the requester is the only one watching (no list to build)
        else:
            others = [session for session in watchers if session is not origin]
        for session in others:
            session.send(message)
        if not origin.closed:
            if others:  # they share the message: the requester's copy carries its req_id
                message = msgspec.structs.replace(message, req_id=req_id)
            else:
                message.req_id = req_id
            origin.send(message)

    # ================================================================= views
    def account_view(self, account: int, req_id: str | None = None) -> p.AccountView:
        v = self.machine.engine.account(account)
        equity = v["equity"]
        return p.AccountView(
            req_id=req_id, account=account, tier=self.machine.tiers[v["tier"]].name,
            state=MarginState(v["state"]).name, cash=v["cash"], debt=v["debt"], accrued_interest=v["accrued_interest"],
            market_value=v["market_value"], assets=v["assets"], liabilities=v["liabilities"], equity=equity,
            collateral_ratio_bp=v["collateral_ratio_bp"],
            leverage_bp=v["assets"] * 10_000 // equity if equity > 0 else -1, credit_line=v["credit_line"],
            buying_power=v["buying_power"], reserved_buy=v["reserved_buy"], reduce_only=v["reduce_only"],
            frozen=v["frozen"], margin_call_deadline_ms=v["margin_call_deadline_ns"] // 1_000_000,
            receivable=v["receivable"])

    def positions_view(self, account: int, req_id: str) -> p.Positions:
        out = []
        for pos in self.machine.engine.positions_of(account):
            code = self.universe.instruments[pos["instrument"]].code
            out.append(p.PositionView(instrument=code, held=pos["held"], sellable=pos["sellable"],
                                      open_buy=pos["open_buy"], open_sell=pos["open_sell"],
                                      market_value=pos["market_value"],
                                      mark=self.machine.engine.instrument(pos["instrument"])["mark"]))
        return p.Positions(req_id=req_id, account=account, positions=out)

    def orders_view(self, account: int, open_only: bool, req_id: str) -> p.Orders:
        records = [r for r in self.machine.registry.records(account) if r.state.open or not open_only]
        return p.Orders(req_id=req_id, account=account, orders=[p.OrderView(
            order_id=r.order, client_order_id=r.client_order_id, instrument=r.instrument, side=SIDE[r.side],
            price=r.price, qty=r.qty, filled=r.filled, remaining=r.remaining, status=r.state.value,
            broker_order_id=r.broker_order_id, reason=r.reason) for r in records])

    def fills_view(self, account: int, req_id: str) -> p.Fills:
        return p.Fills(req_id=req_id, account=account, fills=[p.FillView(
            order_id=f.order, instrument=f.instrument, side=SIDE[f.side], qty=f.qty, price=f.price,
            exec_id=f.exec_id, commission=f.commission, stamp_duty=f.stamp_duty, transfer_fee=f.transfer_fee,
            ts_ms=f.ts // 1_000_000) for f in self.machine.registry.fills if f.account == account])

    def accounts_of(self, client: str) -> list[int]:
        return [n for n, owner in enumerate(self.machine.account_clients) if owner == client]


_NEW, _CANCEL_PENDING = OrderState.NEW.value, OrderState.CANCEL_PENDING.value
# each state's name as sent to clients: a dict lookup, where an enum's .value is two Python-level calls
_STATUS = {state: state.value for state in OrderState}

_ALERTS = {
    MarginState.NORMAL: "collateral ratio back above the warning line",
    MarginState.WARNING: "collateral ratio below the warning line",
    MarginState.MARGIN_CALL: "margin call: reduce-only until the ratio is restored; deposit by the deadline",
    MarginState.LIQUIDATING: "automatic liquidation: reduce-only",
    MarginState.DEFAULTED: "default: equity exhausted with nothing left to sell",
}


def market_push(tick: Tick) -> p.Market:
    return p.Market(instrument=tick.instrument, last=tick.last, volume=tick.volume, bid=tick.bid,
                    bid_size=tick.bid_size, ask=tick.ask, ask_size=tick.ask_size, lock=tick.lock,
                    ts_ms=tick.ts // 1_000_000)
