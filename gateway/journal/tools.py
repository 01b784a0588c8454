"""What `beacon replay`, `beacon audit` and `beacon journal verify` print."""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import time
from pathlib import Path

import msgspec

from core.commands import (
    COMMAND_DECODER, OUTCOME_DECODER, SCHEMA_VERSION, AnyCommand, CancelOrder, ClockAdvance, DayRoll, Deposit,
    Fill, Genesis, Marks, OrderClosed, Outcome, PlaceOrder, RefuseOrder, SetAccountFlag, SetTier, Tick, Withdraw, split_entry,
)
from core.machine import Machine
from core.margin import MarginState
from core.rejects import RejectCode, format_detail
from core.units import format_cny

from .errors import Divergence
from .format import scan
from .recovery import journal_paths, replay

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def when(ts: int) -> str:
    if not ts:
        return "(no time)"
    return dt.datetime.fromtimestamp(ts / 1e9, SHANGHAI).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def ratio(bp: int) -> str:
    return "infinite" if bp < 0 else f"{bp / 100:.2f} %"


def state_digest(machine: Machine) -> str:
    """A fingerprint of the whole state, for comparing two rebuilds."""
    return hashlib.sha256(msgspec.msgpack.encode(machine.export_state())).hexdigest()[:32]


# ------------------------------------------------------------------------- verify
def verify_report(path: str) -> str:
    _, log = journal_paths(path)
    started = time.perf_counter()
    result = scan(str(log), SCHEMA_VERSION)
    seconds = time.perf_counter() - started
    lines = [f"{log}: {result.last_seq:,} records, framing, checksums and hash chain verified "
             f"in {seconds:.2f} s", f"  head of the chain: seq {result.last_seq} {result.chain.hex()}"]
    if result.torn_bytes:
        lines.append(f"  torn tail: {result.torn_bytes} bytes after seq {result.last_seq} do not form a whole "
                     "record (a write cut short by a crash); recovery truncates them")
    return "\n".join(lines)


# ------------------------------------------------------------------------- replay
def replay_report(path: str, backend: str | None = None) -> str:
    commands: collections.Counter = collections.Counter()
    orders: collections.Counter = collections.Counter()  # order rejections by reason, and "accepted"
    refusals: collections.Counter = collections.Counter()  # other commands refused
    transitions: collections.Counter = collections.Counter()

    def on_entry(seq, entry, outcome):
        kind = type(entry.command).__name__
        commands[kind] += 1
        result = entry.outcome.result
        if kind == "PlaceOrder" or kind == "RefuseOrder":  # a refusal answers an order too (broker down)
            orders["accepted" if result > 0 else RejectCode(-result).name] += 1
        elif kind == "OpenAccount":
            if result < 0:
                refusals[f"{RejectCode(-result).name} ({kind})"] += 1
        elif result:
            refusals[f"{RejectCode(result).name} ({kind})"] += 1
        for _, old, new, _ in entry.outcome.changes:
            transitions[f"{MarginState(old).name} -> {MarginState(new).name}"] += 1

    recovered = replay(path, backend, on_entry=on_entry)
    machine = recovered.machine
    states = collections.Counter(MarginState(machine.engine.account(a)["state"]).name
                                 for a in range(machine.engine.platform()["accounts"]))
    platform = machine.engine.platform()
    rate = recovered.last_seq / recovered.seconds if recovered.seconds else 0
    lines = [
        f"Replayed {recovered.last_seq:,} records from genesis in {recovered.seconds:.2f} s "
        f"({rate:,.0f} per second, {machine.engine.implementation} engine); every recorded decision "
        "was reproduced exactly.",
        f"  trading day now: {dt.date.fromordinal(platform['trading_day']).isoformat()}; "
        f"head of the chain: seq {recovered.last_seq} {recovered.chain.hex()}",
        f"  state digest: {state_digest(machine)}",
        "  commands: " + ", ".join(f"{k} {v:,}" for k, v in commands.most_common()),
        f"  orders: {orders['accepted']:,} accepted, "
        f"{commands['PlaceOrder'] + commands['RefuseOrder'] - orders['accepted']:,} rejected",
    ]
    rejected = [(k, v) for k, v in orders.most_common() if k != "accepted"]
    if rejected:
        lines.append("  order rejections: " + ", ".join(f"{k} {v:,}" for k, v in rejected))
    if refusals:
        lines.append("  other refusals: " + ", ".join(f"{k} {v:,}" for k, v in refusals.most_common()))
    if transitions:
        lines.append("  margin state changes: " + ", ".join(f"{k} {v:,}" for k, v in transitions.most_common()))
    lines.append("  accounts by state: " + ", ".join(f"{k} {v:,}" for k, v in states.most_common()))
    lines.append(f"  platform: commission {format_cny(platform['commission_income'])}, stamp duty "
                 f"{format_cny(platform['stamp_duty_collected'])}, interest income "
                 f"{format_cny(platform['interest_income'])}, insurance pool {format_cny(platform['insurance_pool'])} CNY")
    if recovered.torn_bytes:
        lines.append(f"  torn tail of {recovered.torn_bytes} bytes after the last record (left in place)")
    return "\n".join(lines)


