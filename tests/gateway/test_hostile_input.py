"""Malformed and hostile messages: each gets an error naming the problem, the connection stays usable,
and nothing changes (no money, order or position; not even a journal record)."""

import asyncio
import json

import pytest

from tests.gateway.harness import Conn, aio

GOOD = {"type": "new_order", "account": 1, "instrument": "600036", "side": "buy", "qty": 100, "price": 4336,
        "client_order_id": "ok-1", "req_id": "x"}


def order(**changes):
    body = {**GOOD, **changes}
    return json.dumps({k: v for k, v in body.items() if v is not ...})


# (frame, the error code, a fragment the message must contain)
HOSTILE = [
    ("{not json", "BAD_MESSAGE", "not valid JSON"),
    ("", "BAD_MESSAGE", "not valid JSON"),
    ("[1, 2, 3]", "BAD_MESSAGE", "Expected `object`"),
    ('"a string"', "BAD_MESSAGE", "Expected `object`"),
    ("null", "BAD_MESSAGE", "Expected `object`"),
    ('{"req_id": "x"}', "BAD_MESSAGE", "missing required field `type`"),
    ('{"type": "teleport", "req_id": "x"}', "UNKNOWN_TYPE", "Invalid value 'teleport'"),
    ('{"type": 5, "req_id": "x"}', "BAD_MESSAGE", "$.type"),
    (order(account=...), "BAD_MESSAGE", "missing required field `account`"),
    (order(req_id=...), "BAD_MESSAGE", "missing required field `req_id`"),
    (order(qty="100"), "BAD_MESSAGE", "$.qty"),
    (order(qty=-100), "BAD_MESSAGE", "$.qty"),
    (order(qty=0), "BAD_MESSAGE", "$.qty"),
    (order(qty=10**12), "BAD_MESSAGE", "$.qty"),
    (order(qty=10**30), "BAD_MESSAGE", "$.qty"),
    (order(qty=100.5), "BAD_MESSAGE", "$.qty"),
    (order(price=0), "BAD_MESSAGE", "$.price"),
    (order(price=43.36), "BAD_MESSAGE", "$.price"),
    (order(price=-4336), "BAD_MESSAGE", "$.price"),
    (order(side="hold"), "BAD_MESSAGE", "$.side"),
    (order(instrument="60003"), "BAD_MESSAGE", "$.instrument"),
    (order(instrument="ABCDEF"), "BAD_MESSAGE", "$.instrument"),
    (order(instrument=600036), "BAD_MESSAGE", "$.instrument"),
    (order(account=-1), "BAD_MESSAGE", "$.account"),
    (order(account=10**12), "BAD_MESSAGE", "$.account"),
    (order(client_order_id=""), "BAD_MESSAGE", "$.client_order_id"),
    (order(client_order_id="x" * 65), "BAD_MESSAGE", "$.client_order_id"),
    (order(client_order_id="has space"), "BAD_MESSAGE", "$.client_order_id"),
    (order(client_order_id="newline\n"), "BAD_MESSAGE", "$.client_order_id"),
    ('{"type": "cancel", "req_id": "x", "account": 1, "client_order_id": "a\\n"}', "BAD_MESSAGE", "$.client_order_id"),
    (order(req_id="r" * 100), "BAD_MESSAGE", "$.req_id"),
    (order(surprise=1), "BAD_MESSAGE", "unknown field `surprise`"),
    (order(order_type="stop"), "BAD_MESSAGE", "$.order_type"),
    (order(price=...), "INVALID_REQUEST", "needs a price"),
    ('{"type": "new_order", "req_id": "x", "account": 1, "instrument": "600036", "side": "buy", "qty": NaN, '
     '"price": 4336, "client_order_id": "n"}', "BAD_MESSAGE", "not valid JSON"),
    ("[" * 5000 + "]" * 5000, "BAD_MESSAGE", ""),
    ('{"type": "cancel", "req_id": "x", "account": 1}', "INVALID_REQUEST", "client_order_id or order_id"),
    ('{"type": "cancel", "req_id": "x", "account": 1, "order_id": 999999}', "UNKNOWN_ORDER", "no such order"),
    ('{"type": "cancel", "req_id": "x", "account": 1, "order_id": 0}', "BAD_MESSAGE", "$.order_id"),
    ('{"type": "query_account", "req_id": "x", "account": 4}', "NOT_ENTITLED", "may not use account 4"),
    ('{"type": "subscribe", "req_id": "x", "channel": "everything"}', "BAD_MESSAGE", "$.channel"),
    ('{"type": "subscribe", "req_id": "x", "channel": "market", "instruments": ["999999"]}', "UNKNOWN_INSTRUMENT",
     "999999"),
    ('{"type": "subscribe", "req_id": "x", "channel": "market"}', "INVALID_REQUEST", "name the instruments"),
    ('{"type": "login", "req_id": "x", "api_key": "k", "timestamp_ms": 1, "signature": "zz"}', "BAD_MESSAGE",
     "$.signature"),
    ('{"type": "new_order", "req_id": "x", "account": 1, "instrument": "600036", "side": "buy", "qty": 100, '
     '"price": 4336, "client_order_id": "\\u0000"}', "BAD_MESSAGE", "$.client_order_id"),
    ("\x00\x01\x02\xff", "BAD_MESSAGE", "not valid JSON"),
    ("x" * 70_000, "FRAME_TOO_LARGE", "exceeds the 65536-byte limit"),
]


