import pytest

from gateway.journal import format as journal_format
from gateway.journal.journaled import Journaled
from gateway.journal.synthetic import SyntheticSession, journal_session


@pytest.fixture(params=["c", "python"])
def framing(request, monkeypatch):
    """Run a test with the C framing and again with the pure-Python twin."""
    if request.param == "c":
        from gateway.journal import _framing as impl
    else:
        impl = journal_format.python_framing
    for name in ("framing", ):
        monkeypatch.setattr(journal_format, name, impl)
    monkeypatch.setattr(journal_format, "append_record", impl.append_record)
    monkeypatch.setattr(journal_format, "append_entry", impl.append_entry)
    monkeypatch.setattr(journal_format, "zeros_from", getattr(impl, "zeros_from", journal_format._zeros_from))
    from gateway.journal import file as journal_file
    monkeypatch.setattr(journal_file, "append_record", impl.append_record)
    monkeypatch.setattr(journal_file, "append_entry", impl.append_entry)
    monkeypatch.setattr(journal_file, "write_all", impl.write_all)
    return impl


def write_session(directory, commands: int, seed: int = 1, snapshot_every: int = 0, fsync: str = "none"):
    """A journal of a synthetic session; returns the Journaled (closed) and the number of records."""
    session = SyntheticSession(seed, accounts=8, instruments=16)
    journaled = Journaled.create(directory, session.genesis(), fsync=fsync, snapshot_every=snapshot_every)
    journal_session(journaled, session, commands, commit_every=200)
    journaled.close()
    return journaled


@pytest.fixture
def journal_dir(tmp_path):
    write_session(tmp_path / "j", 600)
    return tmp_path / "j"
