"""The reference model: DOMAIN.md's rules in plain, obviously-correct Python.

It is the test oracle for the Cython engine (`core._engine.MarginEngine`) and
offers the same low-level interface: integer account, instrument and order ids,
integer money. It favours clarity over speed everywhere: nothing is cached that
could be recomputed (pending buys, market values and sellable quantities are
recomputed from orders and positions on every use), so the incremental
bookkeeping of the fast engine is checked against first principles.
"""

from __future__ import annotations

from typing import Sequence

from .config import EngineConfig
from .fees import buy_reservation, fill_fees
from .instruments import Instrument, buy_quantity_ok, limit_prices, sell_quantity_ok
from .margin import Lines, MarginState, collateral_ratio_bp, liquidation_amount, next_state, ratio_meets
from .rejects import EngineError, RejectCode as RC
from .session import day_time_ns, local_hhmmss, next_weekday, session_open
from .snapshot import (
    AccountState, EngineState, InstrumentState, OrderState, PositionState, check_compatible,
    sorted_client_order_ids,
)
from .tiers import Tier
from .types import ACCOUNT_FIELDS, Lock, OrderStatus, Side
from .units import BP, MAX_MONEY, MAX_PRICE, MAX_QUANTITY, apply_bp, half_up_div

TOKEN = 1_000_000_000  # one order's worth of tokens, in nano-tokens


class _Instrument:
    def __init__(self, spec: Instrument):
        self.spec = spec
        self.board = spec.board
        self.limit_pct = spec.effective_limit_pct
        self.halted = spec.halted
        self.prev_close = spec.prev_close
        self.mark = spec.prev_close  # the previous close until the first trade
        self.lock = Lock.NONE

    def limits(self) -> tuple[int, int] | None:
        if self.spec.no_limit or self.prev_close <= 0:
            return None
        return limit_prices(self.prev_close, self.limit_pct)


class _Account:
    def __init__(self, ident: int, tier: int, burst_tokens: int):
        self.ident = ident
        self.tier = tier
        self.state = MarginState.NORMAL
        self.active = True
        self.frozen = False
        self.reduce_only_manual = False
        self.killed = False
        self.cash = 0
        self.debt = 0
        self.accrued_interest = 0
        self.deposits = 0
        self.withdrawals = 0
        self.sell_cash_today = 0
        self.tokens = burst_tokens
        self.token_time = 0
        self.client_order_ids: set = set()
        self.margin_call_day = 0  # trading day the current margin call began
        self.margin_call_deadline_ns = 0  # set by the first day roll after it
        self.receivable = 0  # a default's shortfall no one covered, owed by the client
        self.book: dict[int, _Position] = {}  # instrument -> position row, until a day roll finds it empty
        self.open_orders: dict[int, _Order] = {}  # order id -> open order


class _Position:
    def __init__(self) -> None:
        self.start_of_day = 0  # held at the start of the trading day
        self.bought_today = 0
        self.sold_today = 0

    @property
    def held(self) -> int:
        return self.start_of_day + self.bought_today - self.sold_today


class _Order:
    def __init__(self, ident, account, instrument, side, price, qty, liquidation, marginable):
        self.ident = ident
        self.account = account
        self.instrument = instrument
        self.side = side
        self.price = price
        self.qty = qty
        self.liquidation = liquidation
        self.marginable = marginable
        self.filled = 0
        self.cum_notional = 0
        self.commission_paid = 0
        self.status = OrderStatus.OPEN

    @property
    def remaining(self) -> int:
        return self.qty - self.filled


