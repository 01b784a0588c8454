"""The gateway's FIX broker (initiator) against the broker simulator's FIX acceptor, on
loopback in one event loop: orders, fills with their fees to the fen, cancels, a dropped TCP
connection in the middle of fills (nothing lost, nothing applied twice), orders rejected
while the session is down, status requests after a Logon, and sequence numbers that
survive a restart."""

import asyncio
import functools

import pytest

from core.instruments import Instrument, Universe
from gateway.fix.broker import FixBroker, FixSettings, _Order
from gateway.fix.session import SessionConfig
from simulators.broker import BrokerConfig, BrokerCore, BrokerUnavailable, CancelRequest, NewOrder
from simulators.broker.fix import FixBrokerSimulator
from simulators.market.messages import Tick

DAY = 739_621
UNIVERSE = Universe([Instrument(code="600000", prev_close=1000), Instrument(code="000001", prev_close=1500)])


def aio(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        return asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 60))
    return run


def tick(last=1000, bid=999, bid_size=10_000, ask=1001, ask_size=10_000, volume=0, instrument="600000", ts=1):
    return Tick(ts=ts, instrument=instrument, last=last, volume=volume, bid=bid, bid_size=bid_size, ask=ask,
                ask_size=ask_size, lock=0)


def order(cl, side=1, price=1001, qty=100, instrument="600000"):
    return NewOrder(cl_ord_id=cl, account="7", instrument=instrument, side=side, price=price, qty=qty)


class Pair:
    """A broker simulator listening, and the gateway's FixBroker connected to it."""

    def __init__(self, tmp_path, heartbeat_s=30.0):
        self.tmp_path = tmp_path
        self.heartbeat_s = heartbeat_s
        self.core = BrokerCore(UNIVERSE, BrokerConfig(), DAY)
        self.core.books.load_position("7", "600000", 1_000)
        self.sim = FixBrokerSimulator(self.core, SessionConfig(
            sender_comp_id="BROKER", target_comp_id="BEACON", store_dir=str(tmp_path / "broker")))
        self.broker: FixBroker | None = None
        self.received = []
        self.prefix = ""

    async def start(self):
        port = await self.sim.start()
        self.sim.on_market(tick())
        self.settings = FixSettings(port=port, heartbeat_s=self.heartbeat_s, reconnect_min_s=0.05,
                                    reconnect_max_s=0.2, cl_ord_id_prefix=self.prefix)
        await self.connect()
        return self

    async def connect(self):
        self.broker = FixBroker(self.settings, str(self.tmp_path / "gateway"))
        self.broker.start()
        self.reader = asyncio.create_task(self._read(self.broker))
        await self.until(lambda m: getattr(m, "connected", False))

    async def _read(self, broker):
        async for message in broker.reports():
            self.received.append(message)

    async def until(self, predicate, timeout=5.0):
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for message in self.received:
                if predicate(message):
                    self.received.remove(message)
                    return message
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"not seen in {timeout} s; received {self.received}")
            await asyncio.sleep(0.01)

    def reports(self, cl=None):
        return [m for m in self.received if hasattr(m, "exec_type") and (cl is None or m.cl_ord_id == cl)]

    async def stop(self):
        await self.broker.close()
        self.reader.cancel()
        await self.sim.stop()


@pytest.fixture
def pair(tmp_path):
    return Pair(tmp_path)


@aio
async def test_an_order_fills_over_fix_with_the_same_report_as_in_process(pair):
    await pair.start()
    # the same order through the broker core in-process, for the expected reports
    reference = BrokerCore(UNIVERSE, BrokerConfig(), DAY)
    reference.on_market(tick())
    expected = reference.submit(order("1", qty=300), 0)
    await pair.broker.submit(order("1", qty=300))
    new = await pair.until(lambda m: getattr(m, "exec_type", "") == "new")
    fill = await pair.until(lambda m: getattr(m, "exec_type", "") == "fill")
    for got, want in ((new, expected[0]), (fill, expected[1])):
        for field in ("cl_ord_id", "broker_order_id", "exec_type", "status", "account", "instrument", "side", "price",
                      "qty", "last_qty", "last_px", "cum_qty", "leaves_qty", "avg_px", "cum_notional", "commission",
                      "stamp_duty", "transfer_fee", "reason"):
            assert getattr(got, field) == getattr(want, field), field
    assert fill.commission == 500 and fill.transfer_fee == 3  # the minimum commission; 0.001 % transfer fee
    await pair.stop()


@aio
async def test_a_sell_carries_stamp_duty_and_the_transfer_fee_as_misc_fees(pair):
    await pair.start()
    await pair.broker.submit(order("s", side=2, price=999, qty=1_000))
    fill = await pair.until(lambda m: getattr(m, "exec_type", "") == "fill")
    assert (fill.last_qty, fill.last_px) == (1_000, 999)
    assert (fill.commission, fill.stamp_duty, fill.transfer_fee) == (500, 500, 10)  # 999,000 fen sold
    await pair.stop()


