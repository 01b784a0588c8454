"""The websocket API's message codecs on the order path: decoding a client's new order (the
tagged union of every request, validated: constrained fields, unknown fields refused) and
encoding an execution report push, in JSON and in MessagePack."""

from __future__ import annotations

import pytest

from gateway import protocol as p

ORDER = {"type": "new_order", "req_id": "r-123456", "account": 17, "instrument": "600036", "side": "buy",
         "qty": 1_000, "price": 4337, "client_order_id": "alpha-000123456"}
FILL = p.FillReport(seq=123_456, order_id=98_765, client_order_id="alpha-000123456", account=17, instrument="600036",
                    side="buy", qty=400, price=4338, exec_id="20260105-0000000099", commission=500, stamp_duty=0,
                    transfer_fee=17, filled=400, remaining=600, status="partially_filled")
ORDER_JSON = p.JSON_ENCODER.encode(ORDER)
ORDER_MSGPACK = p.MSGPACK_ENCODER.encode(ORDER)


@pytest.mark.benchmark(group="ws-decode-new-order")
def test_decode_new_order_json(benchmark):
    message = benchmark(p.JSON_DECODER.decode, ORDER_JSON)
    assert isinstance(message, p.NewOrder) and message.qty == 1_000


@pytest.mark.benchmark(group="ws-decode-new-order")
def test_decode_new_order_msgpack(benchmark):
    message = benchmark(p.MSGPACK_DECODER.decode, ORDER_MSGPACK)
    assert isinstance(message, p.NewOrder) and message.price == 4337


@pytest.mark.benchmark(group="ws-encode-fill")
def test_encode_fill_json(benchmark):
    data = benchmark(p.JSON_ENCODER.encode, FILL)
    assert data.startswith(b'{"type":"fill"')


@pytest.mark.benchmark(group="ws-encode-fill")
def test_encode_fill_msgpack(benchmark):
    data = benchmark(p.MSGPACK_ENCODER.encode, FILL)
    assert p.SERVER_MSGPACK_DECODER.decode(data) == FILL
