# The packed state of the margin engine: one C struct per account, position,
# instrument, order and tier, kept in contiguous vectors indexed by integer ids.
# Python objects appear only at the edges (client order id sets, views).

cimport cython
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t
from libcpp.deque cimport deque
from libcpp.unordered_map cimport unordered_map
from libcpp.vector cimport vector


cdef extern from *:
    # GCC/Clang's 128-bit integer, for cross-multiplications of money by bp or ppm.
    # Cython only needs to know it is an integer; the C compiler does the rest.
    ctypedef long long i128 "__int128"


cdef struct TierC:
    int64_t max_leverage_bp
    int64_t annual_rate_bp
    int64_t warning_bp
    int64_t margin_call_bp
    int64_t liquidation_bp
    int64_t restore_bp
    int64_t max_single_name_bp
    int64_t max_order_notional
    int64_t commission_ppm
    int64_t commission_min
    int64_t stamp_duty_ppm
    int64_t transfer_ppm


cdef struct InstrumentC:
    int64_t prev_close      # fen; 0 = unknown
    int64_t mark            # fen; last trade, or previous close before the first trade
    int64_t limit_down      # fen; 0 when the instrument has no limit
    int64_t limit_up
    int64_t tick            # fen
    int64_t max_order_qty   # shares
    int32_t board
    int32_t limit_pct
    uint8_t halted
    uint8_t no_limit
    uint8_t marginable
    int8_t lock             # core.types.Lock


cdef struct AccountC:
    # The fields a tick reads for every holder come first, in one cache line.
    int64_t market_value    # sum of held x mark, kept current by every tick and fill
    int64_t cash
    int64_t debt
    int64_t accrued_interest
    int64_t pending_value   # sum of open buy remainder x mark (for the post-trade leverage test)
    int32_t tier
    uint8_t state
    uint8_t active
    uint8_t frozen
    uint8_t reduce_only_manual
    uint8_t killed
    int32_t open_orders
    int32_t first_position  # head of this account's position list, -1 if none
    int64_t deposits
    int64_t withdrawals
    int64_t reserved_buy    # what open buys would still pay at their limits, fees included
    int64_t reserved_nm     # the part of reserved_buy held by non-marginable buys (cash earmark)
    int64_t sell_cash_today
    int64_t tokens          # nano-tokens in the order-rate bucket
    int64_t token_time      # ns of the last refill
    int64_t margin_call_day         # trading day the current margin call began (0: none)
    int64_t margin_call_deadline_ns # set by the first day roll after it (0: not yet)
    int64_t receivable      # a default's shortfall no one covered: owed by the client, off the margin book


cdef struct PositionC:
    int64_t start_of_day    # shares held when the day began (sellable pool, T+1)
    int64_t bought_today
    int64_t sold_today
    int64_t open_sell
    int64_t open_buy
    int32_t account
    int32_t instrument
    int32_t next_in_account # -1 ends the list


cdef struct OrderC:
    int64_t price
    int64_t qty
    int64_t filled
    int64_t cum_notional
    int64_t commission_paid
    int64_t reserved
    int32_t account
    int32_t instrument
    int32_t position
    uint8_t side
    uint8_t status
    uint8_t liquidation
    uint8_t marginable


cdef struct ChangeC:
    int32_t account
    uint8_t old_state
    uint8_t new_state
    int64_t ratio_bp


cdef struct StepC:
    # one step of the default waterfall: kind 1 covers a shortfall (amount = pool + backstop +
    # receivable), kind 2 recovers a receivable from the defaulted account's cash
    int32_t account
    uint8_t kind
    int64_t amount
    int64_t from_pool
    int64_t from_backstop
    int64_t to_receivable


@cython.final
cdef class MarginEngine:
    cdef vector[TierC] tiers
    cdef vector[InstrumentC] instruments
    cdef vector[AccountC] accounts
    cdef vector[PositionC] positions
    # today's orders by id - order_base - 1; a deque, not a vector: a vector grows by copying every order
    # into a table twice the size in one push_back (2 MB at 32,768 orders, 64 MB at a million), a
    # deque adds a block and moves nothing, so an order never waits for the day's others to be copied
    cdef deque[OrderC] orders
    cdef vector[vector[int32_t]] holders          # per instrument: position indexes
    cdef unordered_map[int64_t, int32_t] position_index  # (account << 32 | instrument) -> position
    cdef vector[ChangeC] changes
    cdef vector[StepC] steps                      # waterfall steps of the current command
    cdef list client_order_ids                    # per account: ShardedSet of ids answered today
    cdef int64_t order_base                       # order id of slot 0 is order_base + 1
    cdef int64_t detail[3]
    cdef int32_t detail_len
    cdef int64_t fill_info[7]
    cdef public int64_t trading_day
    # settings
    cdef int64_t rate_per_s, burst_tokens, max_open_orders, collar_bp, band_bp
    cdef int64_t insurance_share_bp, withdrawal_min_ratio_bp, day_count, margin_call_deadline_s
    cdef bint enforce_session
    # platform
    cdef bint global_kill, halt_buys, halt_deposits, halt_accounts
    cdef int64_t line_raise_bp
    cdef int64_t insurance_pool, commission_income, stamp_duty_collected
    cdef int64_t transfer_fees_collected, interest_income
    cdef int64_t backstop_line, backstop_drawn, receivables, receivables_recovered
    cdef int64_t covered_by_pool, covered_by_backstop, covered_by_receivable, insurance_funded
    cdef readonly object config
    cdef readonly tuple tier_specs
    cdef readonly tuple instrument_specs

    cdef int _reject(self, int code, int n, int64_t d0, int64_t d1, int64_t d2) noexcept
    cdef int32_t _find_position(self, int32_t acct, int32_t instr) noexcept
    cdef int32_t _ensure_position(self, int32_t acct, int32_t instr)
    cdef int64_t _credit_line(self, AccountC* a) noexcept
    cdef void _evaluate(self, int32_t acct) noexcept
    cdef void _move(self, int32_t acct, uint8_t new_state, int64_t A, int64_t D) noexcept
    cdef int64_t _deadline_on(self, int64_t day) noexcept
    cdef void _default_if_bankrupt(self, int32_t acct, int64_t A, int64_t D) noexcept
    cdef void _settle_default(self, int32_t acct) noexcept
    cdef void _begin(self) noexcept
    cdef bint _has_sellable_shares(self, int32_t acct) noexcept
    cdef void _sort_changes(self) noexcept
    cdef void _recompute_limits(self, InstrumentC* inst) noexcept
    cdef int _tick_error(self, InstrumentC* inst, int64_t price, int lock) noexcept
    cdef int _decide(self, int32_t acct, int32_t instr, int side, int64_t price, int64_t qty,
                     object clid, int64_t now_ns, bint liquidation, bint commit) except -1
    cdef int _decide_for_account(self, int32_t acct, int32_t instr, int side, int64_t price,
                                 int64_t qty, object clid, int64_t now_ns, bint liquidation,
                                 bint commit) except -1
    cdef list _take_changes(self)
    cdef void _remark_all(self) noexcept
