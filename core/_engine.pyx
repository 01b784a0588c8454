# distutils: language = c++
"""The margin engine's hot path: pre-trade checks, fills, mark-to-market.

Same rules and the same interface as core/reference.py, which is the oracle the
differential tests hold this file to. State lives in the packed vectors declared
in _engine.pxd; every method is a command that either changes state and returns
0 (or an id), or returns a reject code and changes nothing (apart from what
DOMAIN.md says a rejected order still consumes: its rate-limit token and its
client order id).

Arithmetic rules: everything is int64 fen/shares/bp/ppm; products of money by a
rate or a line are formed in 128 bits; all divisions are of non-negative
numerators by positive denominators (so C truncation equals Python's floor), and
every rounding is half-up.
"""

from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t
cimport cython
from cython.operator cimport dereference as deref
from libcpp.algorithm cimport stable_sort
from libcpp.vector cimport vector

from core.rejects import EngineError
from core.shardmap cimport ShardedSet
from core.shardmap import ACCOUNT_SHARDS
from core.snapshot import (
    AccountState, EngineState, InstrumentState, OrderState, PositionState, check_compatible,
    sorted_client_order_ids,
)
from core.types import ACCOUNT_FIELDS

# Keep these equal to core.types / core.margin / core.rejects / core.units (tests check).
cdef enum:
    BUY = 1
    SELL = 2
    OPEN = 1
    FILLED = 2
    CANCELED = 3
    NORMAL = 0
    WARNING = 1
    MARGIN_CALL = 2
    LIQUIDATING = 3
    S_DEFAULTED = 4
    LOCK_DOWN = -1
    LOCK_UP = 1
    STAR = 3
    BP = 10000
    PPM = 1000000
    TOKEN = 1000000000
    NS_PER_S = 1000000000
    SHANGHAI_OFFSET_S = 28800
    DAY_S = 86400
    MAX_PRICE = 100000000
    MAX_QUANTITY = 1000000000
    RATIO_INFINITE = -1
    INVALID_SIDE = 101
    INVALID_QUANTITY = 102
    INVALID_PRICE = 103
    UNKNOWN_ACCOUNT = 201
    ACCOUNT_INACTIVE = 202
    ACCOUNT_FROZEN = 204
    REDUCE_ONLY = 205
    KILL_SWITCH_GLOBAL = 301
    KILL_SWITCH_ACCOUNT = 302
    BUYS_HALTED = 303
    UNKNOWN_INSTRUMENT = 401
    INSTRUMENT_HALTED = 402
    SESSION_CLOSED = 403
    NO_MARK_PRICE = 404
    INSUFFICIENT_SELLABLE = 501
    INVALID_LOT = 502
    PRICE_OFF_TICK = 503
    PRICE_OUTSIDE_LIMITS = 504
    PRICE_OUTSIDE_COLLAR = 505
    QUANTITY_ABOVE_MAX = 506
    NOTIONAL_ABOVE_MAX = 507
    DUPLICATE_CLIENT_ORDER_ID = 508
    RATE_LIMITED = 601
    TOO_MANY_OPEN_ORDERS = 602
    INSUFFICIENT_BUYING_POWER = 701
    INSUFFICIENT_CASH = 702
    LEVERAGE_EXCEEDED = 703
    CONCENTRATION_EXCEEDED = 704
    INVALID_AMOUNT = 801
    DEPOSITS_HALTED = 802
    WITHDRAWAL_EXCEEDS_FREE_CASH = 803
    WITHDRAWAL_BREACHES_RATIO = 804
    UNKNOWN_TIER = 805
    ACCOUNTS_HALTED = 806
    DEFAULT_NOT_CLEARABLE = 807
    UNKNOWN_ORDER = 901
    ORDER_NOT_OPEN = 902
    FILL_QUANTITY_INVALID = 903
    FILL_PRICE_INVALID = 904
    TICK_PRICE_INVALID = 905
    DAY_ROLL_INVALID = 906

cdef extern from *:
    """
    #define BEACON_MAX_MONEY 100000000000000LL
    """
    const int64_t MAX_MONEY "BEACON_MAX_MONEY"  # 10^14 fen does not fit a C int enum

#: Constants the tests compare with their Python counterparts.
CONSTANTS = {
    "BUY": BUY, "SELL": SELL, "OPEN": OPEN, "FILLED": FILLED, "CANCELED": CANCELED,
    "NORMAL": NORMAL, "WARNING": WARNING, "MARGIN_CALL": MARGIN_CALL, "LIQUIDATING": LIQUIDATING,
    "DEFAULTED": S_DEFAULTED, "LOCK_DOWN": LOCK_DOWN, "LOCK_UP": LOCK_UP, "STAR": STAR,
    "MAX_MONEY": MAX_MONEY, "MAX_PRICE": MAX_PRICE, "MAX_QUANTITY": MAX_QUANTITY,
    "SESSION_SECONDS": ((33300, 33900), (34200, 41400), (46800, 54000)),
}


