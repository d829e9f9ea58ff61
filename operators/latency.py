"""Latency model of the paper venue: per-venue feed, order-ack and confirmation delays.

Each delay is a log-normal given by its median and 99th percentile. A draw is a pure function
of (seed, intent id, venue, component): the uniform comes from SHA-256, never from a shared
random stream, so a replay gives the same fills at any batch size, after a recovery resume and
on any number of workers (an intent's draw does not depend on which intents came before it).

How a leg uses them (docs/config.md, `[paper.latency.<venue>]`):
- `feed`: how much later than the capture's receive time our decision would have been (a slower
  market-data path than the recording's);
- `ack`: intent sent -> matched (CEX) or landed and executed in a slot (DEX);
- the leg fills against the view current at intent + feed + ack;
- `confirm`: executed -> reported to us (the DEX commitment level); it moves the fill's report
  time, not its price.
A venue without a distribution, or a component left out, keeps the fixed defaults
(`engine.paper_cex_latency_ms` / `paper_dex_latency_ms` for the ack, 0 for feed and confirm).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from statistics import NormalDist

from operators.errors import ConfigError

Z99 = NormalDist().inv_cdf(0.99)
_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class DelayDist:
    """A log-normal delay: half the draws under `median_ns`, one in a hundred over `p99_ns`."""

    median_ns: int
    p99_ns: int

    def __post_init__(self) -> None:
        if not 0 <= self.median_ns <= self.p99_ns or (self.median_ns == 0 < self.p99_ns):
            raise ConfigError(
                f"latency: need 0 < median <= p99 (or both 0), got {self.median_ns} / "
                f"{self.p99_ns} ns"
            )

    def at(self, u: float) -> int:
        """The delay at quantile `u` (0 < u < 1), ns."""
        if self.median_ns == self.p99_ns:
            return self.median_ns
        sigma = math.log(self.p99_ns / self.median_ns) / Z99
        return int(self.median_ns * math.exp(sigma * _NORMAL.inv_cdf(u)))


@dataclass(frozen=True, slots=True)
class VenueDelays:
    """The delays of one venue; None keeps that component's fixed default."""

    feed: DelayDist | None = None
    ack: DelayDist | None = None
    confirm: DelayDist | None = None


def uniform(seed: int, intent_id: str, venue: str, component: str) -> float:
    """A uniform in (0, 1) that depends only on its arguments (SHA-256, 53 bits)."""
    h = hashlib.sha256(f"{seed}|{intent_id}|{venue}|{component}".encode()).digest()
    return ((int.from_bytes(h[:8], "big") >> 11) + 0.5) / (1 << 53)


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """Seeded per-venue delays; plain data (pickles with the paper venue's state)."""

    seed: int = 0
    venues: dict[str, VenueDelays] = field(default_factory=dict)

    def leg_delays_ns(self, intent_id: str, venue: str, default_ack_ns: int) -> tuple[int, int]:
        """(intent -> execution, execution -> report) of one leg at `venue`, ns."""
        d = self.venues.get(venue)
        if d is None:
            return default_ack_ns, 0

        def draw(dist: DelayDist | None, component: str, default: int) -> int:
            if dist is None:
                return default
            return dist.at(uniform(self.seed, intent_id, venue, component))

        execute = draw(d.feed, "feed", 0) + draw(d.ack, "ack", default_ack_ns)
        return execute, draw(d.confirm, "confirm", 0)