# ------------------------------------------------------------------------- audit
class _Audit:
    """One pass over the journal that replays everything and narrates the records that matter."""

    def __init__(self, path: str, backend: str | None):
        self.path = path
        self.backend = backend
        self.machine: Machine | None = None
        self.lines: list[str] = []

    def run(self, relevant, narrate) -> Machine:
        _, log = journal_paths(self.path)

        def on_record(seq, payload):
            command_bytes, outcome_bytes = split_entry(payload)
            command = COMMAND_DECODER.decode(command_bytes)
            recorded = OUTCOME_DECODER.decode(outcome_bytes)
            if self.machine is None:
                self.machine = Machine(command, self.backend)
                return
            before = relevant(command, recorded)
            context = narrate.before(command) if before else None
            outcome = self.machine.execute(command)
            if outcome != recorded:
                raise Divergence(seq, command, recorded, outcome)
            if before or any(narrate.watches(change) for change in outcome.changes):
                narrate.after(seq, command, outcome, context)
            if outcome.orders or outcome.cancels or outcome.waterfall:
                narrate.platform_actions(seq, command, outcome)

        scan(str(log), SCHEMA_VERSION, on_record)
        return self.machine


class _Narrator:
    def __init__(self, audit: _Audit):
        self.audit = audit
        self.out = audit.lines

    @property
    def m(self) -> Machine:
        return self.audit.machine

    def watches(self, change) -> bool:
        return False

    def platform_actions(self, seq: int, command: AnyCommand, outcome: Outcome) -> None:
        """What the platform itself did in a command: liquidation stages and their child orders,
        cancels, default waterfall steps. Narrated for the accounts (or orders) being audited."""
        head = f"  seq {seq:>9}  {when(getattr(command, 'ts', 0))}  "
        if isinstance(command, ClockAdvance):
            for stage in self.m.liquidator.stages:
                if self.follows_stage(stage):
                    self.out.extend(head + line if n == 0 else f"{'':15}{line}"
                                    for n, line in enumerate(stage_lines(stage)))
        for order in outcome.cancels:
            record = self.m.registry.orders.get(order)
            if record is not None and self.follows_order(record.account, order):
                reason = self.m._cancel_reasons.get(order, "")
                self.out.append(head + f"PLATFORM CANCEL of order {order} ({record.instrument} "
                                f"{'sell' if record.side == 2 else 'buy'} {record.qty:,}): {reason}")
        for account, kind, amount, pool, backstop, receivable in outcome.waterfall:
            if self.follows_order(account, None):
                if kind == 1:
                    self.out.append(head + f"DEFAULT WATERFALL: shortfall {format_cny(amount)} CNY covered by the "
                                    f"insurance pool {format_cny(pool)}, the backstop line {format_cny(backstop)}, "
                                    f"recorded as receivable {format_cny(receivable)}")
                else:
                    self.out.append(head + f"RECEIVABLE recovered {format_cny(amount)} CNY from the account's cash")

    def follows_stage(self, stage) -> bool:
        return False

    def follows_order(self, account: int, order: int | None) -> bool:
        return False

    def account_line(self, account: int) -> str:
        v = self.m.engine.account(account)
        return (f"cash {format_cny(v['cash'])}, debt {format_cny(v['debt'])}, interest "
                f"{format_cny(v['accrued_interest'])}, market value {format_cny(v['market_value'])}, "
                f"credit line {format_cny(v['credit_line'])}, reserved for open buys {format_cny(v['reserved_buy'])}, "
                f"buying power {format_cny(v['buying_power'])} CNY; state {MarginState(v['state']).name}, "
                f"R {ratio(v['collateral_ratio_bp'])}")

    def market_line(self, code: str) -> str:
        instr = self.m.instrument_id(code)
        if instr < 0:
            return f"instrument {code} is not in the universe"
        v = self.m.engine.instrument(instr)
        band = (f"band {format_cny(v['limit_down'])} .. {format_cny(v['limit_up'])}" if v["limit_up"]
                else "no price limit")
        lock = {-1: ", locked at limit-down", 1: ", locked at limit-up"}.get(v["lock"], "")
        return (f"{code} mark {format_cny(v['mark'])}, {band}{lock}, "
                f"{'halted' if v['halted'] else 'trading'}")

    def decision(self, command: PlaceOrder, outcome: Outcome) -> str:
        if outcome.result > 0:
            order = self.m.engine.order(outcome.result)
            held = f", reserved {format_cny(order['reserved'])} CNY" if order["reserved"] else ""
            return f"ACCEPTED as order {outcome.result}{held}"
        code = RejectCode(-outcome.result)
        if code == RejectCode.BROKER_UNAVAILABLE:
            return f"REJECTED {int(code)} {code.name}: the broker connection was down; the order was not sent"
        detail = format_detail(code, outcome.detail,
                               f"client_order_id={command.client_order_id}"
                               if code == RejectCode.DUPLICATE_CLIENT_ORDER_ID else "")
        return f"REJECTED {int(code)} {code.name}: {detail}{_explain(code, outcome.detail)}"

    def order_line(self, command: PlaceOrder) -> str:
        side = {1: "BUY", 2: "SELL"}.get(command.side, f"side {command.side}")
        kind = " (platform liquidation order)" if getattr(command, "liquidation", False) else ""
        return (f"{type(command).__name__} {side} {command.instrument} {command.qty:,} @ {format_cny(command.price)} CNY, "
                f"client id {command.client_order_id!r}, account {command.account}{kind}")


