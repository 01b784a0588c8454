"""The compiled engine is the one in use, and its constants match the Python definitions."""

import subprocess
import sys

from core import Engine, EngineConfig, MarginState, OrderStatus, Side
from core import _engine
from core.engine import backend_class
from core.instruments import Board
from core.session import SESSIONS
from core.types import Lock
from core.units import MAX_MONEY, MAX_PRICE, MAX_QUANTITY


def test_the_cython_engine_is_the_default():
    assert backend_class() is _engine.MarginEngine
    assert Engine().implementation == "cython"
    assert _engine.__file__.endswith((".so", ".pyd"))


def test_the_switch_forces_pure_python():
    code = "from core import Engine; print(Engine().implementation)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"BEACON_NO_EXTENSIONS": "1", "PATH": ""})
    assert out.stdout.strip() == "python"


def test_compiled_constants_match_python():
    c = _engine.CONSTANTS
    assert (c["BUY"], c["SELL"]) == (Side.BUY, Side.SELL)
    assert (c["OPEN"], c["FILLED"], c["CANCELED"]) == (OrderStatus.OPEN, OrderStatus.FILLED, OrderStatus.CANCELED)
    assert [c[s.name] for s in MarginState] == list(MarginState)
    assert (c["LOCK_DOWN"], c["LOCK_UP"], c["STAR"]) == (Lock.LIMIT_DOWN, Lock.LIMIT_UP, Board.STAR)
    assert (c["MAX_MONEY"], c["MAX_PRICE"], c["MAX_QUANTITY"]) == (MAX_MONEY, MAX_PRICE, MAX_QUANTITY)
    assert c["SESSION_SECONDS"] == SESSIONS


def test_reject_codes_in_the_compiled_engine_match_the_enum():
    """Every number the .pyx uses for a reject code is the enum's number for that name."""
    import re
    from pathlib import Path

    from core import RejectCode

    source = Path(_engine.__file__).with_name("_engine.pyx").read_text()
    found = dict(re.findall(r"^    ([A-Z_]+) = (\d{3})$", source, re.M))
    assert found, "no codes found in _engine.pyx"
    for name, number in found.items():
        assert RejectCode[name] == int(number), name
