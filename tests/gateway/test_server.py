"""The HTTP server's own endpoints, served in-process by aiohttp's test server on loopback."""

import asyncio
import time

import msgspec
from aiohttp.test_utils import TestClient, TestServer

from core.commands import Deposit
from simulators.market.messages import Tick
from gateway.auth import sign
from gateway.config import Config
from gateway.server import make_app
from tests.gateway.harness import ADMIN, ALICE, BASE_CONFIG, aio, merge


@aio
async def test_a_stopped_journal_is_seen_and_nothing_waits_for_it(tmp_path):
    """A failed journal write stops acknowledgements (GroupCommitter). An operator and a load
    balancer see it: /health answers 503 with status journal_failed, /metrics beacon_journal_failed 1.
    A client's order is refused with 909 JOURNAL_FAILED before the engine sees it, a query gets
    an error rather than no answer, and the admin API answers 503."""
    config = msgspec.convert(merge(BASE_CONFIG, {"journal": {"fsync": "interval", "dir": str(tmp_path / "j")}}),
                             Config)
    app = make_app(config)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.get("/health")
        assert response.status == 200 and (await response.json())["status"] == "ok"
        assert "beacon_journal_failed 0.0" in await (await client.get("/metrics")).text()
        gateway = app["gateway"]
        for _ in range(200):  # the interval's fsync catches up with what is safe (5 ms here)
            health = await (await client.get("/health")).json()
            if health["durable_seq"] == health["safe_seq"]:
                break
            await asyncio.sleep(0.01)
        assert health["durable_seq"] == health["safe_seq"] == gateway.committer.journal.seq > 0
        assert f"beacon_journal_durable_seq {float(health['durable_seq'])}" in await (await client.get("/metrics")).text()
        journal = gateway.committer.journal
        fd, journal.fd = journal.fd, -1  # the next write fails (EBADF)
        gateway.submit(Deposit(account=0, amount=1))
        await asyncio.sleep(0.01)
        journal.fd = fd
        response = await client.get("/health")
        assert response.status == 503 and (await response.json())["status"] == "journal_failed"
        assert "beacon_journal_failed 1.0" in await (await client.get("/metrics")).text()

        # and everything that would wait for the journal is refused, saying why, instead of waiting for ever
        seq = journal.seq
        admin = await client.post("/admin/accounts/0/deposit", json={"amount": 100},
                                  headers={"Authorization": f"Bearer {ADMIN}"})
        assert admin.status == 503 and (await admin.json())["error"] == "JOURNAL_FAILED"
        ws = await client.ws_connect("/ws")
        hello = await ws.receive_json()
        ts = int(time.time() * 1000)
        await ws.send_json({"type": "login", "req_id": "l", "api_key": ALICE[1], "timestamp_ms": ts,
                            "signature": sign(ALICE[2], hello["nonce"], ALICE[1], ts)})
        assert (await ws.receive_json())["type"] == "login_ok"
        await ws.send_json({"type": "new_order", "req_id": "o", "account": 0, "instrument": "600036", "side": "buy",
                            "qty": 100, "price": 4300, "client_order_id": "after-the-failure"})
        refused = await ws.receive_json()
        assert (refused["type"], refused["code"], refused["reason"]) == ("order_rejected", 909, "JOURNAL_FAILED")
        await ws.send_json({"type": "query_account", "req_id": "q", "account": 0})
        answer = await asyncio.wait_for(ws.receive_json(), 5)
        assert (answer["type"], answer["code"]) == ("error", "JOURNAL_FAILED")
        await ws.send_json({"type": "ping", "req_id": "p"})
        assert (await ws.receive_json())["type"] == "pong"
        assert journal.seq == seq  # nothing was applied
        await ws.close()


async def _login(ws, **extra) -> None:
    hello = await ws.receive_json()
    ts = int(time.time() * 1000)
    await ws.send_json({"type": "login", "req_id": "l", "api_key": ALICE[1], "timestamp_ms": ts,
                        "signature": sign(ALICE[2], hello["nonce"], ALICE[1], ts), **extra})
    assert (await ws.receive_json())["type"] == "login_ok"


@aio
async def test_a_session_whose_handler_is_cancelled_at_the_close_still_leaves_and_cancels(tmp_path):
    """aiohttp's test server cancels a websocket's handler when its client goes. The session leaves
    the gateway's tables all the same (the connections gauge goes back down), and an order of a
    session that asked for cancel-on-disconnect is canceled."""
    config = msgspec.convert(merge(BASE_CONFIG, {"journal": {"fsync": "interval", "dir": str(tmp_path / "j")}}),
                             Config)
    app = make_app(config)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        gateway = app["gateway"]
        gateway.on_market(Tick(ts=gateway.now(), instrument="601318", last=5800, volume=0, bid=5795, bid_size=0,
                               ask=5800, ask_size=0, lock=0))
        ws = await client.ws_connect("/ws")
        await _login(ws, cancel_on_disconnect=True)
        await ws.send_json({"type": "new_order", "req_id": "o", "account": 2, "instrument": "601318", "side": "buy",
                            "qty": 100, "price": 5790, "client_order_id": "cod-1"})
        ack = await ws.receive_json()
        assert ack["type"] == "order_accepted", ack
        assert len(gateway.sessions) == 1
        await ws.close()
        for _ in range(100):
            record = gateway.machine.registry.orders[ack["order_id"]]
            if not gateway.sessions and record.state.value == "canceled":
                break
            await asyncio.sleep(0.01)
        assert not gateway.sessions and not any(gateway.order_subs.values())
        assert record.state.value == "canceled"
        assert "beacon_connections 0.0" in await (await client.get("/metrics")).text()