@aio
async def test_hostile_messages_are_answered_and_change_nothing(server):
    assert len(HOSTILE) >= 30
    conn = await Conn.open(server)
    server.tick("600036", 4336)
    before_account = await conn.request({"type": "query_account", "account": 1})
    before_orders = await conn.request({"type": "query_orders", "account": 1, "open_only": False})
    before_seq = server.http("GET", "/health", token=None)[1]["journal_seq"]
    for frame, code, fragment in HOSTILE:
        await conn.send(frame)
        error = await conn.until(lambda m: m["type"] == "error")
        assert error["code"] == code, (frame[:80], error)
        assert fragment in error["message"], (frame[:80], error)
        pong = await conn.request({"type": "ping"})  # still usable
        assert pong["type"] == "pong"
    assert server.http("GET", "/health", token=None)[1]["journal_seq"] == before_seq  # nothing journaled
    after_account = await conn.request({"type": "query_account", "account": 1})
    after_orders = await conn.request({"type": "query_orders", "account": 1, "open_only": False})
    for view in (before_account, after_account, before_orders, after_orders):
        view.pop("req_id"), view.pop("seq"), view.pop("_seen", None)
    assert after_account == before_account and after_orders == before_orders
    await conn.close()


@aio
async def test_errors_echo_the_req_id_when_it_can_be_read(server):
    conn = await Conn.open(server)
    await conn.send(order(qty=-1, req_id="mine-7"))
    error = await conn.until(lambda m: m["type"] == "error")
    assert error["req_id"] == "mine-7"
    await conn.close()


@aio
async def test_an_order_for_another_clients_account_is_rejected_not_entitled(server):
    conn = await Conn.open(server)
    answer = await conn.order(4, "600036", "buy", 100, 4336, "theirs")
    assert (answer["type"], answer["code"], answer["reason"]) == ("order_rejected", 203, "NOT_ENTITLED")
    await conn.close()


@aio
async def test_a_flood_is_rate_limited_and_sustained_abuse_closes_the_connection(fresh_server):
    server = fresh_server(server={"message_rate_per_s": 50, "message_burst": 50, "max_errors_per_minute": 20})
    conn = await Conn.open(server)
    for n in range(60):
        await conn.send(json.dumps({"type": "ping", "req_id": f"f{n}"}))
    limited = await conn.until(lambda m: m["type"] == "error")
    assert limited["code"] == "RATE_LIMITED"
    with pytest.raises(Exception):
        for n in range(200):
            await conn.send("{bad")
            await asyncio.sleep(0)
        while True:
            await conn.recv(3)
    assert conn.ws.close_code == 1008 and "too many bad requests" in conn.ws.close_reason


@aio
async def test_a_frame_past_the_hard_limit_closes_the_connection(server):
    conn = await Conn.open(server)
    with pytest.raises(Exception):
        await conn.send("y" * (65_536 * 16 + 1))
        while True:
            await conn.recv(3)
    assert conn.ws.close_code == 1009
