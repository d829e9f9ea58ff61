"""Book depth at a limit price, its rolling quantile, and the slices of a large CEX leg.

An IOC larger than what the book usually holds at its limit would sweep into thin levels or
leave most of itself unfilled; execution cuts it into slices of the rolling quantile (default
p95, issue 11) of the depth observed at that limit.

Which limit: the order's own limit price (`limit_quote / size_base`) when the order is made.
The execution step keeps the pair's recent CEX book views (`DepthTracker.observe`), and when a
CEX leg is about to be sent it measures, on each of the last `window` views of that market
received at or before the order's time, the base units the book held at prices no worse than
the leg's limit (`depth_at_limit`); the slice size is the nearest-rank quantile of those
depths. So the question answered is "how much does this book usually hold at *this* limit",
which is what an IOC at that limit can take.

Integers end to end: levels are (price_e18, size_e18), amounts base units and quote base
units, the quantile parts per million. Pure and snapshot-able: plain data, no clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from operators.events import FIXED_SCALE, FixedLevel, OrderIntent, Side
from operators.views import CexBookView

PPM = 1_000_000


def depth_at_limit(
    levels: tuple[FixedLevel, ...],
    side: Side,
    limit_quote: int,
    size_base: int,
    base_decimals: int,
    quote_decimals: int,
) -> int:
    """Base units a `side` order of `size_base` limited at `limit_quote` (quote base units for
    the whole size) can take from best-first `levels` (a buy takes asks priced at or below the
    limit price, a sell bids at or above it); each level's size floored to base units."""
    base_scale = 10**base_decimals
    # price_e18 / 1e18 (human quote per human base) against limit / size (base units), exact
    rhs = limit_quote * FIXED_SCALE * base_scale
    mul = 10**quote_decimals * size_base
    buy = side == "buy"
    total = 0
    for price_e18, qty_e18 in levels:
        lhs = price_e18 * mul
        if (lhs > rhs) if buy else (lhs < rhs):
            break
        total += qty_e18 * base_scale // FIXED_SCALE
    return total


def quantile_ppm(quantile: float) -> int:
    """A quantile in (0, 1] as integer parts per million (nearest)."""
    q = round(quantile * PPM)
    if not 0 < q <= PPM:
        raise ValueError(f"quantile must be in (0, 1], not {quantile}")
    return q


