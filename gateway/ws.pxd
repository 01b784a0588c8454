# Types for ws.py, which Cython compiles as typed code (an "augmenting" .pxd): the Python source
# stays the one text of the session, and runs uncompiled where no build exists.
# ws.py sets annotation_typing=False: its annotations are for readers and checkers, the types are these.

cimport cython

from core.shardmap cimport ShardedSet
from gateway.outbox cimport Outbox
from gateway.structs cimport NewOrder as NewOrderSlots, Request as RequestSlots


cdef class Session:
    cdef dict __dict__  # what is set on a session outside the hot path (its tasks, its start time)
    cdef public object gateway, settings, ws, peer, encode, decode, _trace, client, nonce, transport
    cdef public list queue
    cdef public object _wake, _messages_in, _busy_poll, _errors, abort
    cdef public dict market, subscriptions
    cdef public ShardedSet placed
    cdef public Outbox outbox
    cdef public str close_reason
    cdef public bint binary, closed, _dirty, _blocked, _final, _left, cancel_on_disconnect
    cdef public int _close_code, _first_byte, login_failures
    cdef public long long seq
    cdef public double _sending_since, _burst, _rate, _tokens, _token_time, last_in, last_out

    cpdef send(self, message)
    cpdef _queued(self)
    @cython.locals(queue=list, market=dict)
    cpdef flush(self)
    cpdef bint _take_token(self, double now)
    cpdef bint entitled(self, long long account)
    @cython.locals(request=RequestSlots)
    cpdef handle(self, data)
    cpdef on_new_order(self, NewOrderSlots request, double received)
