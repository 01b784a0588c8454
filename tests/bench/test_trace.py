"""The round-trip split (python -m bench.loadgen.trace): a real gateway stamping each request
(BEACON_ORDER_TRACE) and the load client stamping each message, joined order by order.
Loopback, a few seconds, nothing asserted about time beyond the parts adding up."""

import json

from bench.loadgen.trace import PARTS, join, main
from gateway.ordertrace import OrderTrace


def test_the_trace_splits_every_order_into_parts_that_add_up(tmp_path):
    assert main(["--rate", "2000", "--count", "400", "--warmup", "50", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "trace.json").read_text())
    assert data["parts"] == list(PARTS) and len(data["rows"]) == 400  # every measured order, both sides
    for total, lag, to_server, server, back in data["rows"]:
        assert abs(total - (lag + to_server + server + back)) < 0.01
        assert min(lag, to_server, server, back) >= 0  # one clock, each side stamped before it hands on
    report = (tmp_path / "trace.md").read_text()
    assert "| p99 |" in report and "| percentile | total | send lag | to the server | server | back |" in report


def test_join_skips_orders_one_side_did_not_see():
    client = {"warmup": 1, "due": [0, 1_000, 2_000], "sent": [0, 1_500, 2_500], "answered": [0, 9_000, 0]}
    server = {"received": {"1": 3_000, "2": 4_000}, "answered": {"1": 5_000}}
    assert join(client, server) == [(8.0, 0.5, 1.5, 2.0, 4.0)]  # order 2 never came back


def test_the_gateway_keeps_the_first_stamp_of_each_request_and_writes_them_on_dump(tmp_path, monkeypatch):
    monkeypatch.delenv("BEACON_ORDER_TRACE", raising=False)
    assert OrderTrace.from_env() is None  # off unless asked for
    monkeypatch.setenv("BEACON_ORDER_TRACE", str(tmp_path / "t.json"))
    trace = OrderTrace.from_env()
    trace.on_received("7", 1.5)
    trace.on_received("7", 2.5)  # a second frame with the same req_id: the first one counts
    trace.on_answered(["7"])
    first = trace.answered["7"]
    trace.on_answered(["7"])
    trace.dump()
    written = json.loads((tmp_path / "t.json").read_text())
    assert written == {"received": {"7": 1_500_000_000}, "answered": {"7": first}}
