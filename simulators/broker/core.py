# cython: annotation_typing=False
"""The broker's deterministic core: the exchange's rules applied again, matching against the
simulated L1 quotes, fees, and the custodian books.

It is the other side, not a mirror: the rules below are written here, from the exchange's
point of view, and use only the broker's own state (its books for T+1, the last close it saw
for the band). The gateway's engine is never consulted.

Matching, per instrument:
- A buy priced at or above the best ask fills at the ask, at most the displayed ask size
  (what earlier orders took from it since the last tick is gone); a sell, the same against
  the bid. An order standing in for a market order ("market-like": flagged, or priced more
  than `market_like_threshold_bp` through the touch) fills at the quote moved by a slippage
  drawn between `slippage_min_bp` and `slippage_max_bp`, never beyond its limit or the band.
- What does not fill rests. On each later tick a resting order fills against the new quote
  as above, or, when the market trades through its price (a trade below a buy's limit, above
  a sell's), at its own price, at most `participation` of that tick's volume (shared by the
  resting orders, first come first served).
- Nothing fills against a limit lock: no buy at limit-up with no offers, no sell at
  limit-down with no bids.
- Open orders expire at the close.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from core.instruments import Instrument, Universe
from core.shardmap import ShardedDict, ShardedSet
from simulators.market._kernel import Rng
from simulators.market.messages import DayClose, DayOpen, InstrumentStatus, MarketMessage, Tick

from .books import CustodianBooks
from .holding import HeldOrder
from .interface import ExecutionReport, NewOrder
from .latency import ZERO, LatencyModel


class BrokerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    seed: int = 1
    slippage_min_bp: int = 15  # 0.15 %
    slippage_max_bp: int = 25  # 0.25 %
    market_like_threshold_bp: int = 100
    participation: float = 0.25  # share of a tick's volume resting orders may take
    reject_rate: float = 0.0  # share of valid orders refused at random (fault injection)
    disconnects_per_hour: float = 0.0  # random disconnections (simulated time)
    disconnect_seconds: float = 5.0
    latency: LatencyModel = ZERO
    commission_ppm: int = 250
    commission_min: int = 500
    stamp_duty_ppm: int = 500
    transfer_ppm: int = 10


# -------------------------------------------------------------- the exchange's rules
def _board(code: str) -> str:
    head = code[:3]
    if head in ("688", "689"):
        return "star"
    if head in ("300", "301"):
        return "chinext"
    if head in ("600", "601", "603", "605"):
        return "sse"
    if head in ("000", "001", "002", "003"):
        return "szse"
    return ""


_MAX_QTY = {"sse": 1_000_000, "szse": 1_000_000, "chinext": 300_000, "star": 100_000}


def _band(prev_close: int, spec: Instrument) -> tuple[int, int] | None:
    """(lowest, highest) price the exchange accepts today, from the last close."""
    if spec.no_limit or prev_close <= 0:
        return None
    pct = spec.limit_pct or (20 if _board(spec.code) in ("star", "chinext") else 10)
    # half-up rounding to the fen: (2 * P * (100 +- pct) + 100) // 200
    return ((2 * prev_close * (100 - pct) + 100) // 200, (2 * prev_close * (100 + pct) + 100) // 200)


def _lot_ok(board: str, side: int, qty: int, sellable: int) -> bool:
    star = board == "star"
    if side == 1:
        return qty >= 200 if star else qty % 100 == 0
    if star:
        return qty >= 200 or qty == sellable
    remainder = sellable % 100
    return qty % 100 == 0 or (qty >= remainder and (qty - remainder) % 100 == 0)


def _exchange(code: str) -> str:
    return "XSHG" if _board(code) in ("sse", "star") else "XSHE"


def _rate(amount: int, ppm: int) -> int:
    return (amount * ppm * 2 + 1_000_000) // 2_000_000


_NO_FEES = (0, 0, 0)  # _report's optional arguments go by position: a compiled C method takes no keywords


class _Quote:
    def __init__(self, spec: Instrument):
        self.bid = self.bid_size = self.ask = self.ask_size = self.volume = self.lock = 0
        self.last = spec.prev_close
        self.prev_close = spec.prev_close
        self.halted = spec.halted
        self.band = _band(spec.prev_close, spec)
        self.taken_bid = self.taken_ask = self.through_left = 0
        self.spec = spec
        self.board = _board(spec.code)  # what the rules below ask of the code, worked out once
        self.max_qty = _MAX_QTY.get(self.board, 0)
        self.exchange = _exchange(spec.code)


class BrokerCore:
    def __init__(self, universe: Universe, config: BrokerConfig = BrokerConfig(), trading_day: int = 0):
        self.universe = universe
        self.config = config
        self.rng = Rng(config.seed)
        self.books = CustodianBooks()
        self.quotes = {spec.code: _Quote(spec) for spec in universe}
        self.day = trading_day or dt.date(2026, 1, 5).toordinal()
        self._date = f"{dt.date.fromordinal(self.day):%Y%m%d}"  # for ids, formatted once a day
        # sharded: both grow with every order (core/shardmap.py)
        self.orders: ShardedDict = ShardedDict()  # by cl_ord_id, today's
        self.seen: ShardedSet = ShardedSet()  # every cl_ord_id ever received (a resend is a duplicate)
        self._open: dict[str, list[HeldOrder]] = {}  # instrument -> open orders in arrival order
        # (account, instrument) -> the open sells' remaining shares: what a new sell's T+1 check
        # subtracts, kept as orders open, fill and close rather than summed over the book per sell
        self._open_sells: dict[tuple[str, str], int] = {}
        self._order_no = 0
        self._exec_no = 0

    # ---------------------------------------------------------------- reports
    def _report(self, order: HeldOrder, exec_type: str, now: int, last_qty: int = 0, last_px: int = 0,
                fees: tuple[int, int, int] = _NO_FEES, reason: str = "") -> ExecutionReport:
        self._exec_no += 1
        n = order.new
        qty, cum_qty, cum_notional, status = n.qty, order.cum_qty, order.cum_notional, order.status
        avg = (cum_notional * 2 + cum_qty) // (2 * cum_qty) if cum_qty else 0
        return ExecutionReport(
            cl_ord_id=n.cl_ord_id, broker_order_id=order.broker_id,
            exec_id=f"{self._date}-{self._exec_no:010d}", exec_type=exec_type,
            status=status, account=n.account, instrument=n.instrument, side=n.side, price=n.price, qty=qty,
            last_qty=last_qty, last_px=last_px, cum_qty=cum_qty,
            leaves_qty=qty - cum_qty if status in ("new", "partially_filled") else 0, avg_px=avg,
            cum_notional=cum_notional, commission=fees[0], stamp_duty=fees[1], transfer_fee=fees[2],
            reason=reason, ts=now)

    def status_report(self, order: HeldOrder, now: int) -> ExecutionReport:
        """The order as it stands, to answer a status request."""
        return self._report(order, "new", now)

    def _reject(self, new: NewOrder, reason: str, now: int) -> ExecutionReport:
        order = HeldOrder(new, "", 0)
        order.status = "rejected"
        return self._report(order, "rejected", now, 0, 0, _NO_FEES, reason)

    # ---------------------------------------------------------------- orders
    def submit(self, new: NewOrder, now: int) -> list[ExecutionReport]:
        """A new order: the exchange's checks, then the acknowledgement and any immediate fills."""
        cl_ord_id, instrument = new.cl_ord_id, new.instrument
        # the id is recorded as received either way; a resend of one already seen is a duplicate (one lookup)
        if self.seen.add(cl_ord_id):
            reason = self._check(new)
        else:
            reason = f"DUPLICATE_ORDER: cl_ord_id {cl_ord_id} was already received"
        if reason:
            return [self._reject(new, reason, now)]
        if self.config.reject_rate and self.rng.random() < self.config.reject_rate:
            return [self._reject(new, "BROKER_REJECT: simulated refusal", now)]
        self._order_no += 1
        quote: _Quote = self.quotes[instrument]
        broker_id = f"{quote.exchange}-{self._date}-{self._order_no:08d}"
        order = HeldOrder(new, broker_id, self._order_no)
        self.orders.put(cl_ord_id, order)
        book = self._open.get(instrument)
        if book is None:
            book = self._open[instrument] = []
        book.append(order)
        if new.side == 2:
            self._add_open_sell(new, new.qty)
        reports = [self._report(order, "new", now)]
        reports += self._match(order, quote, now, arriving=True)
        return reports

    def _check(self, new: NewOrder) -> str:
        # (a duplicate id is submit's to find, as it records the id)
        instrument, side, qty, price = new.instrument, new.side, new.qty, new.price
        quote: _Quote = self.quotes.get(instrument)
        if quote is None:
            return f"UNKNOWN_INSTRUMENT: {instrument}"
        if side not in (1, 2):
            return f"INVALID_SIDE: {side}"
        if quote.halted:
            return f"INSTRUMENT_HALTED: {instrument} is suspended"
        if qty <= 0 or price <= 0:
            return f"INVALID_ORDER: qty={qty} price={price}"
        if qty > quote.max_qty:
            return f"QUANTITY_ABOVE_MAX: {qty} > {quote.max_qty}"
        tick = quote.spec.tick
        if price % tick:
            return f"PRICE_OFF_TICK: {price} is not a multiple of {tick}"
        band = quote.band
        if band is not None and not band[0] <= price <= band[1]:
            return f"PRICE_OUTSIDE_BAND: {price} outside {band[0]}..{band[1]}"
        sellable = 0
        if side == 2:
            account = new.account
            open_sells = self._open_sells.get((account, instrument), 0)
            sellable = self.books.sellable_before_open_orders(account, instrument) - open_sells
            if qty > sellable:
                return f"INSUFFICIENT_POSITION: sell {qty}, sellable {sellable} (T+1)"
        if not _lot_ok(quote.board, side, qty, sellable):
            return f"INVALID_LOT: {qty} shares"
        return ""

    def _add_open_sell(self, new: NewOrder, shares: int) -> None:
        key = (new.account, new.instrument)
        left = self._open_sells.get(key, 0) + shares
        if left:
            self._open_sells[key] = left
        else:
            self._open_sells.pop(key, None)

    def cancel(self, cl_ord_id: str, now: int) -> list[ExecutionReport]:
        """Cancel an order's remainder; a cancel_rejected report when it is unknown or already done."""
        order = self.orders.get(cl_ord_id)
        if order is None:
            self._exec_no += 1
            return [ExecutionReport(cl_ord_id=cl_ord_id, broker_order_id="", exec_id=f"X{self._exec_no:010d}",
                                    exec_type="cancel_rejected", status="rejected", account="", instrument="",
                                    side=0, price=0, qty=0, reason="UNKNOWN_ORDER", ts=now)]
        if order.status not in ("new", "partially_filled"):
            return [self._report(order, "cancel_rejected", now, 0, 0, _NO_FEES,
                                 f"TOO_LATE_TO_CANCEL: order is {order.status}")]
        order.status = "canceled"
        self._open[order.new.instrument].remove(order)
        if order.new.side == 2:
            self._add_open_sell(order.new, -order.leaves)
        return [self._report(order, "canceled", now)]

    # ---------------------------------------------------------------- matching
    def _fill(self, order: HeldOrder, qty: int, price: int, now: int) -> ExecutionReport:
        cfg = self.config
        notional = qty * price
        order.cum_qty += qty
        order.cum_notional += notional
        if order.new.side == 2:
            self._add_open_sell(order.new, -qty)
        commission = max(cfg.commission_min, _rate(order.cum_notional, cfg.commission_ppm)) - order.commission_paid
        order.commission_paid += commission
        stamp = _rate(notional, cfg.stamp_duty_ppm) if order.new.side == 2 else 0
        transfer = _rate(notional, cfg.transfer_ppm)
        self.books.record_fill(order.new.account, order.new.instrument, order.new.side, qty, notional,
                               commission + stamp + transfer)
        if order.leaves == 0:
            order.status = "filled"
            self._open[order.new.instrument].remove(order)
        else:
            order.status = "partially_filled"
        return self._report(order, "fill" if order.status == "filled" else "partial_fill", now, qty, price,
                            (commission, stamp, transfer))

    def _slipped(self, order: HeldOrder, touch: int, quote: _Quote) -> int:
        """The fill price of a market-like order: the touch moved against it by the slippage."""
        cfg = self.config
        bp = cfg.slippage_min_bp + (cfg.slippage_max_bp - cfg.slippage_min_bp) * self.rng.random()
        tick = self.universe.get(order.new.instrument).tick
        if order.new.side == 1:
            price = -(-int(touch * (10_000 + bp)) // (10_000 * tick)) * tick  # rounded up to the tick
            cap = min(order.new.price, quote.band[1]) if quote.band else order.new.price
            return min(price, cap)
        price = int(touch * (10_000 - bp)) // (10_000 * tick) * tick
        floor = max(order.new.price, quote.band[0]) if quote.band else order.new.price
        return max(price, floor)

    def _market_like(self, order: HeldOrder, touch: int) -> bool:
        if order.new.market_like:
            return True
        gap = order.new.price - touch if order.new.side == 1 else touch - order.new.price
        return gap * 10_000 > self.config.market_like_threshold_bp * touch

    def _match(self, order: HeldOrder, quote: _Quote, now: int, arriving: bool) -> list[ExecutionReport]:
        out = []
        new = order.new
        leaves = new.qty - order.cum_qty  # (order.leaves, without a call to Python)
        if quote.halted or leaves <= 0:
            return out
        if new.side == 1:
            if quote.lock > 0 or not quote.ask:  # limit-up with no offers: nothing to buy
                return out
            available = quote.ask_size - quote.taken_ask
            if new.price >= quote.ask and available > 0:
                qty = min(leaves, available)
                quote.taken_ask += qty
                price = self._slipped(order, quote.ask, quote) if arriving and self._market_like(order, quote.ask) \
                    else quote.ask
                out.append(self._fill(order, qty, price, now))
            elif not arriving and quote.volume and quote.last < new.price and quote.through_left > 0:
                qty = min(leaves, quote.through_left)
                quote.through_left -= qty
                out.append(self._fill(order, qty, new.price, now))
        else:
            if quote.lock < 0 or not quote.bid:  # limit-down with no bids: nothing to sell to
                return out
            available = quote.bid_size - quote.taken_bid
            if new.price <= quote.bid and available > 0:
                qty = min(leaves, available)
                quote.taken_bid += qty
                price = self._slipped(order, quote.bid, quote) if arriving and self._market_like(order, quote.bid) \
                    else quote.bid
                out.append(self._fill(order, qty, price, now))
            elif not arriving and quote.volume and quote.last > new.price and quote.through_left > 0:
                qty = min(leaves, quote.through_left)
                quote.through_left -= qty
                out.append(self._fill(order, qty, new.price, now))
        return out

    # ---------------------------------------------------------------- market data
    def on_market(self, message: MarketMessage) -> list[ExecutionReport]:
        """Update the broker's view of the market; resting orders may fill, or expire at the close."""
        if isinstance(message, Tick):
            quote = self.quotes.get(message.instrument)
            if quote is None:
                return []
            quote.bid, quote.bid_size, quote.ask, quote.ask_size = (message.bid, message.bid_size, message.ask,
                                                                    message.ask_size)
            quote.last, quote.volume, quote.lock = message.last, message.volume, message.lock
            quote.taken_bid = quote.taken_ask = 0
            quote.through_left = int(message.volume * self.config.participation)
            out = []
            for order in list(self._open.get(message.instrument, ())):
                out += self._match(order, quote, message.ts, arriving=False)
            return out
        if isinstance(message, InstrumentStatus):
            if message.instrument in self.quotes:
                self.quotes[message.instrument].halted = message.halted
            return []
        if isinstance(message, DayOpen):
            if message.day != self.day:
                self._new_day(message.day)
            return []
        if isinstance(message, DayClose):
            return self.end_of_day(message.ts)
        return []

    def end_of_day(self, now: int) -> list[ExecutionReport]:
        """Day orders expire at the close."""
        out = []
        for orders in self._open.values():
            for order in orders:
                order.status = "expired"
                out.append(self._report(order, "expired", now))
        self._open = {}
        self._open_sells = {}
        return out

    def _new_day(self, day: int) -> None:
        self.end_of_day(0)
        for code, quote in self.quotes.items():
            quote.prev_close = quote.last
            quote.band = _band(quote.last, self.universe.get(code))
            quote.lock = 0
        self.books.roll_day()
        self.orders = ShardedDict()
        self.day = day
        self._date = f"{dt.date.fromordinal(day):%Y%m%d}"
