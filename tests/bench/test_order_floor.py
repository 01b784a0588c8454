"""bench.order_floor: the compiled parts of an order, glued by as little Python as can call them."""

import uvloop

from bench.order_floor import main, measure
from core.commands import SCHEMA_VERSION
from gateway.journal.format import scan


def test_each_order_is_checked_journaled_twice_and_acknowledged_by_the_broker():
    result = uvloop.run(measure(orders=200, reps=2))
    assert len(result["cpu_us"]) == 2 and all(x > 0 for x in result["cpu_us"])
    # the warm-up and both repetitions: the order's record and the broker's acknowledgement's
    assert result["records"] == 2 * 200 * 3
    # written whole, framed and chained like the gateway's own journal
    assert scan(result["journal"], SCHEMA_VERSION).last_seq == result["records"]


def test_the_command_line_prints_the_figure(capsys):
    assert main(["--orders", "100", "--reps", "1"]) == 0
    assert "µs CPU per order" in capsys.readouterr().out
