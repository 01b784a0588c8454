"""The websocket API through a real gateway process, with the independent `websockets` client."""

import asyncio
import time

import msgspec
import pytest

from tests.gateway.harness import ALICE, BOB, Conn, aio

CODE = "600036"  # 招商银行, previous close 43.36


def contiguous(messages) -> bool:
    seqs = [m["seq"] for m in messages]
    return seqs == list(range(seqs[0], seqs[0] + len(seqs)))


@aio
async def test_hello_and_login_with_hmac(server):
    conn = await Conn.open(server, login=None)
    assert conn.hello["type"] == "hello" and conn.hello["seq"] == 1 and len(conn.hello["nonce"]) == 32
    answer = await conn.request({"type": "ping"})
    assert answer["type"] == "error" and answer["code"] == "NOT_AUTHENTICATED"
    bad = await conn.login("alice-key", "wrong-secret-000000000")
    assert bad["code"] == "LOGIN_FAILED" and "new nonce" in bad["message"]
    new_nonce = bad["message"].split("new nonce ")[1].split()[0]
    # the old nonce is spent: a correct signature over it is refused
    stale = await conn.login("alice-key", ALICE[2], nonce=conn.hello["nonce"])
    assert stale["code"] == "LOGIN_FAILED"
    new_nonce = stale["message"].split("new nonce ")[1].split()[0]
    ok = await conn.login("alice-key", ALICE[2], nonce=new_nonce)
    assert ok["type"] == "login_ok" and ok["client"] == "alice" and ok["accounts"] == [0, 1, 2]
    again = await conn.login("alice-key", ALICE[2], nonce=new_nonce)
    assert again["code"] == "ALREADY_AUTHENTICATED"
    await conn.close()


@aio
async def test_login_refusals(server):
    conn = await Conn.open(server, login=None)
    old = await conn.login("alice-key", ALICE[2], ts=int(time.time() * 1000) - 120_000)
    assert old["code"] == "LOGIN_FAILED" and "timestamp" in old["message"]
    nonce = old["message"].split("new nonce ")[1].split()[0]
    admin = await conn.login("admin-token-0123456789", "admin-token-0123456789", nonce=nonce)
    assert admin["code"] == "LOGIN_FAILED"  # operators' tokens cannot trade
    nonce = admin["message"].split("new nonce ")[1].split()[0]
    third = await conn.login("nobody", "x" * 20, nonce=nonce)
    assert third["code"] == "LOGIN_FAILED"
    with pytest.raises(Exception):  # three failures: the gateway closes the connection
        await conn.recv(2)
    assert conn.ws.close_code == 1008 and "failed logins" in conn.ws.close_reason


@aio
async def test_an_order_is_accepted_acknowledged_filled_and_pushed_with_fees(server):
    conn = await Conn.open(server)
    server.tick(CODE, 4336, bid=4335, ask=4337, ask_size=0)  # nothing offered yet
    ack = await conn.order(1, CODE, "buy", 1_000, 4336, "fill-1")
    assert ack["type"] == "order_accepted" and ack["status"] == "pending_new"
    assert ack["reserved"] == 4_336_000 + 1_084 + 43
    update = await conn.until(lambda m: m["type"] == "order_update" and m["order_id"] == ack["order_id"])
    assert update["status"] == "new"
    server.tick(CODE, 4335, bid=4334, ask=4336, ask_size=400)  # 400 offered at 43.36: a partial fill
    fill = await conn.until(lambda m: m["type"] == "fill" and m["order_id"] == ack["order_id"])
    assert (fill["qty"], fill["price"], fill["status"], fill["remaining"]) == (400, 4336, "partially_filled", 600)
    assert (fill["commission"], fill["transfer_fee"]) == (500, 17)
    server.tick(CODE, 4330, bid=4329, ask=4331, ask_size=10_000)
    fill = await conn.until(lambda m: m["type"] == "fill" and m["order_id"] == ack["order_id"])
    assert (fill["qty"], fill["price"], fill["status"]) == (600, 4331, "filled")
    fills = await conn.request({"type": "query_fills", "account": 1})
    mine = [f for f in fills["fills"] if f["order_id"] == ack["order_id"]]
    assert [(f["qty"], f["price"]) for f in mine] == [(400, 4336), (600, 4331)]
    positions = await conn.request({"type": "query_positions", "account": 1})
    position = next(p for p in positions["positions"] if p["instrument"] == CODE)
    assert position["held"] >= 1_000 and position["sellable"] == 0  # T+1
    assert contiguous(conn.received)
    await conn.close()


