# cython: language_level=3
"""FIX tag=value: encoding with BodyLength and CheckSum, and a framing parser over a byte stream.

A FIX message on the wire is `8=FIX.4.4|9=<body length>|35=...|...|10=<checksum>|` with SOH
(0x01) for `|`. BodyLength counts the bytes from the first byte after `9=...|` up to and
including the SOH before `10=`; CheckSum is the sum of every byte before `10=`, modulo 256,
as three digits.

The parser takes bytes as they come off a socket (a message split across reads, or several
in one read) and hands out whole messages. A garbled frame (bad BodyLength or CheckSum, a
malformed tag, an empty value) raises `FixError` naming the tag and the reason, after the
parser has skipped it, so the stream goes on: the FIX session layer ignores garbled
messages and lets its sequence numbers ask for them again.

Written in Cython because it is on every order's path twice (the order out, the execution
report in): the byte loops run in C, and a message's fields come out as one list of
(tag, value) pairs plus an index by tag built in the same pass.
"""

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memchr, memcmp, memcpy

cdef char SOH = 1
cdef enum:
    HEADER_ROOM = 32  # room in front of the body for "8=FIX.4.4|9=<digits>|"


class FixError(ValueError):
    """A malformed FIX message: which tag (0 when the frame itself is broken) and why."""

    def __init__(self, str reason, int tag=0):
        self.tag = tag
        self.reason = reason
        super().__init__(f"tag {tag}: {reason}" if tag else reason)


cdef class FixMessage:
    """One message: its fields in wire order (after BodyLength, before CheckSum) and the raw
    frame it came from (empty for a message built here)."""

    cdef public list fields
    cdef public bytes raw
    cdef dict _index

    def __init__(self, list fields, bytes raw=b""):
        self.fields = fields
        self.raw = raw
        self._index = None

    cdef dict _idx(self):
        cdef dict index
        if self._index is None:
            index = {}
            for tag, value in self.fields:
                if tag not in index:  # in a repeating group the first occurrence is the one a lookup means
                    index[tag] = value
            self._index = index
        return self._index

    @property
    def msg_type(self) -> bytes:
        return self.fields[0][1] if self.fields else b""

    cpdef object get(self, int tag, object default=None):
        """The value of a tag (bytes; the first occurrence), or default."""
        return self._idx().get(tag, default)

    def __getitem__(self, int tag) -> bytes:
        value = self._idx().get(tag)
        if value is None:
            raise FixError("required tag missing", tag)
        return value

    def __contains__(self, int tag) -> bool:
        return tag in self._idx()

    def get_int(self, int tag, object default=None):
        """A tag's value as an integer; FixError naming the tag when it is missing or not a number."""
        value = self._idx().get(tag)
        if value is None:
            if default is not None:
                return default
            raise FixError("required tag missing", tag)
        return _to_int(value, tag)

    def get_str(self, int tag, str default=""):
        value = self._idx().get(tag)
        return default if value is None else (<bytes>value).decode("latin-1")

    def group(self, int count_tag, int first_tag, members):
        """A repeating group: the list of its entries, each a dict of tag to value. Entries start at
        each occurrence of first_tag after count_tag and hold the member tags that follow; the
        group ends at the first tag that is not a member. The count must match."""
        cdef list entries = []
        cdef dict entry = None
        cdef bint inside = False
        cdef Py_ssize_t n = 0
        for tag, value in self.fields:
            if not inside:
                if tag == count_tag:
                    inside = True
                    n = _to_int(value, count_tag)
                continue
            if tag == first_tag:
                entry = {}
                entries.append(entry)
            elif entry is None:
                raise FixError(f"group {count_tag} must start with tag {first_tag}", tag)
            elif tag not in members or tag in entry:  # not a member, or a repeat: the group is over
                break
            entry[tag] = value
        if inside and len(entries) != n:
            raise FixError(f"group count {n} does not match {len(entries)} entries", count_tag)
        return entries

    def __repr__(self):
        return "FixMessage(" + "|".join(f"{t}={v.decode('latin-1')}" for t, v in self.fields) + ")"

    def __eq__(self, other):
        return isinstance(other, FixMessage) and self.fields == (<FixMessage>other).fields

    def __hash__(self):
        return hash(tuple(self.fields))


