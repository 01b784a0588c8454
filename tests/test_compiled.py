"""Modules compiled from their Python source, typed by a .pxd beside it (an augmenting .pxd), are
the compiled build of their current source.

An extension module is imported before a .py of the same name, so a build older than its
source would run yesterday's code without a word; `make` rebuilds when either file changes,
and this says so when something was edited without it.
"""

import gc
import importlib
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
AUGMENTED = sorted(p.with_suffix("") for p in [*ROOT.glob("core/*.pxd"), *ROOT.glob("gateway/*.pxd"), *ROOT.glob("gateway/*/*.pxd"),
                                                    *ROOT.glob("simulators/*/*.pxd")]
                   if p.with_suffix(".py").exists())


def test_the_order_path_modules_are_among_them():
    names = {str(p.relative_to(ROOT)) for p in AUGMENTED}
    assert {"simulators/broker/core", "gateway/journal/file", "gateway/journal/journaled",
            "gateway/journal/committer", "gateway/ws", "gateway/outbox", "gateway/service", "gateway/orderport",
            "core/machine", "core/orders"} <= names


@pytest.mark.parametrize("stem", AUGMENTED, ids=lambda p: str(p.relative_to(ROOT)))
def test_compiled_from_the_current_source(stem):
    module = importlib.import_module(".".join(stem.relative_to(ROOT).parts))
    assert module.__file__.endswith(".so"), f"{stem}.py is not compiled: run `make build`"
    built = os.path.getmtime(module.__file__)
    for source in (stem.with_suffix(".py"), stem.with_suffix(".pxd")):
        assert os.path.getmtime(source) <= built, f"{source.name} changed after the build: run `make build`"


def test_the_brokers_orders_stay_out_of_the_cyclic_collector():
    from simulators.broker.holding import HeldOrder
    from simulators.broker.interface import NewOrder

    new = NewOrder(cl_ord_id="1", account="0", instrument="600036", side=1, price=4300, qty=100)
    order = HeldOrder(new, "XSHG-20260105-00000001", 1)
    assert not gc.is_tracked(order)
    assert order.leaves == 100