# ------------------------------------------------------------------ arithmetic
cdef inline int64_t half_up_div(i128 numerator, i128 denominator) noexcept nogil:
    """numerator / denominator half-up; numerator >= 0, denominator > 0."""
    return <int64_t>((2 * numerator + denominator) // (2 * denominator))


cdef inline int64_t apply_ppm(int64_t amount, int64_t rate_ppm) noexcept nogil:
    return half_up_div(<i128>amount * rate_ppm, PPM)


cdef inline int64_t apply_bp(int64_t amount, int64_t rate_bp) noexcept nogil:
    return half_up_div(<i128>amount * rate_bp, BP)


cdef inline int64_t commission_total(int64_t cum_notional, TierC* t) noexcept nogil:
    cdef int64_t c = apply_ppm(cum_notional, t.commission_ppm)
    return c if c > t.commission_min else t.commission_min


cdef inline int64_t buy_reservation(int64_t price, int64_t remaining, int64_t cum_notional,
                                    int64_t commission_paid, TierC* t) noexcept nogil:
    if remaining <= 0:
        return 0
    cdef int64_t notional = price * remaining
    return (notional + commission_total(cum_notional + notional, t) - commission_paid
            + apply_ppm(notional, t.transfer_ppm))


cdef inline void re_reserve(AccountC* a, OrderC* o, TierC* t) noexcept nogil:
    """Set an open buy's reservation to what its remainder would still pay under tier t, and keep
    the account's sums of reservations (all, and the non-marginable cash earmark) with it."""
    cdef int64_t reserved = buy_reservation(o.price, o.qty - o.filled, o.cum_notional, o.commission_paid, t)
    a.reserved_buy += reserved - o.reserved
    if not o.marginable:
        a.reserved_nm += reserved - o.reserved
    o.reserved = reserved


cdef inline bint ratio_meets(int64_t assets, int64_t liabilities, int64_t line_bp) noexcept nogil:
    return liabilities <= 0 or <i128>assets * BP >= <i128>line_bp * liabilities


cdef inline int64_t ratio_bp(int64_t assets, int64_t liabilities) noexcept nogil:
    if liabilities <= 0:
        return RATIO_INFINITE
    if assets <= 0:
        return 0
    return <int64_t>((<i128>assets * BP) // liabilities)


cdef inline int64_t floor_div(int64_t a, int64_t b) noexcept nogil:
    cdef int64_t q = a // b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q


cdef inline int64_t local_seconds(int64_t now_ns) noexcept nogil:
    cdef int64_t s = floor_div(now_ns, NS_PER_S) + SHANGHAI_OFFSET_S
    return s - floor_div(s, DAY_S) * DAY_S


cdef inline bint session_open(int64_t now_ns) noexcept nogil:
    cdef int64_t s = local_seconds(now_ns)
    return (33300 <= s < 33900) or (34200 <= s < 41400) or (46800 <= s < 54000)


cdef inline int64_t local_hhmmss(int64_t now_ns) noexcept nogil:
    cdef int64_t s = local_seconds(now_ns)
    return (s // 3600) * 10000 + (s // 60 % 60) * 100 + s % 60


cdef inline int64_t next_weekday(int64_t day) noexcept nogil:
    """The first weekday after `day` (a date ordinal; ordinal 1 was a Monday)."""
    cdef int64_t weekday = (day - 1) % 7
    return day + (3 if weekday == 4 else 2 if weekday == 5 else 1)


cdef inline bint buy_quantity_ok(int32_t board, int64_t qty) noexcept nogil:
    if board == STAR:
        return qty >= 200
    return qty > 0 and qty % 100 == 0


cdef inline bint sell_quantity_ok(int32_t board, int64_t qty, int64_t sellable) noexcept nogil:
    if qty <= 0:
        return False
    if board == STAR:
        return qty >= 200 or (sellable < 200 and qty == sellable)
    cdef int64_t odd = sellable % 100 if sellable >= 0 else 0
    return qty % 100 == 0 or (qty >= odd and (qty - odd) % 100 == 0)


cdef inline uint8_t state_by_floor(int64_t A, int64_t D, int64_t w, int64_t mc, int64_t lq) noexcept nogil:
    if ratio_meets(A, D, w):
        return NORMAL
    if ratio_meets(A, D, mc):
        return WARNING
    if ratio_meets(A, D, lq):
        return MARGIN_CALL
    return LIQUIDATING


cdef inline int state_improved(uint8_t limit, int64_t A, int64_t D, int64_t w, int64_t mc,
                               int64_t lq, int64_t band) noexcept nogil:
    """The best state better than limit whose floor R clears by the band, or -1."""
    if limit > NORMAL and ratio_meets(A, D, w + band):
        return NORMAL
    if limit > WARNING and ratio_meets(A, D, mc + band):
        return WARNING
    if limit > MARGIN_CALL and ratio_meets(A, D, lq + band):
        return MARGIN_CALL
    return -1


cdef inline uint8_t next_state(uint8_t state, int64_t A, int64_t D, int64_t w, int64_t mc,
                               int64_t lq, int64_t restore, int64_t band) noexcept nogil:
    cdef int better
    cdef int64_t floor
    if state == S_DEFAULTED:
        return state
    if state == LIQUIDATING:
        if not ratio_meets(A, D, restore):
            return state
        better = state_improved(LIQUIDATING, A, D, w, mc, lq, band)
        return <uint8_t>better if better >= 0 else state_by_floor(A, D, w, mc, lq)
    floor = w if state == NORMAL else (mc if state == WARNING else lq)
    if not ratio_meets(A, D, floor):
        return state_by_floor(A, D, w, mc, lq)
    better = state_improved(state, A, D, w, mc, lq, band)
    return <uint8_t>better if better >= 0 else state


cdef bint change_before(const ChangeC& x, const ChangeC& y) noexcept nogil:
    return x.account < y.account


cdef inline int64_t position_key(int32_t acct, int32_t instr) noexcept nogil:
    return (<int64_t>acct << 32) | <int64_t>instr


@cython.final  # no subclasses: cdef methods are called directly, and can be inlined
cdef class MarginEngine:
    """The Cython margin engine; the interface is documented in docs/engine.md."""

    implementation = "cython"

    def __init__(self, instruments, tiers, config, int64_t trading_day):
        cdef TierC t
        cdef InstrumentC inst
        config.validate()
        self.config = config
        self.tier_specs = tuple(tier.validate(config.hysteresis_band_bp) for tier in tiers)
        self.instrument_specs = tuple(i.validate() for i in instruments)
        for tier in self.tier_specs:
            t.max_leverage_bp = tier.max_leverage_bp
            t.annual_rate_bp = tier.annual_rate_bp
            t.warning_bp = tier.warning_bp
            t.margin_call_bp = tier.margin_call_bp
            t.liquidation_bp = tier.liquidation_bp
            t.restore_bp = tier.restore_bp
            t.max_single_name_bp = tier.max_single_name_bp
            t.max_order_notional = tier.max_order_notional
            t.commission_ppm = tier.fees.commission_ppm
            t.commission_min = tier.fees.commission_min
            t.stamp_duty_ppm = tier.fees.stamp_duty_ppm
            t.transfer_ppm = tier.fees.transfer_ppm
            self.tiers.push_back(t)
        for spec in self.instrument_specs:
            inst.prev_close = spec.prev_close
            inst.mark = spec.prev_close
            inst.tick = spec.tick
            inst.max_order_qty = spec.max_order_qty
            inst.board = int(spec.board)
            inst.limit_pct = spec.effective_limit_pct
            inst.halted = spec.halted
            inst.no_limit = spec.no_limit
            inst.marginable = spec.marginable
            inst.lock = 0
            self._recompute_limits(&inst)
            self.instruments.push_back(inst)
            self.holders.push_back(vector[int32_t]())
        self.client_order_ids = []
        self.order_base = 0
        self.trading_day = trading_day
        self.rate_per_s = config.order_rate_per_s
        self.burst_tokens = <int64_t>config.order_burst * TOKEN
        self.max_open_orders = config.max_open_orders
        self.collar_bp = config.price_collar_bp
        self.band_bp = config.hysteresis_band_bp
        self.insurance_share_bp = config.insurance_share_bp
        self.withdrawal_min_ratio_bp = config.withdrawal_min_ratio_bp
        self.day_count = config.interest_day_count
        self.margin_call_deadline_s = config.margin_call_deadline_s
        self.enforce_session = config.enforce_session
        self.global_kill = self.halt_buys = self.halt_deposits = self.halt_accounts = False
        self.line_raise_bp = 0
        self.insurance_pool = self.commission_income = self.stamp_duty_collected = 0
        self.transfer_fees_collected = self.interest_income = 0
        self.backstop_line = config.backstop_line
        self.backstop_drawn = self.receivables = self.receivables_recovered = 0
        self.covered_by_pool = self.covered_by_backstop = self.covered_by_receivable = 0
        self.insurance_funded = 0
        self.detail_len = 0
        for k in range(7):
            self.fill_info[k] = 0

    # ------------------------------------------------------------- internals
    cdef int _reject(self, int code, int n, int64_t d0, int64_t d1, int64_t d2) noexcept:
        self.detail_len = n
        self.detail[0] = d0
        self.detail[1] = d1
        self.detail[2] = d2
        return code

    cdef void _recompute_limits(self, InstrumentC* inst) noexcept:
        if inst.no_limit or inst.prev_close <= 0:
            inst.limit_down = 0
            inst.limit_up = 0
        else:
            inst.limit_up = (inst.prev_close * (100 + inst.limit_pct) + 50) // 100
            inst.limit_down = (inst.prev_close * (100 - inst.limit_pct) + 50) // 100

    cdef int32_t _find_position(self, int32_t acct, int32_t instr) noexcept:
        it = self.position_index.find(position_key(acct, instr))
        if it == self.position_index.end():
            return -1
        return deref(it).second

    cdef int32_t _ensure_position(self, int32_t acct, int32_t instr):
        cdef int32_t idx = self._find_position(acct, instr)
        cdef PositionC p
        if idx >= 0:
            return idx
        idx = <int32_t>self.positions.size()
        p.start_of_day = p.bought_today = p.sold_today = p.open_sell = p.open_buy = 0
        p.account = acct
        p.instrument = instr
        p.next_in_account = self.accounts[acct].first_position
        self.accounts[acct].first_position = idx
        self.positions.push_back(p)
        self.position_index[position_key(acct, instr)] = idx
        self.holders[instr].push_back(idx)
        return idx

    cdef int64_t _credit_line(self, AccountC* a) noexcept:
        cdef int64_t net = a.deposits - a.withdrawals
        if net <= 0:
            return 0
        return apply_bp(net, self.tiers[a.tier].max_leverage_bp - BP)

    cdef bint _has_sellable_shares(self, int32_t acct) noexcept:
        cdef int32_t idx = self.accounts[acct].first_position
        cdef PositionC* p
        cdef InstrumentC* inst
        while idx >= 0:
            p = &self.positions[idx]
            inst = &self.instruments[p.instrument]
            if p.start_of_day - p.sold_today > 0 and not inst.halted and inst.lock != LOCK_DOWN:
                return True
            idx = p.next_in_account
        return False

    cdef void _move(self, int32_t acct, uint8_t new_state, int64_t A, int64_t D) noexcept:
        cdef AccountC* a = &self.accounts[acct]
        cdef ChangeC change
        change.account = acct
        change.old_state = a.state
        change.new_state = new_state
        # The ratio is a 128-bit division: only worth it when there is a change to report.
        change.ratio_bp = ratio_bp(A, D)
        if new_state == MARGIN_CALL:
            # Shown at once (the next weekday's 09:30); the next day roll confirms it for the day the
            # market really opens, and only a confirmed deadline starts liquidation (advance_clock).
            a.margin_call_day = self.trading_day
            a.margin_call_deadline_ns = self._deadline_on(next_weekday(self.trading_day))
        elif a.state == MARGIN_CALL:
            a.margin_call_day = 0
            a.margin_call_deadline_ns = 0
        a.state = new_state
        self.changes.push_back(change)

    cdef void _begin(self) noexcept:
        """A command starts: nothing reported yet."""
        self.changes.clear()
        self.steps.clear()

    cdef void _default_if_bankrupt(self, int32_t acct, int64_t A, int64_t D) noexcept:
        """LIQUIDATING with equity gone and nothing left that could be sold: DEFAULTED."""
        if (self.accounts[acct].state == LIQUIDATING and D > 0 and A - D <= 0
                and not self._has_sellable_shares(acct)):
            self._move(acct, S_DEFAULTED, A, D)
            self._settle_default(acct)

    cdef void _settle_default(self, int32_t acct) noexcept:
        """The default waterfall for a DEFAULTED account. A shortfall (-E) with nothing left that
        could be sold is covered by the insurance pool, then the backstop line, and the rest is
        recorded as a receivable from the client; liabilities fall by the shortfall (interest
        first), so E is 0 afterwards and unsellable shares stay as collateral. Cash that a
        defaulted account gets later (shares sold when they could be, a deposit) repays its
        receivable once its liabilities are gone."""
        cdef AccountC* a = &self.accounts[acct]
        cdef int64_t A = a.cash + a.market_value
        cdef int64_t D = a.debt + a.accrued_interest
        cdef int64_t shortfall = D - A
        cdef StepC step
        cdef int64_t interest
        step.account = acct
        if shortfall > 0 and not self._has_sellable_shares(acct):
            step.kind = 1
            step.amount = shortfall
            step.from_pool = shortfall if shortfall < self.insurance_pool else self.insurance_pool
            step.from_backstop = shortfall - step.from_pool
            if step.from_backstop > self.backstop_line - self.backstop_drawn:
                step.from_backstop = max(0, self.backstop_line - self.backstop_drawn)
            step.to_receivable = shortfall - step.from_pool - step.from_backstop
            self.insurance_pool -= step.from_pool
            self.backstop_drawn += step.from_backstop
            self.receivables += step.to_receivable
            self.covered_by_pool += step.from_pool
            self.covered_by_backstop += step.from_backstop
            self.covered_by_receivable += step.to_receivable
            a.receivable += step.to_receivable
            interest = shortfall if shortfall < a.accrued_interest else a.accrued_interest
            a.accrued_interest -= interest
            a.debt -= shortfall - interest
            self.steps.push_back(step)
        elif a.receivable > 0 and D == 0 and a.cash - a.reserved_buy > 0:
            step.kind = 2
            step.amount = a.cash - a.reserved_buy
            if step.amount > a.receivable:
                step.amount = a.receivable
            step.from_pool = step.from_backstop = 0
            step.to_receivable = -step.amount
            a.cash -= step.amount
            a.receivable -= step.amount
            self.receivables -= step.amount
            self.receivables_recovered += step.amount
            self.steps.push_back(step)

    cdef void _evaluate(self, int32_t acct) noexcept:
        cdef AccountC* a = &self.accounts[acct]
        cdef uint8_t old = a.state
        if old == S_DEFAULTED:
            self._settle_default(acct)  # left only by an operator (clear_default)
            return
        cdef int64_t A = a.cash + a.market_value
        cdef int64_t D = a.debt + a.accrued_interest
        if D <= 0 and old == NORMAL:
            return  # no liabilities: R is infinite and the account is where it belongs
        cdef TierC* t = &self.tiers[a.tier]
        cdef int64_t r = self.line_raise_bp
        cdef uint8_t new = next_state(old, A, D, t.warning_bp + r, t.margin_call_bp + r,
                                      t.liquidation_bp + r, t.restore_bp + r, self.band_bp)
        if new != old:
            self._move(acct, new, A, D)
        if new == LIQUIDATING:
            self._default_if_bankrupt(acct, A, D)

    cdef void _sort_changes(self) noexcept:
        if self.changes.size() > 1:
            stable_sort(self.changes.begin(), self.changes.end(), change_before)

    cdef list _take_changes(self):
        cdef list out = []
        cdef size_t k
        for k in range(self.changes.size()):
            c = self.changes[k]
            out.append((c.account, c.old_state, c.new_state, c.ratio_bp))
        self.changes.clear()
        return out

    cdef int _tick_error(self, InstrumentC* inst, int64_t price, int lock) noexcept:
        cdef bint bad = price <= 0 or price > MAX_PRICE or not (lock == 0 or lock == LOCK_DOWN or lock == LOCK_UP)
        cdef bint has_limits = not (inst.no_limit or inst.prev_close <= 0)
        if has_limits:
            bad = (bad or price < inst.limit_down or price > inst.limit_up
                   or (lock == LOCK_DOWN and price != inst.limit_down)
                   or (lock == LOCK_UP and price != inst.limit_up))
        elif lock != 0:
            bad = True
        if bad:
            return self._reject(TICK_PRICE_INVALID, 3, price, inst.limit_down, inst.limit_up)
        return 0

    # ------------------------------------------------------------- accounts
    def add_account(self, int tier):
        """Open an account in tier (index); returns its id (>= 0) or -code."""
        cdef AccountC a
        self._begin()
        if self.halt_accounts:
            return -self._reject(ACCOUNTS_HALTED, 0, 0, 0, 0)
        if tier < 0 or tier >= <int>self.tiers.size():
            return -self._reject(UNKNOWN_TIER, 1, tier, 0, 0)
        a.cash = a.debt = a.accrued_interest = a.deposits = a.withdrawals = 0
        a.reserved_buy = a.reserved_nm = a.sell_cash_today = a.market_value = a.pending_value = 0
        a.tokens = self.burst_tokens
        a.token_time = 0
        a.margin_call_day = a.margin_call_deadline_ns = 0
        a.receivable = 0
        a.tier = tier
        a.open_orders = 0
        a.first_position = -1
        a.state = NORMAL
        a.active = True
        a.frozen = a.reduce_only_manual = a.killed = False
        self.accounts.push_back(a)
        self.client_order_ids.append(ShardedSet(shards=ACCOUNT_SHARDS))
        return <int>self.accounts.size() - 1

    def set_tier(self, int acct, int tier):
        """Move an account to another tier (index) and re-evaluate it."""
        self._begin()
        if acct < 0 or acct >= <int>self.accounts.size():
            return self._reject(UNKNOWN_ACCOUNT, 1, acct, 0, 0)
        if tier < 0 or tier >= <int>self.tiers.size():
            return self._reject(UNKNOWN_TIER, 1, tier, 0, 0)
        cdef AccountC* a = &self.accounts[acct]
        cdef OrderC* o
        cdef size_t k
        a.tier = tier
        # Open buys reserve the fees of the tier they would pay at: re-reserve them at the new one.
        if a.open_orders:
            for k in range(self.orders.size()):
                o = &self.orders[k]
                if o.account == acct and o.status == OPEN and o.side == BUY:
                    re_reserve(a, o, &self.tiers[tier])
        self._evaluate(acct)
        return 0

    def remember_client_order_id(self, int acct, object clid):
        """Record a client order id the gateway answered without the checks (an order refused
        because the broker is down): 0, or UNKNOWN_ACCOUNT, or DUPLICATE_CLIENT_ORDER_ID when the
        account has answered it already today."""
        self._begin()
        if acct < 0 or acct >= <int>self.accounts.size():
            return self._reject(UNKNOWN_ACCOUNT, 1, acct, 0, 0)
        if clid is not None and not (<ShardedSet>self.client_order_ids[acct]).add(clid):
            return self._reject(DUPLICATE_CLIENT_ORDER_ID, 0, 0, 0, 0)  # (already answered today)
        return 0

    def deposit(self, int acct, int64_t amount):
        """Credit amount (fen) to cash (deposits never repay debt); 0 or a reject code."""
        self._begin()
        if acct < 0 or acct >= <int>self.accounts.size():
            return self._reject(UNKNOWN_ACCOUNT, 1, acct, 0, 0)
        if amount <= 0 or amount > MAX_MONEY:
            return self._reject(INVALID_AMOUNT, 1, amount, 0, 0)
        cdef AccountC* a = &self.accounts[acct]
        if not a.active:
            return self._reject(ACCOUNT_INACTIVE, 1, acct, 0, 0)
        if self.halt_deposits:
            return self._reject(DEPOSITS_HALTED, 0, 0, 0, 0)
        a.cash += amount
        a.deposits += amount
        self._evaluate(acct)
        return 0

    def withdraw(self, int acct, int64_t amount):
        """Pay out amount (fen) when free cash covers it and R stays >= the withdrawal line."""
        self._begin()
        if acct < 0 or acct >= <int>self.accounts.size():
            return self._reject(UNKNOWN_ACCOUNT, 1, acct, 0, 0)
        if amount <= 0 or amount > MAX_MONEY:
            return self._reject(INVALID_AMOUNT, 1, amount, 0, 0)
        cdef AccountC* a = &self.accounts[acct]
        if a.frozen:
            return self._reject(ACCOUNT_FROZEN, 1, acct, 0, 0)
        cdef int64_t free = a.cash - a.sell_cash_today - a.reserved_buy
        if amount > free:
            return self._reject(WITHDRAWAL_EXCEEDS_FREE_CASH, 2, amount, free, 0)
        cdef int64_t A = a.cash + a.market_value - amount
        cdef int64_t D = a.debt + a.accrued_interest
        if not ratio_meets(A, D, self.withdrawal_min_ratio_bp):
            return self._reject(WITHDRAWAL_BREACHES_RATIO, 2, ratio_bp(A, D), self.withdrawal_min_ratio_bp, 0)
        a.cash -= amount
        a.withdrawals += amount
        self._evaluate(acct)
        return 0

    def set_frozen(self, int acct, bint on):
        if acct < 0 or acct >= <int>self.accounts.size():
            return self._reject(UNKNOWN_ACCOUNT, 1, acct, 0, 0)
        self._begin()
        self.accounts[acct].frozen = on
        return 0

    def set_reduce_only(self, int acct, bint on):
        if acct < 0 or acct >= <int>self.accounts.size():
            return self._reject(UNKNOWN_ACCOUNT, 1, acct, 0, 0)
        self._begin()
        self.accounts[acct].reduce_only_manual = on
        return 0

    def set_account_kill(self, int acct, bint on):
        if acct < 0 or acct >= <int>self.accounts.size():
            return self._reject(UNKNOWN_ACCOUNT, 1, acct, 0, 0)
        self._begin()
        self.accounts[acct].killed = on
        return 0

    def set_active(self, int acct, bint on):
        if acct < 0 or acct >= <int>self.accounts.size():
            return self._reject(UNKNOWN_ACCOUNT, 1, acct, 0, 0)
        self._begin()
        self.accounts[acct].active = on
        return 0

    # ------------------------------------------------------ platform controls
    def set_global_kill(self, bint on):
        self.global_kill = on

    def set_halt_buys(self, bint on):
        self.halt_buys = on

    def set_halt_deposits(self, bint on):
        self.halt_deposits = on

    def set_halt_accounts(self, bint on):
        self.halt_accounts = on

    def set_line_raise(self, int64_t raise_bp):
        """Raise every tier's four lines by raise_bp and re-evaluate every account."""
        self._begin()
        if raise_bp < 0 or raise_bp > 100000:
            return self._reject(INVALID_AMOUNT, 1, raise_bp, 0, 0)
        self.line_raise_bp = raise_bp
        cdef int32_t k
        for k in range(<int32_t>self.accounts.size()):
            self._evaluate(k)
        return 0

    def set_halted(self, int instr, bint on):
        """Halt or resume an instrument; its holders are re-evaluated (halted shares are not sellable)."""
        self._begin()
        if instr < 0 or instr >= <int>self.instruments.size():
            return self._reject(UNKNOWN_INSTRUMENT, 1, instr, 0, 0)
        self.instruments[instr].halted = on
        cdef vector[int32_t]* hs = &self.holders[instr]
        cdef size_t k
        for k in range(hs.size()):
            self._evaluate(self.positions[hs[0][k]].account)
        self._sort_changes()
        return 0

    def fund_insurance_pool(self, int64_t amount):
        """Money paid into the insurance pool by the platform (beyond the share of repaid interest)."""
        self._begin()
        if amount <= 0 or amount > MAX_MONEY:
            return self._reject(INVALID_AMOUNT, 1, amount, 0, 0)
        self.insurance_pool += amount
        self.insurance_funded += amount
        return 0

    def clear_default(self, int acct):
        """An operator ends a default: allowed once the account owes nothing on the margin book
        (its receivable, if any, stays recorded); the account takes the state its ratio gives."""
        self._begin()
        if acct < 0 or acct >= <int>self.accounts.size():
            return self._reject(UNKNOWN_ACCOUNT, 1, acct, 0, 0)
        cdef AccountC* a = &self.accounts[acct]
        cdef int64_t D = a.debt + a.accrued_interest
        if a.state != S_DEFAULTED or D > 0:
            return self._reject(DEFAULT_NOT_CLEARABLE, 3, acct, a.state, D)
        self._move(acct, NORMAL, a.cash + a.market_value, D)
        return 0

    # --------------------------------------------------------------- orders
    def check_order(self, int acct, int instr, int side, int64_t price, int64_t qty,
                    object client_order_id, int64_t now_ns, bint liquidation=False):
        """The pre-trade decision for an order, changing nothing: 0 or a reject code."""
        return self._decide(acct, instr, side, price, qty, client_order_id, now_ns, liquidation, False)

    def place_order(self, int acct, int instr, int side, int64_t price, int64_t qty,
                    object client_order_id, int64_t now_ns, bint liquidation=False):
        """Pre-trade checks, then open and reserve the order: its id (>= 1) or -code."""
        self._begin()
        cdef int code = self._decide(acct, instr, side, price, qty, client_order_id, now_ns, liquidation, True)
        if code:
            return -code
        cdef int32_t pidx = self._ensure_position(acct, instr)
        cdef AccountC* a = &self.accounts[acct]
        cdef InstrumentC* inst = &self.instruments[instr]
        cdef PositionC* p = &self.positions[pidx]
        cdef OrderC o
        o.price = price
        o.qty = qty
        o.filled = o.cum_notional = o.commission_paid = 0
        o.account = acct
        o.instrument = instr
        o.position = pidx
        o.side = side
        o.status = OPEN
        o.liquidation = liquidation
        o.marginable = inst.marginable
        if side == BUY:
            o.reserved = buy_reservation(price, qty, 0, 0, &self.tiers[a.tier])
            a.reserved_buy += o.reserved
            if not o.marginable:
                a.reserved_nm += o.reserved
            p.open_buy += qty
            a.pending_value += qty * inst.mark
        else:
            o.reserved = 0
            p.open_sell += qty
        a.open_orders += 1
        self.orders.push_back(o)
        return self.order_base + <int64_t>self.orders.size()

    cdef int _decide(self, int32_t acct, int32_t instr, int side, int64_t price, int64_t qty,
                     object clid, int64_t now_ns, bint liquidation, bint commit) except -1:
        cdef bint known = 0 <= acct < <int32_t>self.accounts.size()
        cdef int code
        if not known:
            return self._reject(UNKNOWN_ACCOUNT, 1, acct, 0, 0)
        if side != BUY and side != SELL:  # not an order at all; the account step needs the side
            code = self._reject(INVALID_SIDE, 1, side, 0, 0)
        else:
            code = self._decide_for_account(acct, instr, side, price, qty, clid, now_ns, liquidation, commit)
        # Every answered client order id is remembered for the day, accepted or not.
        if commit and known and clid is not None:
            (<ShardedSet>self.client_order_ids[acct]).add(clid)
        return code

    cdef int _decide_for_account(self, int32_t acct, int32_t instr, int side, int64_t price,
                                 int64_t qty, object clid, int64_t now_ns, bint liquidation,
                                 bint commit) except -1:
        cdef AccountC* a = &self.accounts[acct]
        cdef TierC* t = &self.tiers[a.tier]
        cdef bint is_buy = side == BUY
        cdef InstrumentC* inst
        cdef int32_t pidx
        cdef PositionC* p = NULL
        cdef int64_t mark, sellable, notional, tokens, stamp, elapsed, missing
        cdef int64_t cost, free, from_cash, total_cost, post_assets, post_liab, post_equity
        cdef int64_t held = 0, open_buy_same = 0
        # 1. account
        if not a.active:
            return self._reject(ACCOUNT_INACTIVE, 1, acct, 0, 0)
        if a.frozen:
            return self._reject(ACCOUNT_FROZEN, 1, acct, 0, 0)
        if is_buy and (a.reduce_only_manual or a.state >= MARGIN_CALL):
            return self._reject(REDUCE_ONLY, 2, acct, a.state, 0)
        # 2. kill switches and emergency halts (the platform's liquidation orders pass)
        if not liquidation:
            if self.global_kill:
                return self._reject(KILL_SWITCH_GLOBAL, 0, 0, 0, 0)
            if a.killed:
                return self._reject(KILL_SWITCH_ACCOUNT, 1, acct, 0, 0)
        if is_buy and self.halt_buys:
            return self._reject(BUYS_HALTED, 0, 0, 0, 0)
        # 3. instrument and market
        if instr < 0 or instr >= <int32_t>self.instruments.size():
            return self._reject(UNKNOWN_INSTRUMENT, 1, instr, 0, 0)
        inst = &self.instruments[instr]
        if inst.halted:
            return self._reject(INSTRUMENT_HALTED, 1, instr, 0, 0)
        if self.enforce_session and not session_open(now_ns):
            return self._reject(SESSION_CLOSED, 1, local_hhmmss(now_ns), 0, 0)
        mark = inst.mark
        if mark <= 0:
            return self._reject(NO_MARK_PRICE, 1, instr, 0, 0)
        # 4. sellable (T+1, no short selling)
        pidx = self._find_position(acct, instr)
        sellable = 0
        if pidx >= 0:
            p = &self.positions[pidx]
            sellable = p.start_of_day - p.sold_today - p.open_sell
            held = p.start_of_day + p.bought_today - p.sold_today
            open_buy_same = p.open_buy
        if not is_buy and qty > sellable:
            return self._reject(INSUFFICIENT_SELLABLE, 2, qty, sellable, 0)
        # 5. quantity and price in range, lots, tick, limit band, collar
        if qty <= 0 or qty > MAX_QUANTITY:
            return self._reject(INVALID_QUANTITY, 1, qty, 0, 0)
        if price <= 0 or price > MAX_PRICE:
            return self._reject(INVALID_PRICE, 1, price, 0, 0)
        if is_buy:
            if not buy_quantity_ok(inst.board, qty):
                return self._reject(INVALID_LOT, 2, qty, sellable, 0)
        elif not sell_quantity_ok(inst.board, qty, sellable):
            return self._reject(INVALID_LOT, 2, qty, sellable, 0)
        if price % inst.tick:
            return self._reject(PRICE_OFF_TICK, 2, price, inst.tick, 0)
        if inst.limit_up and (price < inst.limit_down or price > inst.limit_up):
            return self._reject(PRICE_OUTSIDE_LIMITS, 3, price, inst.limit_down, inst.limit_up)
        if not liquidation:
            if <i128>(price - mark if price >= mark else mark - price) * BP > <i128>self.collar_bp * mark:
                return self._reject(PRICE_OUTSIDE_COLLAR, 3, price, mark, self.collar_bp)
        # 6. size
        notional = price * qty
        if not liquidation:
            if qty > inst.max_order_qty:
                return self._reject(QUANTITY_ABOVE_MAX, 2, qty, inst.max_order_qty, 0)
            if notional > t.max_order_notional:
                return self._reject(NOTIONAL_ABOVE_MAX, 2, notional, t.max_order_notional, 0)
        # 7. duplicate client order id
        if clid is not None and (<ShardedSet>self.client_order_ids[acct]).has(clid):
            return self._reject(DUPLICATE_CLIENT_ORDER_ID, 0, 0, 0, 0)
        # 8. rate limits: a token is spent by every order that gets this far
        if not liquidation:
            tokens = a.tokens
            stamp = a.token_time
            if now_ns > stamp:
                elapsed = now_ns - stamp
                # full once elapsed x rate covers what is missing; compared by division, because
                # the product overflows int64 for a long gap under a large rate and burst
                missing = self.burst_tokens - tokens
                if elapsed >= (missing + self.rate_per_s - 1) // self.rate_per_s:
                    tokens = self.burst_tokens
                else:
                    tokens = tokens + elapsed * self.rate_per_s  # < missing: no overflow
                stamp = now_ns
            if tokens < TOKEN:
                if commit:
                    a.tokens = tokens
                    a.token_time = stamp
                return self._reject(RATE_LIMITED, 2, self.rate_per_s, self.burst_tokens // TOKEN, 0)
            if commit:
                a.tokens = tokens - TOKEN
                a.token_time = stamp
            if a.open_orders >= self.max_open_orders:
                return self._reject(TOO_MANY_OPEN_ORDERS, 2, a.open_orders, self.max_open_orders, 0)
        if not is_buy:
            return 0
        # 9. buying power, leverage, concentration
        cost = buy_reservation(price, qty, 0, 0, t)
        free = a.cash + self._credit_line(a) - a.debt - a.accrued_interest - a.reserved_buy
        if cost > free:
            return self._reject(INSUFFICIENT_BUYING_POWER, 2, cost, free, 0)
        if not inst.marginable and cost > a.cash - a.reserved_buy:
            return self._reject(INSUFFICIENT_CASH, 2, cost, a.cash - a.reserved_buy, 0)
        # Post-trade: every open buy and this one fill at their limits, paid from cash then
        # credit, and every share (held and bought) is valued at today's mark.
        total_cost = a.reserved_buy + cost
        from_cash = a.cash if a.cash > 0 else 0
        if from_cash > total_cost:
            from_cash = total_cost
        post_assets = a.cash - from_cash + a.market_value + a.pending_value + qty * mark
        post_liab = a.debt + a.accrued_interest + total_cost - from_cash
        post_equity = post_assets - post_liab
        if <i128>post_assets * BP > <i128>t.max_leverage_bp * post_equity:
            return self._reject(LEVERAGE_EXCEEDED, 3, post_assets, post_equity, t.max_leverage_bp)
        cdef int64_t post_value = (held + open_buy_same + qty) * mark
        if <i128>post_value * BP > <i128>t.max_single_name_bp * post_assets:
            return self._reject(CONCENTRATION_EXCEEDED, 3, post_value, post_assets, t.max_single_name_bp)
        return 0

    # ---------------------------------------------------------- executions
    def apply_fill(self, int64_t order_id, int64_t qty, int64_t price):
        """Apply an execution of qty shares at price (fen) to an open order; 0 or an error code."""
        self._begin()
        cdef int64_t slot = order_id - self.order_base - 1
        if slot < 0 or slot >= <int64_t>self.orders.size():
            return self._reject(UNKNOWN_ORDER, 1, order_id, 0, 0)
        cdef OrderC* o = &self.orders[slot]
        if o.status != OPEN:
            return self._reject(ORDER_NOT_OPEN, 1, order_id, 0, 0)
        cdef int64_t remaining = o.qty - o.filled
        if qty <= 0 or qty > remaining:
            return self._reject(FILL_QUANTITY_INVALID, 2, qty, remaining, 0)
        cdef bint is_buy = o.side == BUY
        if price <= 0 or price > MAX_PRICE or (price > o.price if is_buy else price < o.price):
            return self._reject(FILL_PRICE_INVALID, 2, price, o.price, 0)
        cdef AccountC* a = &self.accounts[o.account]
        cdef TierC* t = &self.tiers[a.tier]
        cdef PositionC* p = &self.positions[o.position]
        cdef int64_t mark = self.instruments[o.instrument].mark
        cdef int64_t notional = qty * price
        cdef int64_t commission = commission_total(o.cum_notional + notional, t) - o.commission_paid
        cdef int64_t stamp = 0 if is_buy else apply_ppm(notional, t.stamp_duty_ppm)
        cdef int64_t transfer = apply_ppm(notional, t.transfer_ppm)
        cdef int64_t fees = commission + stamp + transfer
        cdef int64_t debt_drawn = 0, interest_repaid = 0, debt_repaid = 0, insurance = 0
        cdef int64_t spendable, from_cash, net, to_cash
        o.filled += qty
        o.cum_notional += notional
        o.commission_paid += commission
        if o.filled == o.qty:
            o.status = FILLED
            a.open_orders -= 1
        self.commission_income += commission
        self.stamp_duty_collected += stamp
        self.transfer_fees_collected += transfer
        if is_buy:
            re_reserve(a, o, t)
            p.open_buy -= qty
            p.bought_today += qty
            a.pending_value -= qty * mark
            a.market_value += qty * mark
            # Cash earmarked for open non-marginable buys is not spent on margin-financed ones.
            spendable = a.cash - (a.reserved_nm if o.marginable else 0)
            if spendable < 0:
                spendable = 0
            from_cash = notional + fees if notional + fees < spendable else spendable
            a.cash -= from_cash
            debt_drawn = notional + fees - from_cash
            a.debt += debt_drawn
        else:
            p.open_sell -= qty
            p.sold_today += qty
            a.market_value -= qty * mark
            net = notional - fees
            if net >= 0:
                interest_repaid = net if net < a.accrued_interest else a.accrued_interest
                a.accrued_interest -= interest_repaid
                insurance = apply_bp(interest_repaid, self.insurance_share_bp)
                self.insurance_pool += insurance
                self.interest_income += interest_repaid - insurance
                debt_repaid = net - interest_repaid
                if debt_repaid > a.debt:
                    debt_repaid = a.debt
                a.debt -= debt_repaid
                to_cash = net - interest_repaid - debt_repaid
                a.cash += to_cash
                a.sell_cash_today += to_cash
            else:
                spendable = a.cash - a.reserved_nm
                if spendable < 0:
                    spendable = 0
                from_cash = -net if -net < spendable else spendable
                a.cash -= from_cash
                debt_drawn = -net - from_cash
                a.debt += debt_drawn
        self.fill_info[0] = commission
        self.fill_info[1] = stamp
        self.fill_info[2] = transfer
        self.fill_info[3] = debt_drawn
        self.fill_info[4] = interest_repaid
        self.fill_info[5] = debt_repaid
        self.fill_info[6] = insurance
        self._evaluate(o.account)
        return 0

    def close_order(self, int64_t order_id):
        """Close an open order's remainder (canceled, expired, refused by the broker), releasing what it held."""
        self._begin()
        cdef int64_t slot = order_id - self.order_base - 1
        if slot < 0 or slot >= <int64_t>self.orders.size():
            return self._reject(UNKNOWN_ORDER, 1, order_id, 0, 0)
        cdef OrderC* o = &self.orders[slot]
        if o.status != OPEN:
            return self._reject(ORDER_NOT_OPEN, 1, order_id, 0, 0)
        cdef AccountC* a = &self.accounts[o.account]
        cdef PositionC* p = &self.positions[o.position]
        cdef int64_t remaining = o.qty - o.filled
        if o.side == BUY:
            a.reserved_buy -= o.reserved
            if not o.marginable:
                a.reserved_nm -= o.reserved
            o.reserved = 0
            p.open_buy -= remaining
            a.pending_value -= remaining * self.instruments[o.instrument].mark
        else:
            p.open_sell -= remaining
        o.status = CANCELED
        a.open_orders -= 1
        return 0

    # --------------------------------------------------------------- market
    def apply_tick(self, int instr, int64_t price, int lock=0):
        """Set an instrument's mark (fen) and lock, re-mark every holder; the margin state changes,
        as (account, old_state, new_state, collateral_ratio_bp) sorted by account."""
        self._begin()
        if instr < 0 or instr >= <int>self.instruments.size():
            raise EngineError(UNKNOWN_INSTRUMENT, (instr,))
        cdef InstrumentC* inst = &self.instruments[instr]
        if self._tick_error(inst, price, lock):
            raise EngineError(TICK_PRICE_INVALID, self.last_detail())
        cdef int64_t delta = price - inst.mark
        inst.mark = price
        inst.lock = <int8_t>lock
        cdef vector[int32_t]* hs = &self.holders[instr]
        cdef size_t k, n = hs.size()
        cdef PositionC* p
        cdef AccountC* a
        for k in range(n):
            p = &self.positions[hs[0][k]]
            a = &self.accounts[p.account]
            if delta:
                a.market_value += (p.start_of_day + p.bought_today - p.sold_today) * delta
                a.pending_value += p.open_buy * delta
            self._evaluate(p.account)
        self._sort_changes()
        return self._take_changes()

    def apply_marks(self, prices):
        """Full re-mark: prices[i] is instrument i's new mark (0 keeps it); every account re-evaluated."""
        self._begin()
        cdef Py_ssize_t n = len(prices)
        if n != <Py_ssize_t>self.instruments.size():
            raise ValueError(f"apply_marks needs one price per instrument ({self.instruments.size()}), got {n}")
        cdef vector[int64_t] marks
        cdef Py_ssize_t i
        cdef int64_t price
        marks.resize(n)
        for i in range(n):
            price = prices[i]
            if price and self._tick_error(&self.instruments[i], price, 0):
                raise EngineError(TICK_PRICE_INVALID, self.last_detail())
            marks[i] = price
        for i in range(n):
            if marks[i]:  # a snapshot carries no quotes, so it clears any limit lock
                self.instruments[i].mark = marks[i]
                self.instruments[i].lock = 0
        self._remark_all()
        cdef int32_t k
        for k in range(<int32_t>self.accounts.size()):
            self._evaluate(k)
        return self._take_changes()

    cdef void _remark_all(self) noexcept:
        cdef size_t k
        cdef PositionC* p
        cdef AccountC* a
        cdef int64_t mark
        for k in range(self.accounts.size()):
            self.accounts[k].market_value = 0
            self.accounts[k].pending_value = 0
        for k in range(self.positions.size()):
            p = &self.positions[k]
            a = &self.accounts[p.account]
            mark = self.instruments[p.instrument].mark
            a.market_value += (p.start_of_day + p.bought_today - p.sold_today) * mark
            a.pending_value += p.open_buy * mark

    def roll_day(self, int64_t day):
        """End the trading day and start `day` (a date ordinal): expire orders, accrue interest,
        release T+1, reset previous closes, limits and daily counters; re-evaluate every account."""
        self._begin()
        if day <= self.trading_day:
            return self._reject(DAY_ROLL_INVALID, 2, day, self.trading_day, 0)
        cdef int64_t days = day - self.trading_day
        cdef size_t k
        cdef AccountC* a
        cdef PositionC* p
        cdef TierC* t
        # Day orders expire: nothing stays reserved.
        self.order_base += <int64_t>self.orders.size()
        self.orders.clear()
        for k in range(self.accounts.size()):
            a = &self.accounts[k]
            a.reserved_buy = a.reserved_nm = a.pending_value = 0
            a.open_orders = 0
            a.sell_cash_today = 0
            if a.debt > 0:
                t = &self.tiers[a.tier]
                a.accrued_interest += half_up_div(<i128>a.debt * t.annual_rate_bp * days,
                                                  <i128>BP * self.day_count)
            (<ShardedSet>self.client_order_ids[k]).clear()
            a.first_position = -1
        # T+1: today's buys become sellable; empty positions are dropped and the indexes rebuilt.
        cdef vector[PositionC] kept
        cdef PositionC q
        for k in range(self.positions.size()):
            q = self.positions[k]
            q.start_of_day = q.start_of_day + q.bought_today - q.sold_today
            q.bought_today = q.sold_today = q.open_buy = q.open_sell = 0
            if q.start_of_day != 0:
                kept.push_back(q)
        self.positions.swap(kept)
        self.position_index.clear()
        for k in range(self.holders.size()):
            self.holders[k].clear()
        for k in range(self.positions.size()):
            p = &self.positions[k]
            p.next_in_account = self.accounts[p.account].first_position
            self.accounts[p.account].first_position = <int32_t>k
            self.position_index[position_key(p.account, p.instrument)] = <int32_t>k
            self.holders[p.instrument].push_back(<int32_t>k)
        cdef InstrumentC* inst
        for k in range(self.instruments.size()):
            inst = &self.instruments[k]
            if inst.mark > 0:
                inst.prev_close = inst.mark
            inst.lock = 0
            self._recompute_limits(inst)
        cdef int64_t ended = self.trading_day
        self.trading_day = day
        # A margin call's deadline is the first trading day after it, at 09:30 (a setting): the calls
        # of the day that ended get this day's, whatever was shown while the next day was not known.
        cdef int64_t deadline = self._deadline_on(day)
        for k in range(self.accounts.size()):
            a = &self.accounts[k]
            if a.state == MARGIN_CALL and a.margin_call_day == ended:
                a.margin_call_deadline_ns = deadline
        cdef int32_t j
        for j in range(<int32_t>self.accounts.size()):
            self._evaluate(j)
        return 0

    cdef int64_t _deadline_on(self, int64_t day) noexcept:
        return ((day - 719163) * DAY_S + self.margin_call_deadline_s - SHANGHAI_OFFSET_S) * <int64_t>NS_PER_S

    def advance_clock(self, int64_t now_ns):
        """Time passes: margin calls whose deposit deadline is at or before now_ns start liquidating."""
        self._begin()
        cdef int32_t k
        cdef AccountC* a
        cdef int64_t A, D
        for k in range(<int32_t>self.accounts.size()):
            a = &self.accounts[k]
            if (a.state == MARGIN_CALL and a.margin_call_day < self.trading_day
                    and now_ns >= a.margin_call_deadline_ns):  # confirmed by a roll, and passed
                A = a.cash + a.market_value
                D = a.debt + a.accrued_interest
                self._move(k, LIQUIDATING, A, D)
                self._default_if_bankrupt(k, A, D)
        return self._take_changes()

    # ---------------------------------------------------------------- views
    def take_changes(self):
        """Margin state changes of the last command: (account, old, new, collateral_ratio_bp)."""
        return self._take_changes()

    def waterfall_pending(self):
        """Whether the last command made waterfall steps (cheaper than take_waterfall when not)."""
        return not self.steps.empty()

    def take_waterfall(self):
        """Default waterfall steps of the last command: (account, kind, amount, from_pool,
        from_backstop, to_receivable); kind 1 covers a shortfall, 2 recovers a receivable."""
        if self.steps.empty():
            return []
        out = [(st.account, st.kind, st.amount, st.from_pool, st.from_backstop, st.to_receivable)
               for st in self.steps]
        self.steps.clear()
        return out

    def last_detail(self):
        """The numbers behind the last reject (see core.rejects.DETAIL_KEYS)."""
        return tuple(self.detail[k] for k in range(self.detail_len))

    def last_fill(self):
        """(commission, stamp_duty, transfer, debt_drawn, interest_repaid, debt_repaid, to_insurance)."""
        return tuple(self.fill_info[k] for k in range(7))

    def account(self, int acct):
        if acct < 0 or acct >= <int>self.accounts.size():
            raise KeyError(f"unknown account {acct}")
        cdef AccountC* a = &self.accounts[acct]
        cdef int64_t A = a.cash + a.market_value
        cdef int64_t D = a.debt + a.accrued_interest
        cdef int64_t credit = self._credit_line(a)
        values = (
            acct, a.tier, a.state, bool(a.active), bool(a.frozen),
            bool(a.reduce_only_manual or a.state >= MARGIN_CALL), bool(a.reduce_only_manual),
            bool(a.killed), a.cash, a.debt, a.accrued_interest, a.deposits, a.withdrawals,
            max(0, a.deposits - a.withdrawals), credit, a.market_value, a.reserved_buy, a.reserved_nm,
            a.sell_cash_today, a.open_orders, A, D, A - D, ratio_bp(A, D),
            a.cash + credit - a.debt - a.accrued_interest - a.reserved_buy, a.margin_call_deadline_ns,
            a.receivable,
        )
        return dict(zip(ACCOUNT_FIELDS, values))

    def position(self, int acct, int instr):
        cdef int32_t idx = self._find_position(acct, instr)
        cdef PositionC p
        if idx < 0:
            p.start_of_day = p.bought_today = p.sold_today = p.open_sell = p.open_buy = 0
        else:
            p = self.positions[idx]
        held = p.start_of_day + p.bought_today - p.sold_today
        return {
            "account": acct, "instrument": instr, "held": held, "start_of_day": p.start_of_day,
            "bought_today": p.bought_today, "sold_today": p.sold_today, "open_sell": p.open_sell,
            "open_buy": p.open_buy, "sellable": p.start_of_day - p.sold_today - p.open_sell,
            "market_value": held * self.instruments[instr].mark,
        }

    def positions_of(self, int acct):
        """Every position of the account with shares held or in open orders, by instrument id."""
        if acct < 0 or acct >= <int>self.accounts.size():
            raise KeyError(f"unknown account {acct}")
        instrs = []
        cdef int32_t idx = self.accounts[acct].first_position
        cdef PositionC* p
        while idx >= 0:
            p = &self.positions[idx]
            if p.start_of_day + p.bought_today - p.sold_today > 0 or p.open_buy or p.open_sell:
                instrs.append(p.instrument)
            idx = p.next_in_account
        return [self.position(acct, i) for i in sorted(instrs)]

    def order_status(self, int64_t order_id):
        """The status of an order of today's book (core.types.OrderStatus), or 0 if unknown."""
        cdef int64_t slot = order_id - self.order_base - 1
        if slot < 0 or slot >= <int64_t>self.orders.size():
            return 0
        return self.orders[slot].status

    def order_reserved(self, int64_t order_id):
        """What an open order of today's book holds of its account's buying power (fen); the
        acknowledgement's one engine figure, without building the whole order view."""
        cdef int64_t slot = order_id - self.order_base - 1
        if slot < 0 or slot >= <int64_t>self.orders.size():
            raise KeyError(f"unknown order {order_id}")
        return self.orders[slot].reserved

    def order(self, int64_t order_id):
        cdef int64_t slot = order_id - self.order_base - 1
        if slot < 0 or slot >= <int64_t>self.orders.size():
            raise KeyError(f"unknown order {order_id}")
        cdef OrderC o = self.orders[slot]
        return {
            "order": order_id, "account": o.account, "instrument": o.instrument, "side": o.side,
            "price": o.price, "qty": o.qty, "filled": o.filled, "cum_notional": o.cum_notional,
            "commission_paid": o.commission_paid, "reserved": o.reserved, "status": o.status,
            "liquidation": bool(o.liquidation),
        }

    def instrument(self, int instr):
        if instr < 0 or instr >= <int>self.instruments.size():
            raise KeyError(f"unknown instrument {instr}")
        cdef InstrumentC* inst = &self.instruments[instr]
        return {
            "instrument": instr, "mark": inst.mark, "prev_close": inst.prev_close,
            "limit_down": inst.limit_down, "limit_up": inst.limit_up,
            "halted": bool(inst.halted), "lock": inst.lock,
        }

    def platform(self):
        return {
            "trading_day": self.trading_day, "insurance_pool": self.insurance_pool,
            "commission_income": self.commission_income, "stamp_duty_collected": self.stamp_duty_collected,
            "transfer_fees_collected": self.transfer_fees_collected, "interest_income": self.interest_income,
            "global_kill": bool(self.global_kill), "halt_buys": bool(self.halt_buys),
            "halt_deposits": bool(self.halt_deposits), "halt_accounts": bool(self.halt_accounts),
            "line_raise_bp": self.line_raise_bp, "accounts": self.accounts.size(),
            "next_order_id": self.order_base + <int64_t>self.orders.size() + 1,
            "backstop_line": self.backstop_line, "backstop_drawn": self.backstop_drawn,
            "receivables": self.receivables, "receivables_recovered": self.receivables_recovered,
            "covered_by_pool": self.covered_by_pool, "covered_by_backstop": self.covered_by_backstop,
            "covered_by_receivable": self.covered_by_receivable, "insurance_funded": self.insurance_funded,
        }

    def liquidation_amount(self, int acct):
        """Market value (fen) to sell to reach the restore-to line, and whether that is everything sellable."""
        if acct < 0 or acct >= <int>self.accounts.size():
            raise KeyError(f"unknown account {acct}")
        cdef AccountC* a = &self.accounts[acct]
        cdef TierC* t = &self.tiers[a.tier]
        cdef int64_t sellable_value = 0
        cdef int32_t idx = a.first_position
        cdef PositionC* p
        # Shares held since before today and not yet sold, including those in open sells
        # (as DOMAIN.md counts them for a default); halted names cannot be sold.
        while idx >= 0:
            p = &self.positions[idx]
            if not self.instruments[p.instrument].halted:
                sellable_value += (p.start_of_day - p.sold_today) * self.instruments[p.instrument].mark
            idx = p.next_in_account
        cdef int64_t A = a.cash + a.market_value
        cdef int64_t D = a.debt + a.accrued_interest
        cdef int64_t T = t.restore_bp + self.line_raise_bp
        cdef int64_t phi = t.commission_ppm + t.stamp_duty_ppm + t.transfer_ppm
        if D <= 0:
            return 0, False
        if A - D <= 0:
            return sellable_value, True
        cdef i128 numerator = <i128>T * D - <i128>BP * A
        if numerator <= 0:
            return 0, False
        cdef i128 denominator = <i128>T * (PPM - phi) - <i128>BP * PPM
        if denominator <= 0:
            return sellable_value, True
        cdef int64_t x = half_up_div(numerator * PPM, denominator)
        if x > sellable_value:
            return sellable_value, True
        return x, False

    # ------------------------------------------------------------- snapshots
    def export_state(self):
        """The whole state as plain data (see core.snapshot)."""
        cdef size_t k
        cdef int32_t idx
        cdef AccountC* a
        cdef InstrumentC* inst
        cdef OrderC* o
        instruments = []
        for k in range(self.instruments.size()):
            inst = &self.instruments[k]
            instruments.append(InstrumentState(inst.prev_close, inst.mark, bool(inst.halted), inst.lock))
        accounts = []
        positions = []
        for k in range(self.accounts.size()):
            a = &self.accounts[k]
            accounts.append(AccountState(
                a.tier, a.state, bool(a.active), bool(a.frozen), bool(a.reduce_only_manual), bool(a.killed),
                a.cash, a.debt, a.accrued_interest, a.deposits, a.withdrawals, a.sell_cash_today,
                a.tokens, a.token_time, sorted_client_order_ids(self.client_order_ids[k]),
                a.margin_call_day, a.margin_call_deadline_ns, a.receivable))
            rows = []
            idx = a.first_position
            while idx >= 0:
                p = self.positions[idx]
                rows.append(PositionState(p.account, p.instrument, p.start_of_day, p.bought_today, p.sold_today))
                idx = p.next_in_account
            rows.sort(key=lambda r: r.instrument)
            positions.extend(rows)
        orders = []
        for k in range(self.orders.size()):
            o = &self.orders[k]
            orders.append(OrderState(
                self.order_base + <int64_t>k + 1, o.account, o.instrument, o.side, o.price, o.qty, o.filled,
                o.cum_notional, o.commission_paid, o.status, bool(o.liquidation), bool(o.marginable)))
        return EngineState(
            trading_day=self.trading_day, next_order_id=self.order_base + <int64_t>self.orders.size() + 1,
            global_kill=bool(self.global_kill), halt_buys=bool(self.halt_buys),
            halt_deposits=bool(self.halt_deposits), halt_accounts=bool(self.halt_accounts),
            line_raise_bp=self.line_raise_bp, insurance_pool=self.insurance_pool,
            commission_income=self.commission_income, stamp_duty_collected=self.stamp_duty_collected,
            transfer_fees_collected=self.transfer_fees_collected, interest_income=self.interest_income,
            instruments=instruments, accounts=accounts, positions=positions, orders=orders,
            backstop_drawn=self.backstop_drawn, receivables=self.receivables,
            receivables_recovered=self.receivables_recovered, covered_by_pool=self.covered_by_pool,
            covered_by_backstop=self.covered_by_backstop, covered_by_receivable=self.covered_by_receivable,
            insurance_funded=self.insurance_funded,
        )

    def load_state(self, state):
        """Replace the whole state with `state` (from either engine's export_state); derived
        figures (limits, reservations, market values, indexes) are recomputed."""
        check_compatible(state, self.instruments.size(), self.tiers.size())
        cdef AccountC a
        cdef PositionC p
        cdef OrderC o
        cdef AccountC* acc
        cdef PositionC* pos
        cdef InstrumentC* inst
        cdef int32_t pidx
        cdef size_t k
        self.trading_day = state.trading_day
        self.global_kill, self.halt_buys = state.global_kill, state.halt_buys
        self.halt_deposits, self.halt_accounts = state.halt_deposits, state.halt_accounts
        self.line_raise_bp = state.line_raise_bp
        self.insurance_pool = state.insurance_pool
        self.commission_income = state.commission_income
        self.stamp_duty_collected = state.stamp_duty_collected
        self.transfer_fees_collected = state.transfer_fees_collected
        self.interest_income = state.interest_income
        self.backstop_drawn, self.receivables = state.backstop_drawn, state.receivables
        self.receivables_recovered = state.receivables_recovered
        self.covered_by_pool, self.covered_by_backstop = state.covered_by_pool, state.covered_by_backstop
        self.covered_by_receivable = state.covered_by_receivable
        self.insurance_funded = state.insurance_funded
        for k, saved in enumerate(state.instruments):
            inst = &self.instruments[k]
            inst.prev_close = saved.prev_close
            inst.mark = saved.mark
            inst.halted = saved.halted
            inst.lock = saved.lock
            self._recompute_limits(inst)
        self.accounts.clear()
        self.positions.clear()
        self.orders.clear()
        self.position_index.clear()
        self._begin()
        for k in range(self.holders.size()):
            self.holders[k].clear()
        self.client_order_ids = []
        for saved in state.accounts:
            a.cash = saved.cash
            a.debt = saved.debt
            a.accrued_interest = saved.accrued_interest
            a.deposits = saved.deposits
            a.withdrawals = saved.withdrawals
            a.sell_cash_today = saved.sell_cash_today
            a.reserved_buy = a.reserved_nm = a.market_value = a.pending_value = 0
            a.tokens = saved.tokens
            a.token_time = saved.token_time
            a.margin_call_day = saved.margin_call_day
            a.margin_call_deadline_ns = saved.margin_call_deadline_ns
            a.receivable = saved.receivable
            a.tier = saved.tier
            a.open_orders = 0
            a.first_position = -1
            a.state = saved.state
            a.active = saved.active
            a.frozen = saved.frozen
            a.reduce_only_manual = saved.reduce_only_manual
            a.killed = saved.killed
            self.accounts.push_back(a)
            self.client_order_ids.append(ShardedSet(saved.client_order_ids, shards=ACCOUNT_SHARDS))
        for saved in state.positions:
            pidx = self._ensure_position(saved.account, saved.instrument)
            pos = &self.positions[pidx]
            pos.start_of_day = saved.start_of_day
            pos.bought_today = saved.bought_today
            pos.sold_today = saved.sold_today
        self.order_base = state.next_order_id - 1 - len(state.orders)
        for saved in state.orders:
            o.price = saved.price
            o.qty = saved.qty
            o.filled = saved.filled
            o.cum_notional = saved.cum_notional
            o.commission_paid = saved.commission_paid
            o.account = saved.account
            o.instrument = saved.instrument
            o.position = self._ensure_position(saved.account, saved.instrument)
            o.side = saved.side
            o.status = saved.status
            o.liquidation = saved.liquidation
            o.marginable = saved.marginable
            o.reserved = 0
            if o.status == OPEN:
                acc = &self.accounts[o.account]
                pos = &self.positions[o.position]
                acc.open_orders += 1
                if o.side == BUY:
                    re_reserve(acc, &o, &self.tiers[acc.tier])
                    pos.open_buy += o.qty - o.filled
                else:
                    pos.open_sell += o.qty - o.filled
            self.orders.push_back(o)
        self._remark_all()
