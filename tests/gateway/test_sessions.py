"""A session's output queue against a client that does not read (no network: a stand-in websocket)."""

import asyncio

import msgspec

from gateway import protocol as p
from gateway.config import Config, ServerSettings
from gateway.ws import CLOSE_SLOW, Session


class StuckSocket:
    """A websocket whose sends block until released, like one whose reader stopped reading."""

    def __init__(self):
        self.sent: list[dict] = []
        self.open = asyncio.Event()
        self.closed = False
        self.close_code = None

    async def send_frame(self, data: bytes, opcode) -> None:
        await self.open.wait()
        self.sent.append(msgspec.json.decode(data))

    async def close(self, code: int, message: bytes) -> None:
        self.closed, self.close_code = True, code


class FakeGateway:
    def __init__(self, **server):
        self.config = Config(server=ServerSettings(**server))
        from gateway.metrics import Metrics

        self.metrics = Metrics()


def tick(code: str, price: int) -> p.Market:
    return p.Market(instrument=code, last=price, volume=100, bid=price - 1, bid_size=100, ask=price + 1,
                    ask_size=100, lock=0, ts_ms=0)


def test_market_data_to_a_slow_reader_is_conflated_to_the_latest_tick():
    async def run():
        ws = StuckSocket()
        session = Session(FakeGateway(), ws, binary=False, peer="test")
        writer = asyncio.create_task(session._writer())
        session.send(p.Heartbeat(server_time_ms=1))  # the writer takes it and blocks sending it
        await asyncio.sleep(0)
        for n in range(100):
            for code in ("600036", "601318", "000858"):
                session.send_market(tick(code, 1000 + n))
        assert len(session.market) == 3
        ws.open.set()
        await asyncio.sleep(0.05)
        writer.cancel()
        return ws.sent

    sent = asyncio.run(run())
    market = [m for m in sent if m["type"] == "market"]
    assert [(m["instrument"], m["last"]) for m in market] == [("600036", 1099), ("601318", 1099), ("000858", 1099)]
    assert [m["seq"] for m in sent] == [1, 2, 3, 4]  # numbered as they leave: no gaps from conflation


def test_order_messages_are_never_dropped_and_too_many_close_the_connection():
    async def run():
        ws = StuckSocket()
        session = Session(FakeGateway(send_queue_limit=10), ws, binary=False, peer="test")
        writer = asyncio.create_task(session._writer())
        session.send(p.Heartbeat(server_time_ms=1))
        await asyncio.sleep(0)
        for n in range(10):
            session.send(p.Pong(req_id=str(n), server_time_ms=n))
        assert len(session.queue) == 10 and not session.closed
        session.send(p.Pong(req_id="one too many", server_time_ms=0))
        await asyncio.sleep(0.01)
        writer.cancel()
        return session, ws

    session, ws = asyncio.run(run())
    assert session.closed and "slow consumer" in session.close_reason
    assert ws.close_code == CLOSE_SLOW and not session.queue


def test_a_send_stuck_longer_than_the_send_timeout_closes_the_connection():
    async def run():
        ws = StuckSocket()  # never released: the client stopped reading
        session = Session(FakeGateway(send_timeout_s=0.2), ws, binary=False, peer="test")
        session._started = asyncio.get_running_loop().time()
        tasks = [asyncio.create_task(session._writer()), asyncio.create_task(session._heartbeat())]
        session.send(p.Heartbeat(server_time_ms=1))
        await asyncio.sleep(0.1)
        assert not session.closed  # waiting, not yet too long
        await asyncio.sleep(0.4)
        for task in tasks:
            task.cancel()
        return session, ws

    session, ws = asyncio.run(run())
    assert session.closed and session.close_reason == "slow consumer: a message waited more than 0.2 s to be sent"
    assert ws.close_code == CLOSE_SLOW
