"""The message decoder under fuzzing: any bytes give either a request or a clear validation error."""

import json

import msgspec
from hypothesis import given, settings, strategies as st

from gateway import protocol as p

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=25)

VALID = [
    {"type": "new_order", "req_id": "1", "account": 1, "instrument": "600036", "side": "buy", "qty": 100,
     "price": 4336, "client_order_id": "a"},
    {"type": "cancel", "req_id": "2", "account": 1, "order_id": 5},
    {"type": "subscribe", "req_id": "3", "channel": "market", "instruments": ["600036"]},
    {"type": "query_account", "req_id": "4", "account": 0},
    {"type": "login", "req_id": "5", "api_key": "k", "timestamp_ms": 1, "signature": "0" * 64},
]


def decodes_cleanly(data: bytes) -> None:
    try:
        message = p.JSON_DECODER.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        assert str(exc)  # a message that names the problem
    else:
        assert isinstance(message, p.Request)


@settings(max_examples=1500, deadline=None)
@given(json_values)
def test_arbitrary_json_documents(value):
    decodes_cleanly(json.dumps(value).encode())


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(VALID), st.sampled_from(["type", "req_id", "account", "qty", "price", "side", "instrument",
                                                "client_order_id", "order_id", "channel", "signature", "extra"]),
       json_values | st.sampled_from([None, -1, 0, 2**63, 1e308, "", "x" * 1000, [], {}]))
def test_valid_messages_with_one_field_changed(message, field, value):
    decodes_cleanly(json.dumps({**message, field: value}).encode())


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes(data):
    decodes_cleanly(data)
    try:
        p.MSGPACK_DECODER.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass


def test_valid_messages_round_trip():
    for message in VALID:
        decoded = p.JSON_DECODER.decode(json.dumps(message).encode())
        assert msgspec.json.decode(p.JSON_ENCODER.encode(decoded)) == {**message, **{
            k: v for k, v in msgspec.to_builtins(decoded).items() if k not in message}}


# A new order's instrument code and client order id are checked without regular expressions (for
# speed: NewOrder.__post_init__); they must accept exactly what the patterns of Code and
# ClientOrderId accept, which every other request still uses.
_CODE, _CLIENT_ORDER_ID = msgspec.json.Decoder(p.Code), msgspec.json.Decoder(p.ClientOrderId)


def _refused_by_pattern(decoder, value: str) -> bool:
    try:
        decoder.decode(json.dumps(value).encode())
    except msgspec.ValidationError:
        return True
    return False


_ORDER = {"type": "new_order", "req_id": "1", "account": 1, "side": "buy", "qty": 100, "price": 4336}
_AWKWARD = st.text(alphabet=st.characters(max_codepoint=0x7f) | st.sampled_from("０１２３٣४ ¹²\u00a0é"), max_size=70)
_CODES = st.one_of(st.from_regex(r"\A[0-9]{6}\Z"), _AWKWARD,
                   st.text(alphabet="0123456789０１٣४¹", min_size=6, max_size=6))  # digits that are not 0-9
_CLIENT_ORDER_IDS = st.one_of(st.from_regex(r"\A[\x21-\x7e]{1,64}\Z"), _AWKWARD)


@settings(max_examples=3000, deadline=None)
@given(_CODES, _CLIENT_ORDER_IDS, st.sampled_from([p.JSON_DECODER, p.MSGPACK_DECODER]))
def test_a_new_orders_code_and_client_order_id_follow_the_patterns_exactly(code, client_order_id, decoder):
    fields = {"instrument": code, "client_order_id": client_order_id}
    wrong = {f"$.{name}" for name, decoder_of, value in (("instrument", _CODE, code),
                                                          ("client_order_id", _CLIENT_ORDER_ID, client_order_id))
             if _refused_by_pattern(decoder_of, value)}
    encode = msgspec.msgpack.encode if decoder is p.MSGPACK_DECODER else msgspec.json.encode
    try:
        order = decoder.decode(encode({**_ORDER, **fields}))
    except msgspec.ValidationError as exc:
        assert any(path in str(exc) for path in wrong), (fields, str(exc))  # refused, naming a wrong field
    else:
        assert not wrong, (fields, wrong)
        assert (order.instrument, order.client_order_id) == (code, client_order_id)
