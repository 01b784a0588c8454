"""The broker simulator: its own exchange rules, matching, fees, books, latency and faults."""

import asyncio
import statistics

import pytest
from hypothesis import given, settings, strategies as st

from core.instruments import Instrument, Universe
from simulators.broker import (
    BrokerConfig, BrokerCore, BrokerUnavailable, CancelRequest, ConnectionStatus, ExecutionReport, LatencyModel,
    NewOrder, SimClock, SimulatedBroker,
)
from simulators.broker.latency import REALISTIC
from simulators.market._kernel import Rng
from simulators.market.messages import DayClose, DayOpen, InstrumentStatus, Tick

DAY = 739_621
UNIVERSE = Universe([
    Instrument(code="600000", prev_close=1000),
    Instrument(code="688001", prev_close=5000),
    Instrument(code="600002", prev_close=1000, halted=True),
    Instrument(code="600005", prev_close=1000, tick=10),
])


def order(cl, side=1, price=1000, qty=100, account="A", instrument="600000", market_like=False):
    return NewOrder(cl_ord_id=cl, account=account, instrument=instrument, side=side, price=price, qty=qty,
                    market_like=market_like)


def tick(last=1000, bid=999, bid_size=1000, ask=1001, ask_size=1000, volume=0, lock=0, instrument="600000", ts=1):
    return Tick(ts=ts, instrument=instrument, last=last, volume=volume, bid=bid, bid_size=bid_size, ask=ask,
                ask_size=ask_size, lock=lock)


@pytest.fixture
def core():
    broker = BrokerCore(UNIVERSE, BrokerConfig(), DAY)
    broker.books.load_position("A", "600000", 1_000)
    broker.books.load_position("A", "688001", 250)
    broker.on_market(tick())
    return broker


def reasons(reports):
    return [r.reason.split(":")[0] for r in reports if r.exec_type == "rejected"]


@pytest.mark.parametrize("new,reason", [
    (order("a", instrument="999999"), "UNKNOWN_INSTRUMENT"),
    (order("b", side=3), "INVALID_SIDE"),
    (order("c", instrument="600002"), "INSTRUMENT_HALTED"),
    (order("d", qty=0), "INVALID_ORDER"),
    (order("e", qty=1_000_100), "QUANTITY_ABOVE_MAX"),
    (order("f", instrument="600005", price=1005), "PRICE_OFF_TICK"),
    (order("g", price=1101), "PRICE_OUTSIDE_BAND"),
    (order("h", price=899), "PRICE_OUTSIDE_BAND"),
    (order("i", side=2, qty=1_100), "INSUFFICIENT_POSITION"),
    (order("j", side=2, qty=100, account="B"), "INSUFFICIENT_POSITION"),
    (order("k", qty=150), "INVALID_LOT"),
    (order("l", instrument="688001", price=5000, qty=199), "INVALID_LOT"),
    (order("m", instrument="688001", side=2, price=5000, qty=150), "INVALID_LOT"),
])
def test_every_reject_reason(core, new, reason):
    assert reasons(core.submit(new, 5)) == [reason]


def test_duplicates_random_rejects_and_accepted_odd_lots(core):
    assert core.submit(order("x"), 1)[0].exec_type == "new"
    assert reasons(core.submit(order("x"), 1)) == ["DUPLICATE_ORDER"]
    assert core.submit(order("star-all", instrument="688001", side=2, price=5000, qty=250), 1)[0].exec_type == "new"
    refusing = BrokerCore(UNIVERSE, BrokerConfig(reject_rate=1.0), DAY)
    assert reasons(refusing.submit(order("y"), 1)) == ["BROKER_REJECT"]