@aio
async def test_cancel_of_a_partly_filled_order(server):
    conn = await Conn.open(server)
    server.tick(CODE, 4336, bid=4335, ask=4337, ask_size=0)
    ack = await conn.order(1, CODE, "buy", 800, 4336, "cxl-1")
    server.tick(CODE, 4336, bid=4335, ask=4336, ask_size=300)
    await conn.until(lambda m: m["type"] == "fill" and m["order_id"] == ack["order_id"])
    answer = await conn.request({"type": "cancel", "account": 1, "client_order_id": "cxl-1"})
    assert answer["type"] == "cancel_accepted" and answer["order_ids"] == [ack["order_id"]]
    done = await conn.until(lambda m: m["type"] == "order_update" and m["order_id"] == ack["order_id"]
                            and m["status"] == "canceled")
    assert (done["filled"], done["remaining"]) == (300, 0)
    again = await conn.request({"type": "cancel", "account": 1, "order_id": ack["order_id"]})
    assert again["type"] == "error" and again["code"] == "ORDER_NOT_OPEN"
    orders = await conn.request({"type": "query_orders", "account": 1, "open_only": False})
    assert next(o for o in orders["orders"] if o["order_id"] == ack["order_id"])["status"] == "canceled"
    await conn.close()


@aio
async def test_rejections_carry_the_engine_code_name_and_detail(server):
    conn = await Conn.open(server)
    server.tick(CODE, 4336)
    cases = [
        ({"qty": 150, "price": 4336}, 502, "INVALID_LOT", "qty=150, sellable=0"),
        ({"qty": 100, "price": 4771}, 504, "PRICE_OUTSIDE_LIMITS", "price=4771, down=3902, up=4770"),
        ({"qty": 100, "price": 4600}, 505, "PRICE_OUTSIDE_COLLAR", "price=4600, mark=4336, collar_bp=500"),
        ({"qty": 100, "price": 4336, "side": "sell"}, 501, "INSUFFICIENT_SELLABLE", "qty=100, sellable=0"),
        ({"qty": 100_000, "price": 4336, "account": 0}, 701, "INSUFFICIENT_BUYING_POWER", None),
        ({"qty": 100, "price": 4336, "instrument": "999999"}, 401, "UNKNOWN_INSTRUMENT", "instrument=999999"),
        ({"qty": 100, "price": 4336, "account": 3}, 203, "NOT_ENTITLED", "account=3"),
        ({"qty": 100, "price": 4336, "account": 9_999}, 201, "UNKNOWN_ACCOUNT", "account=9999"),  # exists? first
    ]
    for n, (changes, code, reason, detail) in enumerate(cases):
        body = {"account": 1, "instrument": CODE, "side": "buy", "client_order_id": f"rej-{n}", **changes}
        answer = await conn.request({"type": "new_order", **body})
        assert (answer["type"], answer["code"], answer["reason"]) == ("order_rejected", code, reason), answer
        if detail:
            assert answer["detail"] == detail
    dup = await conn.order(1, CODE, "buy", 100, 4336, "rej-0")  # a valid order reusing a client order id
    assert dup["reason"] == "DUPLICATE_CLIENT_ORDER_ID" and dup["detail"] == "client_order_id=rej-0"
    await conn.close()


