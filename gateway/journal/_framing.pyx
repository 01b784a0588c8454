# distutils: language = c
# distutils: libraries = crypto z
"""Record framing in C: SHA-256 (OpenSSL) for the chain, CRC-32 (zlib) for damage.

The pure-Python twin is gateway/journal/format.py; both produce identical bytes
(tests/gateway/journal check each against the other). See format.py for the layout.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.errno cimport EINTR, errno
from libc.string cimport memcmp, memcpy
from posix.unistd cimport write

import os

from gateway.journal.errors import CorruptJournal, SnapshotMismatch


cdef extern from "openssl/evp.h" nogil:
    ctypedef struct EVP_MD:
        pass
    ctypedef struct EVP_MD_CTX:
        pass
    EVP_MD* EVP_MD_fetch(void* libctx, const char* algorithm, const char* properties)
    EVP_MD_CTX* EVP_MD_CTX_new()
    int EVP_DigestInit_ex2(EVP_MD_CTX* ctx, const EVP_MD* md, void* params)
    int EVP_DigestUpdate(EVP_MD_CTX* ctx, const void* data, size_t count)
    int EVP_DigestFinal_ex(EVP_MD_CTX* ctx, unsigned char* out, unsigned int* size)

cdef extern from "zlib.h" nogil:
    unsigned long crc32(unsigned long crc, const unsigned char* buf, unsigned int length)

cdef enum:
    OVERHEAD = 32  # u32 length, u32 crc, u64 seq, 16-byte chain
    HEADER = 16  # file header

cdef EVP_MD* SHA256 = EVP_MD_fetch(NULL, b"SHA256", NULL)
cdef EVP_MD_CTX* CTX = EVP_MD_CTX_new()
if SHA256 == NULL or CTX == NULL:
    raise ImportError("OpenSSL SHA-256 is not available")

implementation = "c"


cdef inline void store_u32(uint8_t* p, uint32_t v) noexcept nogil:
    p[0] = v & 0xff; p[1] = (v >> 8) & 0xff; p[2] = (v >> 16) & 0xff; p[3] = (v >> 24) & 0xff


cdef inline void store_u64(uint8_t* p, uint64_t v) noexcept nogil:
    cdef int k
    for k in range(8):
        p[k] = (v >> (8 * k)) & 0xff


cdef inline uint32_t load_u32(const uint8_t* p) noexcept nogil:
    return p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


cdef inline uint64_t load_u64(const uint8_t* p) noexcept nogil:
    cdef uint64_t v = 0
    cdef int k
    for k in range(8):
        v |= (<uint64_t>p[k]) << (8 * k)
    return v


cdef inline int chain_next(const uint8_t* prev, uint64_t seq, const uint8_t* payload, size_t n,
                           uint8_t* out) noexcept nogil:
    """out = first 16 bytes of SHA-256(prev chain | seq (u64 LE) | payload)."""
    cdef uint8_t seq_le[8]
    cdef uint8_t digest[32]
    cdef unsigned int size = 0
    store_u64(seq_le, seq)
    if (EVP_DigestInit_ex2(CTX, SHA256, NULL) != 1 or EVP_DigestUpdate(CTX, prev, 16) != 1
            or EVP_DigestUpdate(CTX, seq_le, 8) != 1 or EVP_DigestUpdate(CTX, payload, n) != 1
            or EVP_DigestFinal_ex(CTX, digest, &size) != 1):
        return -1
    memcpy(out, digest, 16)
    return 0


def next_chain(bytes chain, uint64_t seq, payload):
    """The chain value of record seq with this payload after `chain`."""
    cdef const uint8_t[::1] data = payload
    cdef uint8_t out[16]
    if chain_next(<const uint8_t*>PyBytes_AS_STRING(chain), seq, &data[0] if data.shape[0] else NULL,
                  data.shape[0], out) != 0:
        raise RuntimeError("SHA-256 failed")
    return PyBytes_FromStringAndSize(<char*>out, 16)


def frame(uint64_t seq, bytes chain, bytes payload):
    """One record's bytes, given its seq, its chain value and its payload."""
    cdef Py_ssize_t n = len(payload)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, OVERHEAD + n)
    cdef uint8_t* p = <uint8_t*>PyBytes_AS_STRING(out)
    store_u32(p, <uint32_t>n)
    store_u64(p + 8, seq)
    memcpy(p + 16, PyBytes_AS_STRING(chain), 16)
    memcpy(p + OVERHEAD, PyBytes_AS_STRING(payload), n)
    store_u32(p + 4, <uint32_t>crc32(crc32(0, p + 8, 24), p + OVERHEAD, <unsigned int>n))
    return out