def test_t_plus_one_from_the_brokers_own_books(core):
    core.submit(order("buy", price=1001, qty=500), 1)  # fills at the ask
    assert core.books.held("A", "600000") == 1_500
    assert reasons(core.submit(order("sell", side=2, price=999, qty=1_100), 2)) == ["INSUFFICIENT_POSITION"]
    core.on_market(DayClose(ts=3, day=DAY))
    core.on_market(DayOpen(ts=4, day=DAY + 1))
    core.on_market(tick(ts=5))
    assert core.submit(order("sell2", side=2, price=999, qty=1_100), 6)[0].exec_type == "new"


def test_marketable_orders_fill_at_the_quote_up_to_the_displayed_size(core):
    reports = core.submit(order("a", price=1001, qty=1_500), 1)
    new, fill = reports
    assert (new.exec_type, fill.exec_type, fill.last_qty, fill.last_px, fill.leaves_qty) == \
        ("new", "partial_fill", 1_000, 1001, 500)
    # the displayed size is used up until the next tick
    assert core.submit(order("b", price=1001, qty=100), 2)[1:] == []
    # the next tick refreshes it: the first order's remainder fills first
    fills = core.on_market(tick(ask_size=300, ts=3))
    assert [(r.cl_ord_id, r.last_qty) for r in fills] == [("a", 300)]


def test_resting_orders_fill_when_the_market_trades_through(core):
    core.submit(order("rest", price=995, qty=2_000), 1)  # below the ask: rests
    assert core.on_market(tick(last=996, volume=10_000, ts=2)) == []  # above the limit: nothing
    fills = core.on_market(tick(last=994, bid=993, ask=995, ask_size=0, volume=4_000, ts=3))
    # participation cap: 25 % of 4,000 traded, at the order's own price
    assert [(r.last_qty, r.last_px, r.status) for r in fills] == [(1_000, 995, "partially_filled")]


def test_fees_and_average_price(core):
    core.submit(order("s", side=2, price=999, qty=600), 1)  # fills at the bid 999
    report = core.submit(order("b", price=1001, qty=1_000), 2)[1]
    assert (report.commission, report.stamp_duty, report.transfer_fee) == (500, 0, 10)  # 10,010 CNY: min 5
    sells = [r for r in core.on_market(tick(ts=3))]
    assert sells == []
    sell_fill = core.orders["s"]
    assert sell_fill.status == "filled"
    statement = core.books.statement()["A"]
    assert statement["cash"] == 600 * 999 - (500 + 300 + 6) - (1_000 * 1001 + 500 + 10)


def test_nothing_fills_against_a_limit_lock(core):
    locked = dict(last=900, bid=0, bid_size=0, ask=900, ask_size=10**6, lock=-1)
    core.on_market(tick(**locked, ts=1))
    assert core.submit(order("sell", side=2, price=900, qty=500), 2)[1:] == []  # no bids: no fill
    assert core.on_market(tick(**locked, volume=5_000, ts=3)) == []  # locked trades do not reach it
    assert core.orders["sell"].status == "new"
    core.on_market(tick(last=1100, bid=1100, bid_size=10**6, ask=0, ask_size=0, lock=1, ts=3))
    assert core.submit(order("buy", price=1100, qty=100), 4)[1:] == []


def test_market_like_orders_pay_the_slippage(core):
    prices = []
    for n in range(40):
        core.on_market(tick(ask=1001, ask_size=10**6, ts=10 + n))
        fill = core.submit(order(f"m{n}", price=1100, qty=100, market_like=True), 10 + n)[1]
        prices.append(fill.last_px)
    # 0.15 % to 0.25 % above the 10.01 ask, rounded up to the fen: 10.03 or 10.04
    assert set(prices) <= {1003, 1004} and len(set(prices)) == 2
    plain = core.submit(order("plain", price=1005, qty=100), 99)[1]
    assert plain.last_px == 1001  # an ordinary marketable limit gets the quote


def test_cancels(core):
    core.submit(order("a", price=1001, qty=1_500), 1)
    canceled = core.cancel("a", 2)[0]
    assert (canceled.exec_type, canceled.status, canceled.cum_qty, canceled.leaves_qty) == ("canceled", "canceled",
                                                                                          1_000, 0)
    again = core.cancel("a", 3)[0]
    assert again.exec_type == "cancel_rejected" and "TOO_LATE" in again.reason
    unknown = core.cancel("zzz", 4)[0]
    assert unknown.exec_type == "cancel_rejected" and unknown.reason == "UNKNOWN_ORDER"


