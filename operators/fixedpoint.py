"""Fixed point for decisions: bps and rates held as integer parts per billion (ppb).

Every comparison that decides something (trigger, net edge, hysteresis, thresholds, landing
rate) is made on integers. A rate of the notional is held in ppb: 1 bps = 100_000 ppb, so a
threshold is exact to 1e-5 bps. A ratio that is not a whole number of ppb (a net edge is a
difference of amounts divided by the notional) is kept exact as `(num, den)` of ppb, `den > 0`,
and compared by cross-multiplication, never rounded.

Config and measurements arrive as floats. They are converted once, when the parameter
dataclasses are built (`engine/params.py` builds them from config): a float is read as the
shortest decimal that round-trips to it (`repr`, i.e. what the TOML file said), scaled, and
rounded to the nearest integer, ties to even. Floats remain only as report views derived from
these integers (journal bps columns, reports, plots).
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal

from operators.errors import ConfigError

__all__ = [
    "PPB",
    "PPB_PER_BPS",
    "Ratio",
    "bps_to_ppb",
    "ppb_of",
    "ppb_to_bps",
    "ratio_ge",
    "ratio_lt",
    "to_ppb",
]

PPB = 1_000_000_000
"""Parts per billion in one whole (a rate of 1)."""
PPB_PER_BPS = 100_000
"""ppb in one basis point."""

_FAST = 1 << 50
Ratio = tuple[int, int]
"""An exact value in ppb as (numerator, denominator), denominator > 0."""


def to_ppb(value: float, per_unit: int = PPB) -> int:
    """`value` (a float from config or a measurement) times `per_unit`, exact rule above, ppb."""
    if not math.isfinite(value):
        raise ConfigError(f"{value!r} is not a finite number")
    scaled = value * per_unit
    near = round(scaled)
    if scaled == near and -_FAST < near < _FAST:
        # A whole float product this small is within 1e-15 of the decimal's, which therefore
        # rounds to the same integer: the common case, without a Decimal.
        return near
    exact = Decimal(repr(value)) * per_unit
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def bps_to_ppb(bps: float) -> int:
    """A rate in bps (float, from config or a fill) as integer ppb of the notional."""
    return to_ppb(bps, PPB_PER_BPS)


def ppb_to_bps(ppb: int) -> float:
    """Float view of a ppb rate in bps (reports only; int / int is correctly rounded)."""
    return ppb / PPB_PER_BPS


def ppb_of(ppb: int, notional: int) -> int:
    """`ppb` of a notional in base units, rounded up (a cost is never under-counted)."""
    return -(-notional * ppb // PPB)


def ratio_lt(value: Ratio | None, bound_ppb: int) -> bool:
    """Exact `value < bound_ppb`; None stands for minus infinity (nothing could be priced)."""
    if value is None:
        return True
    return value[0] < bound_ppb * value[1]


def ratio_ge(value: Ratio | None, bound_ppb: int) -> bool:
    """Exact `value >= bound_ppb`; None stands for minus infinity."""
    return not ratio_lt(value, bound_ppb)