def append_record(bytearray buf, uint64_t seq, bytes chain, bytes payload):
    """Frame a record after `chain` into buf; its new chain value (append path of the writer)."""
    cdef Py_ssize_t n = len(payload)
    cdef Py_ssize_t at = len(buf)
    cdef uint8_t out_chain[16]
    if chain_next(<const uint8_t*>PyBytes_AS_STRING(chain), seq, <const uint8_t*>PyBytes_AS_STRING(payload),
                  n, out_chain) != 0:
        raise RuntimeError("SHA-256 failed")
    PyByteArray_Resize(buf, at + OVERHEAD + n)
    cdef uint8_t* p = <uint8_t*>PyByteArray_AS_STRING(buf) + at
    store_u32(p, <uint32_t>n)
    store_u64(p + 8, seq)
    memcpy(p + 16, out_chain, 16)
    memcpy(p + OVERHEAD, PyBytes_AS_STRING(payload), n)
    store_u32(p + 4, <uint32_t>crc32(crc32(0, p + 8, 24), p + OVERHEAD, <unsigned int>n))
    return PyBytes_FromStringAndSize(<char*>out_chain, 16)

def append_entry(bytearray buf, uint64_t seq, bytes chain, encode_into, command, outcome):
    """Frame a journal entry (core.commands.encode_entry's payload: u32 length of the command, the
    command, the outcome) after `chain` into buf, encoding both straight into buf with a msgspec
    encoder's `encode_into`; the new chain value. The same bytes as append_record(buf, seq, chain,
    encode_entry(command, outcome)), without the three bytes objects and two copies in between."""
    cdef Py_ssize_t at = PyByteArray_GET_SIZE(buf)
    cdef Py_ssize_t body = at + OVERHEAD + 4
    PyByteArray_Resize(buf, body)
    encode_into(command, buf, body)  # msgspec: written at body, buf cut to the message's end
    cdef Py_ssize_t command_size = PyByteArray_GET_SIZE(buf) - body
    encode_into(outcome, buf, -1)  # -1: appended
    cdef Py_ssize_t n = PyByteArray_GET_SIZE(buf) - at - OVERHEAD
    cdef uint8_t* p = <uint8_t*>PyByteArray_AS_STRING(buf) + at  # (after the encoders: they may move buf)
    cdef uint8_t out_chain[16]
    store_u32(p + OVERHEAD, <uint32_t>command_size)
    if chain_next(<const uint8_t*>PyBytes_AS_STRING(chain), seq, p + OVERHEAD, n, out_chain) != 0:
        PyByteArray_Resize(buf, at)
        raise RuntimeError("SHA-256 failed")
    store_u32(p, <uint32_t>n)
    store_u64(p + 8, seq)
    memcpy(p + 16, out_chain, 16)
    store_u32(p + 4, <uint32_t>crc32(crc32(0, p + 8, 24), p + OVERHEAD, <unsigned int>n))
    return PyBytes_FromStringAndSize(<char*>out_chain, 16)


def write_all(int fd, data):
    """Write all of data (bytes or bytearray) to fd at its offset, retrying short writes and EINTR;
    OSError as os.write raises it. The journal's batch writes: one system call where os.write
    in a loop costs a memoryview, a slice and a module lookup besides."""
    # (the buffer itself, not a typed memoryview: building one cost about 1,000 instructions a write)
    cdef Py_buffer view
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    cdef const uint8_t* p = <const uint8_t*>view.buf
    cdef Py_ssize_t left = view.len
    cdef Py_ssize_t n = 0
    cdef int error = 0
    try:
        with nogil:  # a write can wait (dirty-page throttling): the fsync thread may need the GIL meanwhile
            while left > 0:
                n = write(fd, p, left)
                if n < 0:
                    if errno == EINTR:
                        continue
                    error = errno
                    break
                p += n
                left -= n
    finally:
        PyBuffer_Release(&view)
    if error:
        raise OSError(error, os.strerror(error))