@aio
async def test_cancels_and_cancel_rejects(pair):
    await pair.start()
    await pair.broker.submit(order("r", price=990))  # rests under the ask
    await pair.until(lambda m: getattr(m, "exec_type", "") == "new")
    await pair.broker.cancel(CancelRequest(cl_ord_id="r"))
    canceled = await pair.until(lambda m: getattr(m, "exec_type", "") == "canceled")
    assert canceled.cl_ord_id == "r" and canceled.status == "canceled" and canceled.leaves_qty == 0
    await pair.broker.cancel(CancelRequest(cl_ord_id="r"))  # no longer open: refused locally
    refused = await pair.until(lambda m: getattr(m, "exec_type", "") == "cancel_rejected")
    assert "UNKNOWN_ORDER" in refused.reason
    await pair.broker.submit(order("f", qty=100))
    await pair.until(lambda m: getattr(m, "exec_type", "") == "fill")
    pair.broker.orders["f"] = _Order(order("f"))  # pretend we missed the fill: the broker answers OrderCancelReject
    await pair.broker.cancel(CancelRequest(cl_ord_id="f"))
    late = await pair.until(lambda m: getattr(m, "exec_type", "") == "cancel_rejected")
    assert late.cl_ord_id == "f" and "TOO_LATE_TO_CANCEL" in late.reason
    await pair.stop()


@aio
async def test_client_order_ids_carry_a_prefix_kept_with_the_store(pair):
    pair.prefix = "auto"
    await pair.start()
    prefix = pair.broker.prefix
    assert len(prefix) == 6
    await pair.broker.submit(order("9", qty=100))
    fill = await pair.until(lambda m: getattr(m, "exec_type", "") == "fill")
    assert fill.cl_ord_id == "9" and f"{prefix}-9" in pair.core.orders  # ours in, the wire id at the broker
    await pair.broker.close()
    pair.reader.cancel()
    await pair.connect()
    assert pair.broker.prefix == prefix  # a restart keeps it
    await pair.stop()


@aio
async def test_a_bad_order_is_rejected_by_the_broker_with_the_reason(pair):
    await pair.start()
    await pair.broker.submit(order("b", price=1200))  # outside the 10 % band
    rejected = await pair.until(lambda m: getattr(m, "exec_type", "") == "rejected")
    assert rejected.cl_ord_id == "b" and rejected.reason.startswith("PRICE_OUTSIDE_BAND")
    await pair.stop()


@aio
async def test_a_dropped_connection_in_the_middle_of_fills_loses_nothing_and_applies_nothing_twice(pair):
    await pair.start()
    for n in range(5):  # five resting buys under the ask
        await pair.broker.submit(order(f"o{n}", price=995, qty=1_000))
    for n in range(5):
        await pair.until(lambda m: getattr(m, "exec_type", "") == "new")
    pair.sim.on_market(tick(last=994, bid=993, ask=995, ask_size=1_500, ts=2))  # o0 fills, o1 half
    await pair.until(lambda m: getattr(m, "exec_type", "") == "fill" and m.cl_ord_id == "o0")
    await pair.until(lambda m: getattr(m, "exec_type", "") == "partial_fill" and m.cl_ord_id == "o1")
    pair.sim.acceptor.drop_connections()  # TCP cut, no Logout
    down = await pair.until(lambda m: getattr(m, "connected", None) is False)
    assert "FIX session down" in down.reason
    with pytest.raises(BrokerUnavailable):
        await pair.broker.submit(order("while-down"))
    # fills happen while the gateway is away: the broker numbers and stores them
    pair.sim.on_market(tick(last=994, bid=993, ask=995, ask_size=2_000, ts=3))  # o1's rest, o2, half of o3
    pair.sim.on_market(tick(last=994, bid=993, ask=995, ask_size=3_000, ts=4))  # o3's rest, o4
    await pair.until(lambda m: getattr(m, "connected", None) is True)  # the initiator reconnects by itself
    fills = {}
    deadline = asyncio.get_running_loop().time() + 5
    while sum(fills.values()) < 3_500 and asyncio.get_running_loop().time() < deadline:
        for m in pair.reports():
            if m.exec_type in ("fill", "partial_fill"):
                fills[m.cl_ord_id] = fills.get(m.cl_ord_id, 0) + m.last_qty
            pair.received.remove(m)
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)  # and nothing more arrives
    for m in pair.reports():
        if m.exec_type in ("fill", "partial_fill"):
            fills[m.cl_ord_id] = fills.get(m.cl_ord_id, 0) + m.last_qty
    assert fills == {"o1": 500, "o2": 1_000, "o3": 1_000, "o4": 1_000}
    # the broker agrees with every quantity the gateway applied
    for n in range(5):
        assert pair.broker.orders.get(f"o{n}") is None or \
            pair.broker.orders[f"o{n}"].cum_qty == pair.core.orders[f"o{n}"].cum_qty
    assert pair.broker.session.counters["resend_requests_sent"] >= 1
    assert pair.sim.session.counters["resent"] >= 3
    # o1..o4 were open at the Logon; their status answers come after the resent fills: no break
    assert pair.broker.counters["status_requests"] == 4 and pair.broker.counters["status_breaks"] == 0
    assert "while-down" not in pair.core.seen  # never sent
    await pair.stop()


