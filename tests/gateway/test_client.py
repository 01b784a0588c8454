"""`gateway.client` and the examples built on it, against a real gateway process; and `make run`'s
demo, driven the way the README tells a new user to drive it."""

import asyncio
import functools
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from gateway import protocol as p
from gateway.client import BeaconClient, GatewayError
from gateway.examples.session import session as scripted_session
from gateway.examples.strategy import MarketMaker
from tests.gateway.harness import ALICE, BOB, ROOT

CODE = "600036"


def aio(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        return asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 60))
    return run


def alice(server, **kwargs) -> BeaconClient:
    return BeaconClient(server.url, ALICE[1], ALICE[2], **kwargs)


@aio
async def test_place_fill_cancel_and_query(server):
    async with alice(server) as client:
        assert client.accounts == [0, 1, 2]
        server.tick(CODE, 4336, bid=4335, ask=4336, ask_size=100_000)
        ack = await client.place(1, CODE, "buy", 1_000, client_order_id="cl-buy")
        assert isinstance(ack, p.OrderAck) and ack.price > 4336  # a market order: an aggressive limit
        fill = await client.wait_fill(ack.order_id, 10)
        assert (fill.qty, fill.status, fill.remaining) == (1_000, "filled", 0)
        assert fill.commission >= 500 and fill.transfer_fee > 0  # the 5 CNY minimum, and the transfer fee
        rest = await client.place(1, CODE, "buy", 500, price=4200, client_order_id="cl-rest")
        assert isinstance(rest, p.OrderAck) and rest.status in ("pending_new", "new")
        assert isinstance(await client.cancel(1, client_order_id="cl-rest"), p.CancelAck)
        deadline = time.monotonic() + 10
        while getattr(client.orders.get(rest.order_id), "status", "") != "canceled":
            assert time.monotonic() < deadline, client.orders.get(rest.order_id)
            await client.next_push(5)
        positions = await client.positions(1)
        assert [(x.instrument, x.held, x.sellable) for x in positions.positions] == [(CODE, 1_000, 0)]
        fills = await client.fills(1)
        assert [f.exec_id for f in fills.fills] == [fill.exec_id]
        view = await client.account(1)
        assert view.cash == 1_000_000_00 - fill.qty * fill.price - fill.commission - fill.transfer_fee
        odd = await client.place(1, CODE, "buy", 150, price=4336)
        assert isinstance(odd, p.OrderReject) and odd.reason == "INVALID_LOT" and odd.code == 502
        refused = await client.account(3)  # bob's
        assert isinstance(refused, p.Error) and refused.code == "NOT_ENTITLED"
        risk = await client.risk(1, gross_return_bp=[0])  # all cash but 1,000 shares: L = MV / E, under 1
        held = positions.positions[0].market_value
        assert isinstance(risk, p.RiskView) and risk.figures["market_value"] == held
        assert risk.figures["roe"] == [{"gross_return_bp": 0, "roe_pct": 0.0}] and risk.figures["leverage"] < 1


@aio
async def test_wait_fill_returns_a_fill_that_arrived_before_anyone_waited(server):
    async with alice(server) as client:
        server.tick(CODE, 4336, bid=4335, ask=4336, ask_size=100_000)
        ack = await client.place(2, CODE, "buy", 100, price=4340, client_order_id="early-fill")
        await asyncio.sleep(0.5)  # the fill is read off the socket while nobody waits for it
        fill = await client.wait_fill(ack.order_id, 5)
        assert fill.order_id == ack.order_id and fill.qty == 100


@aio
async def test_a_wrong_secret_is_refused(server):
    with pytest.raises(GatewayError, match="LOGIN_FAILED: unknown api key or bad signature"):
        async with BeaconClient(server.url, ALICE[1], "not-the-secret", reconnect=False):
            pass


