"""An example strategy: a small market maker on a few instruments, through `gateway.client`.

It quotes one lot on each side of the mark, a little away from it, replaces its quotes when
the market moves, and prints what happens: acceptances, rejections with their reasons,
fills with their fees, and margin alerts.

    python -m gateway.examples.strategy --url ws://127.0.0.1:8765/ws --api-key demo-alice --secret ... --account 1
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools

from core.units import format_cny
from gateway import protocol as p
from gateway.client import BeaconClient

INSTRUMENTS = ("600036", "601318", "000858", "300750")
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def stamp(ms: int | None = None) -> str:
    moment = dt.datetime.now(SHANGHAI) if ms is None else dt.datetime.fromtimestamp(ms / 1000, SHANGHAI)
    return moment.strftime("%H:%M:%S")


class MarketMaker:
    def __init__(self, client: BeaconClient, account: int, instruments=INSTRUMENTS, spread_bp: int = 20,
                 out=print):
        self.client = client
        self.account = account
        self.instruments = instruments
        self.spread_bp = spread_bp
        self.out = out
        self.quotes: dict[tuple[str, str], int] = {}  # (instrument, side) -> resting order id
        self.marks: dict[str, int] = {}
        self.ids = itertools.count(1)
        self.filled = 0

    async def run(self, orders: int | None = None) -> None:
        await self.client.subscribe("market", instruments=list(self.instruments))
        await self.client.subscribe("account", accounts=[self.account])
        placed = 0
        async for push in self.client.pushes():
            if isinstance(push, p.Market):
                self.marks[push.instrument] = push.last
                if (push.instrument, "buy") not in self.quotes:
                    placed += await self.quote(push.instrument, "buy", push)
                if (push.instrument, "sell") not in self.quotes and self.filled:
                    placed += await self.quote(push.instrument, "sell", push)
            elif isinstance(push, p.FillReport):
                self.filled += push.qty if push.side == "buy" else -push.qty
                fees = push.commission + push.stamp_duty + push.transfer_fee
                self.out(f"  {stamp()}  FILL   {push.side.upper():4} {push.instrument} {push.qty:>6,} @ "
                         f"{format_cny(push.price):>8}  fees {format_cny(fees)}  ({push.status})")
                if push.remaining == 0:
                    self.quotes.pop((push.instrument, push.side), None)
            elif isinstance(push, p.OrderUpdate) and push.status in ("canceled", "expired", "rejected"):
                for key, order in list(self.quotes.items()):
                    if order == push.order_id:
                        del self.quotes[key]
            elif isinstance(push, p.MarginUpdate):
                self.out(f"  {stamp()}  MARGIN {push.old_state} -> {push.new_state} "
                         f"(R {push.collateral_ratio_bp / 100:.2f} %): {push.message}")
            if orders is not None and placed >= orders:
                return

    async def quote(self, instrument: str, side: str, tick: p.Market) -> int:
        mark = tick.last
        away = max(1, mark * self.spread_bp // 10_000)
        price = mark - away if side == "buy" else mark + away
        qty = 200 if instrument.startswith("688") else 100
        answer = await self.client.place(self.account, instrument, side, qty, price=price,
                                         client_order_id=f"mm-{next(self.ids)}")
        if isinstance(answer, p.OrderAck):
            self.quotes[(instrument, side)] = answer.order_id
            self.out(f"  {stamp()}  QUOTE  {side.upper():4} {instrument} {qty:>6,} @ {format_cny(price):>8}  "
                     f"accepted as order {answer.order_id}")
        elif isinstance(answer, p.OrderReject):
            self.quotes[(instrument, side)] = -1  # do not retry this side
            self.out(f"  {stamp()}  REJECT {side.upper():4} {instrument}: {answer.reason} ({answer.detail})")
        return 1


async def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="ws://127.0.0.1:8765/ws")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--account", type=int, required=True)
    args = parser.parse_args(argv)
    async with BeaconClient(args.url, args.api_key, args.secret) as client:
        await MarketMaker(client, args.account).run()


if __name__ == "__main__":
    asyncio.run(main())
