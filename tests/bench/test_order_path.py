"""The in-process order path tool runs end to end: every order is acknowledged and its broker
acknowledgement pushed (two messages per order), batched writes, one figure per repetition.
Nothing about time is asserted."""

import uvloop

from bench.order_path import main, measure


def test_every_order_is_answered_twice_and_each_repetition_gives_a_figure():
    result = uvloop.run(measure("none", batch=10, orders=300, reps=2))
    assert len(result["cpu_us_per_order"]) == 2 and all(x > 0 for x in result["cpu_us_per_order"])
    assert result["min"] <= result["median"]
    assert result["messages_per_order"] == 2.0  # order_accepted, then order_update (new) from the broker
    assert 1.0 <= result["writes_per_batch"] <= 2.0  # a batch's answers leave together, per release


def test_the_order_path_leaves_the_cyclic_collector_nothing_to_collect_for():
    """Every 700 objects the collector tracks that are made and kept start a collection, which
    stops the loop; an order keeps nothing tracked (the day's tables hold ints, strings and
    untracked structs), so the collector does not run however many orders come."""
    result = uvloop.run(measure("none", batch=10, orders=3_000, reps=2, warmup=1_000))
    # (a hundred or so objects of the run's own, whatever its length; an order kept one before)
    assert result["young_objects_per_order"] < 0.1


def test_the_command_line_prints_the_figure(capsys):
    assert main(["--policy", "interval", "--batch", "5", "--orders", "100", "--reps", "1"]) == 0
    out = capsys.readouterr().out
    assert "order path, fsync interval, 5 orders per turn: min" in out and "µs CPU per order" in out
