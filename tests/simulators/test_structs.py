"""simulators/broker/structs.pxd: the compiled broker and gateway read the broker interface's
structs through their slots; a layout that drifted from its class fails on import, by name."""

import msgspec
import pytest

from simulators.broker import BrokerCore, NewOrder
from tests.conftest import small_universe

structs = pytest.importorskip("simulators.broker.structs", reason="the compiled build is what reads the slots")


def test_the_interface_s_structs_have_the_layouts_declared():
    structs.verify()  # (also run when simulators.broker is imported)


def test_a_moved_field_is_refused_by_name():
    # market_like renamed "amount", which sorts between "account" and "cl_ord_id": the slots after it
    # move, the size stays
    fields = ["cl_ord_id", "account", "instrument", "side", "price", "qty", "amount"]
    drifted = msgspec.defstruct("Drifted", [(f, object) for f in fields], frozen=True, gc=False)
    with pytest.raises(ValueError, match="cl_ord_id elsewhere"):
        structs.verify({"NewOrder": drifted})
    with pytest.raises(KeyError, match="Cancel"):
        structs.verify({"Cancel": drifted})


def test_the_compiled_broker_refuses_a_lookalike_order_and_reads_a_real_one():
    broker = BrokerCore(small_universe())
    fields = ["cl_ord_id", "account", "instrument", "side", "price", "qty", "market_like"]
    lookalike = msgspec.defstruct("Lookalike", [(f, object) for f in fields], frozen=True, gc=False)
    with pytest.raises(TypeError, match="NewOrder"):
        broker.submit(lookalike("1", "0", "999999", 1, 100, 100, False), 0)
    [report] = broker.submit(NewOrder(cl_ord_id="1", account="0", instrument="999999", side=1, price=100, qty=100), 0)
    assert (report.exec_type, report.reason) == ("rejected", "UNKNOWN_INSTRUMENT: 999999")


def test_none_where_a_struct_is_typed_is_an_error_not_a_crash():
    # a typed argument takes None (Cython's rule); the nonecheck directive makes reading its slots an
    # AttributeError instead of a read through a null pointer
    with pytest.raises(AttributeError):
        BrokerCore(small_universe()).submit(None, 0)


def test_the_broker_s_held_order_has_its_layout_and_a_moved_field_is_refused():
    from simulators.broker.holding import HeldOrder

    structs.verify({"HeldOrder": HeldOrder})
    # "cum_qty" renamed "filled": it sorts after "cum_notional" as before but the name is gone
    fields = ["new", "broker_id", "seq", "filled", "cum_notional", "commission_paid", "status"]
    drifted = msgspec.defstruct("Drifted", [(f, object) for f in fields], gc=False)
    with pytest.raises(ValueError, match="no field cum_qty"):
        structs.verify({"HeldOrder": drifted})


def test_the_compiled_broker_reports_from_the_held_order_s_slots():
    # a resting buy: acknowledged with its broker id, nothing filled, all of it left
    broker = BrokerCore(small_universe())
    new = NewOrder(cl_ord_id="7", account="0", instrument="600000", side=1, price=1000, qty=300)
    [ack] = broker.submit(new, 5)
    held = broker.orders.get("7")
    assert (ack.exec_type, ack.status, ack.broker_order_id, ack.cum_qty, ack.leaves_qty, ack.ts) == \
        ("new", "new", held.broker_id, 0, 300, 5)
    assert broker.status_report(held, 6).leaves_qty == 300
    with pytest.raises(TypeError, match="HeldOrder"):
        broker.status_report(msgspec.structs.replace(new), 6)  # not a held order: refused, not misread
