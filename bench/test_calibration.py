"""The yardstick for `make bench-check`: plain interpreter work (a loop of integer arithmetic
and a dict) measured in the same run as everything else. The gate compares each benchmark's
median divided by this one's, so a machine that runs slower or faster as a whole (this VM
did, by up to 2x between runs) does not read as a regression or an improvement."""

import pytest


def _work(n: int = 2_000) -> int:
    seen = {}
    total = 0
    for i in range(n):
        total += i * i % 7
        seen[i & 63] = total
    return total + len(seen)


@pytest.mark.benchmark(group="calibration")
def test_interpreter_loop(benchmark):
    assert benchmark(_work) > 0
