# cython: annotation_typing=False
"""The one entry point: a command in, its outcome and events out.

`Machine.execute(command)` applies a command to the engine and returns its
`Outcome` (integers: the id or reject code, the detail, the margin state
changes); nothing else changes engine state. `Machine.apply(command)` also
returns the readable events derived from that outcome. The machine is
deterministic: it reads no clock and no random source; time arrives in commands.
"""

from __future__ import annotations

import datetime as _dt

import msgspec

from .commands import (
    AnyCommand, BrokerAck, BrokerCancelReject, CancelOrder, ClearDefault, ClockAdvance, DayRoll, FundInsurancePool, Reconciled, Deposit, Fill, Genesis,
    HaltInstrument, Marks, OpenAccount, OrderClosed, Outcome, PlaceOrder, RaiseLines, Reconfigure, RefuseOrder, SetAccountFlag,
    SetControl, SetTier, Tick, Withdraw,
)
from .engine import backend_class
from .events import (
    AccountFlagSet, AccountOpened, Alert, CancelRejected, CancelRequested, CommandRefused, ControlSet,
    DefaultCleared, DefaultCovered, DayRolled, InsurancePoolFunded, Deposited, Event, InstrumentHalted, LinesRaised, LiquidationStaged,
    MarginStateChanged, OrderAccepted, OrderAcknowledged, OrderCanceled, OrderFilled, OrderRejected,
    ReceivableRecovered, ReconciliationReported, Reconfigured, TierSet, Withdrawn,
)
from .liquidation import Liquidator, LiquidationState
from .orders import FillRecord, OrderRecord, OrderRegistry, OrderState
from .instruments import Universe
from .margin import MarginState
from .rejects import EngineError, RejectCode, format_detail
from .snapshot import EngineState
from .types import OrderStatus, Side

_FLAG_METHODS = {"frozen": "set_frozen", "reduce_only": "set_reduce_only", "kill": "set_account_kill",
                 "active": "set_active"}
_CONTROL_METHODS = {"global_kill": "set_global_kill", "halt_buys": "set_halt_buys",
                    "halt_deposits": "set_halt_deposits", "halt_accounts": "set_halt_accounts"}
_ALERT_LEVEL = {MarginState.NORMAL: "info", MarginState.WARNING: "warning", MarginState.MARGIN_CALL: "critical",
                MarginState.LIQUIDATING: "critical", MarginState.DEFAULTED: "critical"}
_ALERT_TEXT = {
    MarginState.NORMAL: "collateral ratio back above the warning line",
    MarginState.WARNING: "collateral ratio below the warning line",
    MarginState.MARGIN_CALL: "margin call: reduce-only until the ratio is restored; deposit by the deadline",
    MarginState.LIQUIDATING: "automatic liquidation: reduce-only",
    MarginState.DEFAULTED: "default: equity exhausted with nothing left to sell",
}
_EMPTY = Outcome()
#: The outcome of every command that decided nothing worth recording (shared, so that the
#: journal can recognise it by identity and reuse its encoding).
EMPTY_OUTCOME = _EMPTY
_SIDE_NAMES = {int(s): s.name.lower() for s in Side}  # 1 -> "buy", without an enum call per order


