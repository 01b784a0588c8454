"""The end-to-end load generator runs (a few seconds, loopback): the echo floor and the gateway,
open and closed loop, every scenario (order to fill, cancel, reject, tick to alert, a mixed
flow of several client processes), the report with its tables, plot and histograms. Nothing about time is
asserted; this keeps the tools from rotting between benchmark runs."""

import json

from hdrh.histogram import HdrHistogram

from bench.loadgen import __main__ as loadgen
from bench.loadgen.__main__ import main


def test_the_smoke_run_writes_a_complete_report(tmp_path):
    assert main(["--smoke", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    runs = results["runs"]
    assert {(r["target"], r["mode"]) for r in runs} == {
        (target, mode) for target in ("echo-aiohttp", "gateway-interval", "gateway-interval-aiohttp")
        for mode in ("open", "closed")}
    for run in runs:
        assert run["sent"] == run["received"] == run["count"] + run["warmup"] and run["errors"] == 0
        histogram = HdrHistogram.decode(run["histogram"])
        assert histogram.get_total_count() == run["count"]
        assert 0 < run["latency_us"]["p50"] <= run["latency_us"]["p99"] <= run["latency_us"]["max"]
        assert run["server_cpu_us_per_answer"] > 0 and run["server_cpu_busy"] > 0  # the server's own load
    scenarios = {r["scenario"].split(":")[0]: r for r in results["scenarios"]}
    assert set(scenarios) == {"order_fill", "cancel_ack", "reject", "tick_alert", "mixed"}
    for name, run in scenarios.items():
        assert run["lost"] == 0 and run["errors"] == 0, (name, run.get("first_error"))
        assert HdrHistogram.decode(run["histogram"]).get_total_count() > 0
    assert scenarios["tick_alert"]["states"] == ["NORMAL", "WARNING"]  # every tick flipped the account's state
    report = (tmp_path / "report.md").read_text()
    assert "| gateway-interval |" in report and "p50 / aiohttp echo" in report and "## Goals" in report
    assert "server CPU µs per answer (busy)" in report
    assert "| gateway-interval | tick_alert | closed |" in report
    assert (tmp_path / "percentiles.png").stat().st_size > 10_000


def test_the_rate_search_climbs_past_a_slow_low_rate_tail_and_bisects_below_saturation(monkeypatch):
    """On this VM the tail at low rates can be worse than at moderate ones: the search must not stop
    at the first failure. A stand-in target fails p99 below 2,000/s, passes up to 12,000/s, then
    saturates (answers only 13,000/s)."""
    class Stand:
        url = "ws://stand-in"

        def stop(self):
            pass

    def fake_client(url, cpu, mode, rate, count, warmup, gateway, tag, max_seconds):
        p99 = 1_500 if rate < 2_000 else 400 if rate <= 12_000 else 900 if rate <= 13_000 else 50_000
        return {"latency_us": {"p99": p99}, "throughput_per_s": min(rate, 13_000), "lost": 0, "errors": 0}

    monkeypatch.setattr(loadgen, "start", lambda target, cpu: Stand())
    monkeypatch.setattr(loadgen, "client", fake_client)
    result = loadgen.search_max_rate("gateway-interval", "spread", 64_000, 1.0, 10)
    rates = [t["rate"] for t in result["trials"]]
    assert rates[0] == 1_000 and not result["trials"][0]["passed"]
    assert 14_000 in rates and 16_000 not in rates  # stopped climbing once it could not keep up
    assert result["max_rate"] == 13_000 and result["first_failing"] == 13_200  # 14,000 → 13,000 ok → 13,500 → 13,200
