"""The round-trip split (python -m bench.loadgen.trace): a real gateway stamping each request
(BEACON_ORDER_TRACE) and the load client stamping each message, joined order by order.
Loopback, a few seconds, nothing asserted about time beyond the parts adding up."""

import json
import os
import re
import shutil

import pytest

from bench.loadgen.trace import (
    PARTS, attribute, collector_lines, gap_lines, gateway_threads, join, main, parse_samples, parse_switches,
    profile_table, sample_gaps, sched_table, waits,
)
from gateway.ordertrace import OrderTrace


def test_the_trace_splits_every_order_into_parts_that_add_up(tmp_path):
    assert main(["--rate", "2000", "--count", "400", "--warmup", "50", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "trace.json").read_text())
    assert data["parts"] == list(PARTS) and len(data["rows"]) == 400  # every measured order, both sides
    for total, lag, to_server, server, back in data["rows"]:
        assert abs(total - (lag + to_server + server + back)) < 0.01
        assert min(lag, to_server, server, back) >= 0  # one clock, each side stamped before it hands on
    report = (tmp_path / "trace.md").read_text()
    assert "| p99 |" in report and "| percentile | total | send lag | to the server | server | back |" in report
    assert re.search(r"The stalls the client met \(bench.loadgen.stalls\): (no stall|\d+ stalls)", report)
    if os.path.exists("/proc/stat"):  # what the host took of the server's CPU meanwhile, in ms
        assert re.search(r"Meanwhile the host took [\d,]+ ms of CPU 0 from this VM \(steal", report)


def test_join_skips_orders_one_side_did_not_see():
    client = {"warmup": 1, "due": [0, 1_000, 2_000], "sent": [0, 1_500, 2_500], "answered": [0, 9_000, 0]}
    server = {"received": {"1": 3_000, "2": 4_000}, "answered": {"1": 5_000}}
    assert join(client, server) == [(8.0, 0.5, 1.5, 2.0, 4.0)]  # order 2 never came back


def test_the_gateway_keeps_the_first_stamp_of_each_request_and_writes_them_on_dump(tmp_path, monkeypatch):
    monkeypatch.delenv("BEACON_ORDER_TRACE", raising=False)
    assert OrderTrace.from_env() is None  # off unless asked for
    monkeypatch.setenv("BEACON_ORDER_TRACE", str(tmp_path / "t.json"))
    trace = OrderTrace.from_env()
    trace.on_received("7", 1.5)
    trace.on_received("7", 2.5)  # a second frame with the same req_id: the first one counts
    trace.on_answered(["7"])
    first = trace.answered["7"]
    trace.on_answered(["7"])
    trace.dump()
    written = json.loads((tmp_path / "t.json").read_text())
    assert written == {"received": {"7": 1_500_000_000}, "answered": {"7": first}, "collections": []}


def test_the_trace_stamps_each_run_of_the_cyclic_collector_until_it_is_dumped(tmp_path):
    import gc
    import time

    trace = OrderTrace(str(tmp_path / "t.json"))
    before = time.monotonic_ns()
    gc.collect(1)
    after = time.monotonic_ns()
    trace.dump()
    gc.collect()  # after the dump: no longer watched
    collections = json.loads((tmp_path / "t.json").read_text())["collections"]
    assert [c[2] for c in collections if before <= c[0] <= c[1] <= after] == [1]
    assert trace._on_collector not in gc.callbacks


SCRIPT = """\
 100.000001000: prev_comm=python prev_pid=7 prev_prio=120 prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120
 100.000005000: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=beacon-fsync next_pid=9 next_prio=130
 100.000009: prev_comm=beacon-fsync prev_pid=9 prev_prio=130 prev_state=D ==> next_comm=python next_pid=7 next_prio=120
 100.000012000: prev_comm=python prev_pid=7 prev_prio=120 prev_state=R ==> next_comm=kworker/u8:4-ev next_pid=3 next_prio=120
 100.000013000: prev_comm=kworker/u8:4-ev prev_pid=3 prev_prio=120 prev_state=I ==> next_comm=python next_pid=7 next_prio=120
"""
BASE = 100_000_000_000


