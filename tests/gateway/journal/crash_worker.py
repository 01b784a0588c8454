"""A process that applies commands through the journal and acknowledges each on stdout only once
it is safe; the crash test kills it with SIGKILL at random moments.

    python -m tests.gateway.journal.crash_worker DIR SEED POLICY

Each acknowledgement line is `ACK <seq> <sha256 of the record payload, 16 hex>`.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from pathlib import Path

from core.commands import encode_entry
from gateway.journal.committer import GroupCommitter
from gateway.journal.journaled import Journaled
from gateway.journal.synthetic import SyntheticSession


async def main(directory: Path, seed: int, policy: str) -> None:
    session = SyntheticSession(seed, accounts=6, instruments=12)
    # a snapshot every 1,000 records, forked by the committer: kills land while children write too
    if (directory / "journal.log").exists():
        journaled = Journaled.open(directory, fsync=policy, snapshot_every=1_000)
    else:
        journaled = Journaled.create(directory, session.genesis(), fsync=policy, snapshot_every=1_000)
    committer = await GroupCommitter(journaled).start()
    out = sys.stdout

    def acknowledge(seq, digest):
        out.write(f"ACK {seq} {digest}\n")
        out.flush()

    gen = session.run(10**9)
    command = next(gen)
    n = 0
    while True:
        seq, outcome, _ = committer.submit(command)
        digest = hashlib.sha256(encode_entry(command, outcome)).hexdigest()[:16]
        committer.when_safe(seq, lambda s, d=digest: acknowledge(s, d))
        n += 1
        if n % 64 == 0:
            await asyncio.sleep(0)  # let the writer take a batch, as a server's other work would
        command = gen.send(outcome)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
