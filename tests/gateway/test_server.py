"""The HTTP server's own endpoints, served in-process by aiohttp's test server on loopback."""

import asyncio

import msgspec
from aiohttp.test_utils import TestClient, TestServer

from core.commands import Deposit
from gateway.config import Config
from gateway.server import make_app
from tests.gateway.harness import BASE_CONFIG, aio, merge


@aio
async def test_health_and_metrics_say_when_the_journal_has_stopped(tmp_path):
    """A failed journal write stops acknowledgements (GroupCommitter); an operator and a load
    balancer see it: /health answers 503 with status journal_failed, /metrics beacon_journal_failed 1."""
    config = msgspec.convert(merge(BASE_CONFIG, {"journal": {"fsync": "interval", "dir": str(tmp_path / "j")}}),
                             Config)
    app = make_app(config)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.get("/health")
        assert response.status == 200 and (await response.json())["status"] == "ok"
        assert "beacon_journal_failed 0.0" in await (await client.get("/metrics")).text()
        gateway = app["gateway"]
        journal = gateway.committer.journal
        fd, journal.fd = journal.fd, -1  # the next write fails (EBADF)
        gateway.submit(Deposit(account=0, amount=1))
        await asyncio.sleep(0.01)
        journal.fd = fd
        response = await client.get("/health")
        assert response.status == 503 and (await response.json())["status"] == "journal_failed"
        assert "beacon_journal_failed 1.0" in await (await client.get("/metrics")).text()
