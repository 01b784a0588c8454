"""bench.loadgen.ab: alternated runs of gateways built from source trees (here the same tree twice,
briefly: the tool runs end to end; nothing is asserted about time)."""

import re

from bench.loadgen.ab import main


def test_two_trees_alternate_and_each_run_shows_its_threads(capsys):
    assert main(["--tree", "a=.", "--tree", "b=.", "--policy", "every-batch", "--mode", "closed",
                 "--count", "60", "--warmup", "10", "--pairs", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [re.match(r"pair 0 +(\w+):", line).group(1) for line in lines] == ["a", "b"]
    for line in lines:
        assert re.search(r"p50 +\d+ p90 +\d+ p99 +\d+ p99\.9 +\d+ µs", line)
        assert "loop: CPU" in line and "involuntary per order" in line


def test_a_tree_without_a_build_is_named(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["--tree", f"x={tmp_path}"])
    assert "has no .venv" in capsys.readouterr().err
