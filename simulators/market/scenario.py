"""Scenarios: what the market does, as TOML data files loadable by name.

    name = "..."                 description = "..."
    seed = 1                     days = 1            start_day = "2026-01-05"
    step_seconds = 3             # one L1 snapshot per instrument per step, as the exchanges publish
    market_correlation = 0.35    # pairwise return correlation across sectors
    sector_correlation = 0.60    # within a sector (>= market)
    vol_scale = 1.0              # multiplies every instrument's daily volatility
    jumps_per_day = 0.2          # expected idiosyncratic jumps per instrument per day
    jump_bp = 120                # standard deviation of a jump
    overnight_vol = 0.35         # close-to-open gap, as a share of one day's volatility

    [instruments]                # which names: all of them, or codes / sectors / a sample
    universe = "sample"          # or a CSV path (core.instruments columns)
    codes = ["601318"]           sectors = ["insurance"]      count = 0

    [[regime]]                   at = "1 10:00"      vol = 2.5          # volatility multiplier from then on
    [[shock]]                    at = "1 10:00"      target = "601318"  kind = "lock"
                                 direction = "down"  until = "1 15:00"

Times are "DAY HH:MM[:SS]" in Shanghai time, DAY counting trading days from 1. A shock
`target` is an instrument code, "sector:<name>", "market" (every instrument), or
"sample:<percent>" (that share of the names, drawn with the scenario's seed). Shock kinds:

    move    size_bp over over_minutes (a drift spread evenly over the steps)
    jump    size_bp at once
    lock    force a limit lock ("down" or "up") until `until` (default: the end of that day)
    halt    suspend trading until `until` (default: the end of that day), then resume
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path
from typing import Literal

import msgspec

SCENARIO_DIR = "market/scenarios"


class InstrumentSelection(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    universe: str = "sample"
    codes: list[str] = []
    sectors: list[str] = []
    count: int = 0  # 0: all that match


class Regime(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    at: str
    vol: float


class Shock(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    at: str
    target: str
    kind: Literal["move", "jump", "lock", "halt"]
    size_bp: int = 0
    over_minutes: float = 1.0
    direction: Literal["down", "up"] = "down"
    until: str = ""


class Scenario(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    description: str = ""
    seed: int = 1
    days: int = 1
    start_day: str = "2026-01-05"
    step_seconds: int = 3
    market_correlation: float = 0.35
    sector_correlation: float = 0.60
    vol_scale: float = 1.0
    jumps_per_day: float = 0.2
    jump_bp: int = 120
    overnight_vol: float = 0.35
    instruments: InstrumentSelection = InstrumentSelection()
    regime: list[Regime] = []
    shock: list[Shock] = []

    def validate(self) -> "Scenario":
        if self.days < 1 or self.step_seconds < 1:
            raise ValueError(f"scenario {self.name}: days and step_seconds must be >= 1")
        if not 0 <= self.market_correlation <= self.sector_correlation < 1:
            raise ValueError(f"scenario {self.name}: need 0 <= market_correlation <= sector_correlation < 1")
        dt.date.fromisoformat(self.start_day)
        for item in [*self.regime, *self.shock]:
            parse_at(item.at, self.days)
        for shock in self.shock:
            if shock.until:
                parse_at(shock.until, self.days)
        return self


def parse_at(text: str, days: int) -> tuple[int, int]:
    """("3 10:05") -> (day index from 0, seconds after midnight)."""
    try:
        day_part, clock = text.split()
        day = int(day_part) - 1
        parts = [int(p) for p in clock.split(":")]
        seconds = parts[0] * 3600 + parts[1] * 60 + (parts[2] if len(parts) > 2 else 0)
    except (ValueError, IndexError):
        raise ValueError(f"time {text!r} is not 'DAY HH:MM[:SS]'") from None
    if not 0 <= day < days or not 0 <= seconds < 86_400:
        raise ValueError(f"time {text!r} is outside the scenario's {days} day(s)")
    return day, seconds


def list_scenarios() -> list[str]:
    folder = resources.files("simulators").joinpath(SCENARIO_DIR)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A scenario by name (simulators/market/scenarios/<name>.toml) or from a TOML file."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        data = path.read_bytes()
    else:
        item = resources.files("simulators").joinpath(SCENARIO_DIR, f"{name_or_path}.toml")
        if not item.is_file():
            raise ValueError(f"no scenario {name_or_path!r}; known: {', '.join(list_scenarios())}")
        data = item.read_bytes()
    try:
        return msgspec.toml.decode(data, type=Scenario).validate()
    except msgspec.ValidationError as exc:
        raise ValueError(f"scenario {name_or_path}: {exc}") from None