@aio
async def test_operator_controls_reject_orders(fresh_server):
    server = fresh_server()
    conn = await Conn.open(server)
    server.tick(CODE, 4336)
    server.admin("/admin/instruments/600036/halt", {"halted": True})
    assert (await conn.order(1, CODE, "buy", 100, 4336, "h1"))["reason"] == "INSTRUMENT_HALTED"
    server.admin("/admin/instruments/600036/halt", {"halted": False})
    server.admin("/admin/accounts/1/freeze", {"on": True})
    assert (await conn.order(1, CODE, "buy", 100, 4336, "h2"))["reason"] == "ACCOUNT_FROZEN"
    server.admin("/admin/accounts/1/freeze", {"on": False})
    server.admin("/admin/accounts/1/reduce-only", {"on": True})
    assert (await conn.order(1, CODE, "buy", 100, 4336, "h3"))["reason"] == "REDUCE_ONLY"
    server.admin("/admin/accounts/1/reduce-only", {"on": False})
    server.admin("/admin/controls", {"halt_buys": True})
    assert (await conn.order(1, CODE, "buy", 100, 4336, "h4"))["reason"] == "BUYS_HALTED"
    server.admin("/admin/controls", {"halt_buys": False})
    resting = await conn.order(1, CODE, "buy", 100, 4300, "h5")
    assert resting["type"] == "order_accepted"
    server.admin("/admin/accounts/1/kill", {"on": True})  # cancels the account's open orders
    canceled = await conn.until(lambda m: m["type"] == "order_update" and m["order_id"] == resting["order_id"]
                                and m["status"] == "canceled")
    assert canceled["remaining"] == 0
    assert (await conn.order(1, CODE, "buy", 100, 4336, "h6"))["reason"] == "KILL_SWITCH_ACCOUNT"
    server.admin("/admin/accounts/1/kill", {"on": False})
    server.admin("/admin/controls", {"global_kill": True})
    assert (await conn.order(1, CODE, "buy", 100, 4336, "h7"))["reason"] == "KILL_SWITCH_GLOBAL"
    await conn.close()


@aio
async def test_a_client_cannot_touch_another_clients_account(server):
    alice = await Conn.open(server)
    for request in ({"type": "query_account", "account": 3}, {"type": "query_positions", "account": 4},
                    {"type": "query_orders", "account": 5}, {"type": "query_fills", "account": 3},
                    {"type": "cancel", "account": 3, "order_id": 1},
                    {"type": "cancel_all", "account": 3},
                    {"type": "subscribe", "channel": "account", "accounts": [4]}):
        answer = await alice.request(request)
        assert answer["type"] == "error" and answer["code"] == "NOT_ENTITLED", (request, answer)
    bob = await Conn.open(server, login=BOB)
    assert bob.accounts == [3, 4, 5]
    mine = await bob.request({"type": "query_account", "account": 3})
    assert mine["type"] == "account" and mine["tier"] == "conservative"
    await alice.close()
    await bob.close()


@aio
async def test_resubmitting_after_a_reconnect_is_safe(server):
    conn = await Conn.open(server)
    server.tick(CODE, 4336, ask_size=0)
    first = await conn.order(2, CODE, "buy", 100, 4330, "again-1")
    assert first["type"] == "order_accepted"
    await conn.close()
    conn = await Conn.open(server)
    retry = await conn.order(2, CODE, "buy", 100, 4330, "again-1")
    assert retry["reason"] == "DUPLICATE_CLIENT_ORDER_ID"
    orders = await conn.request({"type": "query_orders", "account": 2})
    assert [o["client_order_id"] for o in orders["orders"]].count("again-1") == 1
    await conn.close()


@aio
async def test_subscriptions_and_market_data(server):
    conn = await Conn.open(server)
    sub = await conn.request({"type": "subscribe", "channel": "market", "instruments": [CODE, "601318"]})
    assert sub["type"] == "subscribed" and sub["instruments"] == [CODE, "601318"]
    server.tick("601318", 5800, bid=5799, ask=5801)
    market = await conn.until(lambda m: m["type"] == "market" and m["instrument"] == "601318")
    assert (market["last"], market["bid"], market["ask"]) == (5800, 5799, 5801)
    await conn.request({"type": "unsubscribe", "channel": "market", "instruments": ["601318"]})
    acct = await conn.request({"type": "subscribe", "channel": "account", "accounts": [0]})
    assert acct["accounts"] == [0]
    server.admin("/admin/accounts/0/deposit", {"amount": 12_345})
    view = await conn.until(lambda m: m["type"] == "account" and m["account"] == 0 and not m.get("req_id"))
    assert view["cash"] >= 12_345
    unknown = await conn.request({"type": "subscribe", "channel": "market", "instruments": ["999999"]})
    assert unknown["code"] == "UNKNOWN_INSTRUMENT"
    await conn.close()


