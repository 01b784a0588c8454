"""The gateway restarted on its journal: the same accounts, positions and orders; the in-process
broker's lost orders closed and said so; the journal replays and proves every decision."""

import asyncio
import subprocess
import sys
import time

from tests.gateway.harness import ROOT, Conn, Server


def test_a_restart_recovers_everything_from_the_journal(tmp_path):
    server = Server(tmp_path / "g").start()

    async def before():
        conn = await Conn.open(server)
        server.tick("600036", 4336, ask=4336, ask_size=300)
        ack = await conn.order(1, "600036", "buy", 1_000, 4336, "keep-1")
        await conn.until(lambda m: m["type"] == "fill" and m["order_id"] == ack["order_id"])
        account = await conn.request({"type": "query_account", "account": 1})
        positions = await conn.request({"type": "query_positions", "account": 1})
        await conn.close()
        return ack["order_id"], account, positions

    order, account, positions = asyncio.run(before())
    server.stop()
    server.start()

    async def after():
        conn = await Conn.open(server)
        account2 = await conn.request({"type": "query_account", "account": 1})
        positions2 = await conn.request({"type": "query_positions", "account": 1})
        orders = await conn.request({"type": "query_orders", "account": 1, "open_only": False})
        dup = await conn.order(1, "600036", "buy", 100, 4336, "keep-1")
        await conn.close()
        return account2, positions2, orders, dup

    account2, positions2, orders, dup = asyncio.run(after())
    server.stop()
    for view in (account, account2, positions, positions2):
        view.pop("seq"), view.pop("req_id"), view.pop("_seen", None)
    # the resting remainder was released when its order was closed after the restart
    account["reserved_buy"] = account2["reserved_buy"] = 0
    account["buying_power"] = account2["buying_power"]
    assert account2 == account
    assert [(p["instrument"], p["held"]) for p in positions2["positions"]] == \
        [(p["instrument"], p["held"]) for p in positions["positions"]]
    record = next(o for o in orders["orders"] if o["order_id"] == order)
    assert (record["status"], record["filled"]) == ("canceled", 300) and "restarted" in record["reason"]
    assert dup["reason"] == "DUPLICATE_CLIENT_ORDER_ID"  # client order ids survive the restart
    replayed = subprocess.run([sys.executable, "-m", "gateway.cli", "replay", str(tmp_path / "g" / "journal")],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert replayed.returncode == 0 and "reproduced exactly" in replayed.stdout, replayed.stderr


def test_a_running_gateway_snapshots_and_a_crash_restarts_from_the_snapshot(tmp_path):
    server = Server(tmp_path / "g", journal={"snapshot_every": 40}).start()

    async def trade():
        conn = await Conn.open(server)
        server.tick("600036", 4336, ask=4337, ask_size=0)
        for i in range(30):  # resting buys: each is an order and the broker's acknowledgement
            ack = await conn.order(1, "600036", "buy", 100, 4300 - i, f"snap-{i}")
            assert ack["type"] == "order_accepted", ack
        await conn.until(lambda m: m["type"] == "order_update" and m["client_order_id"] == "snap-29")
        account = await conn.request({"type": "query_account", "account": 1})
        await conn.close()
        return account

    account = asyncio.run(trade())
    deadline = time.monotonic() + 20
    while (health := server.http("GET", "/health", token=None)[1])["snapshots_written"] < 1:
        assert time.monotonic() < deadline, health
        time.sleep(0.05)
    written = health["snapshot_seq"]
    assert 40 <= written <= health["journal_seq"]
    server.proc.kill()  # a crash: no orderly close
    server.proc.wait()
    server.start()
    health = server.http("GET", "/health", token=None)[1]
    recovered = health["recovered"]
    assert recovered["snapshot_seq"] >= written and recovered["replayed"] == recovered["records"] - recovered["snapshot_seq"]
    assert recovered["replayed"] <= recovered["records"] - 40  # not the whole journal again

    async def after():
        conn = await Conn.open(server)
        again = await conn.request({"type": "query_account", "account": 1})
        await conn.close()
        return again

    again = asyncio.run(after())
    server.stop()
    for view in (account, again):
        view.pop("seq"), view.pop("req_id"), view.pop("_seen", None)
    # the restart closed the in-process broker's lost orders, releasing what they reserved
    assert (again["cash"], again["debt"], again["reserved_buy"]) == (account["cash"], account["debt"], 0)
    replayed = subprocess.run([sys.executable, "-m", "gateway.cli", "replay", str(tmp_path / "g" / "journal")],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert replayed.returncode == 0 and "reproduced exactly" in replayed.stdout, replayed.stderr


def test_a_negative_snapshot_every_is_refused_by_name(tmp_path):
    config = tmp_path / "beacon.toml"
    config.write_text("[journal]\nsnapshot_every = -1\n")
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", "0"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "journal.snapshot_every must be 0 (never) or more, not -1" in out.stderr
