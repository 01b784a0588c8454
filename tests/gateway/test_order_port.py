"""What is particular to the picows order port (`[server] order_port`); everything else about the
websocket API is the same Session, and `make test` runs the whole websocket suite on this port too
(BEACON_TEST_WS=order)."""

import asyncio

import msgspec
import pytest
import websockets

from tests.gateway.harness import ALICE, Conn, aio

CODE = "600036"


class OrderPort:
    """The harness's server, seen through its order port."""

    def __init__(self, server):
        self.server = server
        self.url = server.order_url


@aio
async def test_an_order_on_the_order_port_is_seen_on_the_main_port(server):
    assert server.order_port and server.order_port != server.port
    main = await Conn.open(server)
    fast = await Conn.open(OrderPort(server))
    server.tick(CODE, 4336, bid=4335, ask=4336, ask_size=0)
    ack = await fast.order(0, CODE, "buy", 100, 4300, "via-order-port")
    assert ack["type"] == "order_accepted" and ack["client_order_id"] == "via-order-port"
    pushed = await main.until(lambda m: m.get("client_order_id") == "via-order-port")
    assert pushed["order_id"] == ack["order_id"]
    await main.close()
    await fast.close()


@aio
async def test_the_msgpack_subprotocol_is_negotiated(server):
    conn = await Conn.open(OrderPort(server), login=None, subprotocols=["beacon.msgpack"])
    assert conn.ws.subprotocol == "beacon.msgpack" and conn.hello["type"] == "hello"
    await conn.ws.send(msgspec.msgpack.encode({"type": "ping", "req_id": "b1"}))
    answer = await conn.recv()
    assert answer["code"] == "NOT_AUTHENTICATED" and answer["req_id"] == "b1"
    await conn.close()


@aio
async def test_a_fragmented_message_is_reassembled(server):
    conn = await Conn.open(OrderPort(server))
    await conn.ws.send(iter(['{"type": "pi', 'ng", "req_i', 'd": "frag"}']))  # three frames, one message
    answer = await conn.until(lambda m: m.get("req_id") == "frag")
    assert answer["type"] == "pong"
    await conn.close()


@aio
async def test_a_message_past_the_hard_limit_closes_the_connection(server):
    conn = await Conn.open(OrderPort(server))
    await conn.ws.send(iter(["x" * 65_536] * 17))  # 17 fragments of 64 KiB: past 16 x max_frame_bytes
    with pytest.raises(Exception):
        for _ in range(5):
            await conn.recv(3)
    assert conn.ws.close_code == 1009


@aio
async def test_pings_are_answered_and_other_paths_are_refused(server):
    conn = await Conn.open(OrderPort(server), login=ALICE)
    latency = await asyncio.wait_for(await conn.ws.ping(), 5)
    assert latency is None or latency >= 0
    await conn.close()
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        await websockets.connect(f"ws://127.0.0.1:{server.order_port}/admin")
    assert refused.value.response.status_code == 404
