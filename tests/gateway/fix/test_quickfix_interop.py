"""Interoperability with an independent FIX engine, QuickFIX (its C++ core, through the
`quickfix` package), both ways round:

- Beacon's initiator (the gateway's FixBroker) against a QuickFIX acceptor playing a broker;
- a QuickFIX initiator playing a client against Beacon's broker-simulator acceptor;

covering logon, orders, fills, cancels, heartbeats, a forced sequence gap in each direction
with its resend, and logout. QuickFIX validates everything Beacon sends against its FIX 4.4
data dictionary (a failure would come back as a Reject, which the tests look for), and every
kind of message Beacon writes is also validated directly against that dictionary.

QuickFIX calls Python from its own threads, which crashed it when it shared a process with a
running asyncio loop; the sessions' counterpart therefore runs in a process of its own
(quickfix_peer.py), driven over its stdin and stdout.
"""

import asyncio
import functools
import json
import socket
import sys
import time
from pathlib import Path

import pytest
import quickfix as fix  # the peers extra; make test installs it (used here only single-threaded)

from core.instruments import Instrument, Universe
from gateway.fix import FixParser, encode
from gateway.fix import mapping
from gateway.fix import tags as t
from gateway.fix.broker import FixBroker, FixSettings
from gateway.fix.session import SessionConfig
from simulators.broker import BrokerConfig, BrokerCore, CancelRequest, ExecutionReport, NewOrder
from simulators.broker.fix import FixBrokerSimulator
from simulators.market.messages import Tick

DICTIONARY = Path(sys.prefix) / "share" / "quickfix" / "FIX44.xml"
DAY = 739_621
UNIVERSE = Universe([Instrument(code="600000", prev_close=1000)])


def aio(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        return asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 90))
    return run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QuickFixPeer:
    """QuickFIX in its own process (quickfix_peer.py): commands in, what it saw out."""

    def __init__(self, role: str, port: int, sender: str, target: str, directory: Path):
        self.args = [sys.executable, str(Path(__file__).with_name("quickfix_peer.py")), role, str(port), sender,
                     target, str(directory), str(DICTIONARY)]
        self.events: list[dict] = []

    async def start(self) -> "QuickFixPeer":
        self.proc = await asyncio.create_subprocess_exec(*self.args, stdin=asyncio.subprocess.PIPE,
                                                         stdout=asyncio.subprocess.PIPE)
        self.reader = asyncio.create_task(self._read())
        await until(lambda: self.seen("started"))
        return self

    async def _read(self) -> None:
        async for line in self.proc.stdout:
            self.events.append(json.loads(line))

    def seen(self, event: str) -> int:
        return sum(1 for e in self.events if e["event"] == event)

    def types(self, event: str) -> list[str]:
        return [e["type"] for e in self.events if e["event"] == event]

    def app_in(self) -> list:
        return [_parse(e["raw"]) for e in self.events if e["event"] == "app_in"]

    def command(self, **command) -> None:
        self.proc.stdin.write((json.dumps(command) + "\n").encode())

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.command(stop=True)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self.reader.cancel()


def _parse(raw: str):
    parser = FixParser()
    parser.feed(raw.encode("latin-1"))
    return parser.pop()


def _msg_type(raw: str) -> str:
    return raw.split("\x0135=", 1)[1].split("\x01", 1)[0]


