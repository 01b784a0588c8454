"""End of day: open day orders expire and clients are told, interest accrues (360-day year,
half-up), today's buys become sellable, and the custodian's books are reconciled, with a break
injected into the broker's books reported with its amounts."""

import asyncio
import functools

from core import EngineConfig
from core.units import half_up_div
from gateway import protocol as p
from gateway.config import Config, EngineSettings, JournalSettings, MarketSettings
from gateway.service import Gateway
from tests.gateway.harness import Conn

CODE = "600036"  # prev close 43.36


def aio(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        return asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 60))
    return run


@aio
async def test_the_day_roll_expires_orders_accrues_interest_and_releases_t1(fresh_server):
    server = fresh_server()
    conn = await Conn.open(server)
    server.tick(CODE, 4336, bid=4335, ask=4336, ask_size=1_000_000)
    # conservative account 0: 1,000,000.00 in cash; 40,000 shares at 43.36 = 1,734,400.00 draws credit
    ack = await conn.order(0, CODE, "buy", 40_000, 4336, "big")
    assert ack["type"] == "order_accepted", ack
    fill = await conn.until(lambda m: m["type"] == "fill" and m["order_id"] == ack["order_id"] and m["remaining"] == 0)
    rest = await conn.order(0, CODE, "buy", 100, 4300, "rest")
    before = await conn.request({"type": "query_account", "account": 0})
    debt = before["debt"]
    assert debt == 1_734_400_00 + fill["commission"] + fill["transfer_fee"] - 1_000_000_00
    assert before["reserved_buy"] > 0
    server.admin("/admin/market/day", {"day": "2026-01-06"})  # Monday to Tuesday: one day
    expired = await conn.until(lambda m: m["type"] == "order_update" and m["order_id"] == rest["order_id"]
                               and m["status"] not in ("new", "pending_new"))
    assert expired["status"] == "expired"  # by the broker at the close, or by the roll if its report is late
    after = await conn.request({"type": "query_account", "account": 0})
    # conservative tier: 6 % a year on a 360-day year, half-up to the fen
    assert after["accrued_interest"] == half_up_div(debt * 600 * 1, 10_000 * 360)
    assert after["reserved_buy"] == 0
    positions = await conn.request({"type": "query_positions", "account": 0})
    assert [(x["held"], x["sellable"]) for x in positions["positions"]] == [(40_000, 40_000)]
    server.admin("/admin/market/day", {"day": "2026-01-09"})  # to Friday: three more days
    friday = await conn.request({"type": "query_account", "account": 0})
    assert friday["accrued_interest"] == after["accrued_interest"] + half_up_div(debt * 600 * 3, 10_000 * 360)
    await conn.close()


class _Session:
    """Stands in for a websocket session when the gateway is driven in-process."""

    def __init__(self):
        self.sent: list = []
        self.placed: set = set()
        self.closed = False

    def send(self, message) -> None:
        self.sent.append(message)

    def error(self, req_id, code, message) -> None:
        self.sent.append((code, message))


def test_a_break_in_the_custodians_books_is_reported_with_its_amounts(tmp_path):
    async def scenario():
        config = Config(journal=JournalSettings(dir=str(tmp_path / "journal"), fsync="none"),
                        engine=EngineSettings(trading_day="2026-01-05", config=EngineConfig(enforce_session=False)),
                        market=MarketSettings(source="none", speed=0))
        gateway = Gateway(config)
        await gateway.start()
        try:
            from core.commands import Deposit, OpenAccount
            from simulators.market.messages import Tick

            gateway.submit(OpenAccount(tier="standard", name="acct", client=""))
            gateway.submit(Deposit(account=0, amount=50_000_000))
            gateway.broker.books.credit("0", 50_000_000)  # what the admin API does with a deposit
            gateway.on_market(Tick(ts=gateway.now(), instrument=CODE, last=4336, volume=0, bid=4335, bid_size=10_000,
                                   ask=4336, ask_size=10_000))
            session = _Session()
            gateway.place_order(session, p.NewOrder(req_id="1", account=0, instrument=CODE, side="buy", qty=1_000,
                                                    price=4336, client_order_id="b1"), 0.0)
            for _ in range(50):  # the simulated broker fills it at once; let its reports in
                await asyncio.sleep(0.01)
                if any(isinstance(m, p.FillReport) for m in session.sent):
                    break
            await gateway.settled()
            clean = gateway.reconcile()
            assert clean.breaks == [] and clean.accounts == 1
            # the custodian records 1.00 CNY less cash and 500 shares the gateway never bought
            gateway.broker.books.credit("0", -100)
            gateway.broker.books.load_position("0", "601318", 500)
            found = gateway.reconcile()
            await gateway.settled()
            assert [(b.account, b.item, b.ours - b.theirs) for b in found.breaks] == [
                (0, "cash", 100), (0, "position 601318", -500)]
            assert gateway.machine.reconciliation == found  # journaled, and what the admin API shows
            assert gateway.metrics.reconciliation_breaks._value.get() == 2
        finally:
            await gateway.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))
