"""gateway/structs.pxd: the compiled session and gateway read a new order's fields through their
slots; a layout that drifted from the protocol's class fails on import, by name, and a lookalike
order is refused rather than misread."""

import msgspec
import pytest

from gateway import protocol as p

structs = pytest.importorskip("gateway.structs", reason="the compiled build is what reads the slots")


def test_the_protocol_s_structs_have_the_layouts_declared():
    structs.verify()  # (also run when `gateway` is imported)


_FIELDS = ["account", "client_order_id", "instrument", "order_type", "price", "qty", "side"]
_Base = msgspec.defstruct("Base", [("req_id", object)], kw_only=True, frozen=True, gc=False)


def _like_new_order(**renamed):
    """A class with NewOrder's layout (req_id in a base, the rest after it), a field renamed if asked."""
    fields = [renamed.get(f, f) for f in _FIELDS]
    return msgspec.defstruct("Drifted", [(f, object) for f in fields], bases=(_Base,), kw_only=True, frozen=True,
                             gc=False)


def test_a_moved_or_missing_field_is_refused_by_name():
    structs.verify({"NewOrder": _like_new_order()})  # the same layout under another class passes
    # the same fields in one class, not after a base's req_id: req_id sorts among the others and
    # every slot moves, the size stays
    flat = msgspec.defstruct("Flat", [(f, object) for f in ["req_id", *_FIELDS]], frozen=True, gc=False)
    with pytest.raises(ValueError, match="req_id elsewhere"):
        structs.verify({"NewOrder": flat})
    with pytest.raises(ValueError, match="no field order_type"):
        structs.verify({"NewOrder": _like_new_order(order_type="kind")})
    with pytest.raises(ValueError, match="leaves out"):
        structs.verify({"Request": p.NewOrder})  # the base's layout is not the whole of a subclass
    with pytest.raises(KeyError, match="Cancel"):
        structs.verify({"Cancel": p.Cancel})


def test_the_compiled_gateway_refuses_a_lookalike_order_rather_than_misread_it():
    from gateway.service import Gateway

    gateway = Gateway.__new__(Gateway)  # (the argument's type is checked before anything of the gateway is used)
    lookalike = _like_new_order()(req_id="1", account=0, client_order_id="c1", instrument="600036", order_type="limit",
                                   price=4336, qty=100, side="buy")
    with pytest.raises(TypeError, match="NewOrder"):
        gateway.place_order(object(), lookalike, 0.0)


def test_a_session_hands_a_real_order_to_the_typed_gateway():
    # handle() calls on_new_order directly for a NewOrder (it is not in the handlers' table): the
    # order reaches place_order with its fields read from their slots
    from gateway import ws

    assert p.NewOrder not in ws._HANDLERS and ws._NEW_ORDER is p.NewOrder

    placed = []

    class _Gateway:
        class machine:
            account_clients = ["alice"]

        class committer:
            failed = False

        def place_order(self, session, request, received):
            placed.append((request.account, request.instrument, request.qty, request.price, received))

    session = ws.Session.__new__(ws.Session)
    session.gateway = _Gateway()
    session.client = type("Client", (), {"client": "alice"})()
    order = p.NewOrder(req_id="1", account=0, instrument="600036", side="buy", qty=100, price=4336,
                       client_order_id="c1")
    session.on_new_order(order, 1.5)
    assert placed == [(0, "600036", 100, 4336, 1.5)]
    with pytest.raises(TypeError, match="NewOrder"):
        session.on_new_order(_like_new_order()(req_id="1", account=0, client_order_id="c1", instrument="600036",
                                               order_type="limit", price=4336, qty=100, side="buy"), 1.5)