async def until(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# ------------------------------------------------------------------ Beacon initiator, QuickFIX acceptor
@aio
async def test_beacon_initiator_against_a_quickfix_acceptor(tmp_path):
    port = free_port()
    peer = await QuickFixPeer("acceptor", port, "BROKER", "BEACON", tmp_path / "quickfix").start()
    broker = FixBroker(FixSettings(port=port, heartbeat_s=1, reconnect_min_s=0.2, cl_ord_id_prefix=""),
                       str(tmp_path / "beacon"))
    reports = []

    async def read():
        async for message in broker.reports():
            reports.append(message)
    reader = asyncio.create_task(read())
    broker.start()
    try:
        await until(lambda: broker.connected and peer.seen("logon") == 1)
        # an order, acknowledged and filled, with commission and a MiscFees group
        await broker.submit(NewOrder(cl_ord_id="1", account="3", instrument="600000", side=1, price=1001, qty=300))
        await until(lambda: any(getattr(r, "exec_type", "") == "fill" for r in reports))
        fill = next(r for r in reports if getattr(r, "exec_type", "") == "fill")
        assert (fill.cl_ord_id, fill.last_qty, fill.last_px, fill.commission, fill.transfer_fee) == \
            ("1", 300, 1001, 500, 1)
        # a resting order, then its cancel
        await broker.submit(NewOrder(cl_ord_id="2", account="3", instrument="600000", side=1, price=990, qty=100))
        await until(lambda: any(getattr(r, "cl_ord_id", "") == "2" for r in reports))
        await broker.cancel(CancelRequest(cl_ord_id="2"))
        await until(lambda: any(getattr(r, "exec_type", "") == "canceled" for r in reports))
        # heartbeats both ways at 1 s
        await asyncio.sleep(2.5)
        assert "0" in peer.types("admin_in") and "0" in peer.types("admin_out")
        # a forced gap from Beacon: three numbers skipped; QuickFIX asks, Beacon gap-fills
        broker.session.store.set_next_sender(broker.session.next_sender + 3)
        await broker.submit(NewOrder(cl_ord_id="3", account="3", instrument="600000", side=1, price=1001, qty=100))
        await until(lambda: any(getattr(r, "cl_ord_id", "") == "3" and r.exec_type == "fill" for r in reports))
        assert "2" in peer.types("admin_out")  # QuickFIX's ResendRequest
        assert broker.session.counters["gap_fills_sent"] >= 1
        # a forced gap from QuickFIX: Beacon asks, QuickFIX resends
        peer.command(gap=2)
        await until(lambda: peer.seen("gapped"))
        await broker.submit(NewOrder(cl_ord_id="4", account="3", instrument="600000", side=1, price=1001, qty=100))
        await until(lambda: any(getattr(r, "cl_ord_id", "") == "4" and r.exec_type == "fill" for r in reports))
        assert broker.session.counters["resend_requests_sent"] >= 1 and "2" in peer.types("admin_in")
        # nothing Beacon sent was refused by QuickFIX's validation
        assert "3" not in peer.types("admin_out") and "j" not in peer.types("admin_out")
        assert not [r for r in reports if getattr(r, "exec_type", "") == "rejected"]
        assert broker.session.counters["rejects_sent"] == 0
        # logout
        await broker.close()
        await until(lambda: peer.seen("logout") == 1)
        assert "5" in peer.types("admin_in") and "5" in peer.types("admin_out")
    finally:
        reader.cancel()
        if broker.session.connection is not None:
            await broker.close()
        await peer.stop()


# ------------------------------------------------------------------ QuickFIX initiator, Beacon acceptor
def order(cl: str, price: str, qty: int = 100, side: str = "1") -> dict:
    return {11: cl, 1: "7", 21: "1", 55: "600000", 207: "XSHG", 54: side,
            60: time.strftime("%Y%m%d-%H:%M:%S", time.gmtime()), 38: qty, 40: "2", 44: price, 59: "0"}


@aio
async def test_a_quickfix_initiator_against_beacons_broker_simulator(tmp_path):
    core = BrokerCore(UNIVERSE, BrokerConfig(), DAY)
    core.books.load_position("7", "600000", 1_000)
    sim = FixBrokerSimulator(core, SessionConfig(sender_comp_id="BROKER", target_comp_id="CLIENT",
                                                 store_dir=str(tmp_path / "beacon")))
    port = await sim.start()
    sim.on_market(Tick(ts=1, instrument="600000", last=1000, volume=0, bid=999, bid_size=10_000, ask=1001,
                       ask_size=10_000, lock=0))
    peer = await QuickFixPeer("initiator", port, "CLIENT", "BROKER", tmp_path / "quickfix").start()
    try:
        await until(lambda: sim.session.active and peer.seen("logon") == 1)
        peer.command(order=order("A1", "10.01", qty=300))
        await until(lambda: any(r[39] == b"2" for r in peer.app_in()))
        new, fill = peer.app_in()[:2]
        assert (new[150], new[39]) == (b"0", b"0")
        assert (fill[150], fill[39], fill[32], fill[31], fill[12]) == (b"F", b"2", b"300", b"10.01", b"5.00")
        assert fill.group(t.NO_MISC_FEES, t.MISC_FEE_AMT, (137, 138, 139)) == [
            {137: b"0.03", 138: b"CNY", 139: b"4"}]  # the transfer fee of 300,300 fen
        # a resting sell, then its cancel
        peer.command(order=order("A2", "10.20", qty=100, side="2"))
        await until(lambda: any(r[11] == b"A2" for r in peer.app_in()))
        peer.command(cancel={41: "A2", 11: "A3", 55: "600000", 207: "XSHG", 54: "2",
                             60: time.strftime("%Y%m%d-%H:%M:%S", time.gmtime()), 38: 100})
        await until(lambda: any(r[150] == b"4" for r in peer.app_in()))
        # heartbeats both ways at QuickFIX's 1 s
        await asyncio.sleep(2.5)
        assert "0" in peer.types("admin_in") and "0" in peer.types("admin_out")
        # a forced gap from Beacon's side: QuickFIX asks, Beacon gap-fills and resends
        sim.session.store.set_next_sender(sim.session.next_sender + 3)
        peer.command(order=order("A4", "10.01"))
        await until(lambda: any(r[11] == b"A4" and r[39] == b"2" for r in peer.app_in()))
        assert "2" in peer.types("admin_out") and sim.session.counters["gap_fills_sent"] >= 1
        # a forced gap from QuickFIX: Beacon asks
        peer.command(gap=2)
        await until(lambda: peer.seen("gapped"))
        peer.command(order=order("A5", "10.01"))
        await until(lambda: any(r[11] == b"A5" and r[39] == b"2" for r in peer.app_in()))
        assert sim.session.counters["resend_requests_sent"] >= 1 and "2" in peer.types("admin_in")
        # QuickFIX refused nothing Beacon sent; Beacon refused nothing QuickFIX sent
        assert "3" not in peer.types("admin_out")
        assert not [m for m in sim.received if m.msg_type in (b"3", b"j")]
        assert sim.session.counters["rejects_sent"] == 0
        sim.session.logout("test over")  # Beacon ends the session; QuickFIX answers (then reconnects)
        await until(lambda: peer.seen("logout") >= 1)
        assert "5" in peer.types("admin_in") and "5" in peer.types("admin_out")
    finally:
        await peer.stop()
        await sim.stop()


# ------------------------------------------------------------------ every message Beacon writes, validated
def beacon_messages() -> list[bytes]:
    now = 1_767_576_600_000_000_000
    header = lambda kind, seq: [(35, kind), (49, b"BEACON"), (56, b"BROKER"), (34, seq),
                                (52, t.utc_timestamp(now))]
    order = NewOrder(cl_ord_id="X-1", account="3", instrument="688001", side=2, price=5001, qty=200)
    base = dict(cl_ord_id="X-1", broker_order_id="XSHG-20260105-00000001", account="3", instrument="688001", side=2,
                price=5001, qty=200, ts=now)
    reports = [
        ExecutionReport(exec_id="1", exec_type="new", status="new", leaves_qty=200, **base),
        ExecutionReport(exec_id="2", exec_type="partial_fill", status="partially_filled", last_qty=100, last_px=5001,
                        cum_qty=100, leaves_qty=100, avg_px=5001, commission=500, stamp_duty=250, transfer_fee=5,
                        **base),
        ExecutionReport(exec_id="3", exec_type="fill", status="filled", last_qty=100, last_px=5002, cum_qty=200,
                        avg_px=5002, commission=3, stamp_duty=250, transfer_fee=5, **base),
        ExecutionReport(exec_id="4", exec_type="canceled", status="canceled", cum_qty=0, **base),
        ExecutionReport(exec_id="5", exec_type="rejected", status="rejected", reason="PRICE_OUTSIDE_BAND: x", **base),
        ExecutionReport(exec_id="6", exec_type="expired", status="expired", **base),
    ]
    bodies = [(b"D", mapping.new_order_single(order, now)),
              (b"F", mapping.order_cancel_request(CancelRequest(cl_ord_id="X-1"), "X-1-C1", order, now)),
              (b"H", mapping.order_status_request(order))]
    bodies += [(b"8", mapping.execution_report(r, now)) for r in reports]
    bodies.append((b"8", mapping.execution_report(reports[1], now, status_request=True)))
    bodies.append((b"9", mapping.order_cancel_reject(ExecutionReport(
        exec_id="7", exec_type="cancel_rejected", status="filled", reason="TOO_LATE_TO_CANCEL: order is filled",
        **base), "X-1-C2", now)))
    bodies += [(b"A", [(98, b"0"), (108, 30), (141, b"Y")]), (b"0", [(112, b"TEST-1")]), (b"1", [(112, b"TEST-1")]),
               (b"2", [(7, 1), (16, 0)]), (b"4", [(123, b"Y"), (36, 9)]), (b"5", [(58, b"bye")]),
               (b"3", [(45, 4), (371, 44), (372, b"D"), (373, 5), (58, b"bad")]),
               (b"j", [(45, 5), (372, b"Z"), (380, 3), (58, b"unsupported")])]
    return [encode(header(kind, n + 1) + body) for n, (kind, body) in enumerate(bodies)]


@pytest.mark.parametrize("raw", beacon_messages(), ids=lambda raw: "35=" + _msg_type(raw.decode()))
def test_every_message_beacon_writes_is_valid_fix_44_for_quickfix(raw):
    dictionary = fix.DataDictionary(str(DICTIONARY))
    message = fix.Message(raw.decode("latin-1"), dictionary, True)
    dictionary.validate(message)  # raises naming the tag on anything wrong
    # and QuickFIX reads the same fields (it writes its header in its own order, so compare as sets)
    assert sorted(_parse(message.toString()).fields) == sorted(_parse(raw.decode("latin-1")).fields)