def test_switches_are_read_in_ns_with_the_loop_and_the_idle_task_named():
    switches = parse_switches(SCRIPT, {7: "loop"})
    assert switches == [(BASE + 1_000, "(idle)"), (BASE + 5_000, "beacon-fsync"), (BASE + 9_000, "loop"),
                        (BASE + 12_000, "kworker/u8:4-ev"), (BASE + 13_000, "loop")]  # µs stamps read as ns too


def test_each_wait_is_split_between_the_tasks_that_held_the_cpu():
    switches = parse_switches(SCRIPT, {7: "loop"})
    # one wait from 3 µs to 10 µs, another from 11 µs to 20 µs
    held = attribute([(BASE + 3_000, BASE + 10_000), (BASE + 11_000, BASE + 20_000)], switches)
    assert held == {"(idle)": (2_000, 1), "beacon-fsync": (4_000, 1), "loop": (1_000 + 1_000 + 7_000, 2),
                    "kworker/u8:4-ev": (1_000, 1)}
    assert attribute([(BASE + 500, BASE + 900)], switches) == {}  # before the first switch: not known


def test_the_sched_table_takes_the_slowest_one_percent_by_their_wait():
    switches = parse_switches(SCRIPT, {7: "loop"})
    pairs = [(BASE, BASE + 100) for _ in range(99)] + [(BASE + 5_000, BASE + 9_000)]  # the slowest: fsync ran
    lines = sched_table(pairs, switches, "0")
    assert lines[0].startswith("What CPU 0 ran while the slowest 1 % of orders waited to be read (1 orders")
    assert "| beacon-fsync | 4 | 100.0 % | 1 |" in lines


def test_waits_pair_the_clients_send_with_the_servers_read():
    client = {"warmup": 1, "due": [0, 1_000, 2_000, 3_000], "sent": [0, 1_500, 0, 3_100], "answered": [0, 0, 0, 0]}
    server = {"received": {"1": 3_000, "3": 4_000}, "answered": {}}
    assert waits(client, server) == [(1_500, 3_000), (3_100, 4_000)]  # order 2 was never sent


def test_the_collector_line_counts_the_slowest_waits_a_collection_overlapped():
    pairs = [(i * 100, i * 100 + 10) for i in range(99)] + [(10_000, 13_000)]  # the slowest: 3 µs
    collections = [(-5_000, -1_000, 2),  # before the orders: not counted
                   (500, 520, 0), (11_000, 12_000, 1)]  # the second overlaps the slowest wait
    assert collector_lines(pairs, collections) == [
        "The cyclic collector ran 2 times while the measured orders were under way (generation 0 1 times, 0.0 ms "
        "in all, the longest 0 µs; generation 1 1 times, 0.0 ms in all, the longest 1 µs); a collection "
        "overlapped 1 of the slowest 1 waits to be read."]
    assert collector_lines([], collections) == []


SAMPLES = """       0 100.000001000:  ffffffff8224215b pv_native_safe_halt ([kernel.kallsyms])
       7 100.000002000:  7f00aa000010 __pyx_f_7gateway_2ws_7Session_flush+0x1c (/work/gateway/ws.cpython-311.so)
       7 100.000003000:  5d9750 [unknown] (/usr/bin/python3.11)
       9 100.000004000:  ffffffff81000000 ext4_sync_file ([kernel.kallsyms])
       7 100.000005000:  5d9750 [unknown] (/usr/bin/python3.11)
"""


def test_samples_are_read_in_ns_by_function_and_object_with_other_threads_named():
    samples = parse_samples(SAMPLES, {7: "the gateway's loop", 9: "gateway thread beacon-fsync"})
    assert samples == [(BASE + 1_000, "(idle)"),
                       (BASE + 2_000, "__pyx_f_7gateway_2ws_7Session_flush (ws.cpython-311.so)"),
                       (BASE + 3_000, "[unknown] (python3.11)"),
                       (BASE + 4_000, "gateway thread beacon-fsync: ext4_sync_file ([kernel.kallsyms])"),
                       (BASE + 5_000, "[unknown] (python3.11)")]


