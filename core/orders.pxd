# Types for orders.py, which Cython compiles as typed code (an "augmenting" .pxd): the Python source
# stays the one text of the order state machine, and runs uncompiled where no build exists.
# orders.py sets annotation_typing=False: its annotations are for readers and checkers, the types are these.

cdef class OrderRegistry:
    cdef public dict orders, by_client_id, _open
    cdef public list fills
    cdef public set exec_ids

    cpdef add(self, record)
    cpdef find(self, long long account, str client_order_id)
    cpdef try_move(self, long long order, str event)