def stage_lines(stage) -> list[str]:
    """A liquidation stage as a risk officer reads it."""
    amount = ("everything sellable (equity gone or x beyond what is sellable)" if stage.everything
              else f"{format_cny(stage.to_sell)} CNY to reach the restore-to line")
    lines = [f"LIQUIDATION stage {stage.stage} of account {stage.account} ({stage.state}, R "
             f"{ratio(stage.collateral_ratio_bp)}): sell {amount}; already working "
             f"{format_cny(stage.in_flight)} CNY"]
    for child in stage.orders:
        lines.append(f"child order {child.order}: SELL {child.instrument} {child.qty:,} @ "
                     f"{format_cny(child.price)} CNY ({child.why})")
    for skip in stage.skipped:
        lines.append(f"skipped {skip.instrument}: {skip.reason}")
    if stage.waiting:
        lines.append("nothing can be sold now: waiting for the market to change")
    return lines


def _explain(code: RejectCode, detail: tuple) -> str:
    """The money in a reject detail, in CNY, for people."""
    if code in (RejectCode.INSUFFICIENT_BUYING_POWER, RejectCode.INSUFFICIENT_CASH) and len(detail) == 2:
        need, free = detail
        return f" (needs {format_cny(need)} CNY with fees, {format_cny(free)} CNY available)"
    if code == RejectCode.REDUCE_ONLY and len(detail) == 2:
        return f" (the account is {MarginState(detail[1]).name}: it may only sell)"
    if code == RejectCode.NOTIONAL_ABOVE_MAX and len(detail) == 2:
        return f" ({format_cny(detail[0])} CNY over the tier's {format_cny(detail[1])} CNY per order)"
    if code == RejectCode.LEVERAGE_EXCEEDED and len(detail) == 3:
        a, e, lmax = detail
        lev = f"{a / e:.2f}x" if e > 0 else "no equity left"
        return f" (post-trade leverage {lev} over the tier's {lmax / 10000:.1f}x)"
    if code == RejectCode.CONCENTRATION_EXCEEDED and len(detail) == 3:
        value, assets, cap = detail
        return f" ({value / assets * 100:.1f} % of assets in one name over the tier's {cap / 100:.0f} %)"
    return ""


