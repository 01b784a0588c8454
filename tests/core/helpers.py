"""Small builders for engine tests; amounts in fen unless a name says CNY."""

from __future__ import annotations

from core import Engine, RejectCode, Side, cny
from tests.conftest import NOW, TRADING_DAY

import datetime as dt

#: RejectCode -> test names that produce it through the public API (filled by @covers).
COVERAGE: dict[RejectCode, list[str]] = {}


def covers(*codes: RejectCode):
    def mark(fn):
        for code in codes:
            COVERAGE.setdefault(code, []).append(fn.__name__)
        return fn

    return mark


def funded(engine: Engine, tier: str = "standard", amount_cny: str = "100000") -> int:
    acct = engine.open_account(tier)
    assert engine.deposit(acct, cny(amount_cny)) is None
    return acct


def buy_filled(engine: Engine, acct: int, code: str, qty: int, price: int | None = None, clid=None, now=NOW) -> int:
    price = price if price is not None else engine.instrument(code)["mark"]
    d = engine.place(acct, code, Side.BUY, price, qty, clid or f"b-{code}-{qty}-{price}-{now}", now)
    assert d.accepted, d.rejection
    engine.fill(d.order_id, qty, price)
    return d.order_id


def next_day(engine: Engine, days: int = 1) -> None:
    current = engine.fast.platform()["trading_day"]
    engine.roll_day(current + days)


def holding(engine: Engine, acct: int, code: str, qty: int) -> None:
    """Give the account qty sellable shares (bought today, then a day roll)."""
    buy_filled(engine, acct, code, qty)
    next_day(engine)


def rejected(decision, code: RejectCode, detail: str | None = None):
    assert not decision.accepted, f"expected {code.name}, order was accepted"
    assert decision.rejection.code == code, str(decision.rejection)
    if detail is not None:
        assert decision.rejection.detail == detail, str(decision.rejection)
    return decision.rejection
