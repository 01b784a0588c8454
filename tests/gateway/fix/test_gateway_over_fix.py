"""The real gateway (a subprocess) with `broker.kind = "fix"`, trading through a FIX 4.4
session with the broker simulator's acceptor (in this test's process): an order from a
websocket client is acknowledged and filled over FIX; while the TCP connection is cut,
new orders are rejected BROKER_UNAVAILABLE; fills that happened meanwhile arrive once each
after the initiator reconnects by itself."""

import asyncio
import functools

from core.instruments import Universe
from gateway.fix.session import SessionConfig
from simulators.broker import BrokerConfig, BrokerCore
from simulators.broker.fix import FixBrokerSimulator
from simulators.market.messages import Tick
from tests.gateway.harness import Conn

CODE = "600036"


def aio(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        return asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 120))
    return run


async def wait(predicate, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@aio
async def test_orders_fill_over_fix_and_a_cut_connection_loses_no_fill(fresh_server, tmp_path):
    universe = Universe.sample()
    core = BrokerCore(universe, BrokerConfig(), 739_621)  # 2026-01-05, the gateway's trading day
    sim = FixBrokerSimulator(core, SessionConfig(sender_comp_id="BROKER", target_comp_id="BEACON",
                                                 store_dir=str(tmp_path / "broker")))
    port = await sim.start()
    server = fresh_server(broker={"kind": "fix", "fix": {"port": port, "heartbeat_s": 5, "reconnect_min_s": 0.1,
                                                         "reconnect_max_s": 0.3}})
    await wait(lambda: sim.session.active)
    prev = universe.get(CODE).prev_close
    quote = dict(instrument=CODE, last=prev, bid=prev - 1, ask=prev + 1, bid_size=100_000, ask_size=100_000)
    sim.on_market(Tick(ts=1, volume=0, lock=0, **quote))
    server.tick(CODE, prev, bid=prev - 1, ask=prev + 1)
    conn = await Conn.open(server)
    ack = await conn.order(1, CODE, "buy", 1_000, prev + 1, "fix-1")
    assert ack["type"] == "order_accepted", ack
    fill = await conn.until(lambda m: m["type"] == "fill" and m["order_id"] == ack["order_id"], 10)
    assert (fill["qty"], fill["price"], fill["status"]) == (1_000, prev + 1, "filled")
    wire_id = next(iter(core.orders))
    assert wire_id.endswith(f"-{ack['order_id']}")  # the ClOrdID carries the store's prefix
    # a resting order, then the connection is cut with no Logout
    rest = await conn.order(1, CODE, "buy", 2_000, prev - 5, "fix-2")
    await conn.until(lambda m: m["type"] == "order_update" and m["order_id"] == rest["order_id"]
                     and m["status"] == "new", 10)
    sim.acceptor.drop_connections()
    await wait(lambda: not sim.session.active)
    for _ in range(100):  # until the gateway has seen the cut (its health says so)
        if not server.http("GET", "/health", token=None)[1]["broker_connected"]:
            break
        await asyncio.sleep(0.02)
    refused = await conn.order(1, CODE, "buy", 100, prev + 1, "fix-3")
    assert (refused["type"], refused["reason"]) == ("order_rejected", "BROKER_UNAVAILABLE"), refused
    assert "broker connection is down" in refused["detail"]
    # answered, so its client order id is used for the day: the retry needs a new one
    again = await conn.order(1, CODE, "buy", 100, prev + 1, "fix-3")
    assert (again["type"], again["reason"]) == ("order_rejected", "DUPLICATE_CLIENT_ORDER_ID"), again
    # the market trades down to the resting order while the gateway is away: stored, not lost
    sim.on_market(Tick(ts=2, volume=0, lock=0, **{**quote, "ask": prev - 5, "ask_size": 1_200}))
    sim.on_market(Tick(ts=3, volume=0, lock=0, **{**quote, "ask": prev - 5, "ask_size": 800}))
    await wait(lambda: sim.session.active, 15)  # the gateway reconnects by itself
    done = await conn.until(lambda m: m["type"] == "fill" and m["order_id"] == rest["order_id"]
                            and m["remaining"] == 0, 15)
    fills = [m for m in conn.received if m["type"] == "fill" and m["order_id"] == rest["order_id"]]
    assert [f["qty"] for f in fills] == [1_200, 800] and done["filled"] == 2_000
    positions = await conn.request({"type": "query_positions", "account": 1})
    held = {p["instrument"]: p["held"] for p in positions["positions"]}
    assert held[CODE] == 3_000
    await conn.close()
    server.stop()
    await sim.stop()
    # the refusals are in the journal: the audit of the client order id tells both answers
    import subprocess
    import sys
    from tests.gateway.harness import ROOT
    audit = subprocess.run([sys.executable, "-m", "gateway.cli", "audit", str(server.directory / "journal"),
                            "--client-order-id", "fix-3"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert audit.returncode == 0, audit.stderr
    assert "decision: REJECTED 908 BROKER_UNAVAILABLE: the broker connection was down" in audit.stdout, audit.stdout
    assert "decision: REJECTED 508 DUPLICATE_CLIENT_ORDER_ID" in audit.stdout, audit.stdout


@aio
async def test_the_gateway_trades_against_the_standalone_broker_simulator(tmp_path):
    """Both as users start them: `python -m simulators.broker --fix` and `beacon serve --broker
    fix --fix HOST:PORT`, each playing the same market scenario."""
    import subprocess
    import sys

    from tests.gateway.harness import ROOT
    broker = subprocess.Popen([sys.executable, "-m", "simulators.broker", "--fix", "--port", "0", "--scenario", "calm",
                               "--speed", "20", "--store", str(tmp_path / "broker")],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = broker.stdout.readline()
        assert "FIX 4.4 acceptor on 127.0.0.1:" in line, line
        port = int(line.split("127.0.0.1:")[1].split()[0])
        from tests.gateway.harness import Server
        server = Server(tmp_path / "gateway", extra_args=("--broker", "fix", "--fix", f"127.0.0.1:{port}",
                                                          "--fix-comp-ids", "BEACON:BROKER"),
                        broker={"fix": {"reconnect_min_s": 0.1}},
                        market={"source": "scenario", "scenario": "calm", "speed": 20},
                        engine={"trading_day": ""}).start()
        conn = await Conn.open(server)
        for _ in range(200):
            health = server.http("GET", "/health", token=None)[1]
            if health["broker_connected"]:
                break
            await asyncio.sleep(0.05)
        assert health["broker_connected"]
        await conn.request({"type": "subscribe", "channel": "market", "instruments": [CODE]})
        await conn.until(lambda m: m["type"] == "market" and m["instrument"] == CODE, 10)
        ack = await conn.order(1, CODE, "buy", 100, None, "standalone-1", order_type="market")
        assert ack["type"] == "order_accepted", ack
        fill = await conn.until(lambda m: m["type"] == "fill" and m["order_id"] == ack["order_id"], 10)
        assert fill["qty"] == 100 and fill["commission"] == 500  # the broker's minimum commission, over FIX
        await conn.close()
    finally:
        if "server" in locals():
            server.stop()
        broker.terminate()
        broker.wait(10)