@aio
async def test_market_orders_are_aggressive_limits_inside_the_collar(server):
    conn = await Conn.open(server)
    server.tick("000858", 11_428, ask_size=0)
    ack = await conn.request({"type": "new_order", "account": 2, "instrument": "000858", "side": "buy",
                              "qty": 100, "order_type": "market", "client_order_id": "mkt-1"})
    assert ack["type"] == "order_accepted" and ack["price"] == 11_428 * 10_500 // 10_000
    no_price = await conn.request({"type": "new_order", "account": 2, "instrument": "000858", "side": "buy",
                                   "qty": 100, "client_order_id": "lim-1"})
    assert no_price["code"] == "INVALID_REQUEST" and "price" in no_price["message"]
    await conn.close()


@aio
async def test_a_market_order_without_a_mark_is_rejected_no_mark_price(fresh_server, tmp_path):
    universe = tmp_path / "universe.csv"
    universe.write_text("code,name,prev_close_fen\n600036,CMB,4336\n600999,NEW,0\n")
    server = fresh_server(engine={"universe": str(universe)})
    conn = await Conn.open(server)
    answer = await conn.request({"type": "new_order", "account": 1, "instrument": "600999", "side": "buy",
                                 "qty": 100, "order_type": "market", "client_order_id": "nomark-1"})
    assert (answer["type"], answer["code"], answer["reason"]) == ("order_rejected", 404, "NO_MARK_PRICE"), answer
    await conn.close()


@aio
async def test_msgpack_frames_on_request(server):
    conn = await Conn.open(server, login=None, subprotocols=["beacon.msgpack"])
    assert conn.ws.subprotocol == "beacon.msgpack" and conn.hello["type"] == "hello"
    import hashlib
    import hmac

    ts = int(time.time() * 1000)
    sig = hmac.new(ALICE[2].encode(), f"{conn.hello['nonce']}\nalice-key\n{ts}".encode(), hashlib.sha256).hexdigest()
    await conn.send(msgspec.msgpack.encode({"type": "login", "req_id": "m1", "api_key": "alice-key",
                                            "timestamp_ms": ts, "signature": sig}))
    assert (await conn.recv())["type"] == "login_ok"
    await conn.send(msgspec.msgpack.encode({"type": "query_account", "req_id": "m2", "account": 0}))
    view = await conn.until(lambda m: m.get("req_id") == "m2")
    assert view["type"] == "account" and isinstance(view["cash"], int)
    await conn.close()


@aio
async def test_heartbeats_and_pings(fresh_server):
    server = fresh_server(server={"heartbeat_s": 0.4, "idle_timeout_s": 2.0})
    conn = await Conn.open(server)
    pong = await conn.request({"type": "ping"})
    assert pong["type"] == "pong"
    beat = await conn.until(lambda m: m["type"] == "heartbeat", timeout=3)
    assert beat["server_time_ms"] > 0
    with pytest.raises(Exception):  # say nothing for longer than the idle timeout: closed
        while True:
            await conn.recv(4)
    assert conn.ws.close_code == 1008 and "nothing received" in conn.ws.close_reason


@aio
async def test_cancel_on_disconnect(server):
    conn = await Conn.open(server, login=None)
    answer = await conn.login("alice-key", ALICE[2], cancel_on_disconnect=True)
    assert answer["type"] == "login_ok"
    server.tick("601318", 5800, ask_size=0)
    ack = await conn.order(2, "601318", "buy", 100, 5790, "cod-1")
    assert ack["type"] == "order_accepted"
    await conn.close()
    other = await Conn.open(server)
    for _ in range(50):
        orders = await other.request({"type": "query_orders", "account": 2, "open_only": False})
        status = next(o["status"] for o in orders["orders"] if o["order_id"] == ack["order_id"])
        if status == "canceled":
            break
        await asyncio.sleep(0.05)
    assert status == "canceled"
    await other.close()


