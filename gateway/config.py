"""The gateway's settings: one TOML file (`beacon serve --config beacon.toml`), every default here.

    [server]   host, port, limits of the websocket API
    [journal]  where the journal lives and how durable it is
    [engine]   the margin engine's settings (core.config.EngineConfig), universe and tiers
    [market]   where prices come from: a simulated scenario, or nothing (prices injected by an operator)
    [broker]   the broker transport and, for the simulator, its latency and faults
    [[clients]] API keys of the algorithmic clients
    [admin]    the operators' tokens (they cannot trade)
    [demo]     demo accounts and a demo strategy (make run)
    [alerts]   the margin-alert webhook
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from core.config import EngineConfig
from gateway.fix.broker import FixSettings


# Bounds that every setting of these kinds must respect: a value outside them is refused when the
# config is read, with an error naming the setting (`Expected ... - at `$.market.speed``). A zero
# where a period is expected would have a task or thread turn without ever waiting.
Port = Annotated[int, Meta(ge=0, le=65_535)]  # 0: any free port
Count = Annotated[int, Meta(ge=1)]
NonNegative = Annotated[int, Meta(ge=0)]
NonNegativeFloat = Annotated[float, Meta(ge=0)]
Seconds = Annotated[float, Meta(gt=0)]


class ServerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Port = 8765
    # the same websocket API on picows, for the lowest latency (0: any free port; -1: off)
    order_port: Annotated[int, Meta(ge=-1, le=65_535)] = 8766
    max_frame_bytes: Annotated[int, Meta(ge=256)] = 65_536  # larger: refused, the connection closed (1009)
    send_queue_limit: Count = 10_000  # order and fill messages waiting for one connection; past it, close
    send_timeout_s: Seconds = 10.0  # one frame that takes longer to leave than this: the client is not reading
    send_buffer_bytes: NonNegative = 0  # the kernel's send buffer per connection (0: the OS's, which grows to MBs);
    #                             smaller bounds kernel memory per client and notices a stalled reader sooner
    market_conflation: bool = True  # a slow reader gets the latest tick per instrument, not every one
    heartbeat_s: Seconds = 10.0  # the gateway sends a heartbeat after this much silence
    idle_timeout_s: Seconds = 30.0  # and closes a connection that has said nothing for this long
    login_timeout_s: Seconds = 10.0
    login_attempts: Count = 3
    message_rate_per_s: Count = 500  # requests per connection (token bucket)
    message_burst: Count = 1_000
    max_errors_per_minute: NonNegative = 100  # past it the connection is closed: sustained abuse
    clock_skew_s: NonNegativeFloat = 30.0  # login timestamps further off than this are refused
    busy_poll_us: int = 0  # after each request, poll this long instead of sleeping (costs a core; 0: off)


class JournalSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    dir: str = "var/journal"
    fsync: Literal["every-batch", "interval", "none"] = "every-batch"
    interval_ms: Count = 5  # the interval policy's fsync period
    # records between snapshots, each written by a forked child (0: never); a restart replays at
    # most this many records after the newest snapshot: 1,000,000 take about 2 s (docs/journal.md)
    snapshot_every: int = 1_000_000


class EngineSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    universe: str = "sample"  # or a CSV path
    tiers: str = ""  # a TOML path; empty: the default tiers of DOMAIN.md
    trading_day: str = ""  # the first trading day (ISO date); empty: the market scenario's, else today
    config: EngineConfig = EngineConfig()


class MarketSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    source: Literal["scenario", "none"] = "scenario"
    scenario: str = "calm"
    speed: NonNegativeFloat = 1.0  # simulated seconds per wall-clock second; 0: as fast as possible
    clock_every_s: Seconds = 1.0  # how often (simulated) the clock advances the engine (margin-call deadlines)
    allow_injection: bool = False  # POST /admin/market/... may inject prices (tests, drills)


class BrokerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # "simulated": the broker simulator in this process; "fix": a FIX 4.4 session to a broker
    # (or to `python -m simulators.broker --fix`), settings in [broker.fix]
    kind: Literal["simulated", "fix"] = "simulated"
    fix: FixSettings = FixSettings()
    latency: Literal["zero", "realistic"] = "zero"
    reject_rate: Annotated[float, Meta(ge=0, le=1)] = 0.0  # the share of valid orders refused at random
    seed: int = 1


class AlertSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    webhook_url: str = ""  # margin state changes are POSTed here as JSON (empty: no webhook)
    webhook_secret: str = ""  # signs each body: X-Beacon-Signature: sha256=<hex HMAC>
    timeout_s: Seconds = 2.0  # per attempt
    retries: NonNegative = 3  # after the first attempt, on errors, timeouts, 5xx and 429
    backoff_s: NonNegativeFloat = 0.5  # doubled per retry
    queue_limit: Count = 10_000  # alerts waiting; past it the oldest is dropped (and counted)


class Client(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    client: str  # the client's name: accounts opened for it are its to trade
    api_key: str
    secret: str


class AdminSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    tokens: list[str] = []


class DemoSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    accounts: bool = False  # open one funded account per tier for each configured client
    deposit_fen: NonNegative = 100_000_000  # 1,000,000.00 CNY


class Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    server: ServerSettings = ServerSettings()
    journal: JournalSettings = JournalSettings()
    engine: EngineSettings = EngineSettings()
    market: MarketSettings = MarketSettings()
    broker: BrokerSettings = BrokerSettings()
    clients: list[Client] = []
    admin: AdminSettings = AdminSettings()
    demo: DemoSettings = DemoSettings()
    alerts: AlertSettings = AlertSettings()

    def validate(self) -> "Config":
        try:  # the bounds above, also for a config built or changed in code (structs.replace checks none)
            msgspec.convert(msgspec.to_builtins(self), type(self))
        except msgspec.ValidationError as exc:
            raise ValueError(f"config: {exc}") from None
        keys = [c.api_key for c in self.clients]
        if len(set(keys)) != len(keys):
            raise ValueError("config: duplicate client api_key")
        if set(keys) & set(self.admin.tokens):
            raise ValueError("config: an admin token may not also be a client api_key")
        for c in self.clients:
            if len(c.secret) < 16:
                raise ValueError(f"config: client {c.client}: secret must be at least 16 characters")
        if self.journal.snapshot_every < 0:
            raise ValueError(f"config: journal.snapshot_every must be 0 (never) or more, not {self.journal.snapshot_every}")
        if not 0 <= self.server.busy_poll_us <= 1_000_000:
            raise ValueError(f"config: server.busy_poll_us must be 0..1000000 µs, not {self.server.busy_poll_us}")
        self.engine.config.validate()
        return self


def load_config(path: str | Path) -> Config:
    try:
        return msgspec.toml.decode(Path(path).read_bytes(), type=Config).validate()
    except msgspec.ValidationError as exc:
        raise ValueError(f"{path}: {exc}") from None


def dump_config(config: Config) -> bytes:
    return msgspec.toml.encode(config)
