"""How long the broker takes to answer: a fixed delay plus seeded jitter, per report."""

from __future__ import annotations

import msgspec

from simulators.market._kernel import Rng


class LatencyModel(msgspec.Struct, frozen=True, kw_only=True):
    """Delay of each acknowledgement and fill, in nanoseconds of simulated time: `fixed_ns`
    plus a normal jitter (mean `jitter_mean_ns`, deviation `jitter_sd_ns`), clipped to
    [`min_ns`, `max_ns`]. The default is no delay (benchmarks)."""

    fixed_ns: int = 0
    jitter_mean_ns: int = 0
    jitter_sd_ns: int = 0
    min_ns: int = 0
    max_ns: int = 0

    @property
    def zero(self) -> bool:
        """No delay at all: every draw is 0."""
        return not (self.fixed_ns or self.jitter_mean_ns or self.jitter_sd_ns)

    def draw(self, rng: Rng) -> int:
        if self.zero:
            return 0
        delay = self.fixed_ns + self.jitter_mean_ns + self.jitter_sd_ns * rng.gauss()
        if self.max_ns:
            delay = min(delay, self.max_ns)
        return int(max(delay, self.min_ns))


ZERO = LatencyModel()
#: The broker latency the product's source articles quote: 18 ms on average, 28 ms at worst.
REALISTIC = LatencyModel(fixed_ns=10_000_000, jitter_mean_ns=8_000_000, jitter_sd_ns=3_500_000,
                         min_ns=10_000_000, max_ns=28_000_000)
PRESETS = {"zero": ZERO, "realistic": REALISTIC}
