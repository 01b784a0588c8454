import pytest

from tests.gateway.harness import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One gateway for a module's tests (accounts: alice 0-2, bob 3-5, one per tier, 1,000,000 CNY each)."""
    srv = Server(tmp_path_factory.mktemp("gateway")).start()
    yield srv
    srv.stop()


@pytest.fixture
def fresh_server(tmp_path):
    """A gateway of its own, for tests that change global controls or need a clean journal."""
    servers = []

    def start(**changes) -> Server:
        srv = Server(tmp_path / f"g{len(servers)}", **changes).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()
