"""The host's holds seen from inside (python -m bench.loadgen.hostbeat): a clock read in a loop,
pinned, alone and beside a busy second CPU. Nothing is asserted about the holds themselves."""

from bench.loadgen.hostbeat import HOLD_US, line, main, measure


def test_a_gap_between_two_readings_is_a_hold_with_its_start_and_length():
    holds = measure(0.3, busy_other=True)
    assert all(length > HOLD_US * 1000 and start > 0 for start, length in holds)


def test_the_line_says_how_many_holds_how_long_and_how_many_on_the_beat():
    assert line([], "alone", 4) == f"alone: no hold over {HOLD_US} µs in 4 s"
    holds = [(48_400_000, 900_000), (148_500_000, 1_800_000), (201_000_000, 300_000)]
    assert line(holds, "both", 4) == ("both: 3 holds over 200 µs in 4 s, 3.0 ms in all, the longest 1,800 µs; "
                                      "2 of them began on one 100 ms beat")


def test_the_command_line_measures_alone_then_beside_a_busy_cpu(capsys):
    assert main(["--seconds", "0.2", "--rounds", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("round 0, CPU 0 busy, CPU 1 idle: ")
    assert out[1].startswith("round 0, CPU 0 busy, CPU 1 busy: ")
