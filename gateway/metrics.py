"""Prometheus metrics (/metrics), with prometheus_client (the Prometheus project's own library)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from core.margin import MarginState

LATENCY_BUCKETS = (50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 20e-3, 50e-3, 100e-3, 1.0)


class Metrics:
    def __init__(self, gateway=None):
        self.registry = CollectorRegistry()
        r = self.registry
        self.orders = Counter("beacon_orders", "Orders by result", ["result"], registry=r)
        self.rejects = Counter("beacon_order_rejects", "Order rejections by reject code", ["code", "reason"],
                               registry=r)
        self.fills = Counter("beacon_fills", "Fills applied", registry=r)
        self.broker_reports = Counter("beacon_broker_reports", "Broker execution reports by type", ["exec_type"],
                                      registry=r)
        self.order_latency = Histogram("beacon_order_ack_seconds",
                                       "From the order's frame arriving to its answer being queued (journal included)",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.connections = Gauge("beacon_connections", "Open websocket connections", registry=r)
        self.messages_in = Counter("beacon_ws_messages_in", "Websocket messages received", registry=r)
        self.errors = Counter("beacon_ws_errors", "Requests answered with an error, by code", ["code"], registry=r)
        self.slow_consumers = Counter("beacon_ws_slow_consumer_closes", "Connections closed for not reading",
                                      registry=r)
        self.ticks = Counter("beacon_market_ticks", "Market ticks applied", registry=r)
        self.alerts = Counter("beacon_alerts", "Margin alerts by level", ["level"], registry=r)
        self.journal_seq = Gauge("beacon_journal_seq", "Last journal sequence number", registry=r)
        self.journal_safe = Gauge("beacon_journal_safe_seq", "Last sequence number safe to acknowledge", registry=r)
        self.webhooks = Counter("beacon_alert_webhooks", "Alert webhook deliveries by outcome", ["outcome"],
                                registry=r)
        self.liquidation_orders = Counter("beacon_liquidation_orders", "Liquidation child orders placed", registry=r)
        self.liquidation_stages = Counter("beacon_liquidation_stages", "Liquidation stages run", registry=r)
        self.shortfall = Counter("beacon_default_shortfall_fen", "Default shortfalls covered, by source (fen)",
                                 ["source"], registry=r)
        self.reconciliation_breaks = Gauge("beacon_reconciliation_breaks",
                                           "Breaks found by the last end-of-day reconciliation", registry=r)
        if gateway is not None:
            r.register(_StateCollector(gateway))
        # labelled children, found once: labels() hashes and locks on every call, on the order path
        self.order_accepted = self.orders.labels("accepted")
        self.order_rejected = self.orders.labels("rejected")
        self._reports = {}

    def broker_report(self, exec_type: str):
        child = self._reports.get(exec_type)
        if child is None:
            child = self._reports[exec_type] = self.broker_reports.labels(exec_type)
        return child

    def render(self) -> bytes:
        return generate_latest(self.registry)


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
