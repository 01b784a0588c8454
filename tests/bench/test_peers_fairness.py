"""The NautilusTrader comparison in bench/test_peers.py is only fair if its checks really run."""

from nautilus_trader.model.enums import OrderStatus

from bench.test_peers import Nautilus


def test_nautilus_checks_are_really_on():
    """The comparison is only fair if NautilusTrader's checks run: over the notional limit and over
    the balance are denied, a small order passes to the execution client."""
    nt = Nautilus()
    for qty, denied in ((60_000, True), (20_000, True), (100, False)):
        command = nt.command(qty)
        nt.risk.execute(command)
        assert (command.order.status == OrderStatus.DENIED) == denied, (qty, command.order.status)
    assert nt.client.calls.count("submit_order") == 1
