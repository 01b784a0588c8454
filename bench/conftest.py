def pytest_report_header(config):
    import os
    import platform

    cpu = "unknown cpu"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"bench machine: {cpu}, {os.cpu_count()} cpus, Python {platform.python_version()}"


import time as _time

import pytest as _pytest


def _yardstick() -> float:
    """The median time of a fixed piece of interpreter work, measured now (seconds)."""
    from bench.test_calibration import _work

    samples = []
    for _ in range(60):
        t0 = _time.perf_counter()
        _work()
        samples.append(_time.perf_counter() - t0)
    samples.sort()
    return samples[len(samples) // 2]


@_pytest.fixture(autouse=True)
def _calibrate(request):
    """Beside every benchmark, the yardstick measured just before and just after it, kept in the
    result (extra_info["yardstick_s"]): this VM's speed drifts within a run, so `bench.check`
    divides each benchmark by the yardstick measured next to it, not by one from elsewhere."""
    if "benchmark" not in request.fixturenames:
        yield
        return
    benchmark = request.getfixturevalue("benchmark")  # ours now depends on it: torn down after ours
    before = _yardstick()
    yield
    after = _yardstick()
    benchmark.extra_info["yardstick_s"] = (before + after) / 2
