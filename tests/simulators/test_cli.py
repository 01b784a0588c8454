import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def run(*args):
    return subprocess.run([sys.executable, "-m", "simulators", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_print_a_scenario_stream_and_summary():
    done = run("contagion", "--instrument", "601318", "--limit", "5", "--every", "400")
    assert done.returncode == 0, done.stderr
    assert "trading day 2026-03-09 opens" in done.stdout and "601318" in done.stdout
    assert "scenario contagion: 345 instruments, 2 day(s)" in done.stdout


def test_list_and_errors(tmp_path):
    assert "cascade" in run("--list").stdout
    done = run("atlantis")
    assert done.returncode == 2 and "no scenario 'atlantis'" in done.stderr


def test_replay_daily_bars(tmp_path):
    bars = tmp_path / "bars.csv"
    bars.write_text("date,code,open,high,low,close,volume\n"
                    "2015-06-26,601318,76.80,77.50,69.12,69.12,212345600\n"
                    "2015-06-29,601318,68.00,70.10,62.21,64.50,312345600\n")
    done = run("--bars", str(bars), "--limit", "20")
    assert done.returncode == 0, done.stderr
    assert "2015-06-26 14:59:57  601318  last     69.12" in done.stdout
