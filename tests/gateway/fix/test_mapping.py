"""Beacon's broker messages to FIX and back: every execution type survives the round trip
field for field, and a FIX order Beacon cannot take is refused naming the tag."""

import pytest

from gateway.fix import FixError, FixParser, encode
from gateway.fix import mapping
from gateway.fix import tags as t
from simulators.broker.interface import CancelRequest, ExecutionReport, NewOrder

NOW = 1_767_576_600_000_000_000
ORDER = NewOrder(cl_ord_id="P-17", account="3", instrument="300750", side=2, price=18888, qty=300)
BASE = dict(cl_ord_id="P-17", broker_order_id="XSHE-20260105-00000009", account="3", instrument="300750", side=2,
            price=18888, qty=300, ts=NOW)


def wire(msg_type: bytes, body: list):
    parser = FixParser()
    parser.feed(encode([(35, msg_type), (49, b"A"), (56, b"B"), (34, 1), (52, t.utc_timestamp(NOW))] + body))
    return parser.pop()


REPORTS = [
    ExecutionReport(exec_id="1", exec_type="new", status="new", leaves_qty=300, **BASE),
    ExecutionReport(exec_id="2", exec_type="partial_fill", status="partially_filled", last_qty=100, last_px=18890,
                    cum_qty=100, leaves_qty=200, avg_px=18890, commission=500, stamp_duty=944, transfer_fee=19, **BASE),
    ExecutionReport(exec_id="3", exec_type="fill", status="filled", last_qty=200, last_px=18889, cum_qty=300,
                    avg_px=18889, commission=917, stamp_duty=1889, transfer_fee=38, **BASE),
    ExecutionReport(exec_id="4", exec_type="canceled", status="canceled", cum_qty=100, avg_px=18890, **BASE),
    ExecutionReport(exec_id="5", exec_type="rejected", status="rejected", reason="INSUFFICIENT_POSITION: x", **BASE),
    ExecutionReport(exec_id="6", exec_type="expired", status="expired", cum_qty=100, avg_px=18890, **BASE),
]


@pytest.mark.parametrize("report", REPORTS, ids=lambda r: r.exec_type)
def test_every_execution_report_round_trips(report):
    back, status = mapping.parse_execution_report(wire(b"8", mapping.execution_report(report, NOW)), ORDER)
    assert not status
    assert back == report


def test_a_status_answer_is_told_apart():
    back, status = mapping.parse_execution_report(
        wire(b"8", mapping.execution_report(REPORTS[1], NOW, status_request=True)), ORDER)
    assert status and back.status == "partially_filled" and back.cum_qty == 100 and back.last_qty == 0


def test_orders_cancels_and_cancel_rejects_round_trip():
    assert mapping.parse_new_order(wire(b"D", mapping.new_order_single(ORDER, NOW))) == ORDER
    cancel = wire(b"F", mapping.order_cancel_request(CancelRequest(cl_ord_id="P-17"), "P-17-C1", ORDER, NOW))
    assert mapping.parse_cancel(cancel) == ("P-17", "P-17-C1")
    refused = ExecutionReport(exec_id="9", exec_type="cancel_rejected", status="filled",
                              reason="TOO_LATE_TO_CANCEL: order is filled", **BASE)
    back = mapping.parse_cancel_reject(wire(b"9", mapping.order_cancel_reject(refused, "P-17-C1", NOW)))
    assert (back.cl_ord_id, back.exec_type, back.status, back.reason) == ("P-17", "cancel_rejected", "filled",
                                                                          refused.reason)


def test_instruments_go_with_their_exchange():
    assert mapping.exchange_of("600036") == mapping.exchange_of("688981") == b"XSHG"
    assert mapping.exchange_of("000001") == mapping.exchange_of("300750") == b"XSHE"


GOOD = dict(mapping.new_order_single(ORDER, NOW))


@pytest.mark.parametrize("change, tag, reason", [
    ({40: b"1"}, 40, "only limit orders"),
    ({59: b"3"}, 59, "only day orders"),
    ({207: b"XSHG"}, 207, "does not trade on XSHG"),
    ({55: b"AAPL"}, 55, "6-digit"),
    ({44: b"188.885"}, 44, "finer than a fen"),
    ({38: b"0"}, 38, "positive"),
    ({38: b"1e3"}, 38, "not an integer"),
    ({54: b"5"}, 54, "not 1 (buy) or 2 (sell)"),
    ({11: None}, 11, "missing"),
    ({1: None}, 1, "missing"),
])
def test_an_order_beacon_cannot_take_is_refused_naming_the_tag(change, tag, reason):
    fields = {**GOOD, **change}
    body = [(k, v) for k, v in fields.items() if v is not None]
    with pytest.raises(FixError) as err:
        mapping.parse_new_order(wire(b"D", body))
    assert err.value.tag == tag and reason in str(err.value)


def test_a_fee_type_beacon_does_not_know_is_refused():
    body = mapping.execution_report(REPORTS[2], NOW)
    body = [(k, b"7" if k == t.MISC_FEE_TYPE else v) for k, v in body]
    with pytest.raises(FixError) as err:
        mapping.parse_execution_report(wire(b"8", body), ORDER)
    assert err.value.tag == t.MISC_FEE_TYPE
