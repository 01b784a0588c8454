"""bench.report: the summary table, and the condensed result file it leaves behind."""

import json
import os

from bench import report


def _run(rounds: list[float]) -> dict:
    def bench(group, param, data):
        ordered = sorted(data)
        return {"group": group, "name": "test_x", "param": param, "extra_info": {},
                "stats": {"median": ordered[len(ordered) // 2], "rounds": len(data), "data": list(data)}}

    return {"machine_info": {"python_version": "3.11.2", "cpu": {"brand_raw": "test CPU", "count": 2}},
            "datetime": "2026-12-04T09:00:00.000000",
            "benchmarks": [bench("g", "cython", rounds), bench("g", "python", [r * 50 for r in rounds])]}


def test_condensed_file_reports_the_same_and_keeps_no_rounds(tmp_path):
    rounds = [i * 1e-9 for i in range(1, 1001)]  # 1 ns .. 1000 ns
    run = _run(rounds)
    before = report.summarise(run, "x.json")
    assert report.condense(run)
    stats = run["benchmarks"][0]["stats"]
    assert "data" not in stats
    assert stats["p90"] == rounds[900] and stats["p99"] == rounds[990] and stats["p99_9"] == rounds[999]
    assert report.summarise(run, "x.json") == before
    assert not report.condense(run)  # nothing left to condense


def test_main_rewrites_the_file_without_rounds(tmp_path, capsys):
    path = tmp_path / "0001_abc_20261204_090000.json"
    path.write_text(json.dumps(_run([i * 1e-6 for i in range(1, 101)])))
    assert report.main([str(path)]) == 0
    first = capsys.readouterr().out
    assert "| g | cython | 51.00 µs | 91.00 µs | 100.00 µs | 100 | 50x |" in first
    kept = json.loads(path.read_text())
    assert all("data" not in b["stats"] for b in kept["benchmarks"])
    assert report.main([str(path)]) == 0
    assert capsys.readouterr().out == first


def test_newest_is_a_pytest_benchmark_result_not_the_load_generators(tmp_path, monkeypatch):
    machine = tmp_path / "Linux-CPython-3.11-64bit"
    loadgen = tmp_path / "loadgen" / "2026-12-04T090000Z"
    machine.mkdir(parents=True)
    loadgen.mkdir(parents=True)
    older = machine / "0001_abc_20261204_090000.json"
    older.write_text("{}")
    newer_other = loadgen / "results.json"
    newer_other.write_text("{}")
    os.utime(older, (1_000, 1_000))
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    assert report.newest() == older
