"""`beacon stress`: scenarios against a population, through the gateway's own path.

The cascade (three days of limit-down locks for two thirds of the market, then trading
again) is the test of the whole lifecycle under stress: liquidation cannot sell what is
locked, resumes on the first open day, the default waterfall covers shortfalls in order
(pool, backstop, receivable), and money is conserved to the fen across clients, pool,
backstop and receivables. Small populations and a coarse step keep it to seconds.
"""

import subprocess
import sys

import pytest

from gateway.stress.runner import StressSettings, default_raise_at, run_stress
from tests.gateway.harness import ROOT


@pytest.fixture(scope="module")
def cascade():
    return run_stress(StressSettings(scenario="cascade", accounts=200, step_seconds=120, progress=False,
                                     insurance_pool=20_000_000, backstop_line=60_000_000))


def test_the_cascade_conserves_money_to_the_fen(cascade):
    money = cascade["checks"]["money"]
    assert money["ok"], money
    assert money["accounts_lhs"] == money["accounts_rhs"]
    assert cascade["summary"]["money_conserved"]
    assert cascade["checks"]["reconciliation_breaks"] == 0  # the custodian agrees at every close


def test_nothing_is_sold_into_a_lock_and_selling_resumes_on_the_first_open_day(cascade):
    checks = cascade["checks"]
    assert checks["locked_liquidation_fills"] == 0
    locked_through_day3 = set(checks["locked_at_close"]["1"]) & set(checks["locked_at_close"]["3"])
    assert len(locked_through_day3) > 100  # the scenario's two thirds, locked at the close of days 1-3
    day4_in_locked = sum(1 for day, code in checks["liquidation_fills"] if day == 4 and code in locked_through_day3)
    assert day4_in_locked > 0  # the locks break on day 4 and the liquidator sells at once
    by_day = checks["liquidation_fills_by_day"]
    assert by_day["4"] > max(by_day.get("1", 0), by_day.get("2", 0))


def test_the_waterfall_covers_shortfalls_in_order(cascade):
    s = cascade["summary"]
    assert s["defaults"] > 0 and s["shortfall_fen"] > 0
    assert s["shortfall_fen"] == s["covered_by_pool_fen"] + s["covered_by_backstop_fen"] + s["receivable_fen"]
    assert cascade["checks"]["waterfall_out_of_order"] == 0
    # a pool of 200,000.00 and a backstop of 600,000.00 are not enough for this book: each is
    # used up before the next source pays
    assert s["covered_by_backstop_fen"] > 0 and s["insurance_pool_end_fen"] == 0
    if s["receivable_fen"]:
        assert s["covered_by_backstop_fen"] == 60_000_000
    assert s["accounts_ever"]["LIQUIDATING"] >= s["defaults"]
    states = cascade["timeline"][-1]["states"]
    assert sum(states.values()) == 200 and states["DEFAULTED"] == s["defaults"]


def test_the_same_seed_gives_the_same_run():
    settings = StressSettings(scenario="contagion", accounts=60, step_seconds=300, progress=False)
    first, second = run_stress(settings), run_stress(settings)
    for result in (first, second):
        result["summary"].pop("wall_seconds")
    assert first["summary"] == second["summary"] and first["timeline"] == second["timeline"]


def test_the_command_writes_the_report_with_and_without_the_early_line_raise(tmp_path):
    out = tmp_path / "report"
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "stress", "contagion", "--accounts", "60", "--step",
                           "300", "--out", str(out), "--quiet"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"| baseline | lines +1000 bp at day {default_raise_at('contagion')} |" in done.stdout
    report = (out / "report.md").read_text()
    assert "money conserved" in report and "baseline" in report
    for image in ("states.png", "liquidation.png", "waterfall.png"):
        assert (out / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert default_raise_at("contagion") == "1 10:10"  # ten minutes after Ping An locks at 10:00
    bad = subprocess.run([sys.executable, "-m", "gateway.cli", "stress", "no-such-scenario", "--quiet"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "no-such-scenario" in bad.stderr
