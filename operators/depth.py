"""Book depth at a limit price and its rolling quantile: the slice size of a large CEX order.

An IOC larger than what the book usually holds at its limit would sweep into thin levels or
leave most of itself unfilled; execution cuts it into slices of the rolling quantile (default
p95, issue 11) of the depth observed at that limit (connectors/cex/orders/common.slice_order).
Pure and snapshot-able: plain data, no clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from operators.events import Level, Side


def depth_at_limit(levels: tuple[Level, ...], side: Side, limit_price: Decimal) -> Decimal:
    """Base quantity a `side` order limited at `limit_price` can take from best-first `levels`
    (a buy takes asks priced at or below the limit, a sell bids at or above it)."""
    total = Decimal(0)
    for price, qty in levels:
        if price > limit_price if side == "buy" else price < limit_price:
            break
        total += qty
    return total


@dataclass(slots=True)
class RollingDepth:
    """The last `window` depth observations of one market and side; nearest-rank quantile."""

    window: int = 200
    quantile: float = 0.95
    min_samples: int = 20
    samples: deque[Decimal] = field(default_factory=deque)

    def __post_init__(self) -> None:
        if self.window < 1 or not 0.0 < self.quantile <= 1.0 or self.min_samples < 1:
            raise ValueError("window and min_samples must be >= 1, quantile in (0, 1]")

    def observe(self, depth: Decimal) -> None:
        """Record one depth observation (base units)."""
        self.samples.append(depth)
        while len(self.samples) > self.window:
            self.samples.popleft()

    def value(self) -> Decimal | None:
        """The quantile of the held observations; None until `min_samples` were seen."""
        n = len(self.samples)
        if n < self.min_samples:
            return None
        ordered = sorted(self.samples)
        rank = max(1, -(-int(self.quantile * 1_000_000) * n // 1_000_000))  # ceil(q * n)
        return ordered[min(n, rank) - 1]
