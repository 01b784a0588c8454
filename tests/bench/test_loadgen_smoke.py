"""The end-to-end load generator runs (a few seconds, loopback): the echo floor and the gateway,
open and closed loop, every scenario (order to fill, cancel, reject, tick to alert, a mixed
flow of several client processes), the report with its tables, plot and histograms. Nothing about time is
asserted; this keeps the tools from rotting between benchmark runs."""

import json

from hdrh.histogram import HdrHistogram

from bench.loadgen.__main__ import main


def test_the_smoke_run_writes_a_complete_report(tmp_path):
    assert main(["--smoke", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    runs = results["runs"]
    assert {(r["target"], r["mode"]) for r in runs} == {("echo-aiohttp", "open"), ("echo-aiohttp", "closed"),
                                                        ("gateway-interval", "open"), ("gateway-interval", "closed")}
    for run in runs:
        assert run["sent"] == run["received"] == run["count"] + run["warmup"] and run["errors"] == 0
        histogram = HdrHistogram.decode(run["histogram"])
        assert histogram.get_total_count() == run["count"]
        assert 0 < run["latency_us"]["p50"] <= run["latency_us"]["p99"] <= run["latency_us"]["max"]
    scenarios = {r["scenario"].split(":")[0]: r for r in results["scenarios"]}
    assert set(scenarios) == {"order_fill", "cancel_ack", "reject", "tick_alert", "mixed"}
    for name, run in scenarios.items():
        assert run["lost"] == 0 and run["errors"] == 0, (name, run.get("first_error"))
        assert HdrHistogram.decode(run["histogram"]).get_total_count() > 0
    assert scenarios["tick_alert"]["states"] == ["NORMAL", "WARNING"]  # every tick flipped the account's state
    report = (tmp_path / "report.md").read_text()
    assert "| gateway-interval |" in report and "p50 / aiohttp echo" in report and "## Goals" in report
    assert "| gateway-interval | tick_alert | closed |" in report
    assert (tmp_path / "percentiles.png").stat().st_size > 10_000