@aio
async def test_reconnect_after_a_restart_recovers_orders_and_subscriptions(fresh_server):
    server = fresh_server()
    client = alice(server, reconnect=True, timeout=5.0)
    await client.connect()
    try:
        server.tick(CODE, 4336, bid=4335, ask=4336, ask_size=0)  # nothing offered: the buy rests
        await client.subscribe("market", instruments=[CODE])
        ack = await client.place(1, CODE, "buy", 300, price=4300, client_order_id="survivor")
        assert isinstance(ack, p.OrderAck)
        await asyncio.to_thread(server.restart)
        deadline = time.monotonic() + 20
        while client.reconnects < 1 or getattr(client.orders.get(ack.order_id), "status", "") != "canceled":
            assert time.monotonic() < deadline, (client.reconnects, client.orders.get(ack.order_id))
            await asyncio.sleep(0.1)
        assert "restarted" in client.orders[ack.order_id].reason  # the in-process broker's order was lost
        again = await client.place(1, CODE, "buy", 300, price=4300, client_order_id="survivor")
        assert isinstance(again, p.OrderReject) and again.reason == "DUPLICATE_CLIENT_ORDER_ID"
        server.tick(CODE, 4337)  # the market subscription was renewed on the new connection
        while True:
            push = await client.next_push(5)
            if isinstance(push, p.Market) and push.last == 4337:
                break
    finally:
        await client.close()


@aio
async def test_a_new_market_subscriber_gets_the_latest_quote_at_once(server):
    server.tick("601318", 5800, bid=5799, ask=5801)
    async with BeaconClient(server.url, BOB[1], BOB[2]) as client:
        await client.subscribe("market", instruments=["601318"])
        push = await client.next_push(5)
        assert isinstance(push, p.Market) and (push.instrument, push.last, push.bid) == ("601318", 5800, 5799)


@aio
async def test_the_example_market_maker_quotes_around_the_market(fresh_server):
    server = fresh_server()
    lines: list[str] = []
    async with alice(server) as client:
        maker = MarketMaker(client, 1, instruments=("600036", "601318"), spread_bp=20, out=lines.append)
        server.tick("600036", 4336, ask_size=0, bid_size=0)
        server.tick("601318", 5800, ask_size=0, bid_size=0)
        await maker.run(orders=2)
    quotes = sorted(line.split("QUOTE")[1].split("accepted")[0].split() for line in lines if "QUOTE" in line)
    # one buy each, 20 bp under the last price; no sells: nothing is held, let alone sellable today
    assert quotes == [["BUY", "600036", "100", "@", "43.28"], ["BUY", "601318", "100", "@", "57.89"]]


def test_the_example_session_prints_a_transcript(server, capsys):
    server.tick(CODE, 4336, bid=4335, ask=4336, ask_size=100_000)
    asyncio.run(asyncio.wait_for(scripted_session(server.url, ALICE[1], ALICE[2], 0, CODE), 60))
    out = capsys.readouterr().out
    for expected in ("logged in", "order_accepted", "fill #", "cancel_accepted", "order_update", "canceled",
                     "order_rejected 502 INVALID_LOT", "query_positions"):
        assert expected in out, out


def test_make_run_demo_can_be_traded_by_following_the_readme(tmp_path):
    """`python -m gateway` (what `make run` starts) prints its URLs and credentials; the README's
    example session, given those, logs in, buys, is filled, rests an order and cancels it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    demo = subprocess.Popen([sys.executable, "-m", "gateway"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    banner = []
    try:
        deadline = time.monotonic() + 60
        while not any(line.startswith("Demo strategy") for line in banner):
            assert time.monotonic() < deadline and demo.poll() is None, "".join(banner)
            banner.append(demo.stdout.readline())
        text = "".join(banner)
        url = re.search(r"websocket\s+(ws://\S+)", text).group(1)
        secret = re.search(r"client\s+alice: api key demo-alice\s+secret (\w+)", text).group(1)
        accounts = re.search(r"client\s+alice: .*accounts (\d+) \(conservative\), (\d+) \(standard\)", text)
        session = subprocess.run([sys.executable, "-m", "gateway.examples.session", "--url", url, "--api-key",
                                  "demo-alice", "--secret", secret, "--account", accounts.group(2)],
                                 cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90)
        assert session.returncode == 0, session.stdout + session.stderr
        for expected in ("order_accepted", "fill #", "cancel_accepted", "INVALID_LOT"):
            assert expected in session.stdout, session.stdout
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(15)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0, demo.stdout.read()
    assert (tmp_path / "var" / "demo" / "journal").is_dir()
