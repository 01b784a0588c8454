"""An example strategy: a small market maker on a few instruments, through `gateway.client`.

It quotes one lot on each side of the last price, a little away from it (sells only against
shares it may sell today), replaces its quotes when the market leaves them behind, and prints
what happens: acceptances, rejections with their reasons, fills with their fees, and margin
alerts.

    python -m gateway.examples.strategy --url ws://127.0.0.1:8765/ws --api-key demo-alice --secret ... --account 1
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import time

from core.units import format_cny
from gateway import protocol as p
from gateway.client import BeaconClient

INSTRUMENTS = ("600036", "601318", "000858", "300750")
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def stamp(ms: int | None = None) -> str:
    moment = dt.datetime.now(SHANGHAI) if ms is None else dt.datetime.fromtimestamp(ms / 1000, SHANGHAI)
    return moment.strftime("%H:%M:%S")


class MarketMaker:
    """Quotes one lot a side, `spread_bp` away from the last price, on each instrument.

    Sells are quoted only against shares that are sellable today (T+1: what it buys today can
    be sold tomorrow). A quote that the market has left behind by more than half the spread is
    cancelled and quoted again at the next tick. A rejected side waits `backoff_ticks` ticks of
    its instrument before it is tried again.
    """

    def __init__(self, client: BeaconClient, account: int, instruments=INSTRUMENTS, spread_bp: int = 20,
                 backoff_ticks: int = 50, out=print):
        self.client = client
        self.account = account
        self.instruments = tuple(instruments)
        self.spread_bp = spread_bp
        self.backoff_ticks = backoff_ticks
        self.out = out
        self.quotes: dict[tuple[str, str], tuple[int, int, int]] = {}  # (instrument, side) -> (order, price, qty)
        self.canceling: set[int] = set()
        self.backoff: dict[tuple[str, str], int] = {}  # (instrument, side) -> ticks still to wait
        self.sellable: dict[str, int] = {}
        self.ids = itertools.count(1)
        self.placed = 0

    async def run(self, orders: int | None = None) -> None:
        """Trade until cancelled, or until `orders` orders have been placed."""
        await self.client.subscribe("account", accounts=[self.account])
        positions = await self.client.positions(self.account)
        if isinstance(positions, p.Positions):
            self.sellable = {x.instrument: x.sellable - x.open_sell for x in positions.positions}
        await self.client.subscribe("market", instruments=list(self.instruments))
        async for push in self.client.pushes():
            if isinstance(push, p.Market) and push.instrument in self.instruments:
                await self.on_market(push)
            elif isinstance(push, p.FillReport) and push.account == self.account:
                self.on_fill(push)
            elif isinstance(push, p.OrderUpdate) and push.status in ("canceled", "expired", "rejected"):
                self.forget(push.order_id)
            elif isinstance(push, p.MarginUpdate):
                self.out(f"  {stamp()}  MARGIN {push.old_state} -> {push.new_state} "
                         f"(R {push.collateral_ratio_bp / 100:.2f} %): {push.message}")
            if orders is not None and self.placed >= orders:
                return

    async def on_market(self, tick: p.Market) -> None:
        if tick.last <= 0:
            return
        away = max(1, tick.last * self.spread_bp // 10_000)
        for side in ("buy", "sell"):
            key = (tick.instrument, side)
            target = tick.last - away if side == "buy" else tick.last + away
            quote = self.quotes.get(key)
            if quote is not None:
                order_id, price, _ = quote
                if abs(price - target) * 2 > away and order_id not in self.canceling:
                    self.canceling.add(order_id)  # left behind: cancel, quote again on a later tick
                    await self.client.cancel(self.account, order_id=order_id)
                continue
            if self.backoff.get(key, 0) > 0:
                self.backoff[key] -= 1
                continue
            lot = 200 if tick.instrument.startswith("688") else 100
            if side == "sell" and self.sellable.get(tick.instrument, 0) < lot:
                continue
            await self.quote(tick.instrument, side, lot, target)

    async def quote(self, instrument: str, side: str, qty: int, price: int) -> None:
        self.placed += 1
        answer = await self.client.place(self.account, instrument, side, qty, price=price,
                                         client_order_id=f"mm-{time.time_ns()}-{next(self.ids)}")
        if isinstance(answer, p.OrderAck):
            self.quotes[(instrument, side)] = (answer.order_id, price, qty)
            if side == "sell":
                self.sellable[instrument] = self.sellable.get(instrument, 0) - qty
            self.out(f"  {stamp()}  QUOTE  {side.upper():4} {instrument} {qty:>6,} @ {format_cny(price):>8}  "
                     f"accepted as order {answer.order_id}")
        elif isinstance(answer, p.OrderReject):
            self.backoff[(instrument, side)] = self.backoff_ticks
            self.out(f"  {stamp()}  REJECT {side.upper():4} {instrument}: {answer.reason} ({answer.detail})")

    def on_fill(self, fill: p.FillReport) -> None:
        fees = fill.commission + fill.stamp_duty + fill.transfer_fee
        self.out(f"  {stamp()}  FILL   {fill.side.upper():4} {fill.instrument} {fill.qty:>6,} @ "
                 f"{format_cny(fill.price):>8}  fees {format_cny(fees)}  ({fill.status})")
        if fill.remaining == 0:
            self.forget(fill.order_id)

    def forget(self, order_id: int) -> None:
        """The order is done: its side may be quoted again (an unfilled sell gives its shares back)."""
        self.canceling.discard(order_id)
        for key, (quoted, _, qty) in list(self.quotes.items()):
            if quoted == order_id:
                del self.quotes[key]
                if key[1] == "sell":
                    filled = getattr(self.client.orders.get(order_id), "filled", 0)
                    self.sellable[key[0]] = self.sellable.get(key[0], 0) + qty - filled


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
