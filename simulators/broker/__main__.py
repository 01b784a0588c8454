"""The broker simulator on its own, as a FIX 4.4 acceptor, so a gateway can trade against it
as against a real broker:

    python -m simulators.broker --fix --port 9878 --scenario calm

It plays the market scenario itself (paced to the wall clock, like the gateway's demo), so
its quotes follow the same path as a gateway running the same scenario and seed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import signal

from core.instruments import Universe
from gateway.fix.session import SessionConfig
from simulators.market import MarketSimulator, load_scenario

from .core import BrokerConfig, BrokerCore
from .fix import FixBrokerSimulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.broker",
                                     description="The broker simulator as a FIX 4.4 acceptor.")
    parser.add_argument("--fix", action="store_true", required=True, help="listen for a FIX 4.4 initiator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9878)
    parser.add_argument("--sender", default="BROKER", help="our SenderCompID")
    parser.add_argument("--target", default="BEACON", help="the gateway's SenderCompID")
    parser.add_argument("--store", default="var/broker-fix", help="the FIX message store directory")
    parser.add_argument("--scenario", default="calm", help="market scenario to play ('none': no market)")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall-clock second")
    parser.add_argument("--seed", type=int, default=1, help="the broker's seed (slippage)")
    parser.add_argument("--start-time", default="00:00:00", help="session schedule start (Asia/Shanghai)")
    parser.add_argument("--end-time", default="00:00:00", help="session schedule end; equal to start: always")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(_serve(args))


async def _serve(args) -> int:
    universe = Universe.sample()
    simulator = None
    day = dt.date.today().toordinal()
    if args.scenario != "none":
        simulator = MarketSimulator(load_scenario(args.scenario), universe)
        day = simulator.days[0]
    core = BrokerCore(universe, BrokerConfig(seed=args.seed), day)
    broker = FixBrokerSimulator(core, SessionConfig(
        sender_comp_id=args.sender, target_comp_id=args.target, store_dir=args.store,
        start_time=args.start_time, end_time=args.end_time), host=args.host, port=args.port)
    port = await broker.start()
    print(f"broker simulator: FIX 4.4 acceptor on {args.host}:{port} ({args.sender} <- {args.target}), "
          f"market {args.scenario!r}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    feed = None
    if simulator is not None:
        feed = asyncio.create_task(simulator.play(broker.on_market, args.speed))
    await stop.wait()
    if feed is not None:
        feed.cancel()
    await broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
