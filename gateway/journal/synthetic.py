"""A deterministic synthetic trading session: commands for tests, benchmarks and demos.

`SyntheticSession(seed).run(n)` is a generator of commands that is sent each
command's outcome (so it knows the order ids it was given and which orders are
still open): a few accounts in every tier deposit, build leveraged books, trade
around a random-walk market, get fills and cancels, and live through day rolls,
margin calls and the odd refused input. The same seed gives the same commands.

    gen = session.run(10_000)
    command = next(gen)
    while True:
        outcome = machine.execute(command)
        try:
            command = gen.send(outcome)
        except StopIteration:
            break
"""

from __future__ import annotations

import random
from typing import Generator

from core.commands import (
    AnyCommand, CancelOrder, ClockAdvance, DayRoll, Deposit, Fill, Genesis, OpenAccount, OrderClosed, Outcome,
    PlaceOrder, SetAccountFlag, Tick, Withdraw,
)
from core.config import EngineConfig
from core.instruments import Universe, limit_prices
from core.session import day_time_ns
from core.tiers import DEFAULT_TIERS

START_DAY = 739_621  # 2026-01-05, a Monday


class SyntheticSession:
    def __init__(self, seed: int, accounts: int = 12, instruments: int = 24, universe: Universe | None = None):
        self.rng = random.Random(seed)
        self.universe = universe or Universe.sample()
        names = [n for n, i in enumerate(self.universe)
                 if i.marginable and not i.halted and not i.no_limit and 500 <= i.prev_close <= 20_000]
        self.names = sorted(self.rng.sample(names, min(instruments, len(names))))
        self.accounts = accounts
        self.start_day = START_DAY
        self.day = START_DAY
        self.marks = {n: self.universe.instruments[n].prev_close for n in self.names}
        self.prev_close = dict(self.marks)
        self.open_orders: dict[int, list] = {}  # id -> [account, instrument, side, price, remaining]
        self.held: dict[tuple[int, int], int] = {}  # (account, instrument) -> shares bought (roughly sellable)
        self.exec_id = 0

    def genesis(self) -> Genesis:
        return Genesis(instruments=self.universe.instruments, tiers=list(DEFAULT_TIERS),
                       config=EngineConfig(), trading_day=self.start_day)

    def now(self, second_of_session: int) -> int:
        """A time inside today's morning or afternoon session (the last second once they are over)."""
        s = min(second_of_session, 4 * 3600 - 1)
        start = 9 * 3600 + 30 * 60 if s < 2 * 3600 else 13 * 3600 - 2 * 3600
        return day_time_ns(self.day, start + s)

    def code(self, instr: int) -> str:
        return self.universe.instruments[instr].code

    def run(self, n: int) -> Generator[AnyCommand, Outcome, None]:
        rng = self.rng
        tiers = [t.name for t in DEFAULT_TIERS]
        for acct in range(self.accounts):
            yield OpenAccount(tier=tiers[acct % len(tiers)], name=f"SYN-{acct:04d}")
            yield Deposit(account=acct, amount=rng.randrange(5_000_000, 200_000_000))
        self.clock = 0
        for _ in range(n):
            self.clock += rng.randrange(1, 20)
            clock = self.clock
            now = self.now(clock)
            r = rng.random()
            if r < 0.40:
                yield self._tick(now)
            elif r < 0.66:
                command = self._order(now)
                outcome = yield command
                if outcome.result > 0:
                    self.open_orders[outcome.result] = [command.account, self.universe.id_of(command.instrument),
                                                        command.side, command.price, command.qty]
            elif r < 0.88:
                yield self._fill(now) if self.open_orders else self._tick(now)
            elif r < 0.95:
                if not self.open_orders:
                    yield self._tick(now)
                    continue
                order = rng.choice(sorted(self.open_orders))
                yield CancelOrder(order=order, ts=now)
                yield OrderClosed(order=order, reason="canceled", ts=now)
                self.open_orders.pop(order)
            elif r < 0.955:
                yield ClockAdvance(ts=now)
            elif r < 0.965:
                yield Deposit(account=rng.randrange(self.accounts), amount=rng.choice([1_000_000, 20_000_000, 0]))
            elif r < 0.97:
                yield Withdraw(account=rng.randrange(self.accounts), amount=rng.choice([100_000, 5_000_000]))
            elif r < 0.972:
                yield SetAccountFlag(account=rng.randrange(self.accounts), flag="frozen", on=rng.random() < 0.2)
            elif r < 0.974:
                yield from self._shock(now)
            elif r < 0.977:
                yield from self._roll()
            else:
                yield self._tick(now)

    def _shock(self, now: int):
        """A sell-off: a third of the names trade down to a few percent above limit-down."""
        for instr in self.rng.sample(self.names, max(1, len(self.names) // 3)):
            down, _ = limit_prices(self.prev_close[instr], self.universe.instruments[instr].effective_limit_pct)
            price = max(down, min(self.marks[instr], down + down // 50))
            self.marks[instr] = price
            yield Tick(instrument=self.code(instr), price=price, lock=0, volume=100_000, ts=now)

    def _tick(self, now: int) -> Tick:
        rng = self.rng
        instr = rng.choice(self.names)
        down, up = limit_prices(self.prev_close[instr], self.universe.instruments[instr].effective_limit_pct)
        mark = self.marks[instr]
        step = max(1, mark // 400)
        price = min(up, max(down, mark + rng.randint(-3, 3) * step - (step if rng.random() < 0.1 else 0)))
        self.marks[instr] = price
        lock = -1 if price == down and rng.random() < 0.5 else 0
        return Tick(instrument=self.code(instr), price=price, lock=lock, volume=rng.randrange(100, 50_000), ts=now)

    def _order(self, now: int) -> PlaceOrder:
        rng = self.rng
        acct = rng.randrange(self.accounts)
        instr = rng.choice(self.names)
        mark = self.marks[instr]
        held = self.held.get((acct, instr), 0)
        if held >= 100 and rng.random() < 0.35:
            side, qty = 2, rng.choice([100, 200, held // 100 * 100 or 100, held])
        else:
            side = 1
            budget = rng.choice([20_000_00, 50_000_00, 200_000_00, 600_000_00])
            qty = max(100, budget // mark // 100 * 100)
            if self.universe.instruments[instr].code.startswith("688"):
                qty = max(qty, 200)
        price = mark + rng.randint(-2, 2) * max(1, mark // 500)
        if rng.random() < 0.02:
            qty = 150  # a bad lot now and then
        return PlaceOrder(account=acct, instrument=self.code(instr), side=side, price=price, qty=qty,
                          client_order_id=f"c{self.exec_id}-{rng.randrange(10**6)}", ts=now)

    def _fill(self, now: int) -> Fill:
        rng = self.rng
        order = rng.choice(sorted(self.open_orders))
        acct, instr, side, price, remaining = self.open_orders[order]
        qty = remaining if rng.random() < 0.7 or remaining <= 100 else remaining // 200 * 100
        self.exec_id += 1
        if qty == remaining:
            self.open_orders.pop(order)
        else:
            self.open_orders[order][4] -= qty
        if side == 1:
            self.held[(acct, instr)] = self.held.get((acct, instr), 0) + qty
        else:
            self.held[(acct, instr)] = max(0, self.held.get((acct, instr), 0) - qty)
        return Fill(order=order, qty=qty, price=price, exec_id=f"E{self.exec_id:08d}", ts=now)

    def _roll(self):
        self.day += 3 if (self.day + 1) % 7 == 6 else 1  # skip the weekend
        self.clock = 0
        for instr in self.names:
            self.prev_close[instr] = self.marks[instr]
        self.open_orders.clear()  # day orders expire
        yield DayRoll(day=self.day)


def drive(execute, session: SyntheticSession, n: int) -> int:
    """Feed `n` steps of the session through execute(command) -> Outcome; the commands applied."""
    gen = session.run(n)
    count = 0
    command = next(gen)
    while True:
        outcome = execute(command)
        count += 1
        try:
            command = gen.send(outcome)
        except StopIteration:
            return count


def journal_session(journaled, session: SyntheticSession, n: int, commit_every: int = 1000) -> int:
    """Journal `n` steps of the session through a Journaled (committing every `commit_every`
    records); the number of commands journaled."""
    gen = session.run(n)
    command = next(gen)
    count = 0
    while True:
        _, outcome = journaled.submit(command)
        count += 1
        if count % commit_every == 0:
            journaled.commit()
        try:
            command = gen.send(outcome)
        except StopIteration:
            journaled.commit()
            return count
