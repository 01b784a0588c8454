"""Shared fixtures: every engine test runs against both backends (Cython and reference)."""

from __future__ import annotations

import datetime as dt
import os
import random

import pytest

from core import Engine, EngineConfig, Instrument, Universe
from core.session import shanghai_ns

TRADING_DAY = dt.date(2026, 1, 5)  # a Monday
#: Seed of every random test in this run; printed in the header, settable to repeat a run.
RUN_SEED = int(os.environ.get("BEACON_TEST_SEED") or random.SystemRandom().randrange(2**32))


def pytest_report_header(config):
    return f"beacon random-test seed: {RUN_SEED} (repeat with BEACON_TEST_SEED={RUN_SEED})"
NOW = shanghai_ns(2026, 1, 5, 10, 0)  # continuous trading


def small_universe() -> Universe:
    """Instruments with round prices, one per rule worth testing."""
    return Universe([
        Instrument(code="600000", name="main SSE", prev_close=1000, index_constituent=True, haircut_bp=7000),
        Instrument(code="000001", name="main SZSE", prev_close=2000),
        Instrument(code="300001", name="ChiNext", prev_close=5000),
        Instrument(code="688001", name="STAR", prev_close=10000),
        Instrument(code="600001", name="ST main", prev_close=500, st=True, marginable=False, haircut_bp=0),
        Instrument(code="600002", name="halted", prev_close=1500, halted=True),
        Instrument(code="300002", name="new listing", prev_close=3000, no_limit=True),
        Instrument(code="600003", name="no reference price", prev_close=0),
        Instrument(code="000002", name="non-marginable", prev_close=1000, marginable=False),
    ])


@pytest.fixture(params=["python", "cython"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def make_engine(backend):
    def factory(**config) -> Engine:
        cfg = EngineConfig(**config)
        return Engine(small_universe(), config=cfg, trading_day=TRADING_DAY, backend=backend)

    return factory


@pytest.fixture
def engine(make_engine) -> Engine:
    return make_engine()
