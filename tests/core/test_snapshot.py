"""Engine snapshots: export, load, and refusal of states that do not fit."""

import msgspec
import pytest

from core import Engine, EngineConfig, Side
from core.snapshot import EngineState
from tests.conftest import NOW, TRADING_DAY, small_universe
from tests.core.helpers import buy_filled, funded, next_day


def busy(engine: Engine) -> None:
    acct = funded(engine, "standard", "1000000")
    buy_filled(engine, acct, "600000", 10_000)
    next_day(engine)
    engine.place(acct, "000001", Side.BUY, 2000, 1_000, "b", NOW)
    engine.place(acct, "600000", Side.SELL, 1000, 4_000, "s", NOW)
    engine.tick("600000", 950)


def test_export_load_round_trip_through_msgpack(make_engine, backend):
    engine = make_engine()
    busy(engine)
    state = engine.fast.export_state()
    blob = msgspec.msgpack.encode(state)
    restored = Engine(small_universe(), config=EngineConfig(), trading_day=1, backend=backend)
    restored.fast.load_state(msgspec.msgpack.decode(blob, type=EngineState))
    assert restored.account(0) == engine.account(0)
    assert restored.positions(0) == engine.positions(0)
    assert restored.fast.export_state() == state
    # and it keeps working: the open sell fills, the open buy is cancelled
    restored.fill(state.orders[-1].order, 4_000, 1000)
    assert restored.cancel(state.orders[-2].order) is None
    assert restored.account(0)["reserved_buy"] == 0


def test_loading_a_state_that_does_not_fit_is_refused(make_engine, backend):
    engine = make_engine()
    busy(engine)
    state = engine.fast.export_state()
    with pytest.raises(ValueError, match="instruments"):
        make_engine().fast.load_state(msgspec.structs.replace(state, instruments=state.instruments[:-1]))
    with pytest.raises(ValueError, match="contiguous"):
        make_engine().fast.load_state(msgspec.structs.replace(state, next_order_id=state.next_order_id + 5))
    bad_tier = msgspec.structs.replace(state.accounts[0], tier=9)
    with pytest.raises(ValueError, match="tier 9"):
        make_engine().fast.load_state(msgspec.structs.replace(state, accounts=[bad_tier]))
