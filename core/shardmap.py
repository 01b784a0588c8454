# cython: annotation_typing=False
"""Tables that grow all day without stopping the loop to grow.

A Python dict grows by building a table twice its size and moving every entry into it at once
(a set: two or four times), on the insertion that crosses two thirds (a set: three fifths) of
the table. Measured on this VM (docs/benchmarks.md, "The loop stopped to grow its tables"), one
insertion into an int-keyed dict took 1.5 ms at 43,690 entries, 47 ms at 1.4 million and 91 ms
at 2.8 million. The order path keeps several tables that gain an entry with every order of the
day (the registry's orders and client order ids, the engine's client order ids, a session's
placed orders, the simulated broker's orders), so they crossed their thresholds together: at
30,000 orders/s the loop stopped for 5-9 ms at 21,845 and 43,690 orders, and a busy day would
stop it for a tenth of a second and more.

A sharded table spreads its entries over many small dicts or sets (shards), chosen by a mix of
the key's hash. A resize then moves one shard's entries, not the whole table's. And because the
mix spreads keys as if at random, even sequential order ids, the shards fill unevenly, reach
their thresholds at different moments, and their resizes spread out over many orders instead
of landing together.

The cost is one more step per operation (the shard) and no insertion order: iteration goes shard
by shard, so a caller that needs an order sorts (the registry's orders by id). Shards are made
on first use, so an empty table costs its list of slots only.
"""

from __future__ import annotations

from collections.abc import MutableMapping, MutableSet

DAY_SHARDS = 256  # for the tables of the whole day: at 4 million entries, 16,000 a shard
ACCOUNT_SHARDS = 64  # for one account's or one session's tables, made by the thousand

_MISSING = object()
# the mixer's constants (typed as C integers in the .pxd, so the compiled arithmetic stays in C)
_LOW32 = 0xFFFFFFFF
_MIX1 = 0x7FEB352D
_MIX2 = 0x846CA68B


def shard_of(key, mask):
    """The shard for a key: its hash, folded to 32 bits and mixed (the "lowbias32" mixer of
    C. Wellons), so that consecutive integers scatter like random ones. The arithmetic stays
    inside 64 unsigned bits, so the compiled module and plain Python agree."""
    h = hash(key)
    x = (h ^ (h >> 32)) & _LOW32
    x ^= x >> 16
    x = (x * _MIX1) & _LOW32
    x ^= x >> 15
    x = (x * _MIX2) & _LOW32
    x ^= x >> 16
    return x & mask


class _Shards:
    """What both tables share: the slots of their shards (None until first used), the mask that
    picks one, and how many entries they hold together."""

    def __init__(self, shards):
        if shards < 1 or shards & (shards - 1):
            raise ValueError(f"shards must be a power of two, not {shards}")
        self._shards = [None] * shards
        self._mask = shards - 1
        self._len = 0

    def clear(self):
        self._shards = [None] * (self._mask + 1)
        self._len = 0

    def __len__(self):
        return self._len

    def __bool__(self):
        return self._len > 0


class ShardedDict(_Shards):
    """A dict in shards (see the module). The hot path calls get, put, pop and has; the dict
    protocol (d[k], k in d, len, iteration, keys/values/items) is here for everyone else."""

    def __init__(self, items=(), shards=DAY_SHARDS):
        _Shards.__init__(self, shards)
        pairs = items.items() if isinstance(items, (dict, ShardedDict)) else items
        for key, value in pairs:
            self.put(key, value)

    def get(self, key, default=None):
        shard = self._shards[shard_of(key, self._mask)]
        if shard is None:
            return default
        return shard.get(key, default)

    def put(self, key, value):
        i = shard_of(key, self._mask)
        shard = self._shards[i]
        if shard is None:
            shard = self._shards[i] = {}
        n = len(shard)
        shard[key] = value
        self._len += len(shard) - n

    def has(self, key):
        shard = self._shards[shard_of(key, self._mask)]
        return shard is not None and key in shard

    def pop(self, key, default=_MISSING):
        shard = self._shards[shard_of(key, self._mask)]
        value = _MISSING if shard is None else shard.pop(key, _MISSING)
        if value is not _MISSING:
            self._len -= 1
            return value
        if default is _MISSING:
            raise KeyError(key)
        return default

    def __getitem__(self, key):
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key, value):
        self.put(key, value)

    def __delitem__(self, key):
        self.pop(key)

    def __contains__(self, key):
        return self.has(key)

    def __iter__(self):
        return iter(self.keys())

    def keys(self):
        return [key for shard in self._shards if shard for key in shard]

    def values(self):
        return [value for shard in self._shards if shard for value in shard.values()]

    def items(self):
        return [item for shard in self._shards if shard for item in shard.items()]

    def __eq__(self, other):
        if not isinstance(other, (dict, ShardedDict)):
            return NotImplemented
        return len(other) == self._len and all(other.get(key, _MISSING) == value for key, value in self.items())

    def __repr__(self):
        return f"ShardedDict({dict(self.items())!r})"


class ShardedSet(_Shards):
    """A set in shards (see the module). The hot path calls has and add.

    Its shards are dicts whose values are all None, not sets: the cyclic collector walks every
    entry of a set, which it must track, but leaves alone a dict that holds only untracked
    objects (ints, strings), and these tables hold order ids and exec ids by the day. Made young
    after the server's gc.freeze() and grown to thousands of entries before their first
    collection of generation 1 moved them on, sets made that collection take 2-3 ms
    (docs/benchmarks.md, "the host's 100 ms beat")."""

    def __init__(self, items=(), shards=DAY_SHARDS):
        _Shards.__init__(self, shards)
        for item in items:
            self.add(item)

    def has(self, item):
        shard = self._shards[shard_of(item, self._mask)]
        return shard is not None and item in shard

    def add(self, item):
        """Add an item; whether it was new (one lookup where asking first and then adding takes two)."""
        i = shard_of(item, self._mask)
        shard = self._shards[i]
        if shard is None:
            shard = self._shards[i] = {}
        n = len(shard)
        shard[item] = None
        added = len(shard) - n
        self._len += added
        return added == 1

    def discard(self, item):
        shard = self._shards[shard_of(item, self._mask)]
        if shard is not None and shard.pop(item, _MISSING) is not _MISSING:
            self._len -= 1

    def remove(self, item):
        if not self.has(item):
            raise KeyError(item)
        self.discard(item)

    def __contains__(self, item):
        return self.has(item)

    def __iter__(self):
        return iter([item for shard in self._shards if shard for item in shard])

    def __eq__(self, other):
        if not isinstance(other, (set, frozenset, ShardedSet)):
            return NotImplemented
        return len(other) == self._len and all(item in other for item in self)

    def __repr__(self):
        return f"ShardedSet({set(self)!r})"


# Readers and isinstance checks see them as what they behave as.
MutableMapping.register(ShardedDict)
MutableSet.register(ShardedSet)
