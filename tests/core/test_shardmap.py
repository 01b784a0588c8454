"""The sharded tables: a dict's and a set's behaviour, and the spread that keeps their resizes small."""

import importlib.util
import random
import statistics
from collections.abc import MutableMapping, MutableSet
from pathlib import Path

import pytest

import core.shardmap as compiled
from core.shardmap import ShardedDict, ShardedSet, shard_of


def _plain_python():
    """core/shardmap.py run as plain Python, beside the compiled module the package imports."""
    spec = importlib.util.spec_from_file_location("shardmap_plain", Path(compiled.__file__).with_name("shardmap.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_compiled_mixer_and_plain_python_pick_the_same_shard():
    plain = _plain_python()
    keys = [0, 1, -1, -2, 2**31, 2**32 + 7, 2**63 - 1, -(2**63), 10**30, "A-1", "", (3, "clid-9"), (0, 17)]
    keys += list(range(-50, 5_000, 7))
    for key in keys:
        for mask in (0, 1, 63, 255):
            assert shard_of(key, mask) == plain.shard_of(key, mask), (key, mask)


def test_sequential_order_ids_scatter_as_if_at_random():
    # Round-robin shards would fill in step and cross their resize thresholds on the same few orders;
    # a random-like scatter spreads them. Binomial counts: mean n/256, deviation about sqrt(n/256).
    n, shards = 256_000, 256
    counts = [0] * shards
    for order_id in range(1, n + 1):
        counts[shard_of(order_id, shards - 1)] += 1
    spread = statistics.pstdev(counts)
    expected = (n / shards * (1 - 1 / shards)) ** 0.5
    assert 0.6 * expected < spread < 1.6 * expected


def test_a_resize_moves_one_shard_not_the_table():
    table = ShardedDict()
    for order_id in range(1, 400_001):
        table.put(order_id, order_id)
    largest = max(len(shard) for shard in table._shards)
    assert len(table) == 400_000 and largest < 400_000 / 200  # 256 shards: about 1,560 each


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_sharded_dict_behaves_as_a_dict(seed):
    rng = random.Random(seed)
    model, table = {}, ShardedDict(shards=8)
    for _ in range(4_000):
        key = rng.choice([rng.randrange(300), f"c{rng.randrange(300)}", (rng.randrange(3), f"k{rng.randrange(50)}")])
        op = rng.randrange(7)
        if op == 0:
            model[key] = table[key] = rng.random()
        elif op == 1:
            table.put(key, key)
            model[key] = key
        elif op == 2:
            assert table.get(key) == model.get(key) and table.get(key, "none") == model.get(key, "none")
        elif op == 3:
            assert table.pop(key, None) == model.pop(key, None)
        elif op == 4:
            assert (key in table) == (key in model) == table.has(key)
        elif op == 5 and key in model:
            del model[key]
            del table[key]
        elif op == 6:
            assert (table[key] if key in model else "missing") == model.get(key, "missing")
        assert len(table) == len(model)
    assert sorted(map(repr, table.keys())) == sorted(map(repr, model.keys()))
    assert sorted(map(repr, table.items())) == sorted(map(repr, model.items()))
    assert sorted(table.values(), key=repr) == sorted(model.values(), key=repr)
    assert table == model and ShardedDict(model) == table and bool(table) == bool(model)
    table.clear()
    assert len(table) == 0 and not table and table == {} and list(table) == []


@pytest.mark.parametrize("seed", [4, 5])
def test_a_sharded_set_behaves_as_a_set(seed):
    rng = random.Random(seed)
    model, table = set(), ShardedSet(shards=4)
    for _ in range(4_000):
        item = rng.choice([rng.randrange(200), f"E{rng.randrange(200)}"])
        op = rng.randrange(4)
        if op == 0:
            new = item not in model
            model.add(item)
            assert table.add(item) is new  # whether it was new
        elif op == 1:
            model.discard(item)
            table.discard(item)
        elif op == 2:
            assert (item in table) == (item in model) == table.has(item)
        elif op == 3 and item in model:
            model.remove(item)
            table.remove(item)
        assert len(table) == len(model)
    assert table == model and model == table and set(table) == model and ShardedSet(model) == table
    table.clear()
    assert len(table) == 0 and table == set()


def test_missing_keys_and_bad_shard_counts_are_named():
    table, items = ShardedDict(), ShardedSet()
    with pytest.raises(KeyError, match="17"):
        table[17]
    with pytest.raises(KeyError, match="17"):
        table.pop(17)
    with pytest.raises(KeyError, match="E1"):
        items.remove("E1")
    with pytest.raises(KeyError):
        del table["x"]
    for shards in (0, 3, 100, -4):
        with pytest.raises(ValueError, match=f"power of two, not {shards}"):
            ShardedDict(shards=shards)
        with pytest.raises(ValueError, match=f"power of two, not {shards}"):
            ShardedSet(shards=shards)


def test_they_pass_for_what_they_behave_as():
    assert isinstance(ShardedDict(), MutableMapping) and isinstance(ShardedSet(), MutableSet)
    assert ShardedDict({1: 2}) != {1: 3} and ShardedDict({1: 2}) != {1: 2, 3: 4}
    assert ShardedSet([1]) != {2} and ShardedSet([1]) != [1]
    assert repr(ShardedDict({1: 2})) == "ShardedDict({1: 2})" and repr(ShardedSet([5])) == "ShardedSet({5})"


@pytest.mark.parametrize("module", ["compiled", "plain"])
def test_a_set_of_ids_gives_the_cyclic_collector_nothing_to_walk(module):
    """A set of order ids or exec ids grows all day; the collector must walk every entry of a
    Python set, but leaves alone a dict that holds only ints and strings: the shards are those."""
    import gc

    table = (ShardedSet if module == "compiled" else _plain_python().ShardedSet)(range(5_000))
    for k in range(100):
        table.add(f"exec-{k}")
    table.discard(7)
    shards = [shard for shard in table._shards if shard is not None]
    assert shards and not any(gc.is_tracked(shard) for shard in shards)
    assert len(table) == 5_099 and 7 not in table and 8 in table and "exec-3" in table
    assert table.add("exec-3") is False and table.add("exec-100") is True and len(table) == 5_100