cdef long long _to_int(bytes value, int tag) except? -1:
    cdef const char* p = PyBytes_AS_STRING(value)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(value), i = 0
    cdef long long out = 0
    cdef bint negative = False
    if n and p[0] == 45:  # '-'
        negative = True
        i = 1
    if i >= n or n - i > 18:
        raise FixError(f"not an integer: {value!r}", tag)
    while i < n:
        if p[i] < 48 or p[i] > 57:
            raise FixError(f"not an integer: {value!r}", tag)
        out = out * 10 + (p[i] - 48)
        i += 1
    return -out if negative else out


# ------------------------------------------------------------------------- encoding
cdef struct Writer:
    char* data
    Py_ssize_t length
    Py_ssize_t capacity


cdef int _reserve(Writer* w, Py_ssize_t extra) except -1:
    cdef Py_ssize_t need = w.length + extra
    cdef char* grown
    if need <= w.capacity:
        return 0
    while w.capacity < need:
        w.capacity *= 2
    grown = <char*>realloc(w.data, w.capacity)
    if grown == NULL:
        raise MemoryError()
    w.data = grown
    return 0


cdef inline int _put_uint(char* out, unsigned long long v) noexcept:
    """Writes v's decimal digits at out; returns how many."""
    cdef char digits[24]
    cdef int n = 0, i
    if v == 0:
        out[0] = 48
        return 1
    while v:
        digits[n] = 48 + <char>(v % 10)
        v //= 10
        n += 1
    for i in range(n):
        out[i] = digits[n - 1 - i]
    return n


cdef int _put_field(Writer* w, int tag, object value) except -1:
    cdef const char* p
    cdef Py_ssize_t n
    cdef long long v
    if tag <= 0:
        raise FixError("tag numbers are positive", tag)
    if isinstance(value, bytes):
        p = PyBytes_AS_STRING(value)
        n = PyBytes_GET_SIZE(value)
    elif isinstance(value, str):
        value = (<str>value).encode("latin-1")
        p = PyBytes_AS_STRING(value)
        n = PyBytes_GET_SIZE(value)
    elif isinstance(value, int):
        v = value
        _reserve(w, 48)
        w.length += _put_uint(w.data + w.length, tag)
        w.data[w.length] = 61  # '='
        w.length += 1
        if v < 0:
            w.data[w.length] = 45
            w.length += 1
            v = -v
        w.length += _put_uint(w.data + w.length, v)
        w.data[w.length] = SOH
        w.length += 1
        return 0
    else:
        raise FixError(f"value of type {type(value).__name__} cannot be encoded", tag)
    if n == 0:
        raise FixError("empty value", tag)
    if memchr(p, SOH, n) != NULL:
        raise FixError("value contains SOH", tag)
    _reserve(w, n + 24)
    w.length += _put_uint(w.data + w.length, tag)
    w.data[w.length] = 61
    w.length += 1
    memcpy(w.data + w.length, p, n)
    w.length += n
    w.data[w.length] = SOH
    w.length += 1
    return 0