class _OrderNarrator(_Narrator):
    def __init__(self, audit, order_id: int | None, client_order_id: str | None, account: int | None):
        super().__init__(audit)
        self.order_id = order_id
        self.client_order_id = client_order_id
        self.account = account
        self.found = 0

    def follows_stage(self, stage) -> bool:
        return any(child.order == self.order_id for child in stage.orders)

    def follows_order(self, account: int, order: int | None) -> bool:
        if order is not None and order == self.order_id:
            self.found += 1 if not self.found else 0
            return True
        return False

    def platform_actions(self, seq, command, outcome) -> None:
        if self.order_id in outcome.orders:
            self.found += 1
        super().platform_actions(seq, command, outcome)

    def relevant(self, command: AnyCommand, recorded: Outcome) -> bool:
        if isinstance(command, RefuseOrder):
            return self.order_id is None and command.client_order_id == self.client_order_id and (
                self.account is None or command.account == self.account)
        if isinstance(command, PlaceOrder):
            if self.order_id is not None:
                return recorded.result == self.order_id
            return command.client_order_id == self.client_order_id and (
                self.account is None or command.account == self.account)
        if isinstance(command, (Fill, CancelOrder, OrderClosed)):
            return command.order == self.order_id
        return False

    def before(self, command: AnyCommand):
        if isinstance(command, (PlaceOrder, RefuseOrder)):
            return (self.market_line(command.instrument),
                    self.account_line(command.account) if command.account < self.m.engine.platform()["accounts"]
                    else "the account does not exist")
        return None

    def after(self, seq: int, command: AnyCommand, outcome: Outcome, context) -> None:
        ts = getattr(command, "ts", 0)
        head = f"  seq {seq:>9}  {when(ts)}  "
        if isinstance(command, (PlaceOrder, RefuseOrder)):
            self.found += 1
            if outcome.result > 0:
                self.order_id = outcome.result
            market, account = context
            self.out += [head + self.order_line(command),
                         f"{'':15}decision: {self.decision(command, outcome)}",
                         f"{'':15}market then: {market}",
                         f"{'':15}account then: {account}"]
        elif isinstance(command, Fill):
            if outcome.result:
                self.out.append(head + f"Fill {command.qty:,} @ {format_cny(command.price)} refused: "
                                f"{RejectCode(outcome.result).name}")
                return
            c, s, t, drawn, interest, repaid, pool = outcome.detail
            order = self.m.engine.order(command.order)
            self.out.append(head + f"Fill {command.qty:,} @ {format_cny(command.price)} CNY ({command.exec_id}): "
                            f"fees {format_cny(c + s + t)} (commission {format_cny(c)}, stamp {format_cny(s)}, "
                            f"transfer {format_cny(t)}), debt drawn {format_cny(drawn)}, debt repaid "
                            f"{format_cny(repaid)}, interest repaid {format_cny(interest)}; filled "
                            f"{order['filled']:,} of {order['qty']:,}")
        elif isinstance(command, CancelOrder):
            self.out.append(head + ("CancelOrder requested" if not outcome.result
                                    else f"CancelOrder refused: {RejectCode(outcome.result).name}"))
        elif isinstance(command, OrderClosed):
            self.out.append(head + f"OrderClosed ({command.reason})")