class ReferenceEngine:
    """Pure-Python margin engine; see docs/engine.md for the interface it shares with the fast one."""

    implementation = "python"

    def __init__(self, instruments: Sequence[Instrument], tiers: Sequence[Tier], config: EngineConfig, trading_day: int):
        self.config = config.validate()
        self.tiers = [t.validate(config.hysteresis_band_bp) for t in tiers]
        self.instruments = [_Instrument(i.validate()) for i in instruments]
        self.trading_day = trading_day
        self.accounts: list[_Account] = []
        self.orders: dict[int, _Order] = {}  # today's book
        self.next_order_id = 1
        self.global_kill = False
        self.halt_buys = False
        self.halt_deposits = False
        self.halt_accounts = False
        self.line_raise_bp = 0
        self.insurance_pool = 0
        self.commission_income = 0
        self.stamp_duty_collected = 0
        self.transfer_fees_collected = 0
        self.interest_income = 0
        self.backstop_line = config.backstop_line
        self.backstop_drawn = 0
        self.receivables = 0
        self.receivables_recovered = 0
        self.covered_by_pool = 0
        self.covered_by_backstop = 0
        self.covered_by_receivable = 0
        self.insurance_funded = 0
        self._changes: list[tuple[int, int, int, int]] = []
        self._steps: list[tuple[int, int, int, int, int, int]] = []
        self._detail: tuple = ()
        self._fill: tuple = ()

    # ----------------------------------------------------------------- helpers
    def _reject(self, code: RC, *detail) -> int:
        self._detail = detail
        return int(code)

    def _position(self, acct: int, instr: int) -> _Position:
        return self.accounts[acct].book.get(instr) or _Position()

    def _open_orders(self, acct: int) -> list[_Order]:
        return list(self.accounts[acct].open_orders.values())

    def _sellable(self, acct: int, instr: int) -> int:
        pos = self._position(acct, instr)
        open_sells = sum(o.remaining for o in self._open_orders(acct) if o.instrument == instr and o.side == Side.SELL)
        return pos.start_of_day - pos.sold_today - open_sells

    def _reservation(self, order: _Order) -> int:
        if order.side != Side.BUY or order.status != OrderStatus.OPEN:
            return 0
        fees = self.tiers[self.accounts[order.account].tier].fees
        return buy_reservation(order.price, order.remaining, order.cum_notional, order.commission_paid, fees)

    def _reserved_buy(self, acct: int, non_marginable_only: bool = False) -> int:
        return sum(self._reservation(o) for o in self._open_orders(acct) if not (non_marginable_only and o.marginable))

    def _market_value(self, acct: int) -> int:
        return sum(p.held * self.instruments[i].mark for i, p in self.accounts[acct].book.items())

    def _credit_line(self, a: _Account) -> int:
        net = max(0, a.deposits - a.withdrawals)
        return apply_bp(net, self.tiers[a.tier].max_leverage_bp - BP)

    def _assets_liabilities(self, a: _Account) -> tuple[int, int]:
        return a.cash + self._market_value(a.ident), a.debt + a.accrued_interest

    def _lines(self, a: _Account) -> Lines:
        t, r = self.tiers[a.tier], self.line_raise_bp
        return Lines(t.warning_bp + r, t.margin_call_bp + r, t.liquidation_bp + r, t.restore_bp + r)

    def _has_sellable_shares(self, acct: int) -> bool:
        for i, p in self.accounts[acct].book.items():
            inst = self.instruments[i]
            if p.start_of_day - p.sold_today > 0 and not inst.halted and inst.lock != Lock.LIMIT_DOWN:
                return True
        return False

    def _move(self, a: _Account, new: MarginState, ratio: int) -> None:
        old = a.state
        a.state = new
        if new == MarginState.MARGIN_CALL:  # shown at once; the next roll confirms it (see roll_day)
            a.margin_call_day = self.trading_day
            a.margin_call_deadline_ns = day_time_ns(next_weekday(self.trading_day), self.config.margin_call_deadline_s)
        elif old == MarginState.MARGIN_CALL:
            a.margin_call_day, a.margin_call_deadline_ns = 0, 0
        self._changes.append((a.ident, int(old), int(new), ratio))

    def _begin(self) -> None:
        """A command starts: nothing reported yet."""
        self._changes = []
        self._steps = []

    def _default_if_bankrupt(self, a: _Account, assets: int, liabilities: int) -> None:
        """LIQUIDATING with equity gone and nothing left that could be sold: DEFAULTED."""
        if (a.state == MarginState.LIQUIDATING and liabilities > 0 and assets - liabilities <= 0
                and not self._has_sellable_shares(a.ident)):
            self._move(a, MarginState.DEFAULTED, collateral_ratio_bp(assets, liabilities))
            self._settle_default(a)

    def _settle_default(self, a: _Account) -> None:
        """The default waterfall: a shortfall with nothing left to sell is covered by the insurance
        pool, then the backstop line, the rest recorded as a receivable; liabilities fall by it,
        interest first. Later cash of the account repays its receivable once it owes nothing else."""
        assets, liabilities = self._assets_liabilities(a)
        shortfall = liabilities - assets
        if shortfall > 0 and not self._has_sellable_shares(a.ident):
            from_pool = min(shortfall, self.insurance_pool)
            from_backstop = min(shortfall - from_pool, max(0, self.backstop_line - self.backstop_drawn))
            to_receivable = shortfall - from_pool - from_backstop
            self.insurance_pool -= from_pool
            self.backstop_drawn += from_backstop
            self.receivables += to_receivable
            self.covered_by_pool += from_pool
            self.covered_by_backstop += from_backstop
            self.covered_by_receivable += to_receivable
            a.receivable += to_receivable
            interest = min(shortfall, a.accrued_interest)
            a.accrued_interest -= interest
            a.debt -= shortfall - interest
            self._steps.append((a.ident, 1, shortfall, from_pool, from_backstop, to_receivable))
        elif a.receivable > 0 and liabilities == 0 and a.cash - self._reserved_buy(a.ident) > 0:
            amount = min(a.receivable, a.cash - self._reserved_buy(a.ident))
            a.cash -= amount
            a.receivable -= amount
            self.receivables -= amount
            self.receivables_recovered += amount
            self._steps.append((a.ident, 2, amount, 0, 0, -amount))

    def _evaluate(self, a: _Account) -> None:
        if a.state == MarginState.DEFAULTED:
            self._settle_default(a)  # left only by an operator (clear_default)
            return
        assets, liabilities = self._assets_liabilities(a)
        new = next_state(a.state, assets, liabilities, self._lines(a), self.config.hysteresis_band_bp)
        if new != a.state:
            self._move(a, new, collateral_ratio_bp(assets, liabilities))
        self._default_if_bankrupt(a, assets, liabilities)

    def _evaluate_holders(self, instr: int) -> None:
        # A position row exists from an account's first order or fill in the instrument until the
        # day roll finds it empty; every such account is re-evaluated.
        for a in self.accounts:
            if instr in a.book:
                self._evaluate(a)

    def _account(self, acct: int) -> _Account | None:
        return self.accounts[acct] if 0 <= acct < len(self.accounts) else None

    def _refill(self, a: _Account, now_ns: int) -> tuple[int, int]:
        capacity = self.config.order_burst * TOKEN
        tokens, stamp = a.tokens, a.token_time
        if now_ns > stamp:
            elapsed = now_ns - stamp
            tokens = capacity if elapsed >= capacity else min(capacity, tokens + elapsed * self.config.order_rate_per_s)
            stamp = now_ns
        return tokens, stamp

    # ------------------------------------------------------------ accounts
    def add_account(self, tier: int) -> int:
        """Open an account in tier (index); returns its id, or -code."""
        self._begin()
        if self.halt_accounts:
            return -self._reject(RC.ACCOUNTS_HALTED)
        if not 0 <= tier < len(self.tiers):
            return -self._reject(RC.UNKNOWN_TIER, tier)
        self.accounts.append(_Account(len(self.accounts), tier, self.config.order_burst * TOKEN))
        return len(self.accounts) - 1

    def set_tier(self, acct: int, tier: int) -> int:
        self._begin()
        a = self._account(acct)
        if a is None:
            return self._reject(RC.UNKNOWN_ACCOUNT, acct)
        if not 0 <= tier < len(self.tiers):
            return self._reject(RC.UNKNOWN_TIER, tier)
        a.tier = tier
        self._evaluate(a)
        return 0

    def remember_client_order_id(self, acct: int, clid) -> int:
        """Record a client order id the gateway answered without the checks (an order refused
        because the broker is down): 0, or UNKNOWN_ACCOUNT, or DUPLICATE_CLIENT_ORDER_ID when the
        account has answered it already today."""
        self._begin()
        a = self._account(acct)
        if a is None:
            return self._reject(RC.UNKNOWN_ACCOUNT, acct)
        if clid is not None:
            if clid in a.client_order_ids:
                return self._reject(RC.DUPLICATE_CLIENT_ORDER_ID)
            a.client_order_ids.add(clid)
        return 0

    def deposit(self, acct: int, amount: int) -> int:
        """Credit amount (fen) to cash; deposits never repay debt."""
        self._begin()
        a = self._account(acct)
        if a is None:
            return self._reject(RC.UNKNOWN_ACCOUNT, acct)
        if not 0 < amount <= MAX_MONEY:
            return self._reject(RC.INVALID_AMOUNT, amount)
        if not a.active:
            return self._reject(RC.ACCOUNT_INACTIVE, acct)
        if self.halt_deposits:
            return self._reject(RC.DEPOSITS_HALTED)
        a.cash += amount
        a.deposits += amount
        self._evaluate(a)
        return 0

    def withdraw(self, acct: int, amount: int) -> int:
        """Pay out amount (fen) if free cash covers it and R stays at or above the withdrawal line."""
        self._begin()
        a = self._account(acct)
        if a is None:
            return self._reject(RC.UNKNOWN_ACCOUNT, acct)
        if not 0 < amount <= MAX_MONEY:
            return self._reject(RC.INVALID_AMOUNT, amount)
        if a.frozen:
            return self._reject(RC.ACCOUNT_FROZEN, acct)
        free = a.cash - a.sell_cash_today - self._reserved_buy(acct)
        if amount > free:
            return self._reject(RC.WITHDRAWAL_EXCEEDS_FREE_CASH, amount, free)
        assets, liabilities = self._assets_liabilities(a)
        if not ratio_meets(assets - amount, liabilities, self.config.withdrawal_min_ratio_bp):
            return self._reject(RC.WITHDRAWAL_BREACHES_RATIO, collateral_ratio_bp(assets - amount, liabilities),
                                self.config.withdrawal_min_ratio_bp)
        a.cash -= amount
        a.withdrawals += amount
        self._evaluate(a)
        return 0

    def _set_flag(self, acct: int, name: str, on: bool) -> int:
        self._begin()
        a = self._account(acct)
        if a is None:
            return self._reject(RC.UNKNOWN_ACCOUNT, acct)
        setattr(a, name, bool(on))
        return 0

    def set_frozen(self, acct: int, on: bool) -> int:
        return self._set_flag(acct, "frozen", on)

    def set_reduce_only(self, acct: int, on: bool) -> int:
        return self._set_flag(acct, "reduce_only_manual", on)

    def set_account_kill(self, acct: int, on: bool) -> int:
        return self._set_flag(acct, "killed", on)

    def set_active(self, acct: int, on: bool) -> int:
        return self._set_flag(acct, "active", on)

    # ------------------------------------------------------ platform controls
    def set_global_kill(self, on: bool) -> None:
        self.global_kill = bool(on)

    def set_halt_buys(self, on: bool) -> None:
        self.halt_buys = bool(on)

    def set_halt_deposits(self, on: bool) -> None:
        self.halt_deposits = bool(on)

    def set_halt_accounts(self, on: bool) -> None:
        self.halt_accounts = bool(on)

    def set_line_raise(self, raise_bp: int) -> int:
        """Raise every tier's warning, margin-call, liquidation and restore lines by raise_bp; re-evaluate all."""
        self._begin()
        if not 0 <= raise_bp <= 100_000:
            return self._reject(RC.INVALID_AMOUNT, raise_bp)
        self.line_raise_bp = raise_bp
        for a in self.accounts:
            self._evaluate(a)
        return 0

    def set_halted(self, instr: int, on: bool) -> int:
        self._begin()
        if not 0 <= instr < len(self.instruments):
            return self._reject(RC.UNKNOWN_INSTRUMENT, instr)
        self.instruments[instr].halted = bool(on)
        self._evaluate_holders(instr)
        return 0

    def fund_insurance_pool(self, amount: int) -> int:
        """Money paid into the insurance pool by the platform (beyond the share of repaid interest)."""
        self._begin()
        if not 0 < amount <= MAX_MONEY:
            return self._reject(RC.INVALID_AMOUNT, amount)
        self.insurance_pool += amount
        self.insurance_funded += amount
        return 0

    def clear_default(self, acct: int) -> int:
        """An operator ends a default once the account owes nothing on the margin book."""
        self._begin()
        a = self._account(acct)
        if a is None:
            return self._reject(RC.UNKNOWN_ACCOUNT, acct)
        assets, liabilities = self._assets_liabilities(a)
        if a.state != MarginState.DEFAULTED or liabilities > 0:
            return self._reject(RC.DEFAULT_NOT_CLEARABLE, acct, int(a.state), liabilities)
        self._move(a, MarginState.NORMAL, collateral_ratio_bp(assets, liabilities))
        return 0

    # --------------------------------------------------------------- orders
    def check_order(self, acct, instr, side, price, qty, client_order_id, now_ns, liquidation=False) -> int:
        """The pre-trade decision for an order, changing nothing: 0 or a reject code."""
        return self._decide(acct, instr, side, price, qty, client_order_id, now_ns, liquidation, False)

    def place_order(self, acct, instr, side, price, qty, client_order_id, now_ns, liquidation=False) -> int:
        """Run the pre-trade checks and, on acceptance, open the order and reserve for it.
        Returns the new order id (>= 1) or -code."""
        self._begin()
        code = self._decide(acct, instr, side, price, qty, client_order_id, now_ns, liquidation, True)
        if code:
            return -code
        inst = self.instruments[instr]
        order = _Order(self.next_order_id, acct, instr, side, price, qty, liquidation, inst.spec.marginable)
        self.orders[order.ident] = order
        self.accounts[acct].open_orders[order.ident] = order
        self.accounts[acct].book.setdefault(instr, _Position())
        self.next_order_id += 1
        return order.ident

    def _decide(self, acct, instr, side, price, qty, clid, now_ns, liquidation, commit) -> int:
        a = self._account(acct)
        if a is None:
            return self._reject(RC.UNKNOWN_ACCOUNT, acct)
        if side not in (Side.BUY, Side.SELL):  # not an order at all; the account step needs the side
            code = self._reject(RC.INVALID_SIDE, side)
        else:
            code = self._decide_for_account(a, instr, side, price, qty, clid, now_ns, liquidation, commit)
        # Every answered client order id is remembered for the day, accepted or not.
        if commit and clid is not None and a is not None:
            a.client_order_ids.add(clid)
        return code

    def _decide_for_account(self, a: _Account, instr, side, price, qty, clid, now_ns, liquidation, commit) -> int:
        cfg = self.config
        tier = self.tiers[a.tier]
        is_buy = side == Side.BUY
        # 1. account
        if not a.active:
            return self._reject(RC.ACCOUNT_INACTIVE, a.ident)
        if a.frozen:
            return self._reject(RC.ACCOUNT_FROZEN, a.ident)
        if is_buy and (a.reduce_only_manual or a.state.reduce_only):
            return self._reject(RC.REDUCE_ONLY, a.ident, int(a.state))
        # 2. kill switches and emergency halts
        if not liquidation:
            if self.global_kill:
                return self._reject(RC.KILL_SWITCH_GLOBAL)
            if a.killed:
                return self._reject(RC.KILL_SWITCH_ACCOUNT, a.ident)
        if is_buy and self.halt_buys:
            return self._reject(RC.BUYS_HALTED)
        # 3. instrument and market
        if not 0 <= instr < len(self.instruments):
            return self._reject(RC.UNKNOWN_INSTRUMENT, instr)
        inst = self.instruments[instr]
        if inst.halted:
            return self._reject(RC.INSTRUMENT_HALTED, instr)
        if cfg.enforce_session and not session_open(now_ns):
            return self._reject(RC.SESSION_CLOSED, local_hhmmss(now_ns))
        mark = inst.mark
        if mark <= 0:
            return self._reject(RC.NO_MARK_PRICE, instr)
        # 4. sellable (T+1, no short selling)
        sellable = self._sellable(a.ident, instr)
        if not is_buy and qty > sellable:
            return self._reject(RC.INSUFFICIENT_SELLABLE, qty, sellable)
        # 5. quantity and price in range, lots, tick, limit band, collar
        if not 0 < qty <= MAX_QUANTITY:
            return self._reject(RC.INVALID_QUANTITY, qty)
        if not 0 < price <= MAX_PRICE:
            return self._reject(RC.INVALID_PRICE, price)
        lot_ok = buy_quantity_ok(inst.board, qty) if is_buy else sell_quantity_ok(inst.board, qty, sellable)
        if not lot_ok:
            return self._reject(RC.INVALID_LOT, qty, sellable)
        if price % inst.spec.tick:
            return self._reject(RC.PRICE_OFF_TICK, price, inst.spec.tick)
        limits = inst.limits()
        if limits is not None and not limits[0] <= price <= limits[1]:
            return self._reject(RC.PRICE_OUTSIDE_LIMITS, price, limits[0], limits[1])
        if not liquidation and abs(price - mark) * BP > cfg.price_collar_bp * mark:
            return self._reject(RC.PRICE_OUTSIDE_COLLAR, price, mark, cfg.price_collar_bp)
        # 6. size
        notional = price * qty
        if not liquidation:
            if qty > inst.spec.max_order_qty:
                return self._reject(RC.QUANTITY_ABOVE_MAX, qty, inst.spec.max_order_qty)
            if notional > tier.max_order_notional:
                return self._reject(RC.NOTIONAL_ABOVE_MAX, notional, tier.max_order_notional)
        # 7. duplicate client order id
        if clid is not None and clid in a.client_order_ids:
            return self._reject(RC.DUPLICATE_CLIENT_ORDER_ID)
        # 8. rate limits: a token is spent by every order that gets this far
        if not liquidation:
            tokens, stamp = self._refill(a, now_ns)
            if tokens < TOKEN:
                if commit:
                    a.tokens, a.token_time = tokens, stamp
                return self._reject(RC.RATE_LIMITED, cfg.order_rate_per_s, cfg.order_burst)
            if commit:
                a.tokens, a.token_time = tokens - TOKEN, stamp
            open_count = len(self._open_orders(a.ident))
            if open_count >= cfg.max_open_orders:
                return self._reject(RC.TOO_MANY_OPEN_ORDERS, open_count, cfg.max_open_orders)
        if not is_buy:
            return 0
        # 9. buying power, leverage, concentration
        cost = buy_reservation(price, qty, 0, 0, tier.fees)
        reserved = self._reserved_buy(a.ident)
        free = a.cash + self._credit_line(a) - a.debt - a.accrued_interest - reserved
        if cost > free:
            return self._reject(RC.INSUFFICIENT_BUYING_POWER, cost, free)
        if not inst.spec.marginable and cost > a.cash - reserved:
            return self._reject(RC.INSUFFICIENT_CASH, cost, a.cash - reserved)
        # Post-trade: every open buy and this order fill at their limits, paid from cash then credit,
        # and every share (held and bought) is valued at today's mark.
        total_cost = reserved + cost
        from_cash = min(max(a.cash, 0), total_cost)
        pending_value = sum(o.remaining * self.instruments[o.instrument].mark
                            for o in self._open_orders(a.ident) if o.side == Side.BUY)
        post_assets = a.cash - from_cash + self._market_value(a.ident) + pending_value + qty * mark
        post_liabilities = a.debt + a.accrued_interest + (total_cost - from_cash)
        post_equity = post_assets - post_liabilities
        if post_assets * BP > tier.max_leverage_bp * post_equity:
            return self._reject(RC.LEVERAGE_EXCEEDED, post_assets, post_equity, tier.max_leverage_bp)
        open_same = sum(o.remaining for o in self._open_orders(a.ident) if o.side == Side.BUY and o.instrument == instr)
        post_value = (self._position(a.ident, instr).held + open_same + qty) * mark
        if post_value * BP > tier.max_single_name_bp * post_assets:
            return self._reject(RC.CONCENTRATION_EXCEEDED, post_value, post_assets, tier.max_single_name_bp)
        return 0

    # ---------------------------------------------------------- executions
    def apply_fill(self, order_id: int, qty: int, price: int) -> int:
        """Apply an execution of qty shares at price (fen) to an open order; 0 or an error code."""
        self._begin()
        order = self.orders.get(order_id)
        if order is None:
            return self._reject(RC.UNKNOWN_ORDER, order_id)
        if order.status != OrderStatus.OPEN:
            return self._reject(RC.ORDER_NOT_OPEN, order_id)
        if not 0 < qty <= order.remaining:
            return self._reject(RC.FILL_QUANTITY_INVALID, qty, order.remaining)
        is_buy = order.side == Side.BUY
        if not 0 < price <= MAX_PRICE or (price > order.price if is_buy else price < order.price):
            return self._reject(RC.FILL_PRICE_INVALID, price, order.price)
        a = self.accounts[order.account]
        tier = self.tiers[a.tier]
        notional = qty * price
        fees = fill_fees(not is_buy, notional, order.cum_notional, order.commission_paid, tier.fees)
        order.filled += qty
        order.cum_notional += notional
        order.commission_paid += fees.commission
        if order.filled == order.qty:
            order.status = OrderStatus.FILLED
            del self.accounts[order.account].open_orders[order.ident]
        self.commission_income += fees.commission
        self.stamp_duty_collected += fees.stamp_duty
        self.transfer_fees_collected += fees.transfer
        pos = a.book.setdefault(order.instrument, _Position())
        debt_drawn = interest_repaid = debt_repaid = insurance = 0
        earmarked = self._reserved_buy(a.ident, non_marginable_only=True)
        if is_buy:
            pos.bought_today += qty
            cost = notional + fees.total
            # Cash earmarked for open non-marginable buys is not spent on margin-financed ones.
            spendable = max(0, a.cash - (earmarked if order.marginable else 0))
            from_cash = min(spendable, cost)
            a.cash -= from_cash
            debt_drawn = cost - from_cash
            a.debt += debt_drawn
        else:
            pos.sold_today += qty
            net = notional - fees.total
            if net >= 0:
                interest_repaid = min(net, a.accrued_interest)
                a.accrued_interest -= interest_repaid
                insurance = apply_bp(interest_repaid, self.config.insurance_share_bp)
                self.insurance_pool += insurance
                self.interest_income += interest_repaid - insurance
                debt_repaid = min(net - interest_repaid, a.debt)
                a.debt -= debt_repaid
                to_cash = net - interest_repaid - debt_repaid
                a.cash += to_cash
                a.sell_cash_today += to_cash
            else:
                from_cash = min(max(0, a.cash - earmarked), -net)
                a.cash -= from_cash
                debt_drawn = -net - from_cash
                a.debt += debt_drawn
        self._fill = (fees.commission, fees.stamp_duty, fees.transfer, debt_drawn, interest_repaid, debt_repaid, insurance)
        self._evaluate(a)
        return 0

    def close_order(self, order_id: int) -> int:
        """Close an open order's remainder (canceled, expired or refused by the broker), releasing what it held."""
        self._begin()
        order = self.orders.get(order_id)
        if order is None:
            return self._reject(RC.UNKNOWN_ORDER, order_id)
        if order.status != OrderStatus.OPEN:
            return self._reject(RC.ORDER_NOT_OPEN, order_id)
        order.status = OrderStatus.CANCELED
        del self.accounts[order.account].open_orders[order.ident]
        return 0

    # --------------------------------------------------------------- market
    def _tick_error(self, inst: _Instrument, price: int, lock: int) -> int:
        limits = inst.limits()
        down, up = limits if limits is not None else (0, 0)
        bad = not 0 < price <= MAX_PRICE or lock not in (Lock.NONE, Lock.LIMIT_DOWN, Lock.LIMIT_UP)
        if limits is not None:
            bad = bad or not down <= price <= up
            bad = bad or (lock == Lock.LIMIT_DOWN and price != down) or (lock == Lock.LIMIT_UP and price != up)
        elif lock != Lock.NONE:
            bad = True
        return self._reject(RC.TICK_PRICE_INVALID, price, down, up) if bad else 0

    def apply_tick(self, instr: int, price: int, lock: int = 0) -> list:
        """Set an instrument's mark (fen) and lock, re-evaluate its holders; the margin state changes."""
        self._begin()
        if not 0 <= instr < len(self.instruments):
            raise EngineError(RC.UNKNOWN_INSTRUMENT, (instr,))
        inst = self.instruments[instr]
        if self._tick_error(inst, price, lock):
            raise EngineError(RC.TICK_PRICE_INVALID, self._detail)
        inst.mark = price
        inst.lock = Lock(lock)
        self._evaluate_holders(instr)
        return self.take_changes()

    def apply_marks(self, prices: Sequence[int]) -> list:
        """Full re-mark: prices[i] is instrument i's new mark (0 keeps it); every account re-evaluated."""
        self._begin()
        if len(prices) != len(self.instruments):
            raise ValueError(f"apply_marks needs one price per instrument ({len(self.instruments)}), got {len(prices)}")
        for i, p in enumerate(prices):
            if p and self._tick_error(self.instruments[i], p, Lock.NONE):
                raise EngineError(RC.TICK_PRICE_INVALID, self._detail)
        for i, p in enumerate(prices):
            if p:  # a snapshot carries no quotes, so it clears any limit lock
                self.instruments[i].mark = p
                self.instruments[i].lock = Lock.NONE
        for a in self.accounts:
            self._evaluate(a)
        return self.take_changes()

    def roll_day(self, day: int) -> int:
        """End the trading day and start `day` (a date ordinal): expire orders, accrue interest,
        release T+1, reset previous closes, limits and daily counters; re-evaluate every account."""
        self._begin()
        if day <= self.trading_day:
            return self._reject(RC.DAY_ROLL_INVALID, day, self.trading_day)
        days = day - self.trading_day
        for order in self.orders.values():
            if order.status == OrderStatus.OPEN:
                order.status = OrderStatus.CANCELED
        for a in self.accounts:
            rate = self.tiers[a.tier].annual_rate_bp
            if a.debt > 0:
                a.accrued_interest += half_up_div(a.debt * rate * days, BP * self.config.interest_day_count)
            a.sell_cash_today = 0
            a.client_order_ids.clear()
            a.open_orders.clear()
            for instr in list(a.book):
                p = a.book[instr]
                p.start_of_day, p.bought_today, p.sold_today = p.held, 0, 0
                if p.start_of_day == 0:
                    del a.book[instr]
        for inst in self.instruments:
            if inst.mark > 0:
                inst.prev_close = inst.mark
            inst.lock = Lock.NONE
        ended, self.trading_day = self.trading_day, day
        # A margin call's deadline is the first trading day after it, at 09:30 (a setting): the calls
        # of the day that ended get this day's, whatever was shown while the next day was not known.
        for a in self.accounts:
            if a.state == MarginState.MARGIN_CALL and a.margin_call_day == ended:
                a.margin_call_deadline_ns = day_time_ns(day, self.config.margin_call_deadline_s)
        self.orders = {}  # a new day's book; order ids keep counting
        for a in self.accounts:
            self._evaluate(a)
        return 0

    def advance_clock(self, now_ns: int) -> list:
        """Time passes: margin calls whose deposit deadline is at or before now_ns start liquidating."""
        self._begin()
        for a in self.accounts:
            if (a.state == MarginState.MARGIN_CALL and a.margin_call_day < self.trading_day
                    and now_ns >= a.margin_call_deadline_ns):  # confirmed by a roll, and passed
                assets, liabilities = self._assets_liabilities(a)
                self._move(a, MarginState.LIQUIDATING, collateral_ratio_bp(assets, liabilities))
                self._default_if_bankrupt(a, assets, liabilities)
        return self.take_changes()

    # ---------------------------------------------------------------- views
    def take_changes(self) -> list:
        """Margin state changes of the last command: (account, old, new, collateral_ratio_bp)."""
        changes, self._changes = self._changes, []
        return changes

    def waterfall_pending(self) -> bool:
        return bool(self._steps)

    def take_waterfall(self) -> list:
        """Default waterfall steps of the last command: (account, kind, amount, from_pool,
        from_backstop, to_receivable); kind 1 covers a shortfall, 2 recovers a receivable."""
        steps, self._steps = self._steps, []
        return steps

    def last_detail(self) -> tuple:
        return self._detail

    def last_fill(self) -> tuple:
        """(commission, stamp_duty, transfer, debt_drawn, interest_repaid, debt_repaid, to_insurance) of the last fill."""
        return self._fill

    def account(self, acct: int) -> dict:
        a = self._account(acct)
        if a is None:
            raise KeyError(f"unknown account {acct}")
        assets, liabilities = self._assets_liabilities(a)
        credit = self._credit_line(a)
        reserved = self._reserved_buy(acct)
        values = (
            acct, a.tier, int(a.state), a.active, a.frozen, a.reduce_only_manual or a.state.reduce_only,
            a.reduce_only_manual, a.killed, a.cash, a.debt, a.accrued_interest, a.deposits, a.withdrawals,
            max(0, a.deposits - a.withdrawals), credit, self._market_value(acct), reserved,
            self._reserved_buy(acct, non_marginable_only=True), a.sell_cash_today, len(self._open_orders(acct)),
            assets, liabilities, assets - liabilities, collateral_ratio_bp(assets, liabilities),
            a.cash + credit - a.debt - a.accrued_interest - reserved, a.margin_call_deadline_ns,
            a.receivable,
        )
        return dict(zip(ACCOUNT_FIELDS, values))

    def position(self, acct: int, instr: int) -> dict:
        p = self._position(acct, instr)
        opens = [o for o in self._open_orders(acct) if o.instrument == instr]
        return {
            "account": acct, "instrument": instr, "held": p.held, "start_of_day": p.start_of_day,
            "bought_today": p.bought_today, "sold_today": p.sold_today,
            "open_sell": sum(o.remaining for o in opens if o.side == Side.SELL),
            "open_buy": sum(o.remaining for o in opens if o.side == Side.BUY),
            "sellable": self._sellable(acct, instr),
            "market_value": p.held * self.instruments[instr].mark,
        }

    def positions_of(self, acct: int) -> list[dict]:
        """Every position of the account with shares held or in open orders, by instrument id."""
        instrs = sorted({i for i, p in self.accounts[acct].book.items() if p.held > 0}
                        | {o.instrument for o in self._open_orders(acct)})
        return [self.position(acct, i) for i in instrs]

    def order_status(self, order_id: int) -> int:
        """The status of an order of today's book (OrderStatus), or 0 if unknown."""
        order = self.orders.get(order_id)
        return 0 if order is None else int(order.status)

    def order_reserved(self, order_id: int) -> int:
        o = self.orders.get(order_id)
        if o is None:
            raise KeyError(f"unknown order {order_id}")
        return self._reservation(o)

    def order(self, order_id: int) -> dict:
        o = self.orders.get(order_id)
        if o is None:
            raise KeyError(f"unknown order {order_id}")
        return {
            "order": o.ident, "account": o.account, "instrument": o.instrument, "side": int(o.side),
            "price": o.price, "qty": o.qty, "filled": o.filled, "cum_notional": o.cum_notional,
            "commission_paid": o.commission_paid, "reserved": self._reservation(o),
            "status": int(o.status), "liquidation": o.liquidation,
        }

    def instrument(self, instr: int) -> dict:
        inst = self.instruments[instr]
        limits = inst.limits()
        return {
            "instrument": instr, "mark": inst.mark, "prev_close": inst.prev_close,
            "limit_down": limits[0] if limits else 0, "limit_up": limits[1] if limits else 0,
            "halted": inst.halted, "lock": int(inst.lock),
        }

    def platform(self) -> dict:
        return {
            "trading_day": self.trading_day, "insurance_pool": self.insurance_pool,
            "commission_income": self.commission_income, "stamp_duty_collected": self.stamp_duty_collected,
            "transfer_fees_collected": self.transfer_fees_collected, "interest_income": self.interest_income,
            "global_kill": self.global_kill, "halt_buys": self.halt_buys, "halt_deposits": self.halt_deposits,
            "halt_accounts": self.halt_accounts, "line_raise_bp": self.line_raise_bp,
            "accounts": len(self.accounts), "next_order_id": self.next_order_id,
            "backstop_line": self.backstop_line, "backstop_drawn": self.backstop_drawn,
            "receivables": self.receivables, "receivables_recovered": self.receivables_recovered,
            "covered_by_pool": self.covered_by_pool, "covered_by_backstop": self.covered_by_backstop,
            "covered_by_receivable": self.covered_by_receivable, "insurance_funded": self.insurance_funded,
        }

    def liquidation_amount(self, acct: int) -> tuple[int, bool]:
        """Market value (fen) to sell to reach the restore-to line, and whether that is everything sellable."""
        a = self._account(acct)
        if a is None:
            raise KeyError(f"unknown account {acct}")
        assets, liabilities = self._assets_liabilities(a)
        # Shares held since before today and not yet sold, including those in open sells
        # (as DOMAIN.md counts them for a default); halted names cannot be sold.
        sellable_value = sum((p.start_of_day - p.sold_today) * self.instruments[i].mark
                             for i, p in a.book.items() if not self.instruments[i].halted)
        return liquidation_amount(assets, liabilities, self._lines(a).restore,
                                  self.tiers[a.tier].fees.sell_rate_ppm, sellable_value)

    # ------------------------------------------------------------- snapshots
    def export_state(self) -> EngineState:
        """The whole state as plain data (see core.snapshot)."""
        return EngineState(
            trading_day=self.trading_day, next_order_id=self.next_order_id, global_kill=self.global_kill,
            halt_buys=self.halt_buys, halt_deposits=self.halt_deposits, halt_accounts=self.halt_accounts,
            line_raise_bp=self.line_raise_bp, insurance_pool=self.insurance_pool,
            commission_income=self.commission_income, stamp_duty_collected=self.stamp_duty_collected,
            transfer_fees_collected=self.transfer_fees_collected, interest_income=self.interest_income,
            instruments=[InstrumentState(i.prev_close, i.mark, i.halted, int(i.lock)) for i in self.instruments],
            accounts=[AccountState(a.tier, int(a.state), a.active, a.frozen, a.reduce_only_manual, a.killed, a.cash,
                                   a.debt, a.accrued_interest, a.deposits, a.withdrawals, a.sell_cash_today,
                                   a.tokens, a.token_time, sorted_client_order_ids(a.client_order_ids),
                                   a.margin_call_day, a.margin_call_deadline_ns, a.receivable)
                      for a in self.accounts],
            positions=[PositionState(a.ident, i, p.start_of_day, p.bought_today, p.sold_today)
                       for a in self.accounts for i, p in sorted(a.book.items())],
            orders=[OrderState(o.ident, o.account, o.instrument, int(o.side), o.price, o.qty, o.filled,
                               o.cum_notional, o.commission_paid, int(o.status), o.liquidation, o.marginable)
                    for o in sorted(self.orders.values(), key=lambda o: o.ident)],
            backstop_drawn=self.backstop_drawn, receivables=self.receivables,
            receivables_recovered=self.receivables_recovered, covered_by_pool=self.covered_by_pool,
            covered_by_backstop=self.covered_by_backstop, covered_by_receivable=self.covered_by_receivable,
            insurance_funded=self.insurance_funded,
        )

    def load_state(self, state: EngineState) -> None:
        """Replace the whole state with `state` (from either engine's export_state)."""
        check_compatible(state, len(self.instruments), len(self.tiers))
        self.trading_day, self.next_order_id = state.trading_day, state.next_order_id
        self.global_kill, self.halt_buys = state.global_kill, state.halt_buys
        self.halt_deposits, self.halt_accounts = state.halt_deposits, state.halt_accounts
        self.line_raise_bp, self.insurance_pool = state.line_raise_bp, state.insurance_pool
        self.commission_income, self.stamp_duty_collected = state.commission_income, state.stamp_duty_collected
        self.transfer_fees_collected, self.interest_income = state.transfer_fees_collected, state.interest_income
        self.backstop_drawn, self.receivables = state.backstop_drawn, state.receivables
        self.receivables_recovered = state.receivables_recovered
        self.covered_by_pool, self.covered_by_backstop = state.covered_by_pool, state.covered_by_backstop
        self.covered_by_receivable = state.covered_by_receivable
        self.insurance_funded = state.insurance_funded
        for inst, saved in zip(self.instruments, state.instruments):
            inst.prev_close, inst.mark, inst.halted, inst.lock = saved.prev_close, saved.mark, saved.halted, Lock(saved.lock)
        self.accounts = []
        for n, saved in enumerate(state.accounts):
            a = _Account(n, saved.tier, saved.tokens)
            a.state = MarginState(saved.state)
            a.active, a.frozen, a.reduce_only_manual, a.killed = saved.active, saved.frozen, saved.reduce_only_manual, saved.killed
            a.cash, a.debt, a.accrued_interest = saved.cash, saved.debt, saved.accrued_interest
            a.deposits, a.withdrawals, a.sell_cash_today = saved.deposits, saved.withdrawals, saved.sell_cash_today
            a.token_time = saved.token_time
            a.client_order_ids = set(saved.client_order_ids)
            a.margin_call_day, a.margin_call_deadline_ns = saved.margin_call_day, saved.margin_call_deadline_ns
            a.receivable = saved.receivable
            self.accounts.append(a)
        for saved in state.positions:
            p = self.accounts[saved.account].book.setdefault(saved.instrument, _Position())
            p.start_of_day, p.bought_today, p.sold_today = saved.start_of_day, saved.bought_today, saved.sold_today
        self.orders = {}
        for saved in state.orders:
            o = _Order(saved.order, saved.account, saved.instrument, Side(saved.side), saved.price, saved.qty,
                       saved.liquidation, saved.marginable)
            o.filled, o.cum_notional, o.commission_paid = saved.filled, saved.cum_notional, saved.commission_paid
            o.status = OrderStatus(saved.status)
            self.orders[o.ident] = o
            if o.status == OrderStatus.OPEN:
                self.accounts[o.account].open_orders[o.ident] = o
                self.accounts[o.account].book.setdefault(o.instrument, _Position())
        self._begin()
