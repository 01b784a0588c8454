"""Simulator throughput: ticks generated per second when not paced, and the broker's matching."""

from __future__ import annotations

import msgspec
import pytest

from core.instruments import Universe
from simulators.broker import BrokerConfig, BrokerCore, NewOrder
from simulators.market import MarketSimulator, load_scenario
from simulators.market.messages import Tick

UNIVERSE = Universe.sample()


@pytest.mark.benchmark(group="market-kernel-ticks")
def test_kernel_ticks(benchmark):
    """One trading day of the whole universe (345 names x 4,800 three-second steps) in the kernel:
    correlated returns, jumps, rounding to the tick, limits and locks, quotes and volumes."""
    sim = MarketSimulator(load_scenario("calm"), UNIVERSE)
    steps = sim.steps_per_day
    ticks = benchmark.pedantic(lambda: sim.kernel.steps(steps), rounds=10, iterations=1)
    benchmark.extra_info["ticks_per_s"] = round(ticks / benchmark.stats.stats.median)


@pytest.mark.benchmark(group="market-messages")
def test_messages(benchmark):
    """The same day as typed msgspec messages (what a consumer iterates), scenario events included."""
    scenario = load_scenario("contagion")

    def day():
        return sum(1 for _ in MarketSimulator(msgspec.structs.replace(scenario, days=1, shock=scenario.shock[:5],
                                                                      regime=scenario.regime[:1]),
                                              UNIVERSE).messages())

    count = benchmark.pedantic(day, rounds=3, iterations=1)
    benchmark.extra_info["messages_per_s"] = round(count / benchmark.stats.stats.median)


@pytest.mark.benchmark(group="broker-core")
def test_broker_submit_and_match(benchmark):
    """Broker core: an order arrives, is checked against the exchange's rules and fills at the touch."""
    broker = BrokerCore(UNIVERSE, BrokerConfig())
    broker.on_market(Tick(ts=1, instrument="600036", last=4336, volume=0, bid=4335, bid_size=10**9, ask=4337,
                          ask_size=10**9))
    counter = [0]

    def submit():
        counter[0] += 1
        return broker.submit(NewOrder(cl_ord_id=str(counter[0]), account="A", instrument="600036", side=1,
                                      price=4337, qty=100), 2)

    benchmark(submit)


@pytest.mark.benchmark(group="broker-core")
def test_broker_market_data_with_resting_orders(benchmark):
    """Broker core: a tick for an instrument with 50 resting orders that it does not fill."""
    broker = BrokerCore(UNIVERSE, BrokerConfig())
    broker.on_market(Tick(ts=1, instrument="600036", last=4336, volume=0, bid=4335, bid_size=1000, ask=4337,
                          ask_size=1000))
    for n in range(50):
        broker.submit(NewOrder(cl_ord_id=f"r{n}", account="A", instrument="600036", side=1, price=4300, qty=100), 2)
    tick = Tick(ts=3, instrument="600036", last=4336, volume=5000, bid=4335, bid_size=1000, ask=4337, ask_size=1000)
    benchmark(broker.on_market, tick)