@aio
async def test_sequence_numbers_and_open_orders_survive_a_gateway_restart(pair):
    await pair.start()
    await pair.broker.submit(order("keep", price=995, qty=1_000))
    await pair.until(lambda m: getattr(m, "exec_type", "") == "new")
    sent = pair.broker.session.next_sender
    await pair.broker.close()  # a clean Logout
    pair.reader.cancel()
    await asyncio.sleep(0.1)
    pair.sim.on_market(tick(last=994, bid=993, ask=995, ask_size=400, ts=2))  # fills 400 while away
    await pair.connect_restored([(order("keep", price=995, qty=1_000), 0, 0)])
    fill = await pair.until(lambda m: getattr(m, "exec_type", "") == "partial_fill")
    assert fill.cl_ord_id == "keep" and fill.last_qty == 400 and fill.cum_qty == 400
    assert pair.broker.session.next_sender > sent  # numbering went on from the store, no reset
    await pair.stop()


async def _connect_restored(self, orders):
    self.broker = FixBroker(self.settings, str(self.tmp_path / "gateway"))
    self.broker.restore(orders)
    self.broker.start()
    self.reader = asyncio.create_task(self._read(self.broker))
    await self.until(lambda m: getattr(m, "connected", False))


Pair.connect_restored = _connect_restored


@aio
async def test_a_status_request_closes_an_order_the_broker_expired_while_we_were_away(pair):
    await pair.start()
    await pair.broker.submit(order("day", price=995))
    await pair.until(lambda m: getattr(m, "exec_type", "") == "new")
    await pair.broker.close()
    pair.reader.cancel()
    pair.core.end_of_day(0)  # expired at the close, and the broker's store lost it (a reset)
    pair.sim.session.store.reset()
    (pair.tmp_path / "gateway").rename(pair.tmp_path / "gateway-old")  # the gateway starts a new session too
    await pair.connect_restored([(order("day", price=995), 0, 0)])
    closed = await pair.until(lambda m: getattr(m, "exec_type", "") == "expired")
    assert closed.cl_ord_id == "day" and "order status request" in closed.reason
    assert pair.broker.counters["status_closed"] == 1
    await pair.stop()


class RefusingBroker:
    """A counterparty that refuses every NewOrderSingle: a session Reject for the first, a
    BusinessMessageReject for the second."""

    def __init__(self):
        self.n = 0

    def on_logon(self, session):
        pass

    def on_logout(self, session, reason):
        pass

    def on_message(self, session, message):
        self.n += 1
        if self.n == 1:
            session.reject(message, 5, "Value is incorrect (out of range) for this tag", 44)
        else:
            session.business_reject(message, 4, "Application not available", message[11])


@aio
async def test_a_reject_of_an_order_rejects_it_with_the_counterpartys_text(tmp_path):
    from gateway.fix.session import FixAcceptor, FixSession
    session = FixSession(SessionConfig(sender_comp_id="BROKER", target_comp_id="BEACON",
                                       store_dir=str(tmp_path / "broker")), RefusingBroker(), initiator=False)
    acceptor = FixAcceptor([session])
    port = await acceptor.start()
    pair = Pair(tmp_path)
    pair.settings = FixSettings(port=port, reconnect_min_s=0.05, cl_ord_id_prefix="")
    await pair.connect()
    await pair.broker.submit(order("x1"))
    first = await pair.until(lambda m: getattr(m, "exec_type", "") == "rejected")
    assert first.cl_ord_id == "x1" and first.reason.startswith("FIX session Reject: Value is incorrect")
    await pair.broker.submit(order("x2"))
    second = await pair.until(lambda m: getattr(m, "exec_type", "") == "rejected")
    assert second.cl_ord_id == "x2" and second.reason == "FIX BusinessMessageReject: Application not available"
    assert "x1" not in pair.broker.orders and "x2" not in pair.broker.orders
    await pair.broker.close()
    pair.reader.cancel()
    await acceptor.stop()


@aio
async def test_the_broker_simulator_answers_an_unsupported_message_with_a_business_reject(pair, caplog):
    await pair.start()
    caplog.set_level("WARNING", logger="beacon.fix.broker")
    pair.broker.session.send(b"AE", [(571, b"T1")])  # TradeCaptureReport: not a broker simulator's business
    for _ in range(100):
        if "MsgType AE is not supported" in caplog.text:
            break
        await asyncio.sleep(0.02)
    assert "FIX BusinessMessageReject: MsgType AE is not supported" in caplog.text
    await pair.stop()
