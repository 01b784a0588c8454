"""The FIX tag=value codec beside its peers, on the two messages of every order's round trip:
encoding an ExecutionReport (a fill with its fees group) and decoding a NewOrderSingle, then
reading the fields an application needs. Peers: simplefix (pure Python) and QuickFIX (its
C++ parser and serializer through the Python binding; parsing without the data dictionary,
as Beacon does, and with it for reference). Same bytes for all.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import quickfix as fix
import simplefix

from gateway.fix import FixParser, encode
from gateway.fix import mapping
from gateway.fix import tags as t
from simulators.broker.interface import ExecutionReport, NewOrder

NOW = 1_767_576_600_000_000_000
ORDER = NewOrder(cl_ord_id="1A2B3C-123456", account="17", instrument="600036", side=1, price=4337, qty=1_000)
REPORT = ExecutionReport(cl_ord_id="1A2B3C-123456", broker_order_id="XSHG-20260105-00000042",
                         exec_id="20260105-0000000099", exec_type="partial_fill", status="partially_filled",
                         account="17", instrument="600036", side=2, price=4337, qty=1_000, last_qty=400, last_px=4338,
                         cum_qty=400, leaves_qty=600, avg_px=4338, commission=500, stamp_duty=868, transfer_fee=17,
                         ts=NOW)
HEADER = [(35, b"8"), (49, b"BROKER"), (56, b"BEACON"), (34, 123456), (52, t.utc_timestamp(NOW))]
REPORT_FIELDS = mapping.execution_report(REPORT, NOW)
ORDER_BYTES = encode([(35, b"D"), (49, b"BEACON"), (56, b"BROKER"), (34, 123456), (52, t.utc_timestamp(NOW))]
                     + mapping.new_order_single(ORDER, NOW))
REPORT_BYTES = encode(HEADER + REPORT_FIELDS)
DICTIONARY = Path(sys.prefix) / "share" / "quickfix" / "FIX44.xml"


def _text(value) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


# ------------------------------------------------------------------ encode an ExecutionReport
@pytest.mark.benchmark(group="fix-encode-execution-report")
def test_encode_beacon(benchmark):
    out = benchmark(lambda: encode(HEADER + mapping.execution_report(REPORT, NOW)))
    assert out == REPORT_BYTES


@pytest.mark.benchmark(group="fix-encode-execution-report")
def test_encode_simplefix(benchmark):
    def build():
        message = simplefix.FixMessage()
        message.append_pair(8, "FIX.4.4", header=True)
        for tag, value in HEADER + REPORT_FIELDS:
            message.append_pair(tag, _text(value), header=tag in (35, 49, 56, 34, 52))
        return message.encode()
    assert build() == REPORT_BYTES
    benchmark(build)


@pytest.mark.benchmark(group="fix-encode-execution-report")
def test_encode_quickfix(benchmark):
    fields = [(tag, _text(value).decode()) for tag, value in HEADER + REPORT_FIELDS]

    def build():
        message = fix.Message()
        header = message.getHeader()
        header.setField(fix.BeginString("FIX.4.4"))
        for tag, value in fields[:5]:
            header.setField(fix.StringField(tag, value))
        for tag, value in fields[5:]:
            if tag in (137, 138, 139):
                continue
            message.setField(fix.StringField(tag, value))
        group = fix.Group(136, 137)
        for tag, value in fields:
            if tag in (137, 138, 139):
                group.setField(fix.StringField(tag, value))
                if tag == 139:
                    message.addGroup(group)
        return message.toString()
    assert len(build()) == len(REPORT_BYTES)  # QuickFIX orders its header itself: same fields, same size
    benchmark(build)


# ------------------------------------------------------------------ decode a NewOrderSingle
def _beacon_decode():
    parser = FixParser()
    parser.feed(ORDER_BYTES)
    message = parser.pop()
    return mapping.parse_new_order(message)


@pytest.mark.benchmark(group="fix-decode-new-order")
def test_decode_beacon(benchmark):
    assert benchmark(_beacon_decode) == ORDER


@pytest.mark.benchmark(group="fix-decode-new-order")
def test_decode_simplefix(benchmark):
    def decode():
        parser = simplefix.FixParser()
        parser.append_buffer(ORDER_BYTES)
        message = parser.get_message()
        return NewOrder(cl_ord_id=message.get(11).decode(), account=message.get(1).decode(),
                        instrument=message.get(55).decode(), side=int(message.get(54)),
                        price=t.fen(message.get(44), 44), qty=int(message.get(38)))
    assert benchmark(decode) == ORDER


@pytest.mark.benchmark(group="fix-decode-new-order")
def test_decode_quickfix(benchmark):
    raw = ORDER_BYTES.decode()

    def decode():
        message = fix.Message(raw, False)  # parse, checksum and body length checked; no dictionary
        return NewOrder(cl_ord_id=message.getField(11), account=message.getField(1), instrument=message.getField(55),
                        side=int(message.getField(54)), price=t.fen(message.getField(44).encode(), 44),
                        qty=int(message.getField(38)))
    assert benchmark(decode) == ORDER


@pytest.mark.benchmark(group="fix-decode-new-order-validated")
def test_decode_quickfix_with_dictionary(benchmark):
    raw = ORDER_BYTES.decode()
    dictionary = fix.DataDictionary(str(DICTIONARY))
    benchmark(lambda: fix.Message(raw, dictionary, True))


# ------------------------------------------------------------------ the codecs alone (no mapping)
REPORT_WIRE = [(tag, _text(value)) for tag, value in HEADER + REPORT_FIELDS]


@pytest.mark.benchmark(group="fix-codec-encode-only")
def test_codec_encode_beacon(benchmark):
    assert benchmark(encode, REPORT_WIRE) == REPORT_BYTES


@pytest.mark.benchmark(group="fix-codec-encode-only")
def test_codec_encode_simplefix(benchmark):
    def build():
        message = simplefix.FixMessage()
        message.append_pair(8, "FIX.4.4", header=True)
        for tag, value in REPORT_WIRE:
            message.append_pair(tag, value)
        return message.encode()
    assert build() == REPORT_BYTES
    benchmark(build)


@pytest.mark.benchmark(group="fix-codec-parse-only")
def test_codec_parse_beacon(benchmark):
    def parse():
        parser = FixParser()
        parser.feed(REPORT_BYTES)
        return parser.pop()
    assert benchmark(parse).get(17) == b"20260105-0000000099"


@pytest.mark.benchmark(group="fix-codec-parse-only")
def test_codec_parse_simplefix(benchmark):
    def parse():
        parser = simplefix.FixParser()
        parser.append_buffer(REPORT_BYTES)
        return parser.get_message()
    assert benchmark(parse).get(17) == b"20260105-0000000099"


@pytest.mark.benchmark(group="fix-codec-parse-only")
def test_codec_parse_quickfix(benchmark):
    raw = REPORT_BYTES.decode()
    dictionary = fix.DataDictionary(str(DICTIONARY))  # needed to know the MiscFees group's structure
    assert benchmark(lambda: fix.Message(raw, dictionary, False)).getField(17) == "20260105-0000000099"
