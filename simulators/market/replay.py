"""Replaying history: daily bars or ticks from CSV, emitted as the simulator's own messages.

Daily bars, one row per instrument per day (prices in CNY with up to two decimals):

    date,code,open,high,low,close,volume[,prev_close]
    2015-06-26,601318,76.80,77.50,69.12,69.12,212345600,76.80

Each bar becomes four ticks: the open at 09:30, the extreme nearer the open at 10:30, the
other at 13:30, the close at 14:59:57; the volume is split evenly between them. The
previous close is the `prev_close` column, else the code's previous bar, else the universe's
previous close; the limits follow from it. A close at limit-down that is also the day's low
is a limit-down lock (no bids), likewise at limit-up.

Ticks, one row per snapshot (ts as ISO 8601 with an offset, or integer UTC nanoseconds):

    ts,code,last,volume,bid,bid_size,ask,ask_size[,lock]
    2026-01-05T09:30:03+08:00,600036,43.36,12300,43.35,5200,43.37,8100,0

DayOpen and DayClose are emitted when the Shanghai date changes.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Iterator

from core.instruments import Universe, limit_prices
from core.session import day_time_ns
from core.units import cny

from .messages import DayClose, DayOpen, MarketMessage, Tick

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
BAR_TIMES = (9 * 3600 + 30 * 60, 10 * 3600 + 30 * 60, 13 * 3600 + 30 * 60, 15 * 3600 - 3)


def _price(text: str, where: str) -> int:
    try:
        value = cny(text)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    if value <= 0:
        raise ValueError(f"{where}: price must be positive, got {text!r}")
    return value


def replay_bars(path: str | Path, universe: Universe | None = None) -> Iterator[MarketMessage]:
    """The message stream of a daily-bar CSV (see the module docstring for the columns)."""
    universe = universe or Universe.sample()
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        need = {"date", "code", "open", "high", "low", "close", "volume"}
        missing = need - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for n, row in enumerate(reader, start=2):
            where = f"{path}:{n}"
            try:
                day = dt.date.fromisoformat(row["date"].strip()).toordinal()
            except ValueError:
                raise ValueError(f"{where}: date {row['date']!r} is not YYYY-MM-DD") from None
            o, h, lo, c = (_price(row[k], where) for k in ("open", "high", "low", "close"))
            if not lo <= min(o, c) <= max(o, c) <= h:
                raise ValueError(f"{where}: need low <= open, close <= high")
            prev = _price(row["prev_close"], where) if row.get("prev_close") else 0
            rows.append((day, row["code"].strip(), o, h, lo, c, int(row["volume"]), prev))
    rows.sort(key=lambda r: (r[0], r[1]))
    last_close: dict[str, int] = {}
    day = None
    for d, code, o, h, lo, c, volume, prev in rows:
        if d != day:
            if day is not None:
                yield DayClose(ts=day_time_ns(day, 15 * 3600), day=day)
            day = d
            yield DayOpen(ts=day_time_ns(d, BAR_TIMES[0]), day=d)
        prev = prev or last_close.get(code) or (universe.get(code).prev_close if code in universe else 0)
        limits = None
        if prev and not (code in universe and universe.get(code).no_limit):
            pct = universe.get(code).effective_limit_pct if code in universe else 10
            limits = limit_prices(prev, pct)
        path_prices = (o, lo, h, c) if o - lo <= h - o else (o, h, lo, c)
        part = volume // 4 // 100 * 100
        for k, (seconds, price) in enumerate(zip(BAR_TIMES, path_prices)):
            lock = 0
            if k == 3 and limits is not None:
                if price == limits[0] and price == lo:
                    lock = -1
                elif price == limits[1] and price == h:
                    lock = 1
            yield _tick(day_time_ns(d, seconds), code, price, part, lock, limits)
        last_close[code] = c
    if day is not None:
        yield DayClose(ts=day_time_ns(day, 15 * 3600), day=day)


def _tick(ts: int, code: str, price: int, volume: int, lock: int, limits) -> Tick:
    size = max(100, volume // 10 // 100 * 100)
    if lock < 0:
        return Tick(ts, code, price, volume, 0, 0, price, size * 20, -1)
    if lock > 0:
        return Tick(ts, code, price, volume, price, size * 20, 0, 0, 1)
    bid, ask = price - 1, price + 1
    if limits is not None:
        bid, ask = max(bid, limits[0]), min(ask, limits[1])
    return Tick(ts, code, price, volume, bid, size, ask, size, 0)


def _timestamp(text: str, where: str) -> int:
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{where}: ts {text!r} is neither ISO 8601 nor integer nanoseconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def replay_ticks(path: str | Path) -> Iterator[MarketMessage]:
    """The message stream of a tick CSV (see the module docstring for the columns)."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        need = {"ts", "code", "last", "volume", "bid", "bid_size", "ask", "ask_size"}
        missing = need - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        day = None
        ts = 0
        for n, row in enumerate(reader, start=2):
            where = f"{path}:{n}"
            ts = _timestamp(row["ts"], where)
            d = dt.datetime.fromtimestamp(ts / 1e9, SHANGHAI).date().toordinal()
            if d != day:
                if day is not None:
                    yield DayClose(ts=day_time_ns(day, 15 * 3600), day=day)
                day = d
                yield DayOpen(ts=ts, day=d)
            bid = cny(row["bid"]) if row["bid"].strip() not in ("", "0") else 0
            ask = cny(row["ask"]) if row["ask"].strip() not in ("", "0") else 0
            yield Tick(ts, row["code"].strip(), _price(row["last"], where), int(row["volume"]), bid,
                       int(row["bid_size"] or 0), ask, int(row["ask_size"] or 0), int(row.get("lock") or 0))
        if day is not None:
            yield DayClose(ts=day_time_ns(day, 15 * 3600), day=day)
