"""bench.instructions: the order path's instructions per order under callgrind, and the gate's
use of them. The arithmetic is checked on its own; one small real run checks the tool end to
end (it needs valgrind, which the machine image has)."""

import shutil

import pytest

from bench.check import INSTRUCTION_TOLERANCE, compare_instructions
from bench.instructions import by_object, instructions_of, per_object, per_order, per_order_live, summary_of

VALGRIND_TAIL = """==123== Events    : Ir
==123== Collected : 2217017240
==123==
==123== I   refs:      2,217,017,240
"""


def test_the_count_is_read_from_valgrinds_summary():
    assert instructions_of(VALGRIND_TAIL) == 2_217_017_240
    with pytest.raises(ValueError, match="no instruction count"):
        instructions_of("==1== something else went wrong")


def test_more_work_than_the_tolerance_allows_is_a_regression():
    baseline = {"instructions": {"batch_1": 100_000, "batch_10": 50_000}}
    over = round(100_000 * (1 + INSTRUCTION_TOLERANCE)) + 100
    rows, regressed = compare_instructions(baseline, {"batch_1": over, "batch_10": 50_500})
    assert regressed == ["order path instructions per order, batch 1"]
    verdicts = {r["name"]: r["verdict"] for r in rows}
    assert verdicts["order path instructions per order, batch 10"] == "ok"  # 1 %: within
    rows, regressed = compare_instructions(baseline, {"batch_1": 90_000, "batch_10": 50_000})
    assert regressed == [] and rows[0]["verdict"] == "fewer"


def test_a_count_missing_from_the_baseline_is_reported_not_failed():
    rows, regressed = compare_instructions({"benchmarks": {}}, {"batch_1": 1})
    assert regressed == [] and rows[0]["verdict"].startswith("new")


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_a_real_count_of_the_order_path():
    result = per_order(batch=1, orders=20, warmup=20)
    # an order is tens of thousands of instructions (about 235,000 here): a count of start-up
    # alone, or of nothing, would not be
    assert result["orders"] == 20 and 20_000 < result["instructions_per_order"] < 5_000_000


LISTING = """--------------------------------------------------------------------------------
Ir                     file:function
--------------------------------------------------------------------------------
402,831,406 (16.72%)  ???:_PyEval_EvalFrameDefault'2 [/usr/bin/python3.11]
 36,237,270 ( 1.50%)  ./malloc/./malloc/malloc.c:_int_free [/usr/lib/x86_64-linux-gnu/libc.so.6]
 34,062,908 ( 1.41%)  ./malloc/./malloc/malloc.c:_int_malloc [/usr/lib/x86_64-linux-gnu/libc.so.6]
 18,337,946 ( 0.76%)  ???:Struct_vectorcall [/x/site-packages/msgspec/_core.cpython-311-x86_64-linux-gnu.so]
2,408,588,839 (100.0%)  PROGRAM TOTALS
"""


def test_instructions_are_summed_per_shared_object():
    assert by_object(LISTING) == {"python3.11": 402_831_406, "libc.so.6": 36_237_270 + 34_062_908,
                                  "_core.cpython-311-x86_64-linux-gnu.so": 18_337_946}


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_a_real_count_by_object_has_the_interpreter_and_the_engine():
    result = per_object(batch=1, orders=20, warmup=20)
    objects = result["objects"]
    assert next(iter(objects)).startswith("python")  # the interpreter does the most of an order
    assert any(name.startswith("_engine.") for name in objects)  # the compiled margin check, every order
    assert 0.9 * result["instructions_per_order"] < sum(objects.values()) <= 1.05 * result["instructions_per_order"]


def test_the_live_count_is_read_from_the_profiles_summary_line():
    assert summary_of("version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 1807948575\n") == 1_807_948_575
    with pytest.raises(ValueError, match="no summary"):
        summary_of("version: 1\nevents: Ir\n")


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_a_real_count_of_the_gateway_process_under_load():
    result = per_order_live(orders=40, seconds=2.0, warmup=20)
    # the whole process per order (about 127,000 here): start-up or idle time alone would not be
    assert result["live"] and result["orders"] == 40 and 20_000 < result["instructions_per_order"] < 5_000_000
