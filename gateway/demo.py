"""`make run`: the gateway with a simulated market and broker, demo accounts, and a demo strategy.

A fresh demo each time: var/demo is cleared, the calm scenario plays paced to the wall clock
from its first trading day's 09:30, every tier gets a funded account for each demo client,
and the example market maker trades on alice's standard account. Ctrl-C stops it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import socket
from pathlib import Path

import msgspec

from .client import BeaconClient
from .config import Client, Config, DemoSettings, JournalSettings, MarketSettings, AdminSettings, ServerSettings
from .examples.strategy import MarketMaker
from .server import run

DEMO_DIR = Path("var/demo")


def free_port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]


def demo_config() -> Config:
    clients = [Client(client=name, api_key=f"demo-{name}", secret=secrets.token_hex(16)) for name in ("alice", "bob")]
    return Config(
        server=ServerSettings(port=free_port(8765), order_port=free_port(8766)),
        journal=JournalSettings(dir=str(DEMO_DIR / "journal")),
        market=MarketSettings(source="scenario", scenario="calm", speed=1.0),
        clients=clients,
        admin=AdminSettings(tokens=[f"demo-admin-{secrets.token_hex(8)}"]),
        demo=DemoSettings(accounts=True),
    )


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if DEMO_DIR.exists():
        shutil.rmtree(DEMO_DIR)
    DEMO_DIR.mkdir(parents=True)
    config = demo_config()
    (DEMO_DIR / "beacon.toml").write_bytes(msgspec.toml.encode(config))

    async def ready(app, port: int) -> None:
        gateway = app["gateway"]
        host = f"127.0.0.1:{port}"
        print()
        print("Beacon demo")
        order_url = f"ws://127.0.0.1:{app['order_port']}/ws"
        print(f"  websocket   {order_url}   (the order port, picows; also ws://{host}/ws on aiohttp)")
        print(f"  admin API   http://{host}/admin/   (Authorization: Bearer {config.admin.tokens[0]})")
        print(f"  metrics     http://{host}/metrics     health http://{host}/health")
        print(f"  API docs    http://{host}/asyncapi.json   http://{host}/openapi.json")
        for client in config.clients:
            accounts = ", ".join(f"{a} ({gateway.machine.tiers[gateway.machine.engine.account(a)['tier']].name})"
                                 for a in gateway.accounts_of(client.client))
            print(f"  client      {client.client}: api key {client.api_key}  secret {client.secret}  "
                  f"accounts {accounts}")
        print(f"  market      scenario '{config.market.scenario}', paced to the wall clock; broker simulated")
        print(f"  journal     {config.journal.dir} (fsync {config.journal.fsync}); config {DEMO_DIR / 'beacon.toml'}")
        alice = config.clients[0]
        account = gateway.accounts_of(alice.client)[-1]
        print(f"Demo strategy (a market maker on alice's aggressive account {account}) - Ctrl-C to stop:")

        async def strategy():
            async with BeaconClient(order_url, alice.api_key, alice.secret) as client:
                await MarketMaker(client, account).run()

        app["background"].append(asyncio.get_running_loop().create_task(strategy()))

    try:
        run(config, ready)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
