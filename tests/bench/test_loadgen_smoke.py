"""The end-to-end load generator runs (a few seconds, loopback): the echo floor and the gateway,
open and closed loop, the report with its table, plot and histograms. Nothing about time is
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
    report = (tmp_path / "report.md").read_text()
    assert "| gateway-interval |" in report and "p50 / aiohttp echo" in report and "## Goals" in report
    assert (tmp_path / "percentiles.png").stat().st_size > 10_000
