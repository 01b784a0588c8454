"""The simulated broker's core is compiled (core.py typed by core.pxd), and from its current source.

An extension module is imported before a .py of the same name, so a build older than the
source would run yesterday's rules without a word; `make` rebuilds when either file changes.
"""

import os

from simulators.broker import core


def test_the_core_is_the_compiled_build_of_its_current_source():
    assert core.__file__.endswith(".so"), "simulators/broker/core.py is not compiled: run `make build`"
    source = os.path.dirname(core.__file__)
    built = os.path.getmtime(core.__file__)
    for name in ("core.py", "core.pxd"):
        assert os.path.getmtime(os.path.join(source, name)) <= built, f"{name} changed after the build: run `make build`"


def test_compiled_orders_are_kept_out_of_the_cyclic_collector():
    import gc

    from simulators.broker.interface import NewOrder

    order = core._Order(NewOrder(cl_ord_id="1", account="0", instrument="600036", side=1, price=4300, qty=100), "B-1", 1)
    assert not gc.is_tracked(order)
    assert order.leaves == 100
