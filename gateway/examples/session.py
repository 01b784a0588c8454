"""A short, scripted trading session against a running gateway, printed as a transcript:
log in, look at the account, buy at the market (filled by the simulated broker), rest a limit
order below the market and cancel it, then read the account and positions again.

    python -m gateway.examples.session --url ws://127.0.0.1:8765/ws --api-key demo-alice \\
        --secret <the secret make run printed> --account 1
"""

from __future__ import annotations

import argparse
import asyncio
import time

from core.units import format_cny
from gateway import protocol as p
from gateway.client import BeaconClient


def show(label: str, message) -> None:
    print(f"  {label:<26} {message}")


def brief(m) -> str:
    if isinstance(m, p.OrderAck):
        return (f"order_accepted #{m.order_id} {m.side} {m.qty:,} {m.instrument} @ {format_cny(m.price)} "
                f"(reserved {format_cny(m.reserved)} CNY, {m.status})")
    if isinstance(m, p.OrderReject):
        return f"order_rejected {m.code} {m.reason}: {m.detail}"
    if isinstance(m, p.FillReport):
        return (f"fill #{m.order_id} {m.qty:,} @ {format_cny(m.price)}, commission {format_cny(m.commission)}, "
                f"transfer {format_cny(m.transfer_fee)}, {m.status}")
    if isinstance(m, p.OrderUpdate):
        return f"order_update #{m.order_id} {m.status} (filled {m.filled:,}, remaining {m.remaining:,})"
    if isinstance(m, p.AccountView):
        ratio = "infinite" if m.collateral_ratio_bp < 0 else f"{m.collateral_ratio_bp / 100:.2f} %"
        return (f"account {m.account} ({m.tier}, {m.state}): cash {format_cny(m.cash)}, debt {format_cny(m.debt)}, "
                f"market value {format_cny(m.market_value)}, buying power {format_cny(m.buying_power)}, R {ratio}")
    if isinstance(m, p.Positions):
        return "positions: " + (", ".join(f"{x.instrument} held {x.held:,} (sellable {x.sellable:,}, mark "
                                          f"{format_cny(x.mark)})" for x in m.positions) or "none")
    if isinstance(m, p.CancelAck):
        return f"cancel_accepted {m.order_ids}"
    if isinstance(m, p.Market):
        return f"market {m.instrument} last {format_cny(m.last)} bid {format_cny(m.bid)} ask {format_cny(m.ask)}"
    return repr(m)


async def session(url: str, api_key: str, secret: str, account: int, instrument: str) -> None:
    async with BeaconClient(url, api_key, secret) as client:
        show("logged in", f"{api_key}: accounts {client.accounts}")
        show("query_account", brief(await client.account(account)))
        await client.subscribe("market", instruments=[instrument])
        tick = await wait_for(client, lambda m: isinstance(m, p.Market) and m.instrument == instrument, 15)
        show("market data", brief(tick))
        ack = await client.place(account, instrument, "buy", 1_000, client_order_id=f"demo-buy-{time.time_ns()}")
        show("buy 1,000 at the market", brief(ack))
        if isinstance(ack, p.OrderAck):
            fill = await client.wait_fill(ack.order_id, 30)
            show("execution report", brief(fill))
        below = tick.last * 97 // 100
        rest = await client.place(account, instrument, "buy", 500, price=below,
                                  client_order_id=f"demo-rest-{time.time_ns()}")
        show("buy 500 at 3 % under", brief(rest))
        if isinstance(rest, p.OrderAck):
            show("cancel it", brief(await client.cancel(account, order_id=rest.order_id)))
            done = await wait_for(client, lambda m: isinstance(m, p.OrderUpdate) and m.order_id == rest.order_id
                                  and m.status == "canceled", 15)
            show("order update", brief(done))
        bad = await client.place(account, instrument, "buy", 150, price=tick.last,
                                 client_order_id=f"demo-lot-{time.time_ns()}")
        show("buy 150 (an odd lot)", brief(bad))
        show("query_account", brief(await client.account(account)))
        show("query_positions", brief(await client.positions(account)))


async def wait_for(client: BeaconClient, predicate, timeout: float):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        message = await client.next_push(max(0.01, deadline - asyncio.get_running_loop().time()))
        if predicate(message):
            return message


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="ws://127.0.0.1:8765/ws")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--account", type=int, required=True)
    parser.add_argument("--instrument", default="600036")
    args = parser.parse_args(argv)
    asyncio.run(session(args.url, args.api_key, args.secret, args.account, args.instrument))


if __name__ == "__main__":
    main()
