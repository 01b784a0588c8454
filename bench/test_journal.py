"""Journal benchmarks: append with group commit per fsync policy, replay, verification, recovery.

The 1,000,000-command journal is a synthetic trading session (gateway.journal.synthetic):
about 40 % ticks, 25 % orders, 20 % fills, cancels, day rolls, deposits and refusals.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from core.commands import encode_entry
from core.machine import Machine
from gateway.journal.committer import GroupCommitter
from gateway.journal.file import FileJournal
from gateway.journal.format import scan
from gateway.journal.journaled import Journaled
from gateway.journal.recovery import recover, replay
from gateway.journal.snapshots import list_snapshots
from gateway.journal.synthetic import SyntheticSession

BATCH = 1_000
BIG = 1_000_000


def session_commands(n: int, seed: int = 1):
    """n commands of a synthetic session, with the outcomes a machine gives them."""
    session = SyntheticSession(seed)
    machine = Machine(session.genesis())
    out = []
    gen = session.run(n)
    command = next(gen)
    while True:
        outcome = machine.execute(command)
        out.append((command, outcome))
        try:
            command = gen.send(outcome)
        except StopIteration:
            return session, out


@pytest.fixture(scope="module")
def payloads():
    _, commands = session_commands(100_000)
    return [encode_entry(c, o) for c, o in commands]


@pytest.fixture(scope="module")
def big_journal(tmp_path_factory):
    """A journal of genesis and 1,000,000 commands, with a snapshot 10,000 records before its end."""
    directory = tmp_path_factory.mktemp("big")
    session = SyntheticSession(2)
    journaled = Journaled.create(directory, session.genesis(), fsync="none")
    gen = session.run(BIG)
    command = next(gen)
    while journaled.journal.seq <= BIG:
        _, outcome = journaled.submit(command)
        if journaled.journal.seq % 10_000 == 0:
            journaled.commit()
        if journaled.journal.seq == BIG + 1 - 10_000:
            journaled.snapshot()
        command = gen.send(outcome)
    journaled.close()
    return directory


@pytest.mark.parametrize("policy", ["every-batch", "interval", "none"])
@pytest.mark.benchmark(group="journal-append-1000-per-batch")
def test_append_batches(benchmark, tmp_path, payloads, policy):
    """Frame 1,000 records (CRC-32, SHA-256 chain), write them, and fsync as the policy says."""
    journal = FileJournal(str(tmp_path / "journal.log"), fsync=policy)
    cursor = [0]

    def batch():
        start = cursor[0]
        for payload in payloads[start:start + BATCH]:
            journal.append(payload)
        cursor[0] = (start + BATCH) % (len(payloads) - BATCH)
        journal.commit()

    benchmark.pedantic(batch, rounds=200, iterations=1, warmup_rounds=5)
    benchmark.extra_info["commands_per_s"] = round(BATCH / benchmark.stats.stats.median)
    benchmark.extra_info["bytes_per_record"] = round(journal.end / journal.seq)  # the file has room allocated ahead
    journal.close()


@pytest.mark.parametrize("policy", ["every-batch", "interval", "none"])
@pytest.mark.benchmark(group="journal-group-commit-async")
def test_group_commit_on_the_loop(benchmark, tmp_path, policy):
    """100,000 commands applied by the machine and journaled through the asyncio group committer
    under a steady load of batches: 1,000 commands are submitted while the previous 1,000 are being
    written and fsync'd. Reported: commands per second to the last acknowledgement, and each
    command's time from submit to acknowledgement. The writer runs in a worker thread; the loop
    applies commands meanwhile (no client events are built: this is the journal's throughput)."""
    session, commands = session_commands(100_000, seed=3)
    counter = [0]
    latencies = []  # every command's submit-to-acknowledgement time, over all rounds
    batch_counts = []

    def run():
        counter[0] += 1
        directory = tmp_path / f"{policy}-{counter[0]}"
        journaled = Journaled.create(directory, session.genesis(), fsync=policy)

        async def main():
            committer = await GroupCommitter(journaled).start()
            in_flight = None
            submit = committer.submit
            for start in range(0, len(commands), BATCH):
                chunk = commands[start:start + BATCH]
                t0 = time.perf_counter()
                for command, _ in chunk[:-1]:
                    submit(command, events=False)
                seq, _, _ = submit(chunk[-1][0], lambda s, t0=t0, n=len(chunk):
                                   latencies.extend([time.perf_counter() - t0] * n), events=False)
                if in_flight is not None:
                    await in_flight  # keep one batch being written while the next is applied
                in_flight = committer.safe(seq)
            await in_flight
            batches = committer.batches
            await committer.close()
            return batches

        batch_counts.append(asyncio.run(main()))

    benchmark.pedantic(run, rounds=5, iterations=1)
    latencies.sort()
    benchmark.extra_info.update(
        commands_per_s=round(len(commands) / benchmark.stats.stats.median), batches=batch_counts[-1],
        ack_p50_us=round(latencies[len(latencies) // 2] * 1e6),
        ack_p99_us=round(latencies[int(len(latencies) * 0.99)] * 1e6))


@pytest.mark.benchmark(group="journal-1m-verify")
def test_verify_1m(benchmark, big_journal):
    """Framing, CRC and hash chain of 1,000,000 records (beacon journal verify)."""
    result = benchmark.pedantic(lambda: scan(str(big_journal / "journal.log"), 1), rounds=5, iterations=1)
    assert result.last_seq == BIG + 1
    benchmark.extra_info["records_per_s"] = round(result.last_seq / benchmark.stats.stats.median)


@pytest.mark.benchmark(group="journal-1m-replay")
def test_replay_1m(benchmark, big_journal):
    """Full replay from genesis of 1,000,000 commands, proving every recorded decision (beacon replay)."""
    result = benchmark.pedantic(lambda: replay(big_journal), rounds=3, iterations=1)
    assert result.replayed == BIG
    benchmark.extra_info["commands_per_s"] = round(BIG / benchmark.stats.stats.median)


@pytest.mark.benchmark(group="journal-1m-recover-from-genesis")
def test_recover_1m_without_snapshot(benchmark, big_journal):
    """Recovery of the same journal with no snapshot: everything replayed (for comparison)."""
    result = benchmark.pedantic(lambda: recover(big_journal, use_snapshots=False), rounds=2, iterations=1)
    assert result.snapshot_seq == 0


@pytest.mark.benchmark(group="journal-1m-recover-with-snapshot")
def test_recover_1m_with_snapshot(benchmark, big_journal):
    """Recovery of a 1,000,000-command journal: load the snapshot 10,000 records from the end,
    check its record in the journal, verify and replay the tail after it (what `beacon serve`
    does on start)."""
    assert list_snapshots(big_journal)[0].seq == BIG + 1 - 10_000
    result = benchmark.pedantic(lambda: recover(big_journal), rounds=5, iterations=1)
    assert result.snapshot_seq == BIG + 1 - 10_000 and result.replayed == 10_000
