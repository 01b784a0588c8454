"""kill -9 a real process that journals and acknowledges commands; nothing acknowledged is lost."""

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from core.commands import split_entry
from gateway.journal.format import iter_records
from gateway.journal.recovery import recover, replay
from tests.conftest import RUN_SEED

ROOT = Path(__file__).parents[3]
TIME_BUDGET_S = 25
MAX_ROUNDS = 16


def run_and_kill(directory: Path, seed: int, policy: str, seconds: float) -> dict[int, str]:
    """Start the worker, let it run `seconds` from its first acknowledgement (its start-up time varies
    with the machine's load), SIGKILL it; the acknowledgements it printed."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.gateway.journal.crash_worker", str(directory), str(seed),
                             policy], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = []
    started = time.monotonic()
    while time.monotonic() - started < 30:
        line = proc.stdout.readline()
        if not line:
            break
        first.append(line)
        if line.startswith("ACK "):
            break
    time.sleep(seconds)
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL, err
    acks = {}
    for line in "".join(first).splitlines() + out.splitlines():
        if line.startswith("ACK "):  # a line cut by the kill has no complete digest: ignore it
            _, seq, digest = line.split()
            if len(digest) == 16:
                acks[int(seq)] = digest
    return acks


def state(machine) -> bytes:
    return msgspec.msgpack.encode(machine.export_state())


@pytest.mark.parametrize("policy", ["every-batch", "interval"])
def test_kill_minus_nine_loses_nothing_acknowledged(tmp_path, policy):
    rng = random.Random(RUN_SEED)
    deadline = time.monotonic() + TIME_BUDGET_S
    rounds = 0
    total_acked = 0
    torn = 0
    from_snapshot = 0
    while rounds < MAX_ROUNDS and time.monotonic() < deadline:
        directory = tmp_path / f"round{rounds // 2}"
        # odd rounds restart on the previous round's crashed journal: recover, truncate, continue
        acks = run_and_kill(directory, rng.randrange(10**6), policy, rng.uniform(0.4, 1.6))
        assert acks, "the worker acknowledged nothing before it was killed"
        recovered = recover(directory)
        records = {r.seq: r.payload for r in iter_records(str(directory / "journal.log"), 1)}
        assert max(acks) <= recovered.last_seq
        for seq, digest in acks.items():
            assert hashlib.sha256(records[seq]).hexdigest()[:16] == digest, f"acknowledged seq {seq} differs"
        assert state(recovered.machine) == state(replay(directory).machine)
        total_acked += len(acks)
        torn += recovered.torn_bytes > 0
        from_snapshot += recovered.snapshot_seq > 0
        rounds += 1
    print(f"\n{policy}: {rounds} kills, {total_acked} acknowledged commands checked, "
          f"{torn} recoveries found a torn tail, {from_snapshot} started from a snapshot the worker's committer forked")
    assert rounds >= 4 and total_acked > 1000, (rounds, total_acked)
    assert from_snapshot, "no recovery started from a snapshot"
