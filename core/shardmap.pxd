# Types for shardmap.py, which Cython compiles as typed code (an "augmenting" .pxd): the Python source
# stays the one text of the sharded tables, and runs uncompiled where no build exists.
# shardmap.py sets annotation_typing=False: its annotations are for readers and checkers, the types are these.

cimport cython

cdef unsigned long long _LOW32, _MIX1, _MIX2

@cython.locals(h=Py_hash_t, x=cython.ulonglong)
cpdef Py_ssize_t shard_of(object key, Py_ssize_t mask) except -1


cdef class _Shards:
    cdef public list _shards
    cdef public Py_ssize_t _mask, _len


@cython.final
cdef class ShardedDict(_Shards):
    @cython.locals(shard=dict)
    cpdef get(self, key, default=*)
    @cython.locals(i=Py_ssize_t, n=Py_ssize_t, shard=dict)
    cpdef put(self, key, value)
    @cython.locals(shard=dict)
    cpdef bint has(self, key) except -1
    @cython.locals(shard=dict)
    cpdef pop(self, key, default=*)


@cython.final
cdef class ShardedSet(_Shards):
    @cython.locals(shard=dict)
    cpdef bint has(self, item) except -1
    @cython.locals(i=Py_ssize_t, n=Py_ssize_t, added=Py_ssize_t, shard=dict)
    cpdef bint add(self, item) except -1
    @cython.locals(shard=dict)
    cpdef discard(self, item)
