"""The gateway's settings are held to their bounds when read, with an error naming the setting;
a value outside them never reaches the running gateway (a zero period would have a task turn
without waiting, a negative market speed would run time backwards)."""

import asyncio
import subprocess
import sys

import msgspec
import pytest
import uvloop

from gateway.config import Config, MarketSettings, load_config
from gateway.service import Gateway

from .harness import ROOT

REFUSED = [
    ("market", "speed", -1.0, "`$.market.speed`"),
    ("market", "clock_every_s", 0.0, "`$.market.clock_every_s`"),
    ("journal", "interval_ms", 0, "`$.journal.interval_ms`"),
    ("broker", "reject_rate", 1.5, "`$.broker.reject_rate`"),
    ("server", "port", 70_000, "`$.server.port`"),
    ("server", "order_port", -2, "`$.server.order_port`"),
    ("server", "heartbeat_s", 0.0, "`$.server.heartbeat_s`"),
    ("server", "message_rate_per_s", 0, "`$.server.message_rate_per_s`"),
    ("server", "max_frame_bytes", 10, "`$.server.max_frame_bytes`"),
    ("alerts", "queue_limit", 0, "`$.alerts.queue_limit`"),
    ("demo", "deposit_fen", -1, "`$.demo.deposit_fen`"),
    ("broker.fix", "port", 0, "`$.broker.fix.port`"),
    ("broker.fix", "reconnect_min_s", 0.0, "`$.broker.fix.reconnect_min_s`"),
]


def _toml(tmp_path, section: str, key: str, value) -> str:
    path = tmp_path / "beacon.toml"
    path.write_text(f"[{section}]\n{key} = {value!r}\n".replace("'", '"'))
    return str(path)


@pytest.mark.parametrize("section,key,value,named", REFUSED, ids=[f"{s}.{k}" for s, k, _, _ in REFUSED])
def test_an_out_of_range_setting_is_refused_by_name(tmp_path, section, key, value, named):
    with pytest.raises(ValueError) as error:
        load_config(_toml(tmp_path, section, key, value))
    assert named in str(error.value)


def test_the_edges_of_the_ranges_are_accepted(tmp_path):
    path = tmp_path / "beacon.toml"
    path.write_text("[server]\nport = 0\norder_port = -1\nmax_errors_per_minute = 0\n"
                    "[market]\nspeed = 0.0\n[broker]\nreject_rate = 1.0\n[journal]\ninterval_ms = 1\n")
    config = load_config(str(path))
    assert (config.server.order_port, config.market.speed, config.broker.reject_rate) == (-1, 0.0, 1.0)


def test_a_config_changed_in_code_is_held_to_the_same_bounds():
    config = msgspec.structs.replace(Config(), market=MarketSettings(clock_every_s=-1.0))  # replace checks nothing
    with pytest.raises(ValueError, match=r"\$\.market\.clock_every_s"):
        config.validate()


def test_the_command_line_refuses_an_out_of_range_override():
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "serve", "--port", "70000"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "$.server.port" in out.stderr


def test_a_fast_market_clock_waits_between_advances_instead_of_spinning():
    """At 10,000 simulated seconds per second a 1 s clock step is 0.1 ms of wall time, which
    uvloop's millisecond timers round to nothing: the ticker advanced the clock on every loop
    turn. It now waits the timer's millisecond at least."""
    gateway = Gateway(Config(market=MarketSettings(source="none", speed=10_000.0, clock_every_s=1.0)))
    advances = 0

    def counted():
        nonlocal advances
        advances += 1

    gateway.advance_clock = counted

    async def run():
        ticker = asyncio.get_running_loop().create_task(gateway._clock_ticker())
        await asyncio.sleep(0.05)
        ticker.cancel()

    uvloop.run(run())
    assert 1 <= advances <= 60, f"{advances} clock advances in 50 ms"