class _AccountNarrator(_Narrator):
    def __init__(self, audit, account: int, limit: int):
        super().__init__(audit)
        self.account = account
        self.limit = limit
        self.orders: set[int] = set()
        self.count = 0

    def watches(self, change) -> bool:
        return change[0] == self.account

    def follows_stage(self, stage) -> bool:
        if stage.account != self.account:
            return False
        self.orders.update(child.order for child in stage.orders)  # narrate their fills too
        self.count += 1
        return True

    def follows_order(self, account: int, order: int | None) -> bool:
        if account == self.account:
            self.count += 1
            return True
        return False

    def relevant(self, command: AnyCommand, recorded: Outcome) -> bool:
        if isinstance(command, (Deposit, Withdraw, SetAccountFlag, SetTier, PlaceOrder, RefuseOrder)):
            return command.account == self.account
        if isinstance(command, Fill):
            return command.order in self.orders
        if isinstance(command, DayRoll):
            return True
        return False

    def before(self, command: AnyCommand):
        if isinstance(command, DayRoll) and self.account < self.m.engine.platform()["accounts"]:
            return self.m.engine.account(self.account)["accrued_interest"]
        return None

    def after(self, seq: int, command: AnyCommand, outcome: Outcome, context) -> None:
        ts = getattr(command, "ts", 0)
        head = f"  seq {seq:>9}  {when(ts)}  "
        kind = type(command).__name__
        text = None
        if isinstance(command, (PlaceOrder, RefuseOrder)):
            if outcome.result > 0:
                self.orders.add(outcome.result)
            text = f"{self.order_line(command)}: {self.decision(command, outcome)}"
        elif isinstance(command, (Deposit, Withdraw)):
            text = (f"{kind} {format_cny(command.amount)} CNY: "
                    + ("done" if not outcome.result else RejectCode(outcome.result).name
                       + ": " + format_detail(RejectCode(outcome.result), outcome.detail)))
        elif isinstance(command, Fill):
            text = f"Fill order {command.order}: {command.qty:,} @ {format_cny(command.price)} CNY"
        elif isinstance(command, (SetAccountFlag, SetTier)):
            text = f"{kind} {msgspec.structs.asdict(command)}"
        elif isinstance(command, DayRoll) and context is not None:
            interest = self.m.engine.account(self.account)["accrued_interest"] - context
            if interest:
                text = f"DayRoll to {dt.date.fromordinal(command.day)}: interest accrued {format_cny(interest)} CNY"
        for account, old, new, r in outcome.changes:
            if account == self.account:
                cause = _cause(command)
                self.out.append(head + f"MARGIN {MarginState(old).name} -> {MarginState(new).name} at R {ratio(r)}"
                                f" (after {cause})")
                self.out.append(f"{'':15}account: {self.account_line(self.account)}")
                self.count += 1
        if text:
            self.out.append(head + text)
            self.count += 1


def _cause(command: AnyCommand) -> str:
    if isinstance(command, Tick):
        return f"a trade of {command.instrument} at {format_cny(command.price)}" + (
            " locked at limit-down" if command.lock == -1 else "")
    if isinstance(command, Marks):
        return "a full market re-mark"
    if isinstance(command, ClockAdvance):
        return f"the clock reached {when(command.ts)}: the margin call's deposit deadline passed"
    if isinstance(command, DayRoll):
        return f"the day roll to {dt.date.fromordinal(command.day)} (interest)"
    return type(command).__name__


def audit_order(path: str, order_id: int | None = None, client_order_id: str | None = None,
                account: int | None = None, backend: str | None = None) -> str:
    audit = _Audit(path, backend)
    narrator = _OrderNarrator(audit, order_id, client_order_id, account)
    audit.run(narrator.relevant, narrator)
    what = f"order {order_id}" if order_id is not None else f"client order id {client_order_id!r}" + (
        f" on account {account}" if account is not None else "")
    if not narrator.found:
        return f"No order matching {what} in {path}."
    return "\n".join([f"Audit of {what} ({narrator.found} submission{'s' if narrator.found > 1 else ''}):"]
                     + audit.lines)


def audit_account(path: str, account: int, backend: str | None = None, limit: int = 0) -> str:
    audit = _Audit(path, backend)
    narrator = _AccountNarrator(audit, account, limit)
    machine = audit.run(narrator.relevant, narrator)
    if machine is None or account >= machine.engine.platform()["accounts"]:
        return f"No account {account} in {path}."
    name = machine.account_names[account] if account < len(machine.account_names) else ""
    tier = machine.tiers[machine.engine.account(account)["tier"]].name
    lines = audit.lines[-limit:] if limit else audit.lines
    return "\n".join([f"Audit of account {account} {name!r} ({tier} tier): {narrator.count:,} events"
                      + (f", the last {limit} shown" if limit and len(audit.lines) > limit else ""),
                      *lines, f"Now: {narrator.account_line(account)}"])


def write_synthetic(path: str, commands: int, seed: int, fsync: str = "none", snapshot_every: int = 0) -> str:
    from .journaled import Journaled
    from .synthetic import SyntheticSession, journal_session

    session = SyntheticSession(seed)
    journaled = Journaled.create(path, session.genesis(), fsync=fsync, snapshot_every=snapshot_every)
    count = journal_session(journaled, session, commands)
    journaled.close()
    return f"wrote {count + 1:,} records (genesis and {count:,} commands) to {Path(path) / 'journal.log'}"
