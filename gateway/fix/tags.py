"""FIX 4.4 tag numbers and value formats used by Beacon, and the conversions to its units.

Prices on the wire are decimals in CNY ("43.37"); Beacon's are integer fen. A price with
more than two decimals that are not zeros is not a fen amount and is refused, never rounded.
Times are UTCTimestamp with milliseconds (YYYYMMDD-HH:MM:SS.sss).
"""

from __future__ import annotations

import datetime as dt

from ._codec import FixError

BEGIN_STRING = b"FIX.4.4"

# standard header and trailer
MSG_TYPE, SENDER_COMP_ID, TARGET_COMP_ID, MSG_SEQ_NUM, SENDING_TIME = 35, 49, 56, 34, 52
POSS_DUP_FLAG, ORIG_SENDING_TIME, POSS_RESEND = 43, 122, 97
# session messages
ENCRYPT_METHOD, HEART_BT_INT, RESET_SEQ_NUM_FLAG, TEST_REQ_ID = 98, 108, 141, 112
BEGIN_SEQ_NO, END_SEQ_NO, NEW_SEQ_NO, GAP_FILL_FLAG = 7, 16, 36, 123
REF_SEQ_NUM, REF_TAG_ID, REF_MSG_TYPE, SESSION_REJECT_REASON, TEXT = 45, 371, 372, 373, 58
BUSINESS_REJECT_REASON, BUSINESS_REJECT_REF_ID = 380, 379
# orders and executions
ACCOUNT, CL_ORD_ID, ORIG_CL_ORD_ID, ORDER_ID, EXEC_ID = 1, 11, 41, 37, 17
SYMBOL, SECURITY_EXCHANGE, SIDE, ORDER_QTY, ORD_TYPE, PRICE, TIME_IN_FORCE = 55, 207, 54, 38, 40, 44, 59
TRANSACT_TIME, HANDL_INST = 60, 21
EXEC_TYPE, ORD_STATUS, LAST_QTY, LAST_PX, CUM_QTY, LEAVES_QTY, AVG_PX = 150, 39, 32, 31, 14, 151, 6
COMMISSION, COMM_TYPE, ORD_REJ_REASON = 12, 13, 103
NO_MISC_FEES, MISC_FEE_AMT, MISC_FEE_CURR, MISC_FEE_TYPE = 136, 137, 138, 139
CXL_REJ_REASON, CXL_REJ_RESPONSE_TO = 102, 434
ORD_STATUS_REQ_ID = 790

# MsgType values
HEARTBEAT, TEST_REQUEST, RESEND_REQUEST, REJECT, SEQUENCE_RESET, LOGOUT, LOGON = (
    b"0", b"1", b"2", b"3", b"4", b"5", b"A")
EXECUTION_REPORT, ORDER_CANCEL_REJECT, NEW_ORDER_SINGLE, ORDER_CANCEL_REQUEST = b"8", b"9", b"D", b"F"
ORDER_STATUS_REQUEST, BUSINESS_MESSAGE_REJECT = b"H", b"j"
ADMIN_TYPES = frozenset((HEARTBEAT, TEST_REQUEST, RESEND_REQUEST, REJECT, SEQUENCE_RESET, LOGOUT, LOGON))

# SessionRejectReason (373)
INVALID_TAG_NUMBER, REQUIRED_TAG_MISSING, TAG_NOT_DEFINED_FOR_MSG_TYPE, UNDEFINED_TAG = 0, 1, 2, 3
TAG_WITHOUT_VALUE, VALUE_INCORRECT, INCORRECT_DATA_FORMAT = 4, 5, 6
COMP_ID_PROBLEM, SENDING_TIME_ACCURACY, INVALID_MSG_TYPE = 9, 10, 11
# BusinessRejectReason (380)
BIZ_OTHER, BIZ_UNKNOWN_ID, BIZ_UNSUPPORTED_MSG_TYPE, BIZ_APP_NOT_AVAILABLE, BIZ_REQUIRED_FIELD_MISSING = 0, 1, 3, 4, 5

# MiscFeeType (139): what Beacon's fees are on the wire
FEE_STAMP, FEE_EXCHANGE = b"5", b"4"  # stamp duty; the transfer fee is the exchange's (ChinaClear's) charge


def px(fen: int) -> bytes:
    """Fen to a FIX price: 4337 -> b"43.37"."""
    if fen < 0:
        return b"-" + px(-fen)
    return b"%d.%02d" % divmod(fen, 100)


def fen(value: bytes, tag: int) -> int:
    """A FIX price or amount to fen, exactly: b"43.37" -> 4337, b"43.4" -> 4340, b"43" -> 4300.
    More precision than a fen (b"43.375") is refused naming the tag."""
    text = value.decode("latin-1")
    negative = text.startswith("-")
    whole, _, frac = text.lstrip("-").partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()) or len(whole) > 14:
        raise FixError(f"not a decimal price: {text!r}", tag)
    if len(frac) > 2:
        if frac[2:].strip("0"):
            raise FixError(f"{text} is finer than a fen", tag)
        frac = frac[:2]
    out = int(whole) * 100 + int((frac + "00")[:2])
    return -out if negative else out


_second = [-1, b""]  # the last second formatted: every message carries a timestamp, most share it


def utc_timestamp(ns: int) -> bytes:
    """UTC nanoseconds to UTCTimestamp with milliseconds."""
    ms = ns // 1_000_000
    second = ms // 1000
    if second != _second[0]:
        t = dt.datetime.fromtimestamp(second, dt.timezone.utc)
        _second[0], _second[1] = second, b"%04d%02d%02d-%02d:%02d:%02d." % (t.year, t.month, t.day, t.hour,
                                                                           t.minute, t.second)
    return _second[1] + b"%03d" % (ms % 1000)


def parse_utc_timestamp(value: bytes, tag: int) -> int:
    """UTCTimestamp (seconds, or with milliseconds/microseconds) to UTC nanoseconds."""
    text = value.decode("latin-1")
    try:
        head, _, frac = text.partition(".")
        t = dt.datetime.strptime(head, "%Y%m%d-%H:%M:%S").replace(tzinfo=dt.timezone.utc)
        if frac and (not frac.isdigit() or len(frac) > 9):
            raise ValueError(frac)
    except ValueError:
        raise FixError(f"not a UTCTimestamp: {text!r}", tag) from None
    return int(t.timestamp()) * 1_000_000_000 + int((frac + "000000000")[:9])
