# cython: annotation_typing=False
"""Prometheus metrics (/metrics), with prometheus_client (the Prometheus project's own library).

The counters bumped on every order (orders, broker reports, fills, ticks, messages in, the
acknowledgement latency histogram) are plain integers read at scrape time by a collector:
prometheus_client's own counters take a lock on every increment, made for threads the
loop does not have, and cost more than the engine's whole pre-trade check.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from core.margin import MarginState

LATENCY_BUCKETS = (50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 20e-3, 50e-3, 100e-3, 1.0)


class Metrics:
    def __init__(self, gateway=None):
        self.registry = CollectorRegistry()
        r = self.registry
        # the hot path's counters (see the module's note), exposed by _HotCollector
        self.order_accepted, self.order_rejected = Tally(), Tally()
        self.fills, self.ticks, self.messages_in = Tally(), Tally(), Tally()
        self.order_latency = LatencyHistogram(LATENCY_BUCKETS)
        self._reports: dict[str, Tally] = {}
        self.rejects = Counter("beacon_order_rejects", "Order rejections by reject code", ["code", "reason"],
                               registry=r)
        self.connections = Gauge("beacon_connections", "Open websocket connections", registry=r)
        self.errors = Counter("beacon_ws_errors", "Requests answered with an error, by code", ["code"], registry=r)
        self.slow_consumers = Counter("beacon_ws_slow_consumer_closes", "Connections closed for not reading",
                                      registry=r)
        self.alerts = Counter("beacon_alerts", "Margin alerts by level", ["level"], registry=r)
        self.journal_seq = Gauge("beacon_journal_seq", "Last journal sequence number", registry=r)
        self.journal_safe = Gauge("beacon_journal_safe_seq", "Last sequence number safe to acknowledge", registry=r)
        self.journal_durable = Gauge("beacon_journal_durable_seq", "Last sequence number fsync'd to disk",
                                     registry=r)
        self.journal_failed = Gauge("beacon_journal_failed",
                                    "1 once a journal write or fsync has failed: nothing more is acknowledged",
                                    registry=r)
        self.webhooks = Counter("beacon_alert_webhooks", "Alert webhook deliveries by outcome", ["outcome"],
                                registry=r)
        self.liquidation_orders = Counter("beacon_liquidation_orders", "Liquidation child orders placed", registry=r)
        self.liquidation_stages = Counter("beacon_liquidation_stages", "Liquidation stages run", registry=r)
        self.shortfall = Counter("beacon_default_shortfall_fen", "Default shortfalls covered, by source (fen)",
                                 ["source"], registry=r)
        self.reconciliation_breaks = Gauge("beacon_reconciliation_breaks",
                                           "Breaks found by the last end-of-day reconciliation", registry=r)
        self.gateway = gateway
        r.register(_HotCollector(self))
        if gateway is not None:
            r.register(_StateCollector(gateway))

    def broker_report(self, exec_type: str) -> "Tally":
        tally = self._reports.get(exec_type)
        if tally is None:
            tally = self._reports[exec_type] = Tally()
        return tally

    def render(self) -> bytes:
        return generate_latest(self.registry)


class Tally:
    """A counter the loop's thread alone increments: no lock."""

    def __init__(self):
        self.value = 0

    def inc(self, amount: int = 1) -> None:
        self.value += amount


class LatencyHistogram:
    """Seconds into fixed buckets, for the loop's thread alone (no lock)."""

    def __init__(self, buckets: tuple[float, ...]):
        self.bounds = list(buckets)
        self.counts = [0] * (len(buckets) + 1)  # the last is +Inf
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        # The bucket of the first bound not below `seconds` (bisect_left's), by a scan from the
        # smallest, compiled to C comparisons (the locals are typed in the .pxd): an order's time
        # is almost always in the first bucket, where bisect_left compared Python floats
        # (about 1,000 instructions an observation).
        bounds = self.bounds
        i, n = 0, len(bounds)
        while i < n:
            edge = bounds[i]
            if not edge < seconds:
                break
            i += 1
        self.counts[i] += 1
        self.sum += seconds


class _HotCollector:
    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def collect(self):
        m = self.metrics
        orders = CounterMetricFamily("beacon_orders", "Orders by result", labels=["result"])
        orders.add_metric(["accepted"], m.order_accepted.value)
        orders.add_metric(["rejected"], m.order_rejected.value)
        yield orders
        reports = CounterMetricFamily("beacon_broker_reports", "Broker execution reports by type",
                                      labels=["exec_type"])
        for exec_type, tally in sorted(m._reports.items()):
            reports.add_metric([exec_type], tally.value)
        yield reports
        for name, text, tally in (("beacon_fills", "Fills applied", m.fills),
                                  ("beacon_market_ticks", "Market ticks applied", m.ticks),
                                  ("beacon_ws_messages_in", "Websocket messages received", m.messages_in)):
            yield CounterMetricFamily(name, text, value=tally.value)
        poll = getattr(m.gateway, "busy_poll", None)
        if poll is not None:
            yield CounterMetricFamily("beacon_busy_poll_turns", "Event-loop turns spent polling instead of sleeping "
                                      "([server] busy_poll_us)", value=poll.turns)
        h = m.order_latency
        cumulative, running = [], 0
        for bound, count in zip([*map(str, h.bounds), "+Inf"], h.counts):
            running += count
            cumulative.append((bound, running))
        yield HistogramMetricFamily("beacon_order_ack_seconds",
                                    "From the order's frame arriving to its answer being queued (journal included)",
                                    buckets=cumulative, sum_value=h.sum)


class _StateCollector:
    """Accounts per margin state, read from the engine at scrape time."""

    def __init__(self, gateway):
        self.gateway = gateway

    def collect(self):
        family = GaugeMetricFamily("beacon_accounts_by_margin_state", "Accounts per margin state", labels=["state"])
        counts = {s.name: 0 for s in MarginState}
        engine = self.gateway.machine.engine if self.gateway.machine else None
        if engine is not None:
            for a in range(engine.platform()["accounts"]):
                counts[MarginState(engine.account(a)["state"]).name] += 1
        for name, n in counts.items():
            family.add_metric([name], n)
        yield family
        if engine is None:
            return
        platform = engine.platform()
        for name, key, text in (
                ("beacon_insurance_pool_fen", "insurance_pool", "Insurance pool balance"),
                ("beacon_backstop_drawn_fen", "backstop_drawn", "Backstop credit line drawn"),
                ("beacon_backstop_line_fen", "backstop_line", "Backstop credit line"),
                ("beacon_receivables_fen", "receivables", "Receivables from defaulted clients outstanding")):
            gauge = GaugeMetricFamily(name, text)
            gauge.add_metric([], platform[key])
            yield gauge
        paused = GaugeMetricFamily("beacon_liquidation_paused", "1 while an operator has paused liquidation")
        paused.add_metric([], int(self.gateway.machine.liquidator.state.paused))
        yield paused