def nearest_rank(values: list[int], q_ppm: int) -> int:
    """The nearest-rank quantile of non-empty `values`: the ceil(q * n)-th smallest."""
    ordered = sorted(values)
    n = len(ordered)
    rank = max(1, -(-q_ppm * n // PPM))
    return ordered[min(n, rank) - 1]


@dataclass(slots=True)
class DepthTracker:
    """The recent in-sync book views of each CEX market, for the depth quantile at a limit.

    `lookahead` extra views are kept beyond `window`: in paper/replay views newer than an
    order may already have reached the step when it is made (batching), and the quantile only
    counts views received at or before the order, so the result does not depend on batching.
    """

    window: int = 200
    quantile_ppm: int = 950_000
    min_samples: int = 20
    lookahead: int = 0
    books: dict[str, deque[CexBookView]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.window < 1 or self.min_samples < 1 or self.lookahead < 0:
            raise ValueError("window and min_samples must be >= 1, lookahead >= 0")
        if not 0 < self.quantile_ppm <= PPM:
            raise ValueError(f"quantile_ppm must be in (0, {PPM}], not {self.quantile_ppm}")

    def observe(self, view: CexBookView) -> None:
        """Keep one view (out-of-sync views are not the book's depth and are skipped)."""
        if not view.in_sync:
            return
        held = self.books.get(view.market_id)
        if held is None:
            held = self.books[view.market_id] = deque(maxlen=self.window + self.lookahead)
        held.append(view)

    def depth_quantile(
        self,
        market_id: str,
        side: Side,
        limit_quote: int,
        size_base: int,
        base_decimals: int,
        quote_decimals: int,
        until_ns: int,
    ) -> int | None:
        """The quantile of the depth at the order's limit (base units) over the last `window`
        views of `market_id` received at or before `until_ns`; None under `min_samples`."""
        held = self.books.get(market_id)
        if not held or size_base <= 0:
            return None
        depths: list[int] = []
        for v in reversed(held):
            if v.ts_recv_ns > until_ns:
                continue
            levels = v.asks if side == "buy" else v.bids
            depths.append(
                depth_at_limit(levels, side, limit_quote, size_base, base_decimals, quote_decimals)
            )
            if len(depths) == self.window:
                break
        if len(depths) < self.min_samples:
            return None
        return nearest_rank(depths, self.quantile_ppm)


@dataclass(frozen=True, slots=True)
class SlicePlan:
    """How one CEX leg is cut: slice sizes in send order (base units, summing to the leg)."""

    sizes_base: tuple[int, ...]
    depth_base: int
    """The depth quantile at the leg's limit that sized the slices (base units)."""
    note: str = ""
    """Why the plan differs from ceil(size / depth) slices (min notional), or ""."""


def split_even(total_units: int, n: int, step_units: int) -> list[int]:
    """`total_units` in `n` near-equal whole numbers of `step_units` (the first ones one step
    larger when they do not divide evenly); the rest below one step is folded into the last
    slice, so the slices sum to the total."""
    base, extra = divmod(total_units // step_units, n)
    sizes = [(base + (1 if k < extra else 0)) * step_units for k in range(n)]
    sizes[-1] += total_units - sum(sizes)
    return sizes


def slice_count(total_units: int, cap_units: int, step_units: int) -> int:
    """How many slices of at most `cap_units` (floored to whole steps) `total_units` needs;
    1 when it fits or the cap is under one step."""
    cap = cap_units // step_units * step_units
    if cap <= 0 or total_units <= cap:
        return 1
    return -(-total_units // cap)


def plan_slices(
    size_base: int,
    limit_quote: int,
    depth_base: int,
    lot_base: int = 1,
    min_notional_quote: int = 0,
    max_slices: int = 35,
) -> SlicePlan | None:
    """The slices of a leg of `size_base` limited at `limit_quote` when it is deeper than
    `depth_base` (the book's usual depth at that limit); None when it is sent whole.

    Slices are near-equal whole lots, the rest below a lot folded into the last. When equal
    slices would fall under the market's minimum notional (valued at the limit price), fewer,
    larger slices are sent (the note says so); when even two would be under it, or the depth
    is under one lot, the leg goes whole. At most `max_slices` slices (client-id room).
    """
    lot = max(1, lot_base)
    if size_base <= depth_base or depth_base < lot or size_base < 2 * lot:
        return None
    wanted = slice_count(size_base, depth_base, lot)
    n = min(wanted, max_slices)
    note = f"{wanted} slices capped at {max_slices}" if n < wanted else ""

    def notional_ok(k: int) -> bool:
        smallest = min(split_even(size_base, k, lot))
        return smallest * limit_quote >= min_notional_quote * size_base

    capped = n
    while n > 1 and not notional_ok(n):
        n -= 1
    if n <= 1:
        return None
    if n < capped:
        why = f"{capped} slices would be under min notional {min_notional_quote}: {n} slices"
        note = f"{note}; {why}" if note else why
    return SlicePlan(tuple(split_even(size_base, n, lot)), depth_base, note)


@dataclass(slots=True)
class Slicer:
    """Plans the slices of a CEX leg from the depth its market's book held at the leg's limit.

    Held by the leg machine (operators/legs.py) and fed the pair's CEX views by its host step;
    plain data, so it pickles with the step (Bytewax recovery restores the observations).
    """

    depth: DepthTracker
    base_decimals: int
    quote_decimals: int
    lot_base: dict[str, int] = field(default_factory=dict)
    """Market id -> lot size in base units (slices are whole lots)."""
    min_notional_quote: dict[str, int] = field(default_factory=dict)
    """Market id -> the venue's minimum order notional in the pair's quote base units."""

    @property
    def label(self) -> str:
        """The quantile as journaled: `p95` for 0.95."""
        return f"p{self.depth.quantile_ppm / 10_000:g}"

    def observe(self, view: CexBookView) -> None:
        """One CEX book view of the pair (its depth observations)."""
        self.depth.observe(view)

    def plan(self, intent: OrderIntent, now_ns: int) -> SlicePlan | None:
        """The slices of `intent` made at `now_ns`; None when it goes whole (FOK, too few
        observations, or no deeper than the depth quantile at its limit)."""
        if intent.time_in_force == "fok":
            return None  # all or nothing: slices would each be all or nothing, not the whole
        d = self.depth.depth_quantile(
            intent.market_id, intent.side, intent.limit_quote, intent.size_base,
            self.base_decimals, self.quote_decimals, now_ns,
        )  # fmt: skip
        if d is None:
            return None
        return plan_slices(
            intent.size_base,
            intent.limit_quote,
            d,
            self.lot_base.get(intent.market_id, 1),
            self.min_notional_quote.get(intent.market_id, 0),
        )
