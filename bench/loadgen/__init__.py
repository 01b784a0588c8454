"""The end-to-end load generator: algorithmic clients over the websocket API in a process of
their own, open loop at a target rate (latency measured from the intended send time, so a
stalled server cannot hide its queue: coordinated omission) or closed loop, bounded in
count and time, on loopback only; and the floor beside it: bare websocket echo servers
(aiohttp on uvloop, and picows) driven by the same client with the same messages at the
same rates.

    python -m bench.loadgen            # the suite: writes bench/results/loadgen/<run>/
    python -m bench.loadgen --smoke    # a few seconds, for CI: the tools run, nothing is timed
"""
