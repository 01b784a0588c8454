"""The order state machine on its own."""

import pytest

from core.orders import TRANSITIONS, FillRecord, OrderRecord, OrderRegistry, OrderState as S


def registry_with(state=S.PENDING_NEW, qty=1_000):
    registry = OrderRegistry()
    registry.add(OrderRecord(order=1, account=0, client_order_id="c", instrument="600000", side=1, price=1000,
                             qty=qty, state=state))
    return registry


def fill(qty, exec_id="E"):
    return FillRecord(order=1, account=0, instrument="600000", side=1, qty=qty, price=1000, exec_id=exec_id,
                      commission=0, stamp_duty=0, transfer_fee=0, ts=0)


def test_closed_states_take_no_events():
    for state in (S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED):
        assert not any(s is state for s, _ in TRANSITIONS)


@pytest.mark.parametrize("state,event,target", [
    (S.PENDING_NEW, "ack", S.NEW), (S.PENDING_NEW, "fill", S.PARTIALLY_FILLED), (S.NEW, "cancel", S.CANCEL_PENDING),
    (S.PARTIALLY_FILLED, "fill_complete", S.FILLED), (S.CANCEL_PENDING, "fill", S.CANCEL_PENDING),
    (S.CANCEL_PENDING, "closed:canceled", S.CANCELED), (S.NEW, "closed:expired", S.EXPIRED),
    (S.PENDING_NEW, "closed:rejected", S.REJECTED), (S.PARTIALLY_FILLED, "ack", S.PARTIALLY_FILLED),
])
def test_transitions(state, event, target):
    registry = registry_with(state)
    assert registry.move(1, event).state is target


@pytest.mark.parametrize("state,event", [(S.FILLED, "fill"), (S.CANCELED, "ack"), (S.CANCEL_PENDING, "cancel"),
                                         (S.EXPIRED, "closed:canceled"), (S.NEW, "teleport")])
def test_impossible_transitions_are_refused(state, event):
    registry = registry_with(state)
    with pytest.raises(ValueError, match="cannot take"):
        registry.move(1, event)
    assert registry.orders[1].state is state


@pytest.mark.parametrize("state,event", [(S.FILLED, "fill"), (S.CANCELED, "ack"), (S.CANCEL_PENDING, "cancel"),
                                         (S.EXPIRED, "closed:canceled"), (S.NEW, "teleport")])
def test_try_move_refuses_without_raising_or_changing_anything(state, event):
    registry = registry_with(state)
    open_before = registry.open_of(registry.orders[1].account)
    assert registry.try_move(1, event) is None
    assert registry.orders[1].state is state
    assert registry.open_of(registry.orders[1].account) == open_before


def test_try_move_on_an_unknown_order_is_none_and_move_a_key_error():
    registry = registry_with(S.NEW)
    assert registry.try_move(99, "ack") is None
    with pytest.raises(KeyError):
        registry.move(99, "ack")


def test_try_move_moves_like_move_and_closes_the_order_in_the_open_book():
    registry = registry_with(S.NEW)
    account = registry.orders[1].account
    assert registry.try_move(1, "closed:canceled").state is S.CANCELED
    assert registry.open_of(account) == []


def test_a_refused_cancel_goes_back_to_where_the_order_is():
    registry = registry_with(S.NEW)
    registry.orders[1].broker_order_id = "X"
    registry.move(1, "cancel")
    registry.fill(fill(300))
    assert registry.cancel_rejected(1).state is S.PARTIALLY_FILLED
    fresh = registry_with(S.PENDING_NEW)
    fresh.move(1, "cancel")
    assert fresh.cancel_rejected(1).state is S.PENDING_NEW
    with pytest.raises(ValueError, match="no cancel pending"):
        fresh.cancel_rejected(1)


def test_fills_complete_the_order():
    registry = registry_with(S.NEW)
    registry.fill(fill(400, "E1"))
    assert registry.orders[1].remaining == 600
    registry.fill(fill(600, "E2"))
    assert registry.orders[1].state is S.FILLED and registry.orders[1].remaining == 0
    assert registry.exec_ids == {"E1", "E2"} and registry.open_orders(0) == []


def test_remaining_of_is_the_record_s_remaining_in_every_state():
    # the rule the compiled gateway calls with a record's slots (its order updates) is the property's
    from core.orders import OrderRecord, OrderState, remaining_of

    for state in OrderState:
        record = OrderRecord(order=1, account=0, client_order_id=None, instrument="600000", side=1, price=1000,
                             qty=500, filled=200, state=state)
        expected = 300 if state.open else 0
        assert remaining_of(record.qty, record.filled, record.state) == record.remaining == expected, state
