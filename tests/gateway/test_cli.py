"""The `beacon` tools, run as a user runs them."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.commands import Outcome, PlaceOrder, decode_entry, encode_entry, Deposit
from gateway.journal.format import iter_records

ROOT = Path(__file__).parents[2]
GOLDEN = ROOT / "tests" / "data" / "journal-v1"


def beacon(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def journal(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "j"
    done = beacon("journal", "synth", path, "--commands", 3000, "--seed", 4, "--snapshot-every", 1000)
    assert done.returncode == 0, done.stderr
    return path


def test_verify_and_replay(journal):
    done = beacon("journal", "verify", journal)
    assert done.returncode == 0 and "hash chain verified" in done.stdout
    done = beacon("replay", journal)
    assert done.returncode == 0, done.stderr
    assert "every recorded decision was reproduced exactly" in done.stdout
    assert "state digest:" in done.stdout and "orders:" in done.stdout


def first(journal_dir, want):
    for record in iter_records(str(Path(journal_dir) / "journal.log"), 1):
        entry = decode_entry(record.payload)
        if want(entry):
            return record.seq, entry
    raise AssertionError("no such record")


def test_audit_answers_why_an_order_was_rejected():
    _, entry = first(GOLDEN, lambda e: isinstance(e.command, PlaceOrder) and e.outcome.result < 0)
    done = beacon("audit", GOLDEN, "--client-order-id", entry.command.client_order_id)
    assert done.returncode == 0, done.stderr
    assert "decision: REJECTED" in done.stdout and "market then:" in done.stdout and "account then:" in done.stdout


def test_audit_of_an_accepted_order_shows_its_fills():
    seq, entry = first(GOLDEN, lambda e: isinstance(e.command, PlaceOrder) and e.outcome.result > 0)
    done = beacon("audit", GOLDEN, "--order", entry.outcome.result)
    assert done.returncode == 0 and f"seq {seq:>9}" in done.stdout and "ACCEPTED as order" in done.stdout


def test_audit_of_an_account(journal):
    done = beacon("audit", journal, "--account", 1)
    assert done.returncode == 0, done.stderr
    assert "Audit of account 1 'SYN-0001'" in done.stdout and "Now: cash" in done.stdout
    assert "No account 99" in beacon("audit", journal, "--account", 99).stdout


def test_a_tampered_journal_fails_verify_and_replay_naming_the_record(journal, tmp_path):
    copy = tmp_path / "t"
    shutil.copytree(journal, copy)
    log = copy / "journal.log"
    data = bytearray(log.read_bytes())
    data[len(data) // 2] ^= 0x40
    log.write_bytes(bytes(data))
    for args in (("journal", "verify", copy), ("replay", copy)):
        done = beacon(*args)
        assert done.returncode == 1 and "error: record seq" in done.stderr, done.stderr


def test_replay_exits_non_zero_at_the_first_divergence(tmp_path):
    from gateway.journal.journaled import Journaled
    from gateway.journal.synthetic import SyntheticSession

    j = Journaled.create(tmp_path / "d", SyntheticSession(1).genesis(), fsync="none")
    j.journal.append(encode_entry(Deposit(account=3, amount=100), Outcome(0)))  # no account 3: forged
    j.close()
    done = beacon("replay", tmp_path / "d")
    assert done.returncode == 1 and "divergence at seq 2" in done.stderr


def test_not_a_journal(tmp_path):
    (tmp_path / "journal.log").write_text("hello")
    done = beacon("journal", "verify", tmp_path)
    assert done.returncode == 1 and "not a Beacon journal" in done.stderr
    done = beacon("replay", tmp_path / "missing")
    assert done.returncode == 1 and "no such journal" in done.stderr
