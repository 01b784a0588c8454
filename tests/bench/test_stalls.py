"""The stalls a run met, counted from its orders' own latencies (bench.loadgen.stalls)."""

from bench.loadgen.stalls import describe, held_over, on_one_beat, stall_starts, summary, wakes


def run_with_holds(holds_ms: list[tuple[float, float]], n: int = 30_000, rate: float = 10_000.0,
                   work_us: float = 40.0) -> tuple[list[int], list[float]]:
    """An open-loop run in which the server was held for each (start ms, length ms) and then
    answered every order in work_us: the due times (ns) and latencies (µs) it would have."""
    interval_us = 1e6 / rate
    due = [int(i * interval_us * 1000) for i in range(n)]
    latency, free_at = [], 0.0  # free_at: when the server can take the next order (µs)
    for i in range(n):
        t = i * interval_us
        for start, length in holds_ms:
            if start * 1000 <= max(t, free_at) < (start + length) * 1000:
                free_at = (start + length) * 1000
        free_at = max(t, free_at) + work_us
        latency.append(free_at - t)
    return due, latency


def test_a_quiet_run_has_no_stall():
    due, latency = run_with_holds([])
    s = summary(due, latency)
    assert s == {"held_over_us": 500, "stalls": 0, "orders_held": 0, "on_one_beat": 0, "slowest_1pct": 300,
                 "slowest_1pct_in_wakes": 0}
    assert describe(s) == "no stall: no order waited over 500 µs."


def test_holds_on_a_beat_are_counted_with_the_orders_they_held_and_the_tail_they_made():
    # four holds on one point of a 100 ms beat and one off it; a server that is all but free
    # (0.1 µs per order), so that each hold's wake is the hold itself
    holds = [(48.45, 2.0), (248.45, 1.5), (1048.45, 2.5), (2148.45, 1.0), (1500.05, 0.8)]
    due, latency = run_with_holds(holds, work_us=0.1)
    s = summary(due, latency)
    assert s["stalls"] == 5 and s["on_one_beat"] == 4
    # a hold of L ms keeps the orders due in its first L - 0.5 ms past 500 µs: 10 per ms at 10,000/s
    assert s["orders_held"] == sum(round((length - 0.5) * 10) for _, length in holds) == 53
    # the slowest 300: the 78 orders due during the holds, then the quiet ones
    assert s["slowest_1pct_in_wakes"] == sum(round(length * 10) for _, length in holds) == 78
    assert describe(s) == ("5 stalls (53 orders waited over 500 µs; 4 of the stalls began on one 100 ms beat); "
                           "78 of the slowest 300 orders were in their wakes.")


def test_a_busier_server_drains_a_hold_slower_and_more_of_its_tail_is_the_hold():
    holds = [(48.45, 2.0), (248.45, 2.0)]
    light, busy = (summary(*run_with_holds(holds, work_us=w)) for w in (10.0, 60.0))
    assert light["stalls"] == busy["stalls"] == 2
    assert busy["orders_held"] > light["orders_held"]  # the backlog is answered later
    assert busy["slowest_1pct_in_wakes"] > light["slowest_1pct_in_wakes"]


def test_a_wake_lasts_until_an_order_is_back_near_the_median():
    latency = [50.0] * 10 + [900.0, 700.0, 520.0, 300.0, 120.0, 90.0, 50.0] + [50.0] * 10
    assert stall_starts(latency) == [10]
    assert wakes(latency) == [(10, 15)]  # 90 µs is under twice the median (50): the wake is over


def test_a_second_hold_inside_the_first_ones_wake_is_part_of_it():
    latency = [50.0] * 10 + [900.0, 400.0, 800.0, 300.0] + [50.0] * 10
    assert stall_starts(latency) == [10, 12]
    assert wakes(latency) == [(10, 14)]


def test_the_beat_wraps_around_its_period():
    assert on_one_beat([99.6, 200.3, 300.1, 455.0]) == 3  # 99.6, 0.3 and 0.1 are within a millisecond
    assert on_one_beat([]) == 0


def test_a_target_whose_every_order_waits_on_a_disk_is_not_stalling_all_the_time():
    """fsync every batch: half the orders over 500 µs all through the run, a median of 650 µs. Held
    up means over 4x the median there, 2,600 µs, not every other order."""
    latency = [400.0, 650.0] * 5_000
    latency[3_000:3_010] = [2_500.0] * 10
    assert held_over(latency) == 2_600.0
    s = summary(list(range(len(latency))), latency)
    assert s["stalls"] == 0 and s["orders_held"] == 0
    latency[3_000:3_010] = [3_000.0] * 10
    s = summary(list(range(len(latency))), latency)
    assert s["stalls"] == 1 and s["orders_held"] == 10 and s["held_over_us"] == 2_600
