"""Run the real gateway as a subprocess on 127.0.0.1 and talk to it with the `websockets` library."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import msgspec
import websockets

ROOT = Path(__file__).parents[2]
ALICE = ("alice", "alice-key", "alice-secret-0123456789")
BOB = ("bob", "bob-key", "bob-secret-0123456789ab")
ADMIN = "admin-token-0123456789"

BASE_CONFIG = {
    "server": {"host": "127.0.0.1", "port": 0, "heartbeat_s": 5.0, "idle_timeout_s": 30.0},
    "journal": {"fsync": "every-batch"},
    "engine": {"trading_day": "2026-01-05", "config": {"enforce_session": False}},
    "market": {"source": "none", "allow_injection": True},
    "clients": [{"client": c, "api_key": k, "secret": s} for c, k, s in (ALICE, BOB)],
    "admin": {"tokens": [ADMIN]},
    "demo": {"accounts": True},
}


def aio(fn):
    """Run an async test function on a fresh event loop (pytest calls it as a plain function)."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))
    return run


def merge(base: dict, changes: dict) -> dict:
    out = dict(base)
    for key, value in changes.items():
        out[key] = merge(base.get(key, {}), value) if isinstance(value, dict) else value
    return out


class Server:
    def __init__(self, directory: Path, extra_args: tuple = (), prefix: tuple = (), **changes):
        self.extra_args = list(extra_args)  # more `beacon serve` options
        self.prefix = list(prefix)  # a command to run it under (benchmarks: taskset -c N)
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        # the journal lives in this server's directory, whatever else the overrides change
        config = merge(merge(BASE_CONFIG, changes), {"journal": {"dir": str(self.directory / "journal")}})
        if "order_port" not in config["server"]:
            config = merge(config, {"server": {"order_port": 0}})  # the picows order port as well, on a free port
        self.config_path = self.directory / "beacon.toml"
        self.config_path.write_bytes(msgspec.toml.encode(config))
        self.proc = None
        self.port = 0
        self.order_port = 0  # the picows order port, when the config asks for one

    def start(self, timeout: float = 20.0) -> "Server":
        self.proc = subprocess.Popen([*self.prefix, sys.executable, "-m", "gateway.cli", "serve", "--config", str(self.config_path),
                                      "--log-level", "WARNING", *self.extra_args], cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"gateway exited: {self.proc.wait()}: {self.proc.stdout.read()[-3000:]}")
            if line.startswith("beacon: serving"):
                self.port = int(line.split("ws://127.0.0.1:")[1].split("/")[0])
                if "order-port ws://127.0.0.1:" in line:
                    self.order_port = int(line.split("order-port ws://127.0.0.1:")[1].split("/")[0])
                return self
        raise RuntimeError("gateway did not start in time")

    def restart(self, timeout: float = 20.0) -> "Server":
        """Stop and start again on the same port and journal (clients can reconnect to the same URL)."""
        port, order_port = self.port, self.order_port
        self.stop()
        config = msgspec.toml.decode(self.config_path.read_bytes())
        config["server"]["port"] = port
        if order_port:
            config["server"]["order_port"] = order_port
        self.config_path.write_bytes(msgspec.toml.encode(config))
        return self.start(timeout)

    @property
    def url(self) -> str:
        """The websocket API the tests talk to: the main port's (aiohttp), or with BEACON_TEST_WS=order
        the order port's (picows). `make test` runs the websocket suites both ways."""
        if os.environ.get("BEACON_TEST_WS") == "order" and self.order_port:
            return self.order_url
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def order_url(self) -> str:
        return f"ws://127.0.0.1:{self.order_port}/ws"

    def stop(self) -> str:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.stdout.read() if self.proc and self.proc.stdout else ""

    def http(self, method: str, path: str, body=None, token: str | None = ADMIN) -> tuple[int, dict | str]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode()

    def admin(self, path: str, body=None) -> dict:
        status, answer = self.http("POST" if body is not None else "GET", path, body)
        assert status == 200, (status, answer)
        return answer

    def tick(self, instrument: str, last: int, bid: int = 0, ask: int = 0, bid_size: int = 100_000,
             ask_size: int = 100_000, volume: int = 0, lock: int = 0) -> dict:
        return self.admin("/admin/market/tick", {"instrument": instrument, "last": last, "bid": bid or last - 1,
                                                 "ask": ask or last + 1, "bid_size": bid_size, "ask_size": ask_size,
                                                 "volume": volume, "lock": lock})


class Conn:
    """A websocket connection with the helpers the tests need; every received message is kept."""

    def __init__(self, ws):
        self.ws = ws
        self.received: list[dict] = []
        self.n = 0

    @classmethod
    async def open(cls, server: Server, login=ALICE, subprotocols=None, **kwargs) -> "Conn":
        ws = await websockets.connect(server.url, subprotocols=subprotocols, max_size=2**24, **kwargs)
        conn = cls(ws)
        conn.hello = await conn.recv()
        if login is not None:
            answer = await conn.login(*login[1:])
            assert answer["type"] == "login_ok", answer
            conn.accounts = answer["accounts"]
        return conn

    async def login(self, api_key: str, secret: str, nonce: str | None = None, ts: int | None = None, **extra):
        ts = int(time.time() * 1000) if ts is None else ts
        nonce = nonce or self.hello["nonce"]
        signature = hmac.new(secret.encode(), f"{nonce}\n{api_key}\n{ts}".encode(), hashlib.sha256).hexdigest()
        return await self.request({"type": "login", "api_key": api_key, "timestamp_ms": ts,
                                   "signature": signature, **extra})

    async def recv(self, timeout: float = 5.0) -> dict:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        message = msgspec.msgpack.decode(raw) if isinstance(raw, bytes) else json.loads(raw)
        self.received.append(message)
        return message

    async def send(self, message) -> None:
        await self.ws.send(message if isinstance(message, (str, bytes)) else json.dumps(message))

    async def request(self, message: dict, timeout: float = 5.0) -> dict:
        """Send a request with a fresh req_id; the message answering it (pushes on the way are kept)."""
        self.n += 1
        req_id = f"t{self.n}"
        await self.send({**message, "req_id": req_id})
        return await self.until(lambda m: m.get("req_id") == req_id, timeout)

    async def until(self, predicate, timeout: float = 5.0) -> dict:
        deadline = asyncio.get_running_loop().time() + timeout
        for message in self.received:
            if predicate(message) and not message.get("_seen"):
                message["_seen"] = True
                return message
        while True:
            left = deadline - asyncio.get_running_loop().time()
            message = await self.recv(max(left, 0.001))
            if predicate(message):
                message["_seen"] = True
                return message

    async def order(self, account: int, instrument: str, side: str, qty: int, price: int | None, clid: str,
                    **extra) -> dict:
        body = {"type": "new_order", "account": account, "instrument": instrument, "side": side, "qty": qty,
                "client_order_id": clid, **extra}
        if price is not None:
            body["price"] = price
        return await self.request(body)

    async def close(self) -> None:
        await self.ws.close()
