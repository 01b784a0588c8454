"""Beacon's pre-trade checks beside NautilusTrader's RiskEngine, per order, in one run.

NautilusTrader (the `nautilus_trader` package, in the peers extra) is built here as its own
unit tests build it: a test clock, a message bus, a cache, a portfolio, an execution engine
with a mock execution client, and the RiskEngine configured with an order-rate limit and a
maximum notional per order, on a cash account holding the instrument's currency. Each order
is a limit buy of 100 shares of an equity; `RiskEngine.execute(SubmitOrder)` runs its
checks (price and quantity against the instrument, the notional limit, the free balance,
the submit-rate throttle) and hands the order to the execution engine. The orders and
commands are built outside the timed part.

Beacon's side does the same work and more: `place_order` runs every check of DOMAIN.md
section 6 (order size and notional caps, lots, limits and collar, the rate limit, open-order
cap, buying power, leverage, concentration) and reserves the order; the cancel that keeps
the book from growing is in the timed part too. `check_order` alone is the decision
without the reservation.
"""

from __future__ import annotations

import pytest
from nautilus_trader.common.component import MessageBus, TestClock
from nautilus_trader.config import ExecEngineConfig, RiskEngineConfig
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.execution.engine import ExecutionEngine
from nautilus_trader.execution.messages import SubmitOrder
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.enums import AccountType, OrderSide, OrderStatus
from nautilus_trader.model.identifiers import AccountId, ClientId
from nautilus_trader.model.objects import Price, Quantity
from nautilus_trader.portfolio.portfolio import Portfolio
from nautilus_trader.risk.engine import RiskEngine
from nautilus_trader.test_kit.mocks.exec_clients import MockExecutionClient
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.test_kit.stubs.component import TestComponentStubs
from nautilus_trader.test_kit.stubs.events import TestEventStubs
from nautilus_trader.test_kit.stubs.identifiers import TestIdStubs
from nautilus_trader.trading.strategy import Strategy

from bench.workloads import NOW, load, single_account_state

BUY = 1
ROUNDS = 20_000


class Nautilus:
    def __init__(self):
        self.instrument = TestInstrumentProvider.equity("AAPL", "XNAS")
        self.clock = TestClock()
        self.trader = TestIdStubs.trader_id()
        msgbus = MessageBus(trader_id=self.trader, clock=self.clock)
        cache = TestComponentStubs.cache()
        portfolio = Portfolio(msgbus=msgbus, cache=cache, clock=self.clock)
        self.exec_engine = ExecutionEngine(msgbus=msgbus, cache=cache, clock=self.clock, config=ExecEngineConfig())
        self.risk = RiskEngine(portfolio=portfolio, msgbus=msgbus, cache=cache, clock=self.clock,
                               config=RiskEngineConfig(max_order_submit_rate="1000000/00:00:01",
                                                       max_notional_per_order={str(self.instrument.id): 5_000_000}))
        venue = self.instrument.id.venue
        self.client = MockExecutionClient(client_id=ClientId(venue.value), venue=venue, account_type=AccountType.CASH,
                                          base_currency=USD, msgbus=msgbus, cache=cache, clock=self.clock)
        portfolio.update_account(TestEventStubs.cash_account_state(account_id=AccountId(f"{venue.value}-001")))
        self.exec_engine.register_client(self.client)
        cache.add_instrument(self.instrument)
        self.exec_engine.start()
        self.risk.start()
        self.strategy = Strategy()
        self.strategy.register(trader_id=self.trader, portfolio=portfolio, msgbus=msgbus, cache=cache,
                               clock=self.clock)

    def command(self, qty: int = 100, price: str = "100.00") -> SubmitOrder:
        order = self.strategy.order_factory.limit(self.instrument.id, OrderSide.BUY, Quantity.from_int(qty),
                                                  Price.from_str(price))
        return SubmitOrder(trader_id=self.trader, strategy_id=self.strategy.id, order=order, command_id=UUID4(),
                           ts_init=self.clock.timestamp_ns(), position_id=None)


@pytest.mark.benchmark(group="pretrade-per-order-vs-nautilus")
def test_nautilus_risk_engine_submit(benchmark):
    nt = Nautilus()
    commands = [nt.command() for _ in range(ROUNDS + 100)]
    it = iter(commands)
    benchmark.pedantic(lambda: nt.risk.execute(next(it)), rounds=ROUNDS, iterations=1, warmup_rounds=100)
    assert nt.client.calls.count("submit_order") == ROUNDS + 100  # every order passed the checks


@pytest.mark.benchmark(group="pretrade-per-order-vs-nautilus")
def test_beacon_place_and_cancel(benchmark):
    state, names = single_account_state()
    engine = load("cython", state)
    instr, clock = names[0], [NOW]
    mark = engine.instrument(instr)["mark"]

    def place_cancel():
        clock[0] += 20_000_000  # the token bucket refills one order
        order = engine.place_order(0, instr, BUY, mark, 100, None, clock[0], False)
        engine.close_order(order)
        return order

    assert place_cancel() > 0
    benchmark.pedantic(place_cancel, rounds=ROUNDS, iterations=1, warmup_rounds=100)


@pytest.mark.benchmark(group="pretrade-per-order-vs-nautilus")
def test_beacon_check_only(benchmark):
    state, names = single_account_state()
    engine = load("cython", state)
    instr = names[0]
    mark = engine.instrument(instr)["mark"]
    assert engine.check_order(0, instr, BUY, mark, 100, "n-1", NOW, False) == 0
    benchmark.pedantic(engine.check_order, args=(0, instr, BUY, mark, 100, "n-1", NOW, False), rounds=ROUNDS,
                       iterations=1, warmup_rounds=100)
