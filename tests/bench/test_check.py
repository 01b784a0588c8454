"""The regression gate's arithmetic: normalisation by the calibration benchmark, tolerance from
the measured noise, and what counts as a regression."""

from bench.check import CALIBRATION, compare, make_baseline, tolerance

A, B = "bench/test_engine.py::test_a", "bench/test_engine.py::test_b"


def run(cal, a, b):
    return {CALIBRATION: cal, A: a, B: b}


BASELINE = make_baseline([run(1.0, 10.0, 5.0), run(1.0, 11.0, 5.0), run(2.0, 20.0, 10.0)])


def test_the_baseline_keeps_normalised_medians_and_their_noise():
    a = BASELINE["benchmarks"][A]
    assert a["normalised"] == 10.0 and abs(a["noise"] - 0.1) < 1e-9  # 11 / 10 - 1
    assert BASELINE["benchmarks"][B]["noise"] == 0.0
    assert tolerance(BASELINE["benchmarks"][B]) == 0.25  # the floor when runs agree
    assert abs(tolerance(BASELINE["benchmarks"][A]) - 0.25) < 1e-9  # 2 x 10 % is under the floor


def test_a_machine_twice_as_slow_everywhere_is_not_a_regression():
    rows, regressed = compare(BASELINE, run(2.0, 20.0, 10.0))
    assert regressed == [] and {r["verdict"] for r in rows} == {"ok"}


def test_one_benchmark_slower_beyond_its_tolerance_is():
    rows, regressed = compare(BASELINE, run(1.0, 13.0, 5.0))  # 1.30x against an allowed 1.25x
    assert regressed == [A]
    rows, regressed = compare(BASELINE, run(1.0, 12.0, 5.0))  # 1.20x: within
    assert regressed == []


def test_new_and_missing_benchmarks_are_reported_not_failed():
    rows, regressed = compare(BASELINE, {CALIBRATION: 1.0, A: 10.0, "bench/x.py::test_new": 1.0})
    verdicts = {r["name"]: r["verdict"] for r in rows}
    assert regressed == [] and verdicts[B] == "missing" and verdicts["bench/x.py::test_new"].startswith("new")


def test_the_yardstick_measured_beside_a_benchmark_is_the_one_used():
    from bench.check import normalise

    fresh = {CALIBRATION: 1.0, A: 20.0, A + "#yardstick": 2.0, B: 5.0}  # the machine slowed down during A
    assert normalise(fresh) == {A: 10.0, B: 5.0}
    rows, regressed = compare(BASELINE, fresh)
    assert regressed == []
