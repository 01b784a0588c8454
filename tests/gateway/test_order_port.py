"""What is particular to the picows order port (`[server] order_port`); everything else about the
websocket API is the same Session, and `make test` runs the whole websocket suite on this port too
(BEACON_TEST_WS=order)."""

import asyncio
import json
import os

import msgspec
import pytest
import websockets

from gateway.config import Config
from gateway.orderport import OrderPortListener
from gateway.service import Gateway
from gateway.ws import Session
from picows import WSMsgType
from tests.gateway.harness import ALICE, BASE_CONFIG, Conn, aio, merge

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


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A whole, masked client frame (RFC 6455 5.2), written by hand so that several can go in one write."""
    mask = os.urandom(4)
    n = len(payload)
    header = bytes([0x80 | opcode]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def order_frame(clid: str, price: int = 4300) -> bytes:
    return client_frame(json.dumps({"type": "new_order", "req_id": clid, "account": 0, "instrument": CODE,
                                    "side": "buy", "qty": 100, "price": price, "client_order_id": clid}).encode())


@aio
async def test_orders_arriving_in_one_read_are_all_answered(server):
    """The journal writes what a read's requests submitted at the read's last frame: each of
    several orders sent in one write is answered, in order."""
    conn = await Conn.open(OrderPort(server))
    server.tick(CODE, 4336, bid=4335, ask=4336, ask_size=0)
    conn.ws.transport.write(b"".join(order_frame(f"read-{i}") for i in range(3)))
    acks = [await conn.until(lambda m, i=i: m.get("req_id") == f"read-{i}") for i in range(3)]
    assert [a["type"] for a in acks] == ["order_accepted"] * 3
    assert acks[0]["order_id"] < acks[1]["order_id"] < acks[2]["order_id"]
    await conn.close()


@aio
async def test_a_read_that_ends_in_a_protocol_error_still_reaches_the_journal(server):
    """Two orders and a frame with a reserved opcode in one write: picows delivers both orders
    (the second marked as the read's last) and closes the connection with 1002. Both orders are
    decided and journaled, and the journal goes on answering everyone."""
    server.tick(CODE, 4336, bid=4335, ask=4336, ask_size=0)
    main = await Conn.open(server)
    conn = await Conn.open(OrderPort(server))
    conn.ws.transport.write(order_frame("cut-1") + order_frame("cut-2") + client_frame(b"??", opcode=0x3))
    with pytest.raises(Exception):
        for _ in range(5):
            await conn.recv(3)
    assert conn.ws.close_code == 1002  # protocol error
    orders = await main.request({"type": "query_orders", "account": 0, "open_only": False})
    assert sorted(o["client_order_id"] for o in orders["orders"] if o["client_order_id"].startswith("cut-")) \
        == ["cut-1", "cut-2"]
    later = await main.order(0, CODE, "buy", 100, 4300, "after-the-cut")
    assert later["type"] == "order_accepted"
    await main.close()


def _frame(listener, payload: bytes, last_in_buffer: bool) -> None:
    """A whole request's frame as the listener's on_ws_frame hands it on from picows: its payload,
    and whether its read ends there (picows' own test frames always end theirs)."""
    listener.arrived(None, None, payload, last_in_buffer)


class _Transport:
    def __init__(self):
        self.written = []

    def write(self, data):
        self.written.append(data)

    def get_write_buffer_size(self):
        return 0

    def is_closing(self):
        return False


class _Socket:
    closed = False


def _order(clid: str) -> bytes:
    return json.dumps({"type": "new_order", "req_id": clid, "account": 0, "instrument": CODE, "side": "buy",
                       "qty": 100, "price": 4300, "client_order_id": clid}).encode()


@aio
async def test_the_listener_writes_a_read_at_its_last_frame_and_a_read_that_never_ends_on_the_next_turn(tmp_path):
    config = msgspec.convert(merge(BASE_CONFIG, {"journal": {"fsync": "interval", "dir": str(tmp_path / "j")}}),
                             Config)
    gateway = Gateway(config)
    await gateway.start()
    try:
        listener = OrderPortListener(gateway, binary=False)
        listener.session = Session(gateway, _Socket(), False, "test", transport=_Transport())
        listener.session.client = gateway.clients[ALICE[0]]
        journal = gateway.committer.journal
        # one read of two frames: nothing is written at the first, both at the last, in this turn
        _frame(listener, _order("r1"), last_in_buffer=False)
        first = journal.seq
        assert journal.written_seq < first
        _frame(listener, _order("r2"), last_in_buffer=True)
        assert journal.written_seq >= first + 1 and gateway.committer.safe_seq >= first + 1
        assert not gateway.committer._gathering
        await gateway.settled()  # (the broker's acknowledgements of both: no write is due now)
        assert not gateway.committer._scheduled
        # a read whose last frame never comes: written on the next turn all the same
        _frame(listener, _order("r3"), last_in_buffer=False)
        third = journal.seq
        assert journal.written_seq < third
        await asyncio.sleep(0)
        assert gateway.committer.safe_seq >= third and not gateway.committer._gathering
    finally:
        gateway.committer.gathered()  # (should the test fail with a read left gathering, stop would wait for ever)
        await gateway.stop()
