"""The engine self-check that `make run` prints until the server lands.

It opens one account per tier, runs a handful of orders through every family of
pre-trade check, fills them, crashes a price and shows the margin states move.
Each step goes through the same public API a client of `core` would use.
"""

from __future__ import annotations

import datetime as dt
import time

from core import Engine, EngineConfig, Lock, Side, format_cny
from core.session import shanghai_ns


def _line(label: str, value: object) -> None:
    print(f"  {label:<44} {value}")


def _ratio(view: dict) -> str:
    r = view["collateral_ratio_bp"]
    return "infinite (no debt)" if r < 0 else f"{r / 100:.2f} %"


def run() -> int:
    started = time.perf_counter()
    engine = Engine(config=EngineConfig(enforce_session=True), trading_day=dt.date(2026, 1, 5))
    now = shanghai_ns(2026, 1, 5, 10, 0)
    print(f"Beacon engine self-check ({engine.implementation} backend, {len(engine.universe)} instruments)")

    accounts = {}
    for tier in ("conservative", "standard", "aggressive"):
        acct = engine.open_account(tier)
        engine.deposit(acct, 1_000_000_00)  # 1,000,000.00 CNY
        accounts[tier] = acct
        _line(f"account {acct} ({tier})", f"deposit {format_cny(1_000_000_00)} CNY")

    acct = accounts["aggressive"]
    bank = engine.instrument("600036")
    print("Pre-trade decisions (aggressive account, 600036 at mark "
          f"{format_cny(bank['mark'])}, band {format_cny(bank['limit_down'])}..{format_cny(bank['limit_up'])}):")
    cases = [
        ("buy 1,000 at the mark", Side.BUY, bank["mark"], 1_000, "o1"),
        ("buy 150 (not a round lot)", Side.BUY, bank["mark"], 150, "o2"),
        ("buy above limit-up", Side.BUY, bank["limit_up"] + 1, 100, "o3"),
        ("sell 100 (nothing held: T+1)", Side.SELL, bank["mark"], 100, "o4"),
        ("buy again with client id o1", Side.BUY, bank["mark"], 100, "o1"),
        ("buy 4,000,000 CNY notional", Side.BUY, bank["mark"], 100_000, "o5"),
    ]
    first = None
    for label, side, price, qty, clid in cases:
        d = engine.place(acct, "600036", side, price, qty, clid, now)
        first = first or d.order_id
        _line(label, f"accepted as order {d.order_id}" if d.accepted else str(d.rejection))

    fill = engine.fill(first, 1_000, bank["mark"])
    _line("fill order 1: 1,000 at the mark", f"fees {fill.fees.total} fen (commission {fill.fees.commission})")

    # A 4x portfolio for the aggressive account: four ChiNext names (+/-20 % limits),
    # about 950,000 CNY each, most of it on credit.
    names = [i.code for i in engine.universe if i.code.startswith("300") and i.marginable
             and not (i.halted or i.no_limit)][:4]
    print(f"Leveraged portfolio for account {acct}: {', '.join(names)}")
    # The single-name cap (40 % of post-trade assets) means the book is built in rounds.
    bought = dict.fromkeys(names, 0)
    for n in range(20):
        code = names[n % 4]
        mark = engine.instrument(code)["mark"]
        qty = 190_000_00 // mark // 100 * 100
        d = engine.place(acct, code, Side.BUY, mark, qty, f"p{n}", now + n * 10**9)
        if not d.accepted:
            _line(f"round {n}: buy {qty:,} {code}", str(d.rejection))
            continue
        engine.fill(d.order_id, qty, mark)
        bought[code] += qty
    for code, qty in bought.items():
        _line(f"holding {code}", f"{qty:,} shares at {format_cny(engine.instrument(code)['mark'])}")
    view = engine.account(acct)
    _line("assets / debt", f"{format_cny(view['assets'])} / {format_cny(view['debt'])} CNY, R {_ratio(view)}")

    print("The four names fall together; every tick re-marks the holders:")
    for step in (5, 10, 15, 20):
        for code in names:
            info = engine.instrument(code)
            price = max(info["limit_down"], (info["prev_close"] * (100 - step) + 50) // 100)
            lock = Lock.LIMIT_DOWN if price == info["limit_down"] else Lock.NONE
            for c in engine.tick(code, price, lock):
                _line(f"  -{step} %: account {c.account}",
                      f"{c.old.name} -> {c.new.name} at R {c.collateral_ratio_bp / 100:.2f} %")
    _line("account after the fall", f"R {_ratio(engine.account(acct))}")
    view = engine.account(acct)
    x, everything = engine.liquidation_amount(acct)
    _line("state / reduce-only", f"{view['state'].name} / {view['reduce_only']}")
    _line("liquidation amount to restore-to line", f"{format_cny(x)} CNY" + (" (all sellable)" if everything else ""))
    blocked = engine.place(acct, names[0], Side.BUY, engine.instrument(names[0])["mark"], 100, "p9", now)
    _line("a new buy", str(blocked.rejection))
    engine.roll_day(dt.date(2026, 1, 6))
    view = engine.account(acct)
    x, everything = engine.liquidation_amount(acct)
    print("Next trading day (interest accrued, today's buys now sellable):")
    _line("accrued interest", f"{format_cny(view['accrued_interest'])} CNY")
    _line("liquidation amount to restore-to line", f"{format_cny(x)} CNY" + (" (all sellable)" if everything else ""))
    print(f"Self-check finished in {(time.perf_counter() - started) * 1000:.1f} ms.")
    return 0
