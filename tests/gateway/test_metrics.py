"""The lock-free hot-path metrics render as Prometheus counters and a cumulative histogram."""

from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics import Metrics


def samples(metrics: Metrics) -> dict:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_hot_counters_and_the_ack_histogram_render_for_prometheus():
    m = Metrics()
    m.order_accepted.inc()
    m.order_accepted.inc()
    m.order_rejected.inc()
    m.broker_report("fill").inc(3)
    m.messages_in.inc()
    for seconds in (0.0001, 0.00015, 0.002, 5.0):  # a value equal to a bound counts in that bucket (le)
        m.order_latency.observe(seconds)
    s = samples(m)
    assert s[("beacon_orders_total", (("result", "accepted"),))] == 2
    assert s[("beacon_orders_total", (("result", "rejected"),))] == 1
    assert s[("beacon_broker_reports_total", (("exec_type", "fill"),))] == 3
    assert s[("beacon_ws_messages_in_total", ())] == 1
    bucket = lambda le: s[("beacon_order_ack_seconds_bucket", (("le", le),))]
    assert (bucket("5e-05"), bucket("0.0001"), bucket("0.0002"), bucket("0.002"), bucket("1.0"), bucket("+Inf")) \
        == (0, 1, 2, 3, 3, 4)
    assert s[("beacon_order_ack_seconds_count", ())] == 4
    assert abs(s[("beacon_order_ack_seconds_sum", ())] - 5.00225) < 1e-9
