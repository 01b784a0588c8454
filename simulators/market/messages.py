"""What the market simulator (and a CSV replay) emits: typed msgspec messages, prices in fen."""

from __future__ import annotations

from typing import Union

import msgspec


class MarketMessage(msgspec.Struct, tag_field="type", frozen=True, array_like=True, gc=False):
    """Base of market messages. `ts` is UTC nanoseconds (simulated time)."""


class Tick(MarketMessage, tag="tick"):
    """An L1 snapshot with the last trade: the last price is the mark. A lock of -1 is limit-down
    with no bids (bid 0, bid_size 0), +1 limit-up with no offers (ask 0, ask_size 0)."""

    ts: int
    instrument: str
    last: int
    volume: int  # shares traded since the previous tick of this instrument
    bid: int
    bid_size: int
    ask: int
    ask_size: int
    lock: int = 0


class InstrumentStatus(MarketMessage, tag="status"):
    ts: int
    instrument: str
    halted: bool


class DayOpen(MarketMessage, tag="open"):
    ts: int
    day: int  # date ordinal of the trading day


class DayClose(MarketMessage, tag="close"):
    ts: int
    day: int


AnyMarketMessage = Union[Tick, InstrumentStatus, DayOpen, DayClose]
ENCODER = msgspec.msgpack.Encoder()
DECODER = msgspec.msgpack.Decoder(AnyMarketMessage)