def encode(list fields, bytes begin_string=b"FIX.4.4"):
    """A whole message from its fields in order (MsgType, 35, first; no 8, 9 or 10): values are
    bytes, str (Latin-1) or int. Adds BeginString, BodyLength and CheckSum."""
    cdef Writer w
    cdef Py_ssize_t body_start, body_length, start, blen = PyBytes_GET_SIZE(begin_string)
    cdef char header[HEADER_ROOM + 16]
    cdef int hn, i
    cdef unsigned int checksum = 0
    cdef const unsigned char* u
    if not fields or fields[0][0] != 35:
        raise FixError("the first field must be MsgType (35)", fields[0][0] if fields else 35)
    if blen + 16 > HEADER_ROOM:
        raise FixError("BeginString too long", 8)
    w.capacity = 512
    w.data = <char*>malloc(w.capacity)
    if w.data == NULL:
        raise MemoryError()
    try:
        w.length = HEADER_ROOM
        for tag, value in fields:
            _put_field(&w, tag, value)
        body_length = w.length - HEADER_ROOM
        # "8=<begin>|9=<length>|", written right-aligned in front of the body
        header[0] = 56
        header[1] = 61
        memcpy(header + 2, PyBytes_AS_STRING(begin_string), blen)
        hn = 2 + blen
        header[hn] = SOH
        header[hn + 1] = 57
        header[hn + 2] = 61
        hn += 3
        hn += _put_uint(header + hn, body_length)
        header[hn] = SOH
        hn += 1
        start = HEADER_ROOM - hn
        memcpy(w.data + start, header, hn)
        u = <const unsigned char*>(w.data + start)
        for i in range(w.length - start):
            checksum += u[i]
        checksum &= 255
        _reserve(&w, 8)
        w.data[w.length] = 49  # "10="
        w.data[w.length + 1] = 48
        w.data[w.length + 2] = 61
        w.data[w.length + 3] = 48 + <char>(checksum // 100)
        w.data[w.length + 4] = 48 + <char>(checksum // 10 % 10)
        w.data[w.length + 5] = 48 + <char>(checksum % 10)
        w.data[w.length + 6] = SOH
        w.length += 7
        return PyBytes_FromStringAndSize(w.data + start, w.length - start)
    finally:
        free(w.data)


# ------------------------------------------------------------------------- parsing
cdef Py_ssize_t _find(const char* p, Py_ssize_t n, const char* needle, Py_ssize_t m) noexcept:
    cdef Py_ssize_t i
    for i in range(n - m + 1):
        if p[i] == needle[0] and memcmp(p + i, needle, m) == 0:
            return i
    return -1


cdef class FixParser:
    """Frames and parses FIX messages from a byte stream: feed() what the socket gave, then
    pop() until it returns None (more bytes needed). pop() raises FixError for a garbled
    frame, having skipped it."""

    cdef bytearray buffer
    cdef Py_ssize_t pos
    cdef bytes begin
    cdef public Py_ssize_t max_body

    def __init__(self, bytes begin_string=b"FIX.4.4", Py_ssize_t max_body=1 << 20):
        self.buffer = bytearray()
        self.pos = 0
        self.begin = b"8=" + begin_string + b"\x01"
        self.max_body = max_body

    def feed(self, data) -> None:
        if self.pos and self.pos * 2 >= PyByteArray_GET_SIZE(self.buffer):
            del self.buffer[:self.pos]  # drop what was consumed, at most once per buffer's worth
            self.pos = 0
        self.buffer += data

    @property
    def buffered(self) -> int:
        """Bytes received and not yet consumed (a partial message)."""
        return PyByteArray_GET_SIZE(self.buffer) - self.pos

    def pop(self):
        cdef const char* base = PyByteArray_AS_STRING(self.buffer)
        cdef Py_ssize_t end = PyByteArray_GET_SIZE(self.buffer)
        cdef Py_ssize_t start = self.pos, n = end - start, skip
        cdef const char* p = base + start
        cdef Py_ssize_t blen = PyBytes_GET_SIZE(self.begin)
        cdef Py_ssize_t i, body_start, body_length, body_end, digits
        cdef unsigned int checksum, given
        cdef const unsigned char* u
        if n <= 0:
            return None
        # BeginString first; anything else is garbage up to the next "8=FIX..."
        if n < blen:
            if memcmp(p, PyBytes_AS_STRING(self.begin), n) != 0:
                return self._resync(start, "garbage before BeginString")
            return None
        if memcmp(p, PyBytes_AS_STRING(self.begin), blen) != 0:
            return self._resync(start, "garbage before BeginString")
        # BodyLength
        i = blen
        if n < i + 2:
            return None
        if p[i] != 57 or p[i + 1] != 61:  # "9="
            return self._resync(start, "BodyLength (9) must follow BeginString (8)", 9)
        i += 2
        body_length = 0
        digits = 0
        while i < n and p[i] != SOH:
            if p[i] < 48 or p[i] > 57 or digits >= 9:
                return self._resync(start, "BodyLength is not a number", 9)
            body_length = body_length * 10 + (p[i] - 48)
            digits += 1
            i += 1
        if i >= n:
            return None
        if digits == 0:
            return self._resync(start, "BodyLength is empty", 9)
        if body_length > self.max_body:
            return self._resync(start, f"BodyLength {body_length} above the limit {self.max_body}", 9)
        body_start = i + 1
        body_end = body_start + body_length
        if n < body_end + 7:
            return None
        if memcmp(p + body_end, b"10=", 3) != 0 or p[body_end + 6] != SOH:
            return self._resync(start, f"BodyLength {body_length} does not end where CheckSum (10) begins", 9)
        given = 0
        for i in range(body_end + 3, body_end + 6):
            if p[i] < 48 or p[i] > 57:
                return self._skip(start, body_end + 7, "CheckSum is not three digits", 10)
            given = given * 10 + (p[i] - 48)
        checksum = 0
        u = <const unsigned char*>p
        for i in range(body_end):
            checksum += u[i]
        checksum &= 255
        if checksum != given:
            return self._skip(start, body_end + 7, f"CheckSum {given:03d} does not match the computed {checksum:03d}",
                              10)
        if body_length == 0 or p[body_end - 1] != SOH:
            return self._skip(start, body_end + 7, "the body must end with SOH")
        fields = _fields(p + body_start, body_length)
        if isinstance(fields, FixError):
            self.pos = start + body_end + 7
            raise fields
        if (<list>fields)[0][0] != 35:
            self.pos = start + body_end + 7
            raise FixError("MsgType (35) must be the first field after BodyLength", 35)
        raw = PyBytes_FromStringAndSize(p, body_end + 7)
        self.pos = start + body_end + 7
        return FixMessage(fields, raw)

    cdef object _skip(self, Py_ssize_t start, Py_ssize_t length, str reason, int tag=0):
        self.pos = start + length
        raise FixError(reason, tag)

    cdef object _resync(self, Py_ssize_t start, str reason, int tag=0):
        """Skip to the next BeginString after start (or keep the tail that could begin one)."""
        cdef const char* base = PyByteArray_AS_STRING(self.buffer)
        cdef Py_ssize_t end = PyByteArray_GET_SIZE(self.buffer)
        cdef Py_ssize_t found = _find(base + start + 1, end - start - 1, PyBytes_AS_STRING(self.begin),
                                      PyBytes_GET_SIZE(self.begin))
        if found >= 0:
            self.pos = start + 1 + found
        else:
            self.pos = max(start + 1, end - PyBytes_GET_SIZE(self.begin) + 1)
        raise FixError(reason, tag)


cdef object _fields(const char* p, Py_ssize_t n):
    """The body's fields, or a FixError."""
    cdef list out = []
    cdef Py_ssize_t i = 0, value_start
    cdef long tag
    cdef int digits
    cdef const char* soh
    while i < n:
        tag = 0
        digits = 0
        while i < n and p[i] != 61:
            if p[i] < 48 or p[i] > 57 or digits >= 9:
                return FixError(f"malformed tag at byte {i} of the body: "
                                f"{PyBytes_FromStringAndSize(p + i, min(12, n - i))!r}", 0)
            tag = tag * 10 + (p[i] - 48)
            digits += 1
            i += 1
        if i >= n:
            return FixError("field without '='", tag)
        if digits == 0 or tag == 0:
            return FixError(f"empty or zero tag at byte {i} of the body", 0)
        value_start = i + 1
        soh = <const char*>memchr(p + value_start, SOH, n - value_start)
        if soh == NULL:
            return FixError("field not terminated by SOH", tag)
        if soh == p + value_start:
            return FixError("tag has no value", tag)
        out.append((tag, PyBytes_FromStringAndSize(p + value_start, soh - (p + value_start))))
        i = soh - p + 1
    return out