def test_the_profile_table_counts_each_sample_once_beside_its_share_of_the_run():
    samples = parse_samples(SAMPLES, {7: "the gateway's loop"})
    # the slowest wait (2.5 to 5.5 µs) holds three samples; a faster one overlaps it and adds none
    pairs = [(BASE, BASE + 100) for _ in range(98)] + [(BASE + 2_600, BASE + 3_500), (BASE + 2_500, BASE + 5_500)]
    lines = profile_table(pairs, samples)
    assert lines[0].startswith("What the server's CPU ran while the slowest 1 % of orders waited to be read, by "
                               "function (3 samples at 10,000/s in those waits; beside it, the function's share of "
                               "the run's 4 busy samples)")
    assert lines[4] == "| [unknown] (python3.11) | 2 | 66.7 % | 50.0 % |"
    assert lines[5] == "| ext4_sync_file ([kernel.kallsyms]) | 1 | 33.3 % | 25.0 % |"
    assert profile_table(pairs, []) == []
    # waits that fell between samples: said so (a short traced run at a low rate can have them)
    between = [(BASE + 1_100, BASE + 1_200) for _ in range(100)]
    assert profile_table(between, samples) == [
        "What the server's CPU ran while the slowest 1 % of orders waited to be read, by function: no sample fell "
        "in those 1 waits (10,000 samples a second)."]


def test_a_gap_in_the_samples_is_time_the_cpu_did_not_run_and_is_set_beside_the_slowest_waits():
    # samples every 100 µs (10,000/s), but none from 1,000 to 1,900 µs: 900 µs the CPU did not run
    times = [BASE + t * 1_000 for t in (0, 100, 200, 300, 1_000, 1_900, 2_000, 2_100, 2_250)]
    samples = [(t, "(idle)") for t in times]
    assert sample_gaps(samples) == [(BASE + 300_000, BASE + 1_000_000), (BASE + 1_000_000, BASE + 1_900_000)]
    pairs = [(BASE + 2_000_000, BASE + 2_010_000) for _ in range(99)] + [(BASE + 1_500_000, BASE + 1_600_000)]
    assert gap_lines(pairs, samples) == [
        "The server's CPU went unsampled (the host held it) 1 times for over 300 µs while the measured orders were "
        "under way, 0.9 ms in all, the longest 900 µs; such a gap overlapped 1 of the slowest 1 waits to be read."]
    assert gap_lines(pairs, []) == []


def _perf_can_record() -> bool:
    if not shutil.which("perf"):
        return False
    try:
        with open("/proc/sys/kernel/perf_event_paranoid") as fh:
            return os.geteuid() == 0 or int(fh.read()) <= 0
    except OSError:
        return False


def test_the_sched_trace_and_the_profile_name_what_ran_on_the_servers_cpu(tmp_path):
    """Where perf may record (root here, as in CI), the report says what the server's CPU ran while
    the slowest orders waited, the gateway's loop among it, and which functions; elsewhere the
    trace runs without them. The collector's line is there either way."""
    assert main(["--rate", "2000", "--count", "1000", "--warmup", "50", "--sched", "--profile",
                 "--out", str(tmp_path)]) == 0
    report = (tmp_path / "trace.md").read_text()
    assert re.search(r"The cyclic collector ran [\d,]+ times while the measured orders were under way", report)
    if _perf_can_record():
        assert "What CPU 0 ran while the slowest 1 % of orders waited to be read (10 orders" in report
        assert "| the gateway's loop |" in report
        assert "What the server's CPU ran while the slowest 1 % of orders waited to be read, by function" in report
        assert "The server's CPU went unsampled (the host held it)" in report
    else:
        assert "What CPU" not in report and "by function" not in report


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="threads are listed from Linux's /proc")
def test_the_gateways_threads_are_named_the_loop_first():
    import threading

    ready, done = threading.Event(), threading.Event()
    worker = threading.Thread(target=lambda: (ready.set(), done.wait(5)))
    worker.start()
    ready.wait(5)
    try:
        names = gateway_threads(os.getpid())  # this process stands in for the gateway
    finally:
        done.set()
        worker.join()
    assert names[os.getpid()] == "the gateway's loop"
    assert names[worker.native_id].startswith("gateway thread ")
