"""The FIX tag=value codec: BodyLength and CheckSum, framing over a byte stream, groups, and
a clear error (tag, reason) for every kind of malformed input."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.fix import FixError, FixParser, encode
from gateway.fix import tags as t

SOH = b"\x01"


def wire(text: str) -> bytes:
    return text.replace("|", "\x01").encode()


def frame(body: str) -> bytes:
    """A frame built independently of the codec: header, body, checksum by the book."""
    body_bytes = wire(body)
    head = b"8=FIX.4.4\x019=%d\x01" % len(body_bytes)
    checksum = sum(head + body_bytes) % 256
    return head + body_bytes + b"10=%03d\x01" % checksum


ORDER = "35=D|49=BEACON|56=BROKER|34=7|52=20260105-01:30:00.000|11=42|1=3|55=600036|207=XSHG|54=1|38=1000|40=2|44=43.37|"


def test_encode_computes_body_length_and_checksum_as_the_standard_defines():
    fields = [(int(k), v.encode()) for k, v in (kv.split("=") for kv in ORDER.strip("|").split("|"))]
    assert encode(fields) == frame(ORDER)


def test_encode_takes_bytes_str_and_int_values():
    assert encode([(35, b"0"), (49, "A"), (34, 12), (45, -3)]) == frame("35=0|49=A|34=12|45=-3|")


@pytest.mark.parametrize("fields, tag, reason", [
    ([(35, b"D"), (11, b"a\x01b")], 11, "SOH"),
    ([(35, b"D"), (11, b"")], 11, "empty"),
    ([(11, b"1"), (35, b"D")], 11, "MsgType"),
    ([(35, b"D"), (0, b"1")], 0, "positive"),
    ([(35, b"D"), (44, 4.5)], 44, "float"),
])
def test_encode_refuses_what_is_not_a_fix_field(fields, tag, reason):
    with pytest.raises(FixError) as err:
        encode(fields)
    assert err.value.tag == tag and reason in str(err.value)


def test_a_message_split_at_every_byte_comes_out_whole_once():
    raw = frame(ORDER)
    for cut in range(1, len(raw)):
        parser = FixParser()
        parser.feed(raw[:cut])
        assert parser.pop() is None
        parser.feed(raw[cut:])
        message = parser.pop()
        assert message.raw == raw and message.get_int(38) == 1000 and message[55] == b"600036"
        assert parser.pop() is None and parser.buffered == 0


def test_coalesced_messages_come_out_in_order():
    raws = [frame(ORDER.replace("34=7", f"34={n}")) for n in range(1, 6)]
    parser = FixParser()
    parser.feed(b"".join(raws))
    assert [parser.pop().get_int(34) for _ in raws] == [1, 2, 3, 4, 5]
    assert parser.pop() is None


def test_a_bad_checksum_is_reported_and_skipped_and_the_stream_goes_on():
    bad = bytearray(frame(ORDER))
    bad[-4:-1] = b"%03d" % ((int(bad[-4:-1]) + 1) % 256)
    parser = FixParser()
    parser.feed(bytes(bad) + frame(ORDER))
    with pytest.raises(FixError) as err:
        parser.pop()
    assert err.value.tag == 10 and "CheckSum" in str(err.value)
    assert parser.pop()[11] == b"42"


def test_a_wrong_body_length_is_reported_and_the_parser_finds_the_next_message():
    good = frame(ORDER)
    wrong = re.sub(rb"\x019=\d+", b"\x019=60", good, count=1)
    assert wrong != good
    parser = FixParser()
    parser.feed(wrong + good)
    with pytest.raises(FixError) as err:
        parser.pop()
    assert err.value.tag == 9 and "BodyLength" in str(err.value)
    assert parser.pop().raw == good


@pytest.mark.parametrize("data, tag, reason", [
    (b"GARBAGE", 0, "garbage before BeginString"),
    (b"8=FIX.4.4\x0135=D\x01", 9, "BodyLength (9) must follow"),
    (b"8=FIX.4.4\x019=x1\x01", 9, "not a number"),
    (b"8=FIX.4.4\x019=99999999\x01", 9, "above the limit"),
])
def test_broken_frames_name_the_problem(data, tag, reason):
    parser = FixParser(max_body=4096)
    parser.feed(data + frame(ORDER))
    with pytest.raises(FixError) as err:
        parser.pop()
    assert err.value.tag == tag and reason in str(err.value)
    assert parser.pop()[35] == b"D"  # resynchronised on the next BeginString


@pytest.mark.parametrize("body, tag, reason", [
    ("35=D|4x=1|", 0, "malformed tag"),
    ("35=D|44=|", 44, "no value"),
    ("35=D|=5|", 0, "empty or zero tag"),
    ("49=A|35=D|", 35, "MsgType (35) must be the first"),
])
def test_malformed_fields_are_named(body, tag, reason):
    parser = FixParser()
    parser.feed(frame(body) + frame(ORDER))
    with pytest.raises(FixError) as err:
        parser.pop()
    assert err.value.tag == tag and reason in str(err.value)
    assert parser.pop()[11] == b"42"


def test_a_missing_or_non_numeric_field_names_its_tag():
    parser = FixParser()
    parser.feed(frame(ORDER))
    message = parser.pop()
    with pytest.raises(FixError) as err:
        message[58]
    assert err.value.tag == 58 and "missing" in str(err.value)
    with pytest.raises(FixError) as err:
        message.get_int(55 if False else 52)
    assert err.value.tag == 52 and "not an integer" in str(err.value)


def test_repeating_groups():
    body = "35=8|136=2|137=1.25|138=CNY|139=5|137=0.03|138=CNY|139=4|58=x|"
    parser = FixParser()
    parser.feed(frame(body))
    fees = parser.pop().group(136, 137, (137, 138, 139))
    assert fees == [{137: b"1.25", 138: b"CNY", 139: b"5"}, {137: b"0.03", 138: b"CNY", 139: b"4"}]
    parser.feed(frame(body.replace("136=2", "136=3")))
    with pytest.raises(FixError) as err:
        parser.pop().group(136, 137, (137, 138, 139))
    assert err.value.tag == 136 and "does not match" in str(err.value)


@pytest.mark.parametrize("fen, text", [(4337, b"43.37"), (5, b"0.05"), (100, b"1.00"), (0, b"0.00"),
                                        (-1250, b"-12.50")])
def test_prices_are_exact_decimal_fen(fen, text):
    assert t.px(fen) == text and t.fen(text, 44) == fen


@pytest.mark.parametrize("text, fen", [(b"43.4", 4340), (b"43", 4300), (b"43.370000", 4337)])
def test_shorter_and_padded_prices_are_read_exactly(text, fen):
    assert t.fen(text, 44) == fen


@pytest.mark.parametrize("text, reason", [(b"43.375", "finer than a fen"), (b"4e3", "not a decimal"),
                                          (b"", "not a decimal"), (b"1.2.3", "not a decimal")])
def test_prices_that_are_not_fen_are_refused(text, reason):
    with pytest.raises(FixError) as err:
        t.fen(text, 44)
    assert err.value.tag == 44 and reason in str(err.value)


def test_timestamps_round_trip_to_the_millisecond():
    ns = 1_767_576_600_123_456_789
    assert t.utc_timestamp(ns) == b"20260105-01:30:00.123"
    assert t.parse_utc_timestamp(b"20260105-01:30:00.123", 52) == 1_767_576_600_123_000_000
    with pytest.raises(FixError):
        t.parse_utc_timestamp(b"2026-01-05 01:30", 52)


values = st.binary(min_size=1, max_size=30).filter(lambda b: SOH not in b)
fields = st.lists(st.tuples(st.integers(1, 99_999), values), max_size=20)


@settings(max_examples=300, deadline=None)
@given(msg_type=values, fields=fields, cuts=st.lists(st.integers(0, 400), max_size=4))
def test_any_message_round_trips_through_any_split(msg_type, fields, cuts):
    raw = encode([(35, msg_type)] + fields)
    parser = FixParser()
    out, start = [], 0
    for cut in sorted(cuts) + [len(raw)]:
        parser.feed(raw[start:max(start, cut)])
        start = max(start, cut)
        message = parser.pop()
        if message is not None:
            out.append(message)
    assert len(out) == 1 and out[0].fields == [(35, msg_type)] + fields and out[0].raw == raw


@settings(max_examples=300, deadline=None)
@given(noise=st.binary(max_size=200))
def test_noise_never_crashes_the_parser_and_a_good_message_after_it_survives(noise):
    parser = FixParser()
    parser.feed(noise + frame(ORDER))
    seen = []
    for _ in range(400):
        try:
            message = parser.pop()
        except FixError:
            continue
        if message is None:
            break
        seen.append(message)
    assert seen and seen[-1].raw == frame(ORDER)
