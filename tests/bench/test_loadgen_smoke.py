"""The end-to-end load generator runs (a few seconds, loopback): the echo floor and the gateway,
open and closed loop, every scenario (order to fill, cancel, reject, tick to alert, a mixed
flow of several client processes), the report with its tables, plot and histograms. Nothing about time is
asserted; this keeps the tools from rotting between benchmark runs."""

import json
import os
import subprocess
import sys
import tempfile
import time

import pytest
from hdrh.histogram import HdrHistogram

from bench.loadgen import __main__ as loadgen
from bench.loadgen.__main__ import main


def test_the_smoke_run_writes_a_complete_report(tmp_path, monkeypatch):
    cpus = os.sched_getaffinity(0)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where its servers' and clients' files go
    assert main(["--smoke", "--out", str(tmp_path)]) == 0
    assert not list(scratch.iterdir())  # every gateway's directory and every client's result removed
    assert os.sched_getaffinity(0) == cpus  # the harness gave back the CPUs it kept off meanwhile
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
        assert run["server_cpu_us_per_answer"] >= 0 and run["server_cpu_busy"] >= 0  # the server's own load
        assert run["server_preempted_per_1k_answers"] >= 0  # read from every thread's /proc status
        assert run["server_loop_waited_for_cpu_ms"] >= 0  # from the loop thread's schedstat
        assert run["server_cpu_stolen_ms"] >= 0  # the server is pinned: the steal of its one CPU
        # the stalls the run met, counted from every measured order's own latency
        assert run["stalls"]["slowest_1pct"] == max(1, run["count"] // 100)
        assert run["stalls"]["orders_held"] >= run["stalls"]["stalls"] >= run["stalls"]["on_one_beat"]
        assert run["stalls"]["held_over_us"] >= 500
    # (a smoke run's closed loop can fit between two 10 ms ticks of the CPU clock; the whole run cannot)
    assert sum(run["server_cpu_us_per_answer"] for run in runs) > 0
    alternated = results["alternated"]  # one round in a smoke run: the floor and the gateway, alternated
    assert [(r["round"], r["target"]) for r in alternated] == [(0, "echo-aiohttp"), (0, "gateway-interval")]
    assert all(r["received"] == r["count"] + r["warmup"] for r in alternated)
    report = (tmp_path / "report.md").read_text()
    assert "## Alternated rounds" in report and "the median of 1 alternated rounds" in report
    assert "| stalls: count, orders held (over 500 µs and 4x the median), of the slowest 1 % in their wakes |" in report
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
    assert rates[-1] == 13_000 and result["confirmed"]  # the rate found, run again before it is reported


def stand_in(monkeypatch, p99_of):
    class Stand:
        url = "ws://stand-in"

        def stop(self):
            pass

    def fake_client(url, cpu, mode, rate, count, warmup, gateway, tag, max_seconds):
        return {"latency_us": {"p99": p99_of(rate)}, "throughput_per_s": rate, "lost": 0, "errors": 0}

    monkeypatch.setattr(loadgen, "start", lambda target, cpu: Stand())
    monkeypatch.setattr(loadgen, "client", fake_client)


def test_the_climb_ends_three_failing_rungs_above_a_pass(monkeypatch):
    """Keeping up is not enough to climb on: above a pass, three failures in a row end the ladder."""
    stand_in(monkeypatch, lambda rate: 400 if rate <= 6_000 else 3_000)
    result = loadgen.search_max_rate("gateway-interval", "spread", 64_000, 1.0, 10)
    rates = [t["rate"] for t in result["trials"]]
    assert rates[:7] == [1_000, 2_000, 4_000, 6_000, 8_000, 10_000, 12_000]  # then the bisection
    assert 14_000 not in rates
    assert result["max_rate"] == 6_000 and result["first_failing"] == 6_200  # 7,000, 6,500, 6,200 failed


def test_a_rate_that_fails_its_re_run_is_not_reported(monkeypatch):
    """An edge rate passes once by chance and fails when run again: the search steps down to the
    highest other rate that passed, and reports it once that one passes again."""
    runs = []

    def p99_of(rate):
        runs.append(rate)
        if rate == 8_000:  # passes the first time only
            return 400 if runs.count(8_000) == 1 else 1_500
        return 400 if rate <= 6_000 else 2_000

    stand_in(monkeypatch, p99_of)
    result = loadgen.search_max_rate("gateway-interval", "spread", 64_000, 1.0, 10)
    assert runs.count(8_000) == 2 and result["max_rate"] < 8_000 and result["first_failing"] == 8_000
    assert result["confirmed"] and runs[-1] == result["max_rate"]


def test_no_pass_in_five_rungs_ends_the_search(monkeypatch):
    stand_in(monkeypatch, lambda rate: 5_000)
    result = loadgen.search_max_rate("gateway-every-batch", "spread", 64_000, 1.0, 10)
    assert [t["rate"] for t in result["trials"]] == [1_000, 2_000, 4_000, 6_000, 8_000]
    assert result["max_rate"] == 0 and not result["confirmed"]


def test_the_first_failing_rate_is_the_lowest_failure_above_the_rate_reported(monkeypatch):
    """A rung that passes once above a failing one (48,000/s fails, 64,000/s passes by chance, then
    fails its re-run): the rate reported is the next lower pass, and the first failing rate is
    48,000/s, not 64,000/s."""
    runs = []

    def p99_of(rate):
        runs.append(rate)
        if rate == 64_000:
            return 800 if runs.count(64_000) == 1 else 5_000
        return 400 if rate <= 32_000 else 4_000

    stand_in(monkeypatch, p99_of)
    result = loadgen.search_max_rate("echo-picows", "spread", 64_000, 1.0, 10)
    assert result["max_rate"] == 32_000 and result["confirmed"] and result["first_failing"] == 48_000


def test_the_hosts_steal_is_read_for_the_one_cpu_asked(monkeypatch):
    sysconf = os.sysconf
    monkeypatch.setattr(os, "sysconf", lambda name: 100 if name == "SC_CLK_TCK" else sysconf(name))
    stat = ("cpu  110354 2 10470 148432 569 0 2142 1991 0 0\n"
            "cpu0 47377 2 3267 83176 373 0 973 1038 0 0\n"
            "cpu1 62976 0 7203 65256 196 0 1168 952 0 0\n"
            "cpu10 1 0 1 1 0 0 0 7 0 0\n")
    assert loadgen.cpu_stolen_s(0, stat) == 10.38  # the eighth number: 1,038 ticks of 10 ms
    assert loadgen.cpu_stolen_s(1, stat) == 9.52
    assert loadgen.cpu_stolen_s(10, stat) == 0.07  # cpu1 is not a prefix of cpu10
    assert loadgen.cpu_stolen_s(2, stat) is None  # no such CPU
    assert loadgen.cpu_stolen_s(0, "cpu0 1 2 3 4\n") is None  # a kernel without the column
    assert loadgen.cpu_stolen_s(0) is not None  # this machine's own /proc/stat


def test_only_a_process_pinned_to_one_cpu_has_its_cpu():
    proc = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while loadgen.only_cpu(proc.pid) != 0 and time.monotonic() < deadline:
            time.sleep(0.01)  # taskset sets the affinity, then execs
        assert loadgen.only_cpu(proc.pid) == 0
    finally:
        proc.kill()
        proc.wait()
    if len(os.sched_getaffinity(0)) > 1:
        assert loadgen.only_cpu(os.getpid()) is None


def test_preemptions_count_every_thread_of_the_server():
    """A thread that is made to give up its CPU shows up in the server's count; the count is the
    sum over the process's threads (the loop and the journal's fsync thread alike)."""
    import os
    import threading

    from bench.loadgen.__main__ import process_preemptions

    before = process_preemptions(os.getpid())
    assert before >= 0
    own = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(own)})  # both threads on one CPU: each busy loop preempts the other
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            sum(range(1000))

    threads = [threading.Thread(target=spin) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        stop.wait(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join()
        os.sched_setaffinity(0, own)
    assert process_preemptions(os.getpid()) > before


def test_a_ratio_to_a_disturbed_floor_is_not_judged():
    """When the aiohttp echo's p99 is far above the picows echo's in the same run, the echo met a
    stall of its own: the p99 goal is not called met against it."""
    from bench.loadgen.__main__ import goals

    def run(target, p50, p99):
        return {"placement": "spread", "mode": "open", "target": target, "latency_us": {"p50": p50, "p99": p99}}

    quiet = [run("echo-aiohttp", 60, 140), run("echo-picows", 50, 100), run("gateway-interval", 80, 450)]
    line = goals(quiet, 10_000, [])[0]
    assert "p99 3.21x (goal <= 2x: not met)" in line
    stalled = [run("echo-aiohttp", 60, 733), run("echo-picows", 50, 103), run("gateway-interval", 80, 451)]
    line = goals(stalled, 10_000, [])[0]
    assert "p99 0.62x (not judged" in line and "met)" not in line.split("p99")[1]
    assert "against the picows echo it is 4.38x" in line


def test_the_rate_goal_is_not_judged_when_the_floors_fell_short_too():
    """A gateway search under the goal counts as not met only when a bare echo reached the goal in the
    same run; when neither echo did, the host held the machine back and the figure says nothing."""
    from bench.loadgen.__main__ import goals

    def search(target, rate, placement="spread"):
        return {"target": target, "placement": placement, "max_rate": rate}

    disturbed = [search("echo-aiohttp", 14_200), search("echo-picows", 0), search("gateway-interval", 0)]
    assert goals([], 10_000, disturbed)[-1] == (
        "- spread, gateway-interval: the highest rate with p99 under 1 ms was 0/s (not judged: the echoes' own "
        "searches reached only 14,200/s in this run, so the host held the machine back)")
    quiet = [search("echo-aiohttp", 48_000), search("echo-picows", 14_000), search("gateway-interval", 27_000)]
    assert goals([], 10_000, quiet)[-1].endswith("27,000/s (goal >= 30,000/s: not met)")
    reached = [search("echo-aiohttp", 14_000), search("gateway-interval", 32_000)]  # a pass counts, whatever the floor
    assert goals([], 10_000, reached)[-1].endswith("32,000/s (goal >= 30,000/s: met)")
    elsewhere = [search("echo-aiohttp", 14_000, "pinned"), search("gateway-interval", 27_000)]  # another placement's
    assert goals([], 10_000, elsewhere)[-1].endswith("27,000/s (goal >= 30,000/s: not met)")


def test_the_median_of_the_rounds_leaves_out_a_disturbed_floor():
    from bench.loadgen.__main__ import goals

    def run(k, target, p50, p99):
        return {"round": k, "placement": "spread", "mode": "open", "target": target,
                "latency_us": {"p50": p50, "p99": p99}}

    alternated = [run(0, "echo-aiohttp", 60, 140), run(0, "echo-picows", 50, 100), run(0, "gateway-interval", 80, 420),
                  run(1, "echo-aiohttp", 60, 900), run(1, "echo-picows", 50, 100), run(1, "gateway-interval", 70, 450),
                  run(2, "echo-aiohttp", 70, 150), run(2, "echo-picows", 50, 110), run(2, "gateway-interval", 90, 300)]
    line = next(g for g in goals([], 10_000, [], alternated) if "alternated" in g)
    # p50 ratios 1.33, 1.17, 1.29 -> median 1.29; p99 from rounds 0 and 2 only: 3.00 and 2.00 -> 2.50
    assert "the median of 3 alternated rounds: p50 1.29x the echo's (goal <= 1.5x: met)" in line
    assert "p99 2.50x (goal <= 2x: not met)" in line and "1 round(s) left out of the p99" in line


def test_a_round_the_host_stalled_gives_no_p99_ratio():
    from bench.loadgen.__main__ import STOLEN_MS_LIMIT, goals

    def run(k, target, p50, p99, stolen=0):
        return {"round": k, "placement": "spread", "mode": "open", "target": target,
                "latency_us": {"p50": p50, "p99": p99}, "server_cpu_stolen_ms": stolen}

    alternated = [run(0, "echo-aiohttp", 60, 140), run(0, "echo-picows", 50, 100),
                  run(0, "gateway-interval", 80, 420, stolen=STOLEN_MS_LIMIT - 10),  # a tick or two: kept
                  run(1, "echo-aiohttp", 60, 140), run(1, "echo-picows", 50, 100),
                  run(1, "gateway-interval", 70, 40_000, stolen=STOLEN_MS_LIMIT),  # the host's stall
                  run(2, "echo-aiohttp", 70, 150, stolen=100), run(2, "echo-picows", 50, 110),  # the echo's
                  run(2, "gateway-interval", 90, 150),
                  run(3, "echo-aiohttp", 60, 150), run(3, "echo-picows", 50, 110), run(3, "gateway-interval", 60, 150)]
    line = next(g for g in goals([], 10_000, [], alternated) if "alternated" in g)
    # p50 from every round (1.33, 1.17, 1.29, 1.00: median 1.23); p99 from rounds 0 and 3 (3.00, 1.00: 2.00)
    assert "the median of 4 alternated rounds: p50 1.23x the echo's (goal <= 1.5x: met)" in line
    assert "p99 2.00x (goal <= 2x: met)" in line
    assert "2 round(s) left out of the p99, the host having taken 30 ms or more of the server's CPU" in line
    assert "echo disturbed" not in line


def test_the_harness_keeps_off_the_servers_cpu_and_gives_its_cpus_back():
    cpus = os.sched_getaffinity(0)
    with loadgen.off_server_cpu():
        inside = os.sched_getaffinity(0)
    assert os.sched_getaffinity(0) == cpus
    server_cpus = {int(cpu) for cpu, _ in loadgen.PLACEMENTS.values()}
    if cpus - server_cpus:  # a machine with a CPU to spare
        assert inside == cpus - server_cpus
    else:
        assert inside == cpus


def test_waiting_for_a_client_returns_its_status_and_kills_one_that_outlasts_the_timeout():
    assert loadgen.wait_quietly(subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"]), 30) == 3
    slow = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    began = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        loadgen.wait_quietly(slow, 0.3)
    assert slow.poll() is not None and time.monotonic() - began < 30  # killed and reaped, not waited out


def test_the_working_echo_spends_its_work_before_the_answer_and_after_it():
    """`--work-us BEFORE,AFTER`: the picows echo as a model of a server that spends CPU on each
    request. BEFORE delays each answer; AFTER delays the next frame's, in a closed loop too."""
    def p50(work_us):
        echo = loadgen.Echo("picows", "", work_us=work_us)
        try:
            result = loadgen.client(echo.url, "", "closed", 1000, 30, 3, False, "w")
        finally:
            echo.stop()
        assert result["received"] == 33 and result["errors"] == 0
        return result["latency_us"]["p50"]

    assert p50((0, 0)) < 2_000
    assert 3_000 <= p50((3_000, 0)) < 30_000  # every answer waited for the work before it
    assert 2_000 <= p50((0, 3_000))  # a closed loop's next request waits for the work after the answer


def test_the_echo_pushes_a_frame_after_each_answer_that_the_load_client_skips():
    import aiohttp
    import asyncio

    echo = loadgen.Echo("picows", "", push_bytes=220)
    try:
        async def one_exchange():
            async with aiohttp.ClientSession() as http, http.ws_connect(echo.url) as ws:
                await ws.send_str('{"type":"new_order","req_id":"7"}')
                return [await ws.receive_str(timeout=5), await ws.receive_str(timeout=5)]

        answer, push = asyncio.run(one_exchange())
        assert answer == '{"type":"new_order","req_id":"7"}'  # the echo first
        assert len(push) == 220 and json.loads(push)["type"] == "order_update" and "req_id" not in push
        result = loadgen.client(echo.url, "", "closed", 1000, 30, 3, False, "p")
        assert result["received"] == 33 and result["errors"] == 0  # the pushes answer nothing
    finally:
        echo.stop()


@pytest.mark.parametrize("argv, named", [(["picows", "--push-bytes", "-1"], "--push-bytes"),
                                         (["aiohttp", "--push-bytes", "200"], "is for the picows echo"),
                                         (["picows", "--work-us", "5"], "--work-us"),
                                         (["picows", "--work-us", "5,-1"], "--work-us"),
                                         (["picows", "--work-us", "a,b"], "--work-us"),
                                         (["aiohttp", "--work-us", "5,5"], "is for the picows echo")])
def test_the_echo_refuses_work_it_cannot_do(argv, named):
    done = subprocess.run([sys.executable, "-m", "bench.loadgen.echo", *argv], capture_output=True, text=True,
                          timeout=30, cwd=loadgen.ROOT)
    assert done.returncode == 2 and named in done.stderr


def test_the_working_echo_target_works_as_set_and_sits_in_the_alternated_rounds(tmp_path):
    """echo-working: the picows echo with the gateway's shape (or the one --working-echo gives), run
    beside the floors and the gateway in the same rounds."""
    assert "echo-working" in loadgen.ALTERNATED
    assert main(["--targets", "echo-aiohttp", "echo-working", "--placements", "spread", "--modes", "open",
                 "--rate", "200", "--no-search", "--no-scenarios", "--rounds", "0", "--count", "40", "--warmup", "4",
                 "--working-echo", "3000,0,64", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["meta"]["working_echo"] == [3000.0, 0.0, 64]
    working = next(r for r in results["runs"] if r["target"] == "echo-working")
    assert working["received"] == 44 and working["latency_us"]["p50"] >= 3_000  # it spun before each answer
    assert "`echo-working` is not a floor but a model" in (tmp_path / "report.md").read_text()
    assert loadgen.WORKING_ECHO == (3000.0, 0.0, 64)
    loadgen.WORKING_ECHO = loadgen.WORKING_ECHO_DEFAULT


@pytest.mark.parametrize("value", ["20,25", "20,x,5", "-1,0,0", "0,0,2000000"])
def test_a_working_echo_it_cannot_run_is_refused(value, capsys):
    with pytest.raises(SystemExit) as exited:
        main([f"--working-echo={value}"])
    assert exited.value.code == 2 and "--working-echo takes BEFORE,AFTER,PUSH_BYTES" in capsys.readouterr().err