def test_http_documents_and_metrics(server):
    status, health = server.http("GET", "/health", token=None)
    assert status == 200 and health["status"] == "ok" and health["journal_seq"] >= health["safe_seq"] > 0
    status, schema = server.http("GET", "/schema/ws.json", token=None)
    assert status == 200 and "NewOrder" in schema["$defs"] and "FillReport" in schema["$defs"]
    status, doc = server.http("GET", "/asyncapi.json", token=None)
    assert doc["asyncapi"] == "2.6.0" and "ClientMessage" in doc["components"]["schemas"]
    status, doc = server.http("GET", "/openapi.json", token=None)
    assert doc["openapi"] == "3.1.0" and "/admin/accounts/{account}/deposit" in doc["paths"]
    assert "/admin/accounts/{account}/risk" in doc["paths"] and "WhatIf" in doc["components"]["schemas"]
    status, text = server.http("GET", "/metrics", token=None)
    assert status == 200 and "beacon_orders_total" in text and "beacon_accounts_by_margin_state" in text


def test_admin_api_needs_an_admin_token(server):
    assert server.http("GET", "/admin/accounts", token=None)[0] == 401
    assert server.http("GET", "/admin/accounts", token="alice-key")[0] == 401  # a client key is not an admin token
    status, answer = server.http("POST", "/admin/accounts/0/deposit", {"amount": -5})
    assert status == 409 and answer["error"] == "INVALID_AMOUNT"
    status, answer = server.http("POST", "/admin/accounts/0/deposit", {"amount": "lots"})
    assert status == 400 and "amount" in answer["message"]
    status, answer = server.http("POST", "/admin/accounts/0/withdraw", {"amount": 10**13})
    assert status == 409 and answer["error"] == "WITHDRAWAL_EXCEEDS_FREE_CASH"
    status, answer = server.http("POST", "/admin/accounts", {"tier": "standard", "client": "alice", "name": "x"})
    assert status == 200 and answer["account"] >= 6
    status, kpis = server.http("GET", "/admin/kpis")
    assert status == 200 and "capital_utilization" in kpis and kpis["accounts"] >= 7
    assert kpis["trading_day"] == "2026-01-05" and kpis["accounts_by_state"]["NORMAL"] >= 7


@aio
async def test_a_client_that_stops_reading_is_disconnected_with_a_reason(fresh_server):
    """A client whose socket stops taking data (a small fixed receive buffer, and nothing read) fills
    its queue at the gateway; order messages are never dropped, so the gateway closes it (4008)."""
    import socket

    import websockets

    server = fresh_server(server={"send_queue_limit": 500, "message_rate_per_s": 100_000,
                                  "message_burst": 100_000, "send_buffer_bytes": 16_384})
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a fixed, small buffer: no autotuning
    sock.connect(("127.0.0.1", server.port))
    slow = Conn(await websockets.connect(server.url, sock=sock))
    slow.hello = await slow.recv()
    assert (await slow.login("alice-key", ALICE[2]))["type"] == "login_ok"  # watches account 1's orders
    assert (await slow.request({"type": "subscribe", "channel": "account", "accounts": [1]}))["type"] == "subscribed"
    slow.ws.transport.pause_reading()  # from here on the client reads nothing: its socket fills up
    fast = await Conn.open(server)
    server.tick(CODE, 4336, ask_size=0)
    for n in range(4_000):
        answer = await fast.order(1, CODE, "buy", 100, 4300, f"storm-{n}")
        assert answer["type"] in ("order_accepted", "order_rejected")
        if n % 100 == 99:
            await fast.request({"type": "cancel_all", "account": 1})
            if "beacon_ws_slow_consumer_closes_total 1.0" in server.http("GET", "/metrics", token=None)[1]:
                break
    assert n < 3_999, "the slow client was never disconnected"
    slow.ws.transport.resume_reading()  # read what got through, and the close frame after it
    with pytest.raises(Exception):
        while True:
            await slow.recv(5)
    assert slow.ws.close_code == 4008 and "slow consumer" in slow.ws.close_reason
    pong = await fast.request({"type": "ping"})  # the reading client is unaffected
    assert pong["type"] == "pong"
    await fast.close()