def test_open_orders_expire_at_the_close(core):
    core.submit(order("a", price=990, qty=100), 1)
    expired = core.on_market(DayClose(ts=2, day=DAY))
    assert [(r.cl_ord_id, r.exec_type, r.status) for r in expired] == [("a", "expired", "expired")]


def test_halts_block_new_orders(core):
    core.on_market(InstrumentStatus(ts=2, instrument="600000", halted=True))
    assert reasons(core.submit(order("h"), 3)) == ["INSTRUMENT_HALTED"]


def test_exchange_style_ids(core):
    new = core.submit(order("a", price=990), 1)[0]
    assert new.broker_order_id == "XSHG-20260105-00000001"
    new = core.submit(order("b", instrument="688001", price=5000, qty=200), 1)[0]
    assert new.broker_order_id.startswith("XSHG-") and new.exec_id.startswith("20260105-")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["order", "tick", "cancel"]), st.integers(1, 5), st.integers(-5, 5),
                          st.integers(0, 5_000)), max_size=60))
def test_fills_never_exceed_the_order_quantity(steps):
    broker = BrokerCore(UNIVERSE, BrokerConfig(), DAY)
    broker.books.load_position("A", "600000", 50_000)
    broker.on_market(tick())
    filled: dict[str, int] = {}
    qty: dict[str, int] = {}
    n = 0
    for kind, a, b, c in steps:
        if kind == "order":
            n += 1
            side = 1 if a % 2 else 2
            q = max(100, c // 100 * 100)
            reports = broker.submit(order(f"o{n}", side=side, price=1000 + b, qty=q), n)
            qty[f"o{n}"] = q
        elif kind == "tick":
            reports = broker.on_market(tick(last=1000 + b, bid=999 + b, ask=1001 + b, bid_size=c, ask_size=c + 100,
                                            volume=c // 100 * 100, ts=n))
        else:
            reports = broker.cancel(f"o{a}", n)
        for r in reports:
            if r.exec_type in ("fill", "partial_fill"):
                filled[r.cl_ord_id] = filled.get(r.cl_ord_id, 0) + r.last_qty
                assert r.cum_qty == filled[r.cl_ord_id] and r.leaves_qty == r.qty - r.cum_qty
                assert filled[r.cl_ord_id] <= qty[r.cl_ord_id]
                assert (r.exec_type == "fill") == (r.cum_qty == r.qty)


def test_the_realistic_latency_preset():
    rng = Rng(5)
    delays = [REALISTIC.draw(rng) for _ in range(5_000)]
    assert 17_000_000 < statistics.mean(delays) < 19_000_000
    assert max(delays) <= 28_000_000 and min(delays) >= 10_000_000
    assert sorted(delays)[int(len(delays) * 0.99)] > 25_000_000
    assert LatencyModel().draw(rng) == 0


def test_reports_arrive_after_their_latency_in_simulated_time():
    async def run():
        broker = SimulatedBroker(UNIVERSE, BrokerConfig(latency=LatencyModel(fixed_ns=5_000_000)), SimClock(0), DAY)
        broker.on_market(tick(ts=1_000))
        await broker.submit(order("a", price=1001))
        assert broker.pending_reports() == []
        broker.advance(1_000 + 4_999_999)
        assert broker.pending_reports() == []
        broker.advance(1_000 + 5_000_000)
        return [r.exec_type for r in broker.pending_reports()]

    assert asyncio.run(run()) == ["new", "fill"]


def test_a_disconnection_holds_reports_and_refuses_orders_until_reconnected():
    async def run():
        broker = SimulatedBroker(UNIVERSE, BrokerConfig(), SimClock(0), DAY)
        broker.books.load_position("A", "600000", 1_000)
        broker.on_market(tick(ts=10))
        await broker.submit(order("rest", side=2, price=1005, qty=500))
        broker.disconnect(duration_ns=1_000_000_000)
        with pytest.raises(BrokerUnavailable):
            await broker.submit(order("b"))
        broker.on_market(tick(last=1006, bid=1005, bid_size=10_000, ts=20))  # fills while disconnected
        held = broker.pending_reports()
        broker.advance(1_000_000_020)  # the outage ends
        after = broker.pending_reports()
        await broker.submit(order("c", price=1010))
        return held, after

    held, after = asyncio.run(run())
    assert [type(m).__name__ for m in held] == ["ExecutionReport", "ConnectionStatus"]  # the ack, then the drop
    assert isinstance(after[0], ConnectionStatus) and after[0].connected
    assert [(r.cl_ord_id, r.exec_type) for r in after[1:]] == [("rest", "fill")]


def test_paced_clock_delivers_at_wall_time():
    async def run():
        clock = SimClock(0, speed=1.0)
        broker = SimulatedBroker(UNIVERSE, BrokerConfig(latency=LatencyModel(fixed_ns=30_000_000)), clock, DAY)
        broker.on_market(tick(ts=clock.now()))
        await broker.submit(order("a", price=1001))
        stream = broker.reports()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        first = await asyncio.wait_for(stream.__anext__(), 2)
        waited = loop.time() - t0
        await broker.close()
        return first, waited

    first, waited = asyncio.run(run())
    assert first.exec_type == "new" and 0.02 < waited < 0.5


def test_a_paced_report_due_within_a_millisecond_is_waited_for_not_polled():
    """uvloop rounds a timer shorter than half a millisecond to none: a pacer that slept exactly until
    a report's time woke at once, again and again, and held a CPU at 100 % whenever reports were
    less than that apart (a realistic broker at 10,000 orders/s). It now waits the timer's millisecond:
    the report comes after one wake-up, never before its time."""
    import uvloop

    async def run():
        clock = SimClock(0, speed=1.0)
        broker = SimulatedBroker(UNIVERSE, BrokerConfig(latency=LatencyModel(fixed_ns=300_000)), clock, DAY)
        broker.on_market(tick(ts=clock.now()))
        releases = 0
        release = broker._release

        def counted():
            nonlocal releases
            releases += 1
            release()

        broker._release = counted
        submitted = clock.now()
        await broker.submit(order("a", price=1001))
        first = await asyncio.wait_for(broker.reports().__anext__(), 2)
        arrived = clock.now()
        await broker.close()
        return first, releases, arrived - submitted

    first, releases, waited_ns = uvloop.run(run())
    assert first.exec_type == "new"
    assert 1 <= releases <= 2, f"the pacer woke {releases} times for one report"
    assert waited_ns >= 300_000


def test_an_instance_can_wrap_how_the_broker_schedules_its_reports():
    """The stress runner counts fills against a limit-down lock by wrapping `_schedule` on the
    broker it drives (gateway/stress/runner.py). The class is compiled (simulated.pxd), and a
    compiled class takes an attribute of that name only with a `__dict__`: without one the
    runner could not wrap it, and the broker's own calls must reach the wrapper."""
    seen = []

    async def run():
        broker = SimulatedBroker(UNIVERSE, BrokerConfig(), SimClock(0), DAY)
        schedule = broker._schedule

        def wrapped(reports, now):
            seen.extend(r.exec_type for r in reports)
            schedule(reports, now)

        broker._schedule = wrapped
        broker.on_market(tick(ts=1))
        broker.submit_nowait(order("a", price=1001))  # marketable: acknowledged and filled
        out = broker.pending_reports()
        await broker.close()
        return out

    delivered = asyncio.run(run())
    assert seen[:2] == ["new", "fill"]
    assert [r.exec_type for r in delivered] == seen


def test_in_the_cascade_sells_at_limit_down_do_not_fill_until_the_locks_break():
    import msgspec

    from simulators.market import MarketSimulator, load_scenario

    universe = Universe.sample()
    scenario = msgspec.structs.replace(load_scenario("cascade"), step_seconds=60)
    sim = MarketSimulator(scenario, universe)
    broker = BrokerCore(universe, BrokerConfig(), sim.days[0])
    # the names the scenario's first shock locks limit-down for three days
    holdings = [sim.codes[i] for i in sim.shock_targets[0] if not sim.instruments[i].halted][:60]
    for code in holdings:
        broker.books.load_position("A", code, 10_000)
    fills_by_day: dict[int, int] = {}
    sent: set[tuple[int, str]] = set()
    day = None
    locked_then: set[str] = set()
    n = 0
    for message in sim.messages():
        reports = broker.on_market(message)
        if isinstance(message, DayOpen):
            day = message.day
        if isinstance(message, Tick) and message.instrument in holdings:
            if message.lock == -1 and (day, message.instrument) not in sent and day != sim.days[3]:
                n += 1  # sell at limit-down into the lock, once a day per name
                reports += broker.submit(order(f"s{n}", side=2, price=message.last, qty=1_000,
                                               instrument=message.instrument), message.ts)
                sent.add((day, message.instrument))
                locked_then.add(message.instrument)
            elif day == sim.days[3] and (day, message.instrument) not in sent and message.instrument in locked_then:
                n += 1  # the locks have broken: sell at the bid
                reports += broker.submit(order(f"s{n}", side=2, price=message.bid, qty=1_000,
                                               instrument=message.instrument), message.ts)
                sent.add((day, message.instrument))
        for r in reports:
            if r.exec_type in ("fill", "partial_fill"):
                fills_by_day[day] = fills_by_day.get(day, 0) + r.last_qty
    assert len(locked_then) >= 20
    assert all(fills_by_day.get(d, 0) == 0 for d in sim.days[:3]), fills_by_day
    assert fills_by_day.get(sim.days[3], 0) > 0


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_open_sells_kept_as_orders_open_fill_and_close_match_the_book(seed):
    """A sell's T+1 check subtracts the account's open sells in the name: kept as a running total
    (a sum over the book per sell was O(resting orders)), it must equal that sum after anything."""
    rng = Rng(seed)
    broker = BrokerCore(UNIVERSE, BrokerConfig(), DAY)
    for account in ("A", "B"):
        broker.books.load_position(account, "600000", 5_000)
    broker.on_market(tick(bid_size=0, ask_size=0))
    placed, most_open = [], 0

    def summed(account):
        return sum(o.leaves for o in broker._open.get("600000", ()) if o.new.side == 2 and o.new.account == account)

    for n in range(400):
        roll = rng.random()
        if roll < 0.5:
            cl = f"o{n}"
            account = "A" if rng.random() < 0.5 else "B"
            side = 2 if rng.random() < 0.7 else 1
            price = 995 + int(rng.random() * 11)
            reports = broker.submit(order(cl, side=side, price=price, qty=100 * (1 + int(rng.random() * 5)),
                                          account=account), n)
            if reports[0].exec_type == "new":
                placed.append(cl)
        elif roll < 0.75 and placed:
            broker.cancel(placed[int(rng.random() * len(placed))], n)
        else:  # a tick that trades through some of the book at random
            broker.on_market(tick(last=995 + int(rng.random() * 11), bid=999, bid_size=int(rng.random() * 300),
                                  ask=1001, ask_size=int(rng.random() * 300), volume=int(rng.random() * 5_000), ts=n))
        for account in ("A", "B"):
            assert broker._open_sells.get((account, "600000"), 0) == summed(account)
        most_open = max(most_open, summed("A") + summed("B"))
    assert most_open > 0  # sells were open along the way, so the checks above meant something
    broker.on_market(DayClose(ts=1_000, day=DAY))
    assert broker._open_sells == {} and summed("A") == summed("B") == 0
