# Types for core.py, which Cython compiles as typed code (an "augmenting" .pxd): the Python
# source stays the one text of the broker's rules, and runs uncompiled where no build exists.
# core.py sets annotation_typing=False: its annotations are for readers and checkers, the types are these.

cimport cython

from core.shardmap cimport ShardedDict, ShardedSet
from simulators.broker.structs cimport HeldOrder as HeldOrderSlots, NewOrder as NewOrderSlots


cdef class _Quote:
    cdef public long long bid, bid_size, ask, ask_size, last, volume, lock, prev_close
    cdef public long long taken_bid, taken_ask, through_left, max_qty
    cdef public bint halted
    cdef public object band, spec
    cdef public str board, exchange


cdef class BrokerCore:
    cdef public object universe, config, rng, books
    cdef public dict quotes, _open, _open_sells
    cdef public ShardedDict orders
    cdef public ShardedSet seen
    cdef public long long day, _order_no, _exec_no
    cdef public str _date

    @cython.locals(quote=_Quote, order=HeldOrderSlots)
    cpdef list submit(self, NewOrderSlots new, long long now)
    @cython.locals(quote=_Quote)
    cdef str _check(self, NewOrderSlots new)
    @cython.locals(n=NewOrderSlots)
    cdef _report(self, HeldOrderSlots order, str exec_type, long long now, long long last_qty=*, long long last_px=*,
                 tuple fees=*, str reason=*)
    @cython.locals(new=NewOrderSlots)
    cdef list _match(self, HeldOrderSlots order, _Quote quote, long long now, bint arriving)
