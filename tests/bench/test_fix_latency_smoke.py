"""The FIX latency benchmark runs end to end (a few orders; no timing is asserted), so the
tool cannot rot between benchmark runs."""

from bench.fix_latency import run


def test_the_fix_latency_benchmark_runs_both_brokers():
    results = run(orders=20, warmup=5, policies=["interval"])
    assert [(policy, transport) for policy, transport, _, _ in results] == [("interval", "in-process"),
                                                                            ("interval", "FIX")]
    for _, _, acks, broker_acks in results:
        assert len(acks) == len(broker_acks) == 20
        assert all(0 < a <= b for a, b in zip(acks, broker_acks))  # the broker's ack never precedes the gateway's
