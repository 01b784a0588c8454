# Types for orders.py, which Cython compiles as typed code (an "augmenting" .pxd): the Python source
# stays the one text of the order state machine, and runs uncompiled where no build exists.
# orders.py sets annotation_typing=False: its annotations are for readers and checkers, the types are these.

cimport cython

from core.shardmap cimport ShardedDict, ShardedSet


cpdef long long remaining_of(long long qty, long long filled, state)


cdef class OrderRegistry:
    cdef public ShardedDict orders
    cdef public dict _open, _by_client_id
    cdef public list fills
    cdef public ShardedSet exec_ids

    @cython.locals(ids=ShardedDict)
    cpdef add(self, record)
    @cython.locals(ids=ShardedDict)
    cpdef find(self, long long account, str client_order_id)
    cpdef try_move(self, long long order, str event)
