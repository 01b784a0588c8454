"""Old journals keep decoding and replaying as the command schemas grow."""

from pathlib import Path

import msgspec
import pytest

from core.commands import COMMAND_DECODER, ENCODER, Command, Tick
from gateway.journal.recovery import replay

GOLDEN = Path(__file__).parents[2] / "data" / "journal-v1"


def test_the_first_versions_journal_replays_exactly():
    """tests/data/journal-v1 was written by the first journal version (schema 1). Every later
    version must read it and reproduce every decision; if a deliberate rule change alters a
    past decision, that is a new schema version and this file stays as the record of v1."""
    recovered = replay(GOLDEN)
    assert recovered.last_seq == 448
    assert recovered.chain.hex() == "d0913c5ee58b697e2b9e5944e5ac5835"


class TickV0(Command, tag="tick"):
    """What a tick looked like before `lock`, `volume` and `ts` were appended."""

    instrument: str
    price: int


def test_fields_appended_with_defaults_decode_from_older_records():
    old = msgspec.msgpack.encode(TickV0("600000", 1234))
    assert COMMAND_DECODER.decode(old) == Tick(instrument="600000", price=1234, lock=0, volume=0, ts=0)


def test_a_record_from_a_newer_schema_is_refused_clearly():
    newer = msgspec.msgpack.encode(["tick", "600000", 1234, 0, 0, 0, "a field from the future"])
    with pytest.raises(msgspec.ValidationError, match="at most length"):
        COMMAND_DECODER.decode(newer)


def test_unknown_commands_are_refused_clearly():
    with pytest.raises(msgspec.ValidationError, match="Invalid value 'teleport'"):
        COMMAND_DECODER.decode(ENCODER.encode(["teleport", 1]))