class MachineState(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of the machine: the genesis it started from, its settings now, and the engine state."""

    genesis: Genesis
    current: Reconfigure | None = None
    account_names: list[str]
    engine: EngineState
    account_clients: list[str] = []
    orders: list[OrderRecord] = []
    fills: list[FillRecord] = []
    liquidation: LiquidationState | None = None
    trade_cash: list[int] = []  # per account: net cash its fills moved (sells - buys - fees)
    fees_paid: list[int] = []
    reconciliation: Reconciled | None = None  # the last end-of-day reconciliation
    defaults: list[list[int]] = []  # every entry into DEFAULTED: [account, trading day], in order


class Machine:
    """The margin engine driven by commands."""

    def __init__(self, genesis: Genesis, backend: str | None = None):
        self.genesis = genesis
        self.backend = backend
        self.universe = Universe(genesis.instruments)
        self.codes = [i.code for i in self.universe]
        self._instrument_ids = {code: n for n, code in enumerate(self.codes)}
        self.current: Reconfigure | None = None
        self._configure(genesis.config, genesis.tiers)
        self.engine = backend_class(backend)(self.universe.instruments, self.tiers, self.config, genesis.trading_day)
        self.account_names: list[str] = []
        self.account_clients: list[str] = []  # the API client that owns each account ("": none)
        self.registry = OrderRegistry()
        self.liquidator = Liquidator(self)
        # per account, what the custodian's books must also show: cash moved by fills, fees paid
        self.trade_cash: list[int] = []
        self.fees_paid: list[int] = []
        self.reconciliation: Reconciled | None = None
        self.defaults: list[list[int]] = []  # every entry into DEFAULTED: [account, trading day]
        self._cancel_reasons: dict[int, str] = {}  # order -> why the machine cancels it (for events)
        self._expired: list[tuple[int, int, int]] = []  # (order, account, unfilled) closed by the last roll
        #: command type -> handler; execute() is exactly a lookup here (replay calls them directly)
        self.handlers = {
            Genesis: self._genesis, OpenAccount: self._open_account, SetTier: self._set_tier,
            Deposit: self._deposit, Withdraw: self._withdraw, SetAccountFlag: self._flag, SetControl: self._control,
            RaiseLines: self._raise, HaltInstrument: self._halt, PlaceOrder: self._place, RefuseOrder: self._refuse, CancelOrder: self._cancel,
            OrderClosed: self._closed, Fill: self._fill, Tick: self._tick, Marks: self._marks,
            ClockAdvance: self._clock, DayRoll: self._roll, Reconfigure: self._reconfigure,
            BrokerAck: self._broker_ack, BrokerCancelReject: self._broker_cancel_reject,
            ClearDefault: self._clear_default, Reconciled: self._reconciled,
            FundInsurancePool: self._fund_pool,
        }

    def _configure(self, config, tiers) -> None:
        self.config = config
        self.tiers = list(tiers)
        self.tier_ids = {t.name: n for n, t in enumerate(self.tiers)}

    def instrument_id(self, code: str) -> int:
        return self._instrument_ids.get(code, -1)

    # ---------------------------------------------------------------- entry points
    def execute(self, command: AnyCommand) -> Outcome:
        """Apply one command; its outcome. The only way engine state changes."""
        return self.handlers[type(command)](command)

    def apply(self, command: AnyCommand, seq: int = 0) -> tuple[Outcome, list[Event]]:
        """Apply one command; its outcome and the events it produced."""
        outcome = self.execute(command)
        return outcome, self.events(command, outcome, seq)

    # ---------------------------------------------------------------- handlers
    def _refusal(self, code: int) -> Outcome:
        return Outcome(code, tuple(self.engine.last_detail()))

    def _status(self, code: int) -> Outcome:
        if code:
            return self._refusal(code)
        return self._finish(0, (), self.engine.take_changes())

    def _finish(self, result: int, detail: tuple, changes: list, orders: tuple = ()) -> Outcome:
        """The outcome of a command that went through: its state changes, the waterfall steps it
        caused, and what the machine does about them (cancels when liquidation starts or ends)."""
        steps = self.engine.take_waterfall()
        if not changes and not steps and not orders:
            return Outcome(result, detail) if result or detail else _EMPTY
        cancels = self._react(changes) if changes else ()
        return Outcome(result, detail, tuple(changes), tuple(steps), orders, cancels)

    def _react(self, changes: list) -> tuple[int, ...]:
        """Liquidation starts: the account's open buys are cancelled first, and its stages begin.
        Liquidation ends (the restore-to line reached, a deposit, an operator): its working
        liquidation orders are cancelled."""
        cancels: list[int] = []
        for account, old, new, _ in changes:
            if new == MarginState.DEFAULTED != old:  # kept for the default rate (a cleared default still counts)
                self.defaults.append([account, self.engine.platform()["trading_day"]])
            if new >= MarginState.LIQUIDATING > old:
                self.liquidator.enter(account)
                cancels += self._cancel_open(account, lambda r: r.side == Side.BUY and not r.liquidation,
                                             "liquidation: open buys are cancelled first")
            elif old >= MarginState.LIQUIDATING > new:
                self.liquidator.leave(account)
                cancels += self._cancel_open(account, lambda r: r.liquidation,
                                             f"liquidation ended ({MarginState(new).name})")
        return tuple(cancels)

    def _cancel_open(self, account: int, which, reason: str) -> list[int]:
        out = []
        for record in self.registry.open_orders(account):
            if which(record) and self.registry.try_move(record.order, "cancel") is not None:
                self._cancel_reasons[record.order] = reason
                out.append(record.order)
        return out

    def place_liquidation(self, account: int, code: str, qty: int, price: int, ts: int) -> int:
        """A child order of the automatic liquidation: the order id, or -code if the engine refused it."""
        result = self.engine.place_order(account, self._instrument_ids[code], int(Side.SELL), price, qty, None, ts,
                                         True)
        if result > 0:
            self.registry.add(OrderRecord(order=result, account=account, client_order_id=None, instrument=code,
                                          side=int(Side.SELL), price=price, qty=qty, ts=ts, liquidation=True))
        return result

    def _genesis(self, command: Genesis) -> Outcome:
        # Only the first record of a journal; the machine was built from it.
        return _EMPTY

    def _open_account(self, command: OpenAccount) -> Outcome:
        tier = self.tier_ids.get(command.tier, len(self.tiers))
        result = self.engine.add_account(tier)
        if result < 0:
            return self._refusal(result)
        self.account_names.append(command.name)
        self.account_clients.append(command.client)
        self.trade_cash.append(0)
        self.fees_paid.append(0)
        return Outcome(result)

    def _set_tier(self, command: SetTier) -> Outcome:
        return self._status(self.engine.set_tier(command.account, self.tier_ids.get(command.tier, len(self.tiers))))

    def _deposit(self, command: Deposit) -> Outcome:
        return self._status(self.engine.deposit(command.account, command.amount))

    def _withdraw(self, command: Withdraw) -> Outcome:
        return self._status(self.engine.withdraw(command.account, command.amount))

    def _flag(self, command: SetAccountFlag) -> Outcome:
        return self._status(getattr(self.engine, _FLAG_METHODS[command.flag])(command.account, command.on))

    def _control(self, command: SetControl) -> Outcome:
        if command.control == "pause_liquidation":  # the machine's own switch: the engine never liquidates
            self.liquidator.state.paused = command.on
        else:
            getattr(self.engine, _CONTROL_METHODS[command.control])(command.on)
        return _EMPTY

    def _fund_pool(self, command: FundInsurancePool) -> Outcome:
        return self._status(self.engine.fund_insurance_pool(command.amount))

    def _reconciled(self, command: Reconciled) -> Outcome:
        self.reconciliation = command
        return _EMPTY

    def _clear_default(self, command: ClearDefault) -> Outcome:
        return self._status(self.engine.clear_default(command.account))

    def _raise(self, command: RaiseLines) -> Outcome:
        return self._status(self.engine.set_line_raise(command.bp))

    def _halt(self, command: HaltInstrument) -> Outcome:
        outcome = self._status(self.engine.set_halted(self.instrument_id(command.instrument), command.halted))
        if outcome.result == 0:
            self.liquidator.market_changed()
        return outcome

    def _place(self, command: PlaceOrder) -> Outcome:
        account, instrument, side, price = command.account, command.instrument, command.side, command.price
        qty, client_order_id, ts, liquidation = command.qty, command.client_order_id, command.ts, command.liquidation
        result = self.engine.place_order(account, self._instrument_ids.get(instrument, -1), side, price, qty,
                                         client_order_id, ts, liquidation)
        if result < 0:
            return Outcome(result, tuple(self.engine.last_detail()))
        self.registry.add(OrderRecord(
            order=result, account=account, client_order_id=client_order_id, instrument=instrument, side=side,
            price=price, qty=qty, ts=ts, liquidation=liquidation))
        return Outcome(result)

    def _refuse(self, command: RefuseOrder) -> Outcome:
        # Refused before the checks (the broker is down), but answered: its client order id is
        # remembered for the day like any other (DOMAIN.md section 6), so a retry needs a new one.
        code = self.engine.remember_client_order_id(command.account, command.client_order_id)
        if code:
            return Outcome(-code, tuple(self.engine.last_detail()))
        return Outcome(-int(RejectCode.BROKER_UNAVAILABLE))

    def _cancel(self, command: CancelOrder) -> Outcome:
        # A cancel request changes nothing in the engine; it is checked so that a request for
        # an unknown or finished order is answered with the reason. Never blocked by risk.
        status = self.engine.order_status(command.order)
        if status == OrderStatus.OPEN and self.registry.try_move(command.order, "cancel") is not None:
            return _EMPTY
        code = RejectCode.UNKNOWN_ORDER if status == 0 else RejectCode.ORDER_NOT_OPEN
        return Outcome(int(code), (command.order,))

    def _broker_ack(self, command: BrokerAck) -> Outcome:
        record = self.registry.try_move(command.order, "ack")
        if record is None:
            known = self.registry.orders.has(command.order)
            return Outcome(int(RejectCode.ORDER_NOT_OPEN if known else RejectCode.UNKNOWN_ORDER), (command.order,))
        record.broker_order_id = command.broker_order_id
        return _EMPTY

    def _broker_cancel_reject(self, command: BrokerCancelReject) -> Outcome:
        record = self.registry.orders.get(command.order)
        if record is None or record.state is not OrderState.CANCEL_PENDING:
            code = RejectCode.UNKNOWN_ORDER if record is None else RejectCode.ORDER_NOT_OPEN
            return Outcome(int(code), (command.order,))
        self.registry.cancel_rejected(command.order)
        return _EMPTY

    def _closed(self, command: OrderClosed) -> Outcome:
        outcome = self._status(self.engine.close_order(command.order))
        if outcome.result == 0 and self.registry.orders.has(command.order):
            self.registry.move(command.order, f"closed:{command.reason}").reason = command.detail
        return outcome

    def _fill(self, command: Fill) -> Outcome:
        # An execution the broker reports twice (a resend after a reconnection) is applied once.
        if command.exec_id and self.registry.exec_ids.has(command.exec_id):
            return Outcome(int(RejectCode.DUPLICATE_EXECUTION), (command.order,))
        record = self.registry.orders.get(command.order)
        mark = self.engine.instrument(self._instrument_ids[record.instrument])["mark"] \
            if record is not None and record.liquidation else 0
        code = self.engine.apply_fill(command.order, command.qty, command.price)
        if code:
            return self._refusal(code)
        detail = tuple(self.engine.last_fill())
        if record is not None:
            self.registry.fill(FillRecord(
                order=command.order, account=record.account, instrument=record.instrument, side=record.side,
                qty=command.qty, price=command.price, exec_id=command.exec_id, commission=detail[0],
                stamp_duty=detail[1], transfer_fee=detail[2], ts=command.ts))
            fees = detail[0] + detail[1] + detail[2]
            notional = command.qty * command.price
            self.trade_cash[record.account] += (notional if record.side == Side.SELL else -notional) - fees
            self.fees_paid[record.account] += fees
            if record.liquidation:
                self.liquidator.on_fill(True, command.qty, command.price, mark, fees)
        return self._finish(0, detail, self.engine.take_changes())

    def _tick(self, command: Tick) -> Outcome:
        instr = self._instrument_ids.get(command.instrument, -1)
        try:
            changes = self.engine.apply_tick(instr, command.price, command.lock)
        except EngineError as exc:
            return Outcome(int(exc.code), tuple(self.engine.last_detail()) if exc.code != RejectCode.UNKNOWN_INSTRUMENT
                           else (-1,))
        self.liquidator.on_tick(instr, command.lock, command.volume, command.ts)
        # a defaulted holder's collateral re-marked can make a waterfall step without a state change
        return self._finish(0, (), changes) if changes or self.engine.waterfall_pending() else _EMPTY

    def _marks(self, command: Marks) -> Outcome:
        if len(command.prices) != len(self.codes):
            return Outcome(int(RejectCode.TICK_PRICE_INVALID), (len(command.prices), 0, len(self.codes)))
        try:
            changes = self.engine.apply_marks(command.prices)
        except EngineError as exc:
            return Outcome(int(exc.code), tuple(self.engine.last_detail()))
        return self._finish(0, (), changes)

    def _clock(self, command: ClockAdvance) -> Outcome:
        changes = self.engine.advance_clock(command.ts)
        cancels = self._react(changes) if changes else ()
        orders = tuple(self.liquidator.run(command.ts))
        steps = self.engine.take_waterfall()
        if not changes and not orders and not steps:
            return _EMPTY
        return Outcome(0, (), tuple(changes), tuple(steps), orders, cancels)

    def _roll(self, command: DayRoll) -> Outcome:
        code = self.engine.roll_day(command.day)
        if code:
            return self._refusal(code)
        # day orders are over: the engine expired them; say so for each one still open
        self._expired = [(r.order, r.account, r.qty - r.filled) for r in self.registry.records() if r.state.open]
        self.registry.roll()
        self.liquidator.day_rolled()
        return self._finish(0, (), self.engine.take_changes())

    def _reconfigure(self, command: Reconfigure) -> Outcome:
        """New settings and tiers: the engine is rebuilt from its own snapshot under them."""
        names = [t.name for t in self.tiers]
        new_ids = {t.name: n for n, t in enumerate(command.tiers)}
        state = self.engine.export_state()
        try:
            command.config.validate()
            for t in command.tiers:
                t.validate(command.config.hysteresis_band_bp)
            accounts = [msgspec.structs.replace(a, tier=new_ids[names[a.tier]]) for a in state.accounts]
        except (ValueError, KeyError):
            return Outcome(int(RejectCode.UNKNOWN_TIER), ())
        engine = backend_class(self.backend)(self.universe.instruments, command.tiers, command.config, 1)
        engine.load_state(msgspec.structs.replace(state, accounts=accounts))
        self.engine = engine
        self.current = command
        self._configure(command.config, command.tiers)
        return _EMPTY

    # ---------------------------------------------------------------- snapshots
    def export_state(self) -> MachineState:
        orders, fills = self.registry.export()
        return MachineState(genesis=self.genesis, current=self.current, account_names=list(self.account_names),
                            engine=self.engine.export_state(), account_clients=list(self.account_clients),
                            orders=orders, fills=fills,
                            liquidation=msgspec.convert(msgspec.to_builtins(self.liquidator.state), LiquidationState),
                            trade_cash=list(self.trade_cash), fees_paid=list(self.fees_paid),
                            defaults=[list(d) for d in self.defaults],
                            reconciliation=self.reconciliation)

    @classmethod
    def from_state(cls, state: MachineState, backend: str | None = None) -> "Machine":
        machine = cls(state.genesis, backend)
        if state.current is not None:
            machine._reconfigure(state.current)
        machine.engine.load_state(state.engine)
        machine.account_names = list(state.account_names)
        machine.account_clients = list(state.account_clients) or [""] * len(state.account_names)
        machine.registry.load(state.orders, state.fills)
        n = len(machine.account_names)
        machine.trade_cash = list(state.trade_cash) or [0] * n
        machine.fees_paid = list(state.fees_paid) or [0] * n
        machine.reconciliation = state.reconciliation
        machine.defaults = [list(d) for d in state.defaults]
        if not machine.defaults:  # a snapshot from before the record: the defaults it shows, today
            day = machine.engine.platform()["trading_day"]
            machine.defaults = [[a, day] for a in range(n)
                                if machine.engine.account(a)["state"] == MarginState.DEFAULTED]
        machine.liquidator = Liquidator(machine, msgspec.convert(msgspec.to_builtins(state.liquidation),
                                                                 LiquidationState)
                                        if state.liquidation is not None else None)
        if state.liquidation is None:  # a snapshot from before the liquidator: whoever liquidates, resumes
            for account in range(len(machine.account_names)):
                if machine.engine.account(account)["state"] >= MarginState.LIQUIDATING:
                    machine.liquidator.enter(account)
        return machine

    # ---------------------------------------------------------------- events
    def events(self, command: AnyCommand, outcome: Outcome, seq: int = 0) -> list[Event]:
        """The readable events of a command that has just been executed with this outcome."""
        kind = type(command)
        out: list[Event] = []
        result = outcome.result
        if kind is PlaceOrder or kind is RefuseOrder:
            if result > 0:  # only a PlaceOrder is accepted
                out.append(self._accepted(command, result, seq))
            else:
                code = RejectCode(-result)
                extra = f"client_order_id={command.client_order_id}" if code == RejectCode.DUPLICATE_CLIENT_ORDER_ID else ""
                detail = format_detail(code, outcome.detail, extra)
                if code == RejectCode.UNKNOWN_INSTRUMENT:
                    detail = f"instrument={command.instrument}"
                elif code == RejectCode.BROKER_UNAVAILABLE:
                    detail = "the broker connection is down; the order was not sent"
                out.append(OrderRejected(
                    seq=seq, account=command.account, instrument=command.instrument, side=command.side,
                    price=command.price, qty=command.qty, client_order_id=command.client_order_id,
                    code=int(code), reason=code.name, detail=detail))
        elif kind is OpenAccount:
            if result >= 0:
                out.append(AccountOpened(seq=seq, account=result, tier=command.tier, name=command.name))
            else:
                out.append(self._refused(command, -result, outcome, seq))
        elif result != 0:
            out.append(self._refused(command, result, outcome, seq))
        elif kind is Fill:
            view = self.engine.order(command.order)
            c, s, t, drawn, interest, repaid, pool = outcome.detail
            out.append(OrderFilled(
                seq=seq, order=command.order, account=view["account"], instrument=self.codes[view["instrument"]],
                side=_SIDE_NAMES[view["side"]], qty=command.qty, price=command.price, exec_id=command.exec_id,
                commission=c, stamp_duty=s, transfer_fee=t, debt_drawn=drawn, interest_repaid=interest,
                debt_repaid=repaid, to_insurance_pool=pool, filled=view["filled"],
                remaining=view["qty"] - view["filled"]))
        elif kind is OrderClosed:
            view = self.engine.order(command.order)
            out.append(OrderCanceled(seq=seq, order=command.order, account=view["account"], reason=command.reason,
                                     canceled_qty=view["qty"] - view["filled"], detail=command.detail))
        elif kind is BrokerAck:
            ack = command  # (typed in the .pxd: read from its slots)
            order = ack.order
            record = self.registry.orders[order]
            out.append(OrderAcknowledged(seq=seq, order=order, account=record.account,
                                         broker_order_id=ack.broker_order_id))
        elif kind is BrokerCancelReject:
            record = self.registry.orders[command.order]
            out.append(CancelRejected(seq=seq, order=command.order, account=record.account, reason=command.reason,
                                      state=record.state.value))
        elif kind is CancelOrder:
            out.append(CancelRequested(seq=seq, order=command.order, account=self.engine.order(command.order)["account"]))
        elif kind is Deposit:
            out.append(Deposited(seq=seq, account=command.account, amount=command.amount,
                                 cash=self.engine.account(command.account)["cash"]))
        elif kind is Withdraw:
            out.append(Withdrawn(seq=seq, account=command.account, amount=command.amount,
                                 cash=self.engine.account(command.account)["cash"]))
        elif kind is SetTier:
            out.append(TierSet(seq=seq, account=command.account, tier=command.tier))
        elif kind is SetAccountFlag:
            out.append(AccountFlagSet(seq=seq, account=command.account, flag=command.flag, on=command.on))
        elif kind is SetControl:
            out.append(ControlSet(seq=seq, control=command.control, on=command.on))
        elif kind is RaiseLines:
            out.append(LinesRaised(seq=seq, bp=command.bp))
        elif kind is HaltInstrument:
            out.append(InstrumentHalted(seq=seq, instrument=command.instrument, halted=command.halted))
        elif kind is DayRoll:
            for order, account, left in self._expired:
                out.append(OrderCanceled(seq=seq, order=order, account=account, reason="expired", canceled_qty=left,
                                         detail="day order expired at the close"))
            out.append(DayRolled(seq=seq, day=_dt.date.fromordinal(command.day).isoformat()))
        elif kind is Reconfigure:
            out.append(Reconfigured(seq=seq, tiers=[t.name for t in command.tiers]))
        elif kind is ClearDefault:
            out.append(DefaultCleared(seq=seq, account=command.account))
        elif kind is FundInsurancePool:
            out.append(InsurancePoolFunded(seq=seq, amount=command.amount,
                                           insurance_pool=self.engine.platform()["insurance_pool"]))
        elif kind is Reconciled:
            out.append(ReconciliationReported(
                seq=seq, day=_dt.date.fromordinal(command.day).isoformat(), accounts=command.accounts,
                breaks=[{"account": b.account, "item": b.item, "ours": b.ours, "theirs": b.theirs,
                         "difference": b.ours - b.theirs} for b in command.breaks]))
        for account, old, new, ratio in outcome.changes:
            new_state = MarginState(new)
            out.append(MarginStateChanged(seq=seq, account=account, old=MarginState(old).name,
                                          new=new_state.name, collateral_ratio_bp=ratio))
            out.append(Alert(seq=seq, account=account, level=_ALERT_LEVEL[new_state], state=new_state.name,
                             collateral_ratio_bp=ratio, message=_ALERT_TEXT[new_state]))
        if outcome.waterfall:
            out += self._waterfall_events(outcome.waterfall, seq)
        for order in outcome.cancels:
            out.append(CancelRequested(seq=seq, order=order, account=self.registry.orders[order].account,
                                       reason=self._cancel_reasons.pop(order, "")))
        if kind is ClockAdvance:
            for stage in self.liquidator.stages:
                out.append(LiquidationStaged(
                    seq=seq, account=stage.account, stage=stage.stage, state=stage.state,
                    collateral_ratio_bp=stage.collateral_ratio_bp, to_sell=stage.to_sell,
                    everything=stage.everything, in_flight=stage.in_flight, orders=stage.orders,
                    skipped=stage.skipped, waiting=stage.waiting, next_ts=stage.next_ns))
        for order in outcome.orders:
            record = self.registry.orders[order]
            out.append(OrderAccepted(
                seq=seq, order=order, account=record.account, instrument=record.instrument, side="sell",
                price=record.price, qty=record.qty, client_order_id=None, reserved=0, liquidation=True))
        return out

    def _accepted(self, command: PlaceOrder, order: int, seq: int) -> OrderAccepted:
        # (its own method so that the .pxd can type the command: its fields are read from their slots)
        return OrderAccepted(
            seq=seq, order=order, account=command.account, instrument=command.instrument,
            side=_SIDE_NAMES[command.side], price=command.price, qty=command.qty,
            client_order_id=command.client_order_id, reserved=self.engine.order_reserved(order),
            liquidation=command.liquidation)

    def _waterfall_events(self, steps, seq: int) -> list[Event]:
        """Events for waterfall steps, with the pool and backstop balances after each step (the
        platform's balances now, less the steps that came after it)."""
        platform = self.engine.platform()
        pool, drawn = platform["insurance_pool"], platform["backstop_drawn"]
        out: list[Event] = []
        for account, kind, amount, from_pool, from_backstop, to_receivable in reversed(steps):
            if kind == 1:
                out.append(DefaultCovered(seq=seq, account=account, shortfall=amount, from_pool=from_pool,
                                          from_backstop=from_backstop, to_receivable=to_receivable,
                                          insurance_pool=pool, backstop_drawn=drawn))
                pool, drawn = pool + from_pool, drawn - from_backstop
            else:
                out.append(ReceivableRecovered(seq=seq, account=account, amount=amount,
                                               receivable=self.engine.account(account)["receivable"]))
        out.reverse()
        return out

    def _refused(self, command: AnyCommand, code: int, outcome: Outcome, seq: int) -> CommandRefused:
        rc = RejectCode(code)
        return CommandRefused(seq=seq, command=type(command).__name__, code=code, reason=rc.name,
                              detail=format_detail(rc, outcome.detail))