cdef bint all_zero(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    """Whether n bytes are all zero (the space allocated ahead of the records: format.py)."""
    cdef Py_ssize_t i
    for i in range(n):
        if p[i]:
            return False
    return True


cdef int verify_next(const uint8_t* base, Py_ssize_t pos, Py_ssize_t size, uint64_t seq, uint8_t* chain,
                     uint64_t max_payload) except -1:
    """Check the record at pos as the one after seq, and advance chain past it.

    Returns 1 for a whole, valid record; 0 when the journal ends here (nothing more, zeros, or a
    torn tail: a record cut short, or damaged with nothing but zeros after it). Raises
    CorruptJournal otherwise."""
    cdef uint32_t length, crc
    cdef uint64_t rseq, expected = seq + 1
    cdef Py_ssize_t start, end
    cdef uint8_t computed[16]
    if pos + OVERHEAD > size:
        return 0
    length = load_u32(base + pos)
    crc = load_u32(base + pos + 4)
    rseq = load_u64(base + pos + 8)
    start = pos + OVERHEAD
    end = start + length
    if end > size:
        if length > max_payload and size - pos > OVERHEAD + <Py_ssize_t>max_payload:
            raise CorruptJournal(expected, pos, f"record length {length} is not plausible")
        return 0
    if <uint32_t>crc32(crc32(0, base + pos + 8, 24), base + start, length) != crc:
        if end == size or all_zero(base + end, size - end):
            return 0  # the last record, torn while being written, or the zeros after the records
        raise CorruptJournal(expected, pos, "checksum mismatch: the record is damaged")
    if rseq != expected:
        what = "missing record(s) before it" if rseq > expected else "out of order or duplicated"
        raise CorruptJournal(expected, pos, f"found seq {rseq} where {expected} was expected ({what})")
    if chain_next(chain, rseq, base + start, length, computed) != 0:
        raise RuntimeError("SHA-256 failed")
    if memcmp(computed, base + pos + 16, 16) != 0:
        raise CorruptJournal(rseq, pos, "hash chain broken: this record or one before it was edited")
    memcpy(chain, computed, 16)
    return 1


def scan_view(view, Py_ssize_t size, on_record, uint64_t stop_after, uint64_t max_payload, chain_at):
    """Verify the records in view[HEADER:size]; call on_record(seq, payload_view) for each.

    Returns (last_seq, chain, end_offset, chains, last_offset) where chains maps the seqs in
    chain_at to their chain values and last_offset is where the last whole record starts (0: none).
    Raises CorruptJournal naming the seq of a damaged or misplaced record that is not the torn tail."""
    cdef const uint8_t[::1] buf = view
    cdef const uint8_t* base = &buf[0]
    cdef Py_ssize_t pos = HEADER, start, last = 0
    cdef uint64_t seq = 0
    cdef uint8_t chain[16]
    chains = {}
    memcpy(chain, b"\0" * 16, 16)
    while verify_next(base, pos, size, seq, chain, max_payload):
        seq += 1
        start = pos + OVERHEAD
        last = pos
        pos = start + load_u32(base + pos)
        if chain_at and seq in chain_at:
            chains[seq] = PyBytes_FromStringAndSize(<char*>chain, 16)
        if on_record is not None:
            on_record(seq, view[start:pos])
        if stop_after and seq >= stop_after:
            break
    return seq, PyBytes_FromStringAndSize(<char*>chain, 16), pos, chains, last


cdef Py_ssize_t after_anchor(const uint8_t* base, Py_ssize_t size, Py_ssize_t anchor, uint64_t seq,
                             bytes expect_chain) except -1:
    """The offset after the record at `anchor`, checked to be whole (its CRC) and to be record seq
    with the chain value expect_chain; SnapshotMismatch if it is not."""
    cdef uint32_t length
    cdef Py_ssize_t end
    if anchor < HEADER or anchor + OVERHEAD > size:
        raise SnapshotMismatch(f"the snapshot's record offset {anchor} is outside the journal")
    length = load_u32(base + anchor)
    end = anchor + OVERHEAD + length
    if (end > size or <uint32_t>crc32(crc32(0, base + anchor + 8, 24), base + anchor + OVERHEAD, length)
            != load_u32(base + anchor + 4) or load_u64(base + anchor + 8) != seq
            or memcmp(base + anchor + 16, PyBytes_AS_STRING(expect_chain), 16) != 0):
        raise SnapshotMismatch(f"the journal's record at offset {anchor} is not the snapshot's seq {seq}")
    return end


def replay_view(view, Py_ssize_t size, uint64_t skip_until, decode, execute, encode, on_mismatch, on_entry,
                uint64_t max_payload, chain_at, empty=None, bytes empty_bytes=None, bytes expect_chain=None,
                dict handlers=None, Py_ssize_t anchor=0):
    """Verify every record like scan_view and, for each after seq skip_until, decode its command,
    execute it and compare the encoded outcome with the recorded bytes. `empty` is the outcome
    most commands share and `empty_bytes` its encoding, reused instead of encoding it again.
    expect_chain, if given, must be the chain at seq skip_until (a snapshot's): SnapshotMismatch
    is raised there otherwise, before any later record is applied. `handlers`, if given, maps a
    command's type to the function execute(command) would call (Machine.handlers), saving a call.

    on_mismatch(seq, command, outcome, recorded_view) is called when the bytes differ (it decides
    whether that is a divergence); on_entry(seq, command, outcome, recorded_view), if given, sees
    every replayed record. Returns (last_seq, chain, end_offset, chains, replayed, last_offset), the
    last being where the last whole record starts (0: none).

    `anchor`, if not 0 (with expect_chain), is the offset of record skip_until: reading starts
    after it, from the snapshot's chain, and the records before it are not read at all
    (SnapshotMismatch if that record is not there, whole, with that chain)."""
    cdef const uint8_t[::1] buf = view
    cdef const uint8_t* base = &buf[0]
    cdef Py_ssize_t pos = HEADER, start, end, last = 0
    cdef uint64_t seq = 0, replayed = 0
    cdef uint32_t length, command_len
    cdef uint8_t chain[16]
    cdef bytes encoded
    chains = {}
    memcpy(chain, b"\0" * 16, 16)
    if anchor and expect_chain is not None:
        pos = after_anchor(base, size, anchor, skip_until, expect_chain)
        last = anchor  # (checked whole: the last record so far)
        seq = skip_until
        memcpy(chain, PyBytes_AS_STRING(expect_chain), 16)
    while verify_next(base, pos, size, seq, chain, max_payload):
        seq += 1
        length = load_u32(base + pos)
        start = pos + OVERHEAD
        end = start + length
        if chain_at and seq in chain_at:
            chains[seq] = PyBytes_FromStringAndSize(<char*>chain, 16)
        if seq == skip_until and expect_chain is not None and memcmp(chain, PyBytes_AS_STRING(expect_chain), 16) != 0:
            raise SnapshotMismatch(f"the snapshot's chain differs from the journal's at seq {seq}")
        if seq > skip_until:
            if length < 4:
                raise CorruptJournal(seq, pos, "payload too short for an entry")
            command_len = load_u32(base + start)
            if 4 + <Py_ssize_t>command_len > <Py_ssize_t>length:
                raise CorruptJournal(seq, pos, "entry command length runs past the record")
            command = decode(view[start + 4:start + 4 + command_len])
            outcome = (<object>handlers[type(command)])(command) if handlers is not None else execute(command)
            encoded = empty_bytes if outcome is empty and empty_bytes is not None else encode(outcome)
            if (len(encoded) != <Py_ssize_t>(length - 4 - command_len)
                    or memcmp(PyBytes_AS_STRING(encoded), base + start + 4 + command_len, len(encoded)) != 0):
                on_mismatch(seq, command, outcome, view[start + 4 + command_len:end])
            if on_entry is not None:
                on_entry(seq, command, outcome, view[start + 4 + command_len:end])
            replayed += 1
        last = pos
        pos = end
    if expect_chain is not None and seq < skip_until:
        raise SnapshotMismatch(f"the snapshot is at seq {skip_until}, past the journal's end at seq {seq}")
    return seq, PyBytes_FromStringAndSize(<char*>chain, 16), pos, chains, replayed, last


def zeros_from(view, Py_ssize_t start, Py_ssize_t size):
    """Whether view[start:size] is all zero bytes (format.zeros_from, in C)."""
    cdef const uint8_t[::1] buf = view
    if start >= size:
        return True
    return all_zero(&buf[0] + start, size - start)
