"""core/structs.pxd: the compiled order path reads these msgspec structs' slots where it declares
them, so a layout that drifted from its class must fail loudly, on import, not read a neighbour."""

import msgspec
import pytest

structs = pytest.importorskip("core.structs", reason="the compiled build is what reads the slots")


def test_core_s_structs_have_the_layouts_declared():
    structs.verify()  # (also run when `core` is imported)


def _like_place_order(**renamed):
    fields = ["account", "instrument", "side", "price", "qty", "client_order_id", "ts", "liquidation"]
    fields = [renamed.get(f, f) for f in fields]
    return msgspec.defstruct("Drifted", [(f, object) for f in fields], array_like=True, frozen=True, gc=False)


def test_a_renamed_field_that_moves_the_others_is_refused_by_name():
    # "amount" sorts after "account": every slot after it moves one place, the class keeps its size
    with pytest.raises(ValueError, match="client_order_id elsewhere"):
        structs.verify({"PlaceOrder": _like_place_order(qty="amount")})


def test_a_field_added_or_left_out_is_refused():
    grown = msgspec.defstruct("Grown", [(f, object) for f in ("account", "client_order_id", "instrument",
                                                                  "liquidation", "price", "qty", "side", "ts", "zeta")])
    with pytest.raises(ValueError, match="leaves out"):
        structs.verify({"PlaceOrder": grown})
    shrunk = msgspec.defstruct("Shrunk", [("account", object)])
    with pytest.raises(ValueError, match="client_order_id"):
        structs.verify({"PlaceOrder": shrunk})


def test_the_same_layout_under_another_class_passes_and_an_unknown_layout_is_named():
    structs.verify({"PlaceOrder": _like_place_order()})
    with pytest.raises(KeyError, match="NewOrder"):
        structs.verify({"NewOrder": _like_place_order()})


def test_the_compiled_machine_refuses_a_struct_of_another_class_rather_than_misread_it():
    from core import DEFAULT_TIERS, EngineConfig, RejectCode
    from core.commands import Genesis, PlaceOrder
    from core.machine import Machine
    from tests.conftest import TRADING_DAY, small_universe

    machine = Machine(Genesis(instruments=list(small_universe()), tiers=list(DEFAULT_TIERS), config=EngineConfig(),
                              trading_day=TRADING_DAY.toordinal()), "cython")
    lookalike = _like_place_order()(0, "300002", 1, 3000, 100, "a", 0, False)
    with pytest.raises(TypeError, match="PlaceOrder"):
        machine._place(lookalike)
    outcome = machine._place(PlaceOrder(account=0, instrument="300002", side=1, price=3000, qty=100,
                                        client_order_id="a", ts=0))
    # read through its slots: the account (0, no such account yet) named in the refusal
    assert (RejectCode(-outcome.result), outcome.detail) == (RejectCode.UNKNOWN_ACCOUNT, (0,))
