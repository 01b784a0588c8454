"""bench.order_floor: the compiled parts of an order, glued by as little Python as can call them."""

import os
import tempfile

import pytest
import uvloop

from bench.order_floor import main, measure
from core.commands import SCHEMA_VERSION
from gateway.journal.format import scan


def test_each_order_is_checked_journaled_twice_and_acknowledged_by_the_broker(tmp_path):
    result = uvloop.run(measure(orders=200, reps=2, directory=str(tmp_path)))
    assert len(result["cpu_us"]) == 2 and all(x > 0 for x in result["cpu_us"])
    # the warm-up and both repetitions: the order's record and the broker's acknowledgement's
    assert result["records"] == 2 * 200 * 3
    # written whole, framed and chained like the gateway's own journal
    assert scan(result["journal"], SCHEMA_VERSION).last_seq == result["records"]


def test_the_command_line_prints_the_figure(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where its scratch directory goes
    assert main(["--orders", "100", "--reps", "1", "--pin", "-1"]) == 0
    assert "µs CPU per order" in capsys.readouterr().out
    assert not list(tmp_path.glob("beacon-order-floor-*"))  # removed after the run


def test_beside_the_path_it_prints_both_and_their_ratio(capsys):
    before = os.sched_getaffinity(0)
    try:
        assert main(["--orders", "100", "--reps", "1", "--beside-path", "--pin", "0"]) == 0
        assert os.sched_getaffinity(0) == {0}
    finally:
        os.sched_setaffinity(0, before)
    out = capsys.readouterr().out
    assert "order floor" in out and "order path" in out
    ratio = float(out.split("µs CPU per order; ")[1].split("x")[0])
    assert ratio > 1  # the whole path costs more than its compiled parts alone


def test_a_cpu_that_does_not_exist_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--orders", "10", "--reps", "1", "--pin", "4096"])
    assert "cannot run on CPU 4096" in capsys.readouterr().err
