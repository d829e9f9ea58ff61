"""The per-pair join: every CEX x DEX combination, both directions, net of every cost, at size.

`PairEngine.on_view(view, now_ns)` keeps the latest view per market id and re-evaluates every
candidate the new view takes part in: (CEX view, DEX view) x {buy CEX / sell DEX, buy DEX / sell
CEX}. A candidate whose views are stale or not in sync is skipped and never signals. Stale comes
from the feed, not from the view's age (`is_stale`, `FeedClock`): a view is stale when its feed
reported down / stale / lag, or when its feed has been silent (no frame of any of its markets in
this pair, no healthy heartbeat) for longer than the budget at `now_ns` (the triggering view's
receive time; a CEX venue's budget `cex_stale_after_ns`, from its book stream's cadence; DEX
`stale_after_ns`), or when a DEX view's feed broke since it arrived and has moved on more than
`max_slot_lag` slots. An unchanged book on a live stream, or a quiet pool behind a healthy
subscription, is current and tradeable.

Trigger (MISSION.md), all in bps of the buying leg's gross notional:
    spread_bps >= fees_cex + fees_dex + gas + slippage + safety (+ hedge for a perp CEX leg)
and net_bps = spread_bps - costs >= min_net_bps, i.e. net_bps >= max(0, min_net_bps).
Both are decided exactly on integers (operators/fixedpoint.py): the net edge as a ppb ratio of
the notional, thresholds in ppb; the float bps of an `Opportunity` are its report view. The
expected PnL is the floor of that exact net edge in quote base units, so `pnl > 0` (also
required) already implies net > 0: a sign the risk guard can check on the integer.

Size. A linear grid of `size_steps` sizes up to `max_trade_base`, rounded down to the lot size
of both legs (the CEX market's configured lot, a CLOB's base lot). Sizes whose buy or sell quote
exceeds `max_notional_quote` are dropped. Each leg is priced for the whole grid in one walk (a
CEX level walk, a CLOB ladder's prefix sums, one CLMM tick walk that the view keeps for later
sizes; DEX curves are cached until that DEX view changes). PnL =
proceeds - cost - gas - (slippage + hedge + safety) of the notional. Gas rises with the edge by
at most `priority_share_of_edge` of it, so the PnL is maximal where the edge before gas is: the
grid is ranked on that. The grid only brackets the answer: the edge before gas is concave in the
size (a buy walks ever dearer levels / ticks, a sell ever cheaper ones, fees and flat bps are
proportional), so its maximum lies between the grid neighbours of the best grid size (below the
first grid size when none executes), where `_exact` finds the best whole lot by a fan search
(`_Probe.argmax`: exact integers, batched walks shared by the view's candidates). Venue
minimums: whole lots of both legs, and `min_notional` per market. Only the winner (and the grid
size below it, for `marginal_bps`) is fully costed.

Ids are `pair|direction|buy_market>sell_market|n`, n counting signals of that key: no clock, no
randomness, so a replay reproduces them. `buy_venue`/`sell_venue` of an opportunity are MARKET
ids (what the risk guard and the execution venues key on).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from math import gcd
from operator import add, sub
from typing import NamedTuple

from operators.clmm.accounts import Whirlpool
from operators.clmm.raydium_accounts import PoolState
from operators.clmm.swap import OrcaCurveWalk
from operators.clob import ClobLadderCurve
from operators.costs import (
    CandidateCost,
    CostModel,
    CostParams,
    LandingStats,
    SlippageEstimator,
    hedge_ppb,
)
from operators.errors import QuoteError
from operators.events import HealthEvent, Opportunity
from operators.fixedpoint import PPB, PPB_PER_BPS, Ratio, bps_to_ppb, ppb_of, ratio_lt
from operators.pricing import (
    PRICE_SCALE,
    LegQuote,
    LegSide,
    buy_base_curve,
    cex_curve_amounts,
    clmm_curve_amounts,
    clmm_walk,
    fx_ratio,
    sell_base_curve,
    to_pair_quote,
)
from operators.signals import Debouncer, HysteresisParams
from operators.views import CexBookView, ClmmView, ClobView, VenueView

__all__ = [
    "BUY_CEX_SELL_DEX",
    "BUY_DEX_SELL_CEX",
    "DIRECTIONS",
    "PairEngine",
    "SizedCandidate",
    "SpreadParams",
]

BUY_CEX_SELL_DEX = "buy_cex_sell_dex"
BUY_DEX_SELL_CEX = "buy_dex_sell_cex"
DIRECTIONS = (BUY_CEX_SELL_DEX, BUY_DEX_SELL_CEX)
POLISH_LOTS = 2
"""Lots either side of the search's pick also tried (rounding can flatten a step)."""
SEARCH_FAN = 16
"""Sizes priced per round of the exact-size search (one batched walk per leg)."""
BOUND_SLACK_PPB = 1_000
"""0.01 bps under the exact bound before a skip: the same skip/evaluate split (and journal
counters) as when the bound was a float; a skip is proven either way."""

DexView = ClmmView | ClobView
_SKIPPED: Ratio = (0, 0)
"""`on_view`'s mark for a direction its bound settled (never a bound: those have den > 0)."""
_OPPORTUNITY_FIELDS = (
    "opportunity_id", "pair", "direction", "buy_venue", "sell_venue", "size_base", "buy_quote",
    "sell_quote", "spread_bps", "costs", "threshold_bps", "net_bps", "expected_pnl_quote",
    "marginal_bps", "cu_price_micro_lamports", "update_seq", "ts_event_ns", "ts_recv_ns",
    "ts_detect_ns", "stale_venues", "ts_ingest_ns", "ts_detect_wall_ns", "buy_quote_currency",
    "buy_fx", "sell_quote_currency", "sell_fx",
)  # fmt: skip
if tuple(f.name for f in fields(Opportunity)) != _OPPORTUNITY_FIELDS:  # pragma: no cover
    # `_evaluate` builds Opportunity positionally: a field added or moved must fail loudly here.
    raise ImportError("operators.events.Opportunity fields changed; update operators.spread")
Point = tuple[LegQuote, int, int, int]
"""A priced size: the leg, then gross, fee and amount in pair-quote base units (against us)."""
LegPoint = tuple[LegQuote | tuple[int, int, int], int, int, int]
"""A Point whose `LegQuote` may still be its raw (quote_amount, fee, levels or ticks crossed)
walk: the search prices many sizes and keeps one, so a leg's quote is built only for that one."""
Curve = list[Point | None]
Top = tuple[int, int] | None
"""A view's best marginal price as (num, den), pair-quote base units per base unit, exact."""


class _Curve:
    """One leg priced over the size grid: plain int columns to rank sizes on, Points on demand.

    Why columns: every candidate a view takes part in ranks the whole grid, so the ranking
    loop reads flat lists; a CEX or CLOB leg's `LegQuote`s are built only for the sizes that win
    (`point`), not for the whole grid on every book tick. Column i is meaningful only where
    `size[i]` is not None (None: that size could not be priced).
    """

    __slots__ = (
        "_adjusted",
        "_cex",
        "_over_cap",
        "_side",
        "amount",
        "clean",
        "gross",
        "part",
        "points",
        "size",
    )

    def __init__(self, n: int) -> None:
        self.size: list[int | None] = [None] * n
        self.gross = [0] * n
        self.amount = [0] * n
        self.part = [0] * n
        """Buy: gross + fee (what the size costs); sell: gross - fee (what it yields)."""
        self.points: list[Point | None] = [None] * n
        self._cex: tuple[CexBookView | ClobView, list[tuple[int, int, int] | None]] | None = None
        self._side: LegSide = "buy"
        self.clean = False
        """Every size priced (and, for a buy leg, every gross > 0): see `PairEngine._best`."""
        self._over_cap: tuple[int, int] | None = None
        self._adjusted: tuple[int, list[int]] | None = None

    def seal(self, buy: bool) -> _Curve:
        """Mark the curve complete; work out `clean`."""
        self.clean = None not in self.size and (not buy or min(self.gross, default=1) > 0)
        return self

    def over_cap(self, cap: int) -> int:
        """Index of the first size whose amount exceeds `cap` (len when none)."""
        hit = self._over_cap
        if hit is None or hit[0] != cap:
            amounts = self.amount
            first = next((i for i, a in enumerate(amounts) if a > cap), len(amounts))
            hit = self._over_cap = (cap, first)
        return hit[1]

    def adjusted(self, flat_ppb: int) -> list[int]:
        """Buy leg: part + the flat bps of the gross, rounded up as `costs.bps_of` does."""
        hit = self._adjusted
        if hit is None or hit[0] != flat_ppb:
            adj = [
                part - (-gross * flat_ppb // 1_000_000_000)
                for part, gross in zip(self.part, self.gross)
            ]
            hit = self._adjusted = (flat_ppb, adj)
        return hit[1]

    def point(self, i: int) -> Point:
        """The Point of size i (which must be priced)."""
        pt = self.points[i]
        if pt is None:
            assert self._cex is not None, "unpriced size"
            view, raw = self._cex
            w = raw[i]
            size = self.size[i]
            assert w is not None and size is not None, "unpriced size"
            q = LegQuote(
                view.venue, view.market_id, self._side, size, w[0], w[1], False, w[2],
                view.quote_currency,
            )  # fmt: skip
            fee = self.part[i] - self.gross[i] if self._side == "buy" else (
                self.gross[i] - self.part[i]
            )
            pt = self.points[i] = (q, self.gross[i], fee, self.amount[i])
        return pt


@dataclass(frozen=True, slots=True)
class SpreadParams:
    """Everything the pair engine needs, as plain values (built by `engine.params`)."""

    pair: str
    base_decimals: int
    quote_decimals: int
    quote_currency: str
    costs: CostParams
    max_trade_base: int
    """Largest size, base-token base units."""
    max_notional_quote: int
    """Largest buy or sell amount, pair-quote base units."""
    fx: Mapping[str, Decimal] = field(default_factory=lambda: {"USDC": Decimal(1)})
    """Value of one unit of each quote currency in the pair quote currency."""
    size_steps: int = 16
    lot_size_base: Mapping[str, int] = field(default_factory=dict)
    """CEX market id -> order lot in base units (1 when absent)."""
    min_notional: Mapping[str, int] = field(default_factory=dict)
    """Market id -> the venue's minimum order notional, that market's quote base units: a
    size whose leg there is smaller is not executable."""
    stale_after_ns: int = 2_000_000_000
    """Staleness budget of DEX views and of CEX books absent from `cex_stale_after_ns`."""
    cex_stale_after_ns: Mapping[str, int] = field(default_factory=dict)
    """CEX market id -> its venue's staleness budget (ns): its feed silent this long is stale."""
    feed_of: Mapping[str, str] = field(default_factory=dict)
    """Market id -> the feed carrying it (a CEX connection's venue id, the Solana account feed);
    absent: a CEX book's own venue id, a DEX view's `dex_feed`."""
    dex_feed: str = "solana:feed"
    """Feed of DEX markets absent from `feed_of`."""
    max_slot_lag: int = 20
    """A DEX view whose feed broke since it arrived is current at its own slot only: stale once
    the feed's latest slot is more than this many slots past it."""
    base_currency: str = "SOL"
    """The pair's base currency: a SOL pair prices SOL (gas) from its own CEX books."""
    reference_markets: Mapping[str, str] = field(default_factory=dict)
    """Reference-only CEX book market id -> its base currency: never traded, they price SOL
    (a non-SOL pair's gas) and the currencies of `fx_from_books`."""
    sol_from_books: bool = False
    """Value gas at the live SOL price (the candidate's CEX book mid for a SOL pair, else a SOL
    reference book); False: `costs.sol_price_quote`."""
    fx_from_books: frozenset[str] = frozenset()
    """Quote currencies valued from a reference book (else at their `fx` constant)."""
    reference_notes: tuple[str, ...] = ()
    """Constants used instead of books (journaled at start by the pair step)."""
    min_net_bps: float = 0.0
    hysteresis: HysteresisParams = field(default_factory=HysteresisParams)
    prewarm_dex_curves: bool = True
    """Price every quiet DEX view's size curves on arrival (see `PairEngine._prewarm`)."""
    min_net_ppb: int = field(init=False, repr=False, compare=False)
    """`min_net_bps` in ppb, converted once (operators/fixedpoint.py)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "min_net_ppb", bps_to_ppb(self.min_net_bps))


class SizedCandidate(NamedTuple):
    """The PnL-maximising size of one candidate and its legs (pair-quote base units)."""

    grid_index: int
    """The best grid size's index (-1: none executed); the chosen size is exact, near it."""
    buy: LegQuote
    sell: LegQuote
    buy_quote: int
    sell_quote: int
    cost: CandidateCost
    prev: tuple[Point, Point] | None
    """The grid size below the chosen size, when it priced (for the marginal)."""
    cex: CexBookView
    cex_buys: bool


class _Probe:
    """One candidate's edge before gas at whole-lot sizes, memoised (see `PairEngine._exact`).

    Sizes are priced in batches (one walk of each leg's book, ladder or ticks prices many
    sizes), and each leg's prices are shared by every candidate of the same view
    (`PairEngine._leg_prices`).
    """

    __slots__ = ("_cap", "_eng", "_flat", "_lot", "_memo", "_views")

    def __init__(
        self, eng: PairEngine, buy_view: VenueView, sell_view: VenueView, lot: int, flat: int
    ) -> None:
        self._eng, self._views, self._lot, self._flat = eng, (buy_view, sell_view), lot, flat
        self._cap = eng.p.max_notional_quote
        self._memo: dict[int, tuple[int, int, tuple[LegPoint, LegPoint] | None]] = {}

    def price(self, ns: list[int]) -> None:
        """Price the sizes of `ns` lots not priced yet (one walk per leg)."""
        todo = [n for n in ns if n not in self._memo]
        if not todo:
            return
        eng, lot = self._eng, self._lot
        sizes = [n * lot for n in todo]
        buys = eng._leg_prices(self._views[0], True, sizes)
        sells = eng._leg_prices(self._views[1], False, sizes)
        memo, cap, flat = self._memo, self._cap, self._flat
        for n, b, s in zip(todo, buys, sells):
            # = self._store(n, b, s), inlined (the search's per-size loop)
            if isinstance(b, int) or isinstance(s, int):
                memo[n] = (-1 if -1 in (b, s) else 1, 0, None)
            elif b[3] > cap or s[3] > cap:
                memo[n] = (1, 0, None)
            elif b[1] <= 0:
                memo[n] = (-1, 0, None)
            else:
                edge = (s[1] - s[2]) - (b[1] + b[2]) + (-b[1] * flat // 1_000_000_000)
                memo[n] = (0, edge, (b, s))

    @property
    def flat_ppb(self) -> int:
        """The size-independent costs ranked on, ppb of the buy's gross."""
        return self._flat

    def kinds_edges(self, ns: list[int]) -> list[tuple[int, int]]:
        """(kind, edge) at each of `ns` lots, priced in one batch (see `_at`)."""
        self.price(ns)
        memo = self._memo
        return [memo[n][:2] for n in ns]

    def seed(self, n: int, b: LegPoint | int, s: LegPoint | int) -> None:
        """Hold both legs at n lots, priced already (a grid size's walk): the same entry
        `price` would make from `PairEngine._leg_prices`."""
        if n not in self._memo:
            self._store(n, b, s)

    def _store(self, n: int, b: LegPoint | int, s: LegPoint | int) -> None:
        if isinstance(b, int) or isinstance(s, int):
            self._memo[n] = (-1 if -1 in (b, s) else 1, 0, None)
        elif b[3] > self._cap or s[3] > self._cap:
            self._memo[n] = (1, 0, None)
        elif b[1] <= 0:
            self._memo[n] = (-1, 0, None)
        else:
            edge = (s[1] - s[2]) - (b[1] + b[2]) + (-b[1] * self._flat // 1_000_000_000)
            self._memo[n] = (0, edge, (b, s))

    def _at(self, n: int) -> tuple[int, int, tuple[LegPoint, LegPoint] | None]:
        """(kind, edge, points) at n lots: kind -1 too small to execute, +1 too large, 0 ok."""
        if n not in self._memo:
            self.price([n])
        return self._memo[n]

    def edge(self, n: int) -> int | None:
        """Edge before gas at n lots (pair-quote base units), None when not executable."""
        kind, edge, _ = self._at(n)
        return edge if kind == 0 else None

    def points(self, n: int) -> tuple[Point, Point]:
        """Both legs' Points at n lots (which must be executable)."""
        pts = self._at(n)[2]
        assert pts is not None, "not executable"
        size = n * self._lot
        (buy_view, sell_view), eng = self._views, self._eng
        return eng._leg_point(buy_view, True, size, pts[0]), eng._leg_point(
            sell_view, False, size, pts[1]
        )

    def argmax(self, lo: int, hi: int) -> int | None:
        """The executable n in [lo, hi] with the largest edge (the first on ties), None when
        none is.

        The edge is concave in n (up to a unit of rounding per amount): price `SEARCH_FAN` + 1
        evenly spaced sizes in one walk per leg, keep the two spacings around the best (or the
        window between sizes too small and too large to execute), repeat, then price the few
        lots left, with `POLISH_LOTS` either side of the best for rounding."""
        lo = max(lo, 1)
        if lo > hi:
            return None
        memo, fan = self._memo, SEARCH_FAN
        first, last = lo, hi
        while hi - lo > fan:
            step = (hi - lo) // fan
            pts = list(range(lo, hi + 1, step))
            if pts[-1] != hi:
                pts.append(hi)
            self.price(pts)
            best_j = -1
            for j, n in enumerate(pts):
                kind, edge, _ = memo[n]
                if kind == 0 and (best_j < 0 or edge > memo[pts[best_j]][1]):
                    best_j = j
            if best_j >= 0:
                lo = pts[best_j - 1] if best_j > 0 else lo
                hi = pts[best_j + 1] if best_j + 1 < len(pts) else hi
                continue
            # nothing executes on this lattice: only between the last size too small and the
            # first too large can anything
            small = [j for j, n in enumerate(pts) if memo[n][0] < 0]
            j0 = small[-1] if small else -1
            j1 = next((j for j, n in enumerate(pts) if memo[n][0] > 0), len(pts))
            new_lo = pts[j0] + 1 if j0 >= 0 else lo
            new_hi = pts[j1] - 1 if j1 < len(pts) else hi
            if j1 <= j0 or new_lo > new_hi or (new_lo, new_hi) == (lo, hi):
                return None
            lo, hi = new_lo, new_hi
        rest = list(range(lo, hi + 1))
        self.price(rest)
        best: int | None = None
        for n in rest:
            kind, edge, _ = memo[n]
            if kind == 0 and (best is None or edge > memo[best][1]):
                best = n
        if best is not None:
            near = range(max(first, best - POLISH_LOTS), min(last, best + POLISH_LOTS) + 1)
            self.price([n for n in near if n not in memo])
            for n in near:
                kind, edge, _ = memo[n]
                if kind == 0 and edge > memo[best][1]:
                    best = n
        return best


_FEED_BAD = frozenset({"down", "stale", "lag", "switch", "kill"})
_FEED_GOOD = frozenset({"up", "resync"})


@dataclass(slots=True)
class FeedClock:
    """What the engine knows of one feed: healthy or not, when it was last heard, its slot.

    `epoch` moves each time the feed turns unhealthy: a view that arrived in the current epoch
    of a healthy feed is current at the feed's latest slot (the subscription would have
    delivered any change), however long its account has been quiet.
    """

    healthy: bool = True
    epoch: int = 0
    heard_ns: int = 0
    """Receive time (ns) of the feed's latest frame, view or healthy heartbeat."""
    slot: int = 0
    """Latest slot the feed reported (account frames, heartbeats); 0 for CEX feeds."""


class PairEngine:
    """Latest views of one pair, the cost model state and the hysteresis of every candidate."""

    bounded_search = True
    """Settle the exact-size search from its bounds where they prove the pick
    (`_bounded_argmax`); False runs the fan search every time (same picks: tests compare)."""

    def __init__(self, params: SpreadParams) -> None:
        self.p = params
        self.views: dict[str, VenueView] = {}
        self.debouncer = Debouncer(params.hysteresis)
        c = params.costs
        self.slippage = SlippageEstimator(c.slippage_window_fills, c.slippage_min_fills)
        g = c.gas
        self.landing = LandingStats(g.landing_window, g.landing_min_samples, g.landing_target_rate)
        self._model = CostModel(c, params.quote_decimals)
        self._flat_perp_ppb = c.safety_margin_ppb + hedge_ppb(c, True)
        self._trigger_net_ppb = max(0, params.min_net_ppb)
        self.stats: dict[str, int] = {
            "views": 0,
            "foreign_views": 0,
            "evaluations": 0,
            "bound_skips": 0,
            "stale_skips": 0,
            "no_executable_size": 0,
        }
        self._fx: dict[str, tuple[int, int]] = {}
        self._grids: dict[int, list[int]] = {}
        self._curves: dict[tuple[str, bool, int], tuple[VenueView, _Curve]] = {}
        self._tops: dict[str, tuple[VenueView, Top, Top]] = {}
        self._lots: dict[tuple[str, int], int] = {}
        self._keys: dict[tuple[str, str, str], str] = {}
        self.feeds: dict[str, FeedClock] = {}
        self.refs: dict[str, CexBookView] = {}
        """Latest view of each reference-only book."""
        self._needs_refs = bool(params.fx_from_books) or (
            params.sol_from_books and params.base_currency != "SOL"
        )
        if self._needs_refs:  # a counter only for pairs priced with reference books
            self.stats["reference_skips"] = 0
        self._leg_cache: dict[
            tuple[str, bool], tuple[VenueView, dict[int, LegPoint | int]]
        ] = {}
        self._view_epoch: dict[str, int] = {}
        """Market id -> epoch of its feed when its latest view arrived."""
        self._cands: dict[tuple[str, str], tuple[str, str]] = {}
        self.id_epoch = ""
        """Live only (`engine.steps.PairStep`): a token of this process's start, in every
        opportunity id signalled from now on. Client order ids and the DEX signature ledger are
        derived from opportunity ids, so a restarted or second live run must never reuse one
        (a signal count restored from an older snapshot, or a fresh engine, would). Empty in
        replay and paper: ids `pair|direction|buy>sell|n`, as journaled."""
        self._walks: dict[tuple[str, bool], tuple[VenueView, OrcaCurveWalk | None]] = {}
        """(CLMM market id, buy) -> its latest view's kept tick-range walk (`clmm_walk`)."""
        self._ladders: dict[tuple[str, bool], tuple[ClobView, ClobLadderCurve]] = {}
        """(CLOB market id, buy) -> its latest view's ladder as prefix sums."""

    # ----------------------------------------------------------------------------- public

    @property
    def counters(self) -> dict[str, int]:
        """Signals, updates, suppressed, rearms and evaluation counters for the journal."""
        return {**self.stats, **self.debouncer.counters}

    def observe_fill(self, market_id: str, slippage_bps: float) -> None:
        """Feed one realised fill slippage (bps, positive = worse than quoted) of a market."""
        self.slippage.observe(market_id, slippage_bps)

    def observe_landing(self, cu_price_micro_lamports: int, landed: bool) -> None:
        """Feed whether a DEX transaction sent at this CU price landed."""
        self.landing.observe(cu_price_micro_lamports, landed)

    def feed_id(self, market_id: str, cex: bool, venue: str) -> str:
        """The feed carrying a market (see `SpreadParams.feed_of`)."""
        feed = self.p.feed_of.get(market_id)
        if feed is None:
            feed = venue if cex else self.p.dex_feed
        return feed

    def _feed_of_view(self, view: VenueView) -> FeedClock:
        # = self.feed_id(...), inlined: staleness asks it for every candidate of every view
        feed_id = self.p.feed_of.get(view.market_id)
        if feed_id is None:
            feed_id = view.venue if isinstance(view, CexBookView) else self.p.dex_feed
        f = self.feeds.get(feed_id)
        if f is None:
            f = self.feeds[feed_id] = FeedClock()
        return f

    def heard(self, market_id: str, cex: bool, venue: str, ts_recv_ns: int, slot: int) -> None:
        """A frame of `market_id` arrived (ns, slot or 0), whether or not it changed the view:
        the market's feed is alive. The pair step calls it for every routed frame."""
        feed_id = self.feed_id(market_id, cex, venue)
        f = self.feeds.get(feed_id)
        if f is None:
            f = self.feeds[feed_id] = FeedClock()
        if ts_recv_ns > f.heard_ns:
            f.heard_ns = ts_recv_ns
        if slot > f.slot:
            f.slot = slot

    def on_feed_health(self, event: HealthEvent) -> None:
        """A feed's health (`HealthEvent.source` = feed id): down / stale / lag make every view
        it carries stale at once; up / resync (a heartbeat: `value` = its slot, for the Solana
        feed) say it is alive."""
        f = self.feeds.get(event.source)
        if f is None:
            f = self.feeds[event.source] = FeedClock()
        if event.status in _FEED_BAD:
            if f.healthy:
                f.healthy = False
                f.epoch += 1
        elif event.status in _FEED_GOOD:
            f.healthy = True
            if event.ts_recv_ns > f.heard_ns:
                f.heard_ns = event.ts_recv_ns
            if event.status == "up" and event.source == self.p.dex_feed and event.value > f.slot:
                f.slot = int(event.value)

    def _note_view(self, view: VenueView) -> None:
        """A view arrived: its feed is heard at its receive time (and slot, for a DEX view)."""
        f = self._feed_of_view(view)
        if view.ts_recv_ns > f.heard_ns:
            f.heard_ns = view.ts_recv_ns
        if not isinstance(view, CexBookView) and view.slot > f.slot:
            f.slot = view.slot
        self._view_epoch[view.market_id] = f.epoch

    def is_stale(self, view: VenueView, now_ns: int) -> bool:
        """True when `view` must not be traded at `now_ns`: out of sync, or its feed is not
        healthy, or its feed has been silent (no frame of any of its markets here, no healthy
        heartbeat) for longer than the budget, or (DEX) it is behind the feed's slot.

        Not when the view is merely unchanged: a quiet pool behind a healthy subscription, or an
        unchanged book on a live stream, is current."""
        if not view.in_sync:
            return True
        p = self.p
        mid = view.market_id
        # = self._feed_of_view(view), inlined (asked for every candidate of every view)
        feed_id = p.feed_of.get(mid)
        if feed_id is None:
            feed_id = view.venue if isinstance(view, CexBookView) else p.dex_feed
        f = self.feeds.get(feed_id)
        if f is None:
            f = self.feeds[feed_id] = FeedClock()
        if not f.healthy:
            return True
        if now_ns - f.heard_ns > p.cex_stale_after_ns.get(mid, p.stale_after_ns):
            return True
        if isinstance(view, CexBookView):  # (= is_cex, for the type checker)
            return False
        # Current at the feed's slot while the feed stayed healthy since the view; else at
        # its own slot, stale once the feed has moved on past the lag budget.
        return self._view_epoch.get(mid) != f.epoch and f.slot - view.slot > p.max_slot_lag

    def best(self, cex_market_id: str, dex_market_id: str, direction: str) -> SizedCandidate | None:
        """Best size of one held candidate, ignoring staleness and hysteresis (for reports)."""
        cex, dex = self.views[cex_market_id], self.views[dex_market_id]
        if not isinstance(cex, CexBookView) or isinstance(dex, CexBookView):
            raise QuoteError(f"{cex_market_id} x {dex_market_id}: need one CEX and one DEX view")
        return self._best(cex, dex, direction == BUY_CEX_SELL_DEX, None)

    def on_view(self, view: VenueView, now_ns: int) -> list[Opportunity]:
        """Store `view`; evaluate every candidate it is part of; return signals and updates.

        Only the candidates `view` takes part in are evaluated (the others' inputs did not
        change), in the order their other views arrived first; per candidate the expected
        slippage, both hysteresis keys and the staleness are worked out once for both
        directions.
        """
        if view.pair != self.p.pair:
            self.stats["foreign_views"] += 1
            return []
        stats = self.stats
        stats["views"] += 1
        mid = view.market_id
        is_cex = isinstance(view, CexBookView)
        if is_cex and mid in self.p.reference_markets:
            return self._on_reference(view)  # type: ignore[arg-type]
        self.views[mid] = view
        self._note_view(view)
        out: list[Opportunity] = []
        is_stale = self.is_stale
        if is_stale(view, now_ns):
            # every candidate of a stale view is skipped (`is_stale` of the others not asked)
            for other in self.views.values():
                if isinstance(other, CexBookView) is not is_cex:
                    stats["stale_skips"] += 2  # both directions
            return out  # (no prewarm: `_prewarm` skips a stale view)
        needs_refs = self._needs_refs
        evaluate = self._evaluate
        tops_of = self._tops_of
        expected = self.slippage.expected_ppb
        c = self.p.costs
        slip_default = c.slippage_default_ppb
        view_slip = expected(mid, slip_default)
        view_tops: tuple[Top, Top] | None = None  # `tops_of(view)`, once a candidate needs it
        # The top-of-book bound of both directions, worked out here (= `_spread_bound`): most
        # candidates end at it, armed, without a call.
        fee_ppb, safety, flat_perp = c.cex_taker_fee_ppb, c.safety_margin_ppb, self._flat_perp_ppb
        trigger_net, states = self._trigger_net_ppb, self.debouncer.states
        cands = self._cands
        for other in self.views.values():
            if isinstance(other, CexBookView) is is_cex:
                continue
            cex: CexBookView
            dex: DexView
            if is_cex:
                cex, dex = view, other  # type: ignore[assignment]
            else:
                cex, dex = other, view  # type: ignore[assignment]
            if is_stale(other, now_ns) or (needs_refs and not self._refs_ok(cex, dex, now_ns)):
                stats["stale_skips"] += 2  # both directions
                continue
            # = self._slippage_ppb(cex.market_id, dex.market_id), the view's share looked up once
            slip = view_slip + expected(other.market_id, slip_default)
            keys = cands.get((cex.market_id, dex.market_id))
            if keys is None:
                keys = self._cand_keys(cex.market_id, dex.market_id)
            if view_tops is None:
                view_tops = tops_of(view)
            if is_cex:
                (cex_buy, cex_sell), (dex_buy, dex_sell) = view_tops, tops_of(other)
            else:
                (cex_buy, cex_sell), (dex_buy, dex_sell) = tops_of(other), view_tops
            fee = fee_ppb.get(cex.venue)
            if fee is None:
                fee = bps_to_ppb(cex.taker_fee_bps)
            flat = slip + (flat_perp if cex.market == "perp" else safety)
            # buy CEX / sell DEX: (sell / buy - 1) x 10^9 - fee - flat
            bound: Ratio | None = None
            if cex_buy is not None and dex_sell is not None and cex_buy[0] > 0:
                rd = dex_sell[1] * cex_buy[0]
                bound = dex_sell[0] * cex_buy[1] * PPB - rd * (PPB + fee + flat), rd
                if (
                    bound[0] + BOUND_SLACK_PPB * rd < trigger_net * rd
                    and (st := states.get(keys[0])) is not None
                    and st.armed
                ):
                    stats["bound_skips"] += 1  # = `_evaluate`'s first skip
                    bound = _SKIPPED
            if bound is not _SKIPPED:
                opp = evaluate(cex, dex, True, keys[0], slip, bound, view, now_ns)
                if opp is not None:
                    out.append(opp)
            # buy DEX / sell CEX: the CEX fee is on the sell amount
            bound = None
            if dex_buy is not None and cex_sell is not None and dex_buy[0] > 0:
                rd = cex_sell[1] * dex_buy[0]
                bound = cex_sell[0] * dex_buy[1] * (PPB - fee) - rd * (PPB + flat), rd
                if (
                    bound[0] + BOUND_SLACK_PPB * rd < trigger_net * rd
                    and (st := states.get(keys[1])) is not None
                    and st.armed
                ):
                    stats["bound_skips"] += 1
                    bound = _SKIPPED
            if bound is not _SKIPPED:
                opp = evaluate(cex, dex, False, keys[1], slip, bound, view, now_ns)
                if opp is not None:
                    out.append(opp)
        if self.p.prewarm_dex_curves and not out and not is_cex:
            self._prewarm(view, now_ns)  # type: ignore[arg-type]
        return out

    def _prewarm(self, dex: DexView, now_ns: int) -> None:
        """Price a quiet DEX view's curves now, so a later CEX tick finds them cached.

        DEX views change once a slot, CEX books many times a slot, and dislocations mostly start
        on the CEX side: paying the CLMM walks on the quiet DEX tick keeps them off the
        latency path of the CEX tick that triggers.
        """
        if self.is_stale(dex, now_ns):
            return
        for cex in [v for v in self.views.values() if isinstance(v, CexBookView)]:
            lot = self._lot(cex, dex)
            self._curve(dex, True, lot)
            self._curve(dex, False, lot)

    # ----------------------------------------------------------------------------- sizes

    def _lot(self, cex: CexBookView, dex: DexView) -> int:
        dex_lot = dex.base_units_per_lot if isinstance(dex, ClobView) else 1
        key = (cex.market_id, dex_lot)
        lot = self._lots.get(key)
        if lot is None:
            cex_lot = max(1, self.p.lot_size_base.get(cex.market_id, 1))
            d = max(1, dex_lot)
            lot = self._lots[key] = cex_lot * d // gcd(cex_lot, d)
        return lot

    def _key(self, direction: str, buy_market_id: str, sell_market_id: str) -> str:
        """The hysteresis key (and opportunity id prefix) of one candidate."""
        k = (direction, buy_market_id, sell_market_id)
        key = self._keys.get(k)
        if key is None:
            key = self._keys[k] = f"{self.p.pair}|{direction}|{buy_market_id}>{sell_market_id}"
        return key

    def _cand_keys(self, cex_market_id: str, dex_market_id: str) -> tuple[str, str]:
        """Hysteresis keys of one (CEX, DEX) candidate: (buy CEX / sell DEX, buy DEX / sell CEX)."""
        k = (cex_market_id, dex_market_id)
        keys = self._cands.get(k)
        if keys is None:
            keys = self._cands[k] = (
                self._key(BUY_CEX_SELL_DEX, cex_market_id, dex_market_id),
                self._key(BUY_DEX_SELL_CEX, dex_market_id, cex_market_id),
            )
        return keys

    def grid(self, lot: int) -> list[int]:
        """Ascending candidate sizes (base units) for legs whose lots divide `lot`."""
        g = self._grids.get(lot)
        if g is None:
            steps, top = self.p.size_steps, self.p.max_trade_base
            sizes = {top * i // steps // lot * lot for i in range(1, steps + 1)}
            g = self._grids[lot] = sorted(s for s in sizes if s > 0)
        return g

    def _curve(self, view: VenueView, buy: bool, lot: int) -> _Curve:
        key = (view.market_id, buy, lot)
        hit = self._curves.get(key)
        if hit is not None and hit[0] is view:
            return hit[1]
        sizes = self.grid(lot)
        p = self.p
        if isinstance(view, CexBookView | ClobView):
            curve = self._book_curve(view, buy, sizes)
        else:
            fn = buy_base_curve if buy else sell_base_curve
            try:
                quotes = fn(
                    view, sizes, p.base_decimals, p.quote_decimals, walk=self._walk_of(view, buy)
                )
            except QuoteError as exc:  # the whole view cannot be priced (bad pool, bad ladder)
                quotes = [exc] * len(sizes)
            curve = _Curve(len(sizes))
            c_points, c_size, c_gross, c_amount, c_part = (
                curve.points, curve.size, curve.gross, curve.amount, curve.part
            )
            point = self._point
            for i, q in enumerate(quotes):
                if isinstance(q, QuoteError):
                    continue
                pt = c_points[i] = point(q)
                c_size[i] = q.size_base
                c_gross[i] = gross = pt[1]
                c_amount[i] = pt[3]
                c_part[i] = gross + pt[2] if buy else gross - pt[2]
        self._curves[key] = (view, curve.seal(buy))
        return curve

    def _walk_of(self, view: VenueView, buy: bool) -> OrcaCurveWalk | None:
        """A CLMM view's kept tick-range walk for one side: the grid and every exact-size batch
        of that view (all candidates) extend one walk instead of re-walking the same whole
        ranges. None for other views, and where the walk cannot be made (the curve call then
        raises the same QuoteError itself)."""
        if not isinstance(view, ClmmView):
            return None
        key = (view.market_id, buy)
        hit = self._walks.get(key)
        if hit is not None and hit[0] is view:
            return hit[1]
        try:
            walk = clmm_walk(view, buy)
        except QuoteError:
            walk = None
        self._walks[key] = (view, walk)
        return walk

    def _book_amounts(
        self, view: CexBookView | ClobView, buy: bool, sizes: list[int]
    ) -> list[tuple[int, int, int] | QuoteError]:
        """(quote_amount, fee, levels_used) of a CEX book or CLOB ladder leg at each size (base
        units, ascending): the numbers of its `LegQuote` (`fee_in_amount` False). A CLOB fee is
        raised to the configured floor: the market account's fee is what the program charges,
        config may only raise it (a referrer, a fee change not yet seen on chain). Raises
        QuoteError when the whole CEX book cannot be priced (bad level, bad fee)."""
        p = self.p
        if isinstance(view, CexBookView):
            return cex_curve_amounts(
                view, sizes, p.base_decimals, p.quote_decimals, buy=buy,
                cex_fee_ppb=p.costs.cex_taker_fee_ppb.get(view.venue),
            )  # fmt: skip
        # the ladder's prefix sums, once per view and side: the fills of `clob_buy_cost` /
        # `clob_sell_proceeds` at each size
        key = (view.market_id, buy)
        hit = self._ladders.get(key)
        if hit is None or hit[0] is not view:
            hit = self._ladders[key] = (view, ClobLadderCurve(view, buy=buy))
        cfg = p.costs.dex_taker_fee_ppb.get(view.venue)
        raw: list[tuple[int, int, int] | QuoteError] = []
        for f in hit[1].amounts(sizes):
            if f is None:
                raw.append(QuoteError("not priced at this size"))
            elif cfg is not None and (floor := ppb_of(cfg, f[0])) > f[1]:
                raw.append((f[0], floor, f[2]))
            else:
                raw.append(f)
        return raw

    def _book_curve(self, view: CexBookView | ClobView, buy: bool, sizes: list[int]) -> _Curve:
        """A CEX book's or CLOB ladder's columns, the same numbers `_point` gives its
        `LegQuote`s (built lazily by `_Curve.point`)."""
        curve = _Curve(len(sizes))
        try:
            raw = self._book_amounts(view, buy, sizes)
        except QuoteError:  # the whole book cannot be priced (bad level, bad fee)
            return curve
        held: list[tuple[int, int, int] | None] = [
            None if isinstance(w, QuoteError) else w for w in raw
        ]
        curve._cex = (view, held)
        curve._side = "buy" if buy else "sell"
        if held and None not in held:
            # Every size priced (the usual case): whole columns at once, the same integers as
            # the loop below (`to_pair_quote`: buy amounts and fees round up, sales down).
            ok: list[tuple[int, int, int]] = held  # type: ignore[assignment]
            n, d = self._ratio(view.quote_currency)
            if n == 1 and d == 1:
                amounts = [w[0] for w in ok]
                fees = [w[1] for w in ok]
            else:
                up = -1 if buy else 1  # -(-x // d) rounds up, x // d down
                amounts = [up * (up * w[0] * n // d) for w in ok]
                fees = [-(-w[1] * n // d) for w in ok]
            sized: list[int | None] = list(sizes)
            curve.size = sized
            curve.gross = amounts
            curve.amount = amounts.copy()
            curve.part = list(map(add if buy else sub, amounts, fees))
            return curve.seal(buy)
        r: tuple[int, int] | None = None
        for i, w in enumerate(held):
            if w is None:
                continue
            if r is None:
                r = self._ratio(view.quote_currency)
            amount, fee = w[0], w[1]
            # A CEX quote is before its fee: gross == amount (see `_point`).
            if r != (1, 1):
                amount = to_pair_quote(amount, r, round_up=buy)
                fee = to_pair_quote(fee, r, round_up=True)
            curve.size[i] = sizes[i]
            curve.gross[i] = amount
            curve.amount[i] = amount
            curve.part[i] = amount + fee if buy else amount - fee
        return curve.seal(buy)

    def _ratio(self, currency: str) -> tuple[int, int]:
        """One `currency` unit in the pair quote, exact (num, den): a reference book's mid for
        the currencies of `fx_from_books` (QuoteError without one), else the `fx` constant."""
        r = self._fx.get(currency)
        if r is None:
            if currency == self.p.quote_currency:
                r = (1, 1)
            elif currency in self.p.fx_from_books:
                r = self._book_ratio(currency)
            else:
                r = fx_ratio(self.p.fx, currency)
            self._fx[currency] = r
        return r

    # ------------------------------------------------------------------ reference prices

    def _on_reference(self, view: CexBookView) -> list[Opportunity]:
        """Hold a reference book; a new FX mid re-prices everything quoted in that currency."""
        self.refs[view.market_id] = view
        self._note_view(view)
        base, quote = self.p.reference_markets[view.market_id], view.quote_currency
        pair_quote = self.p.quote_currency
        for c in self.p.fx_from_books:
            if {base, quote} == {c, pair_quote} and c in self._fx:
                # cached curves and tops hold amounts converted at the old rate
                self._fx.clear()
                self._curves.clear()
                self._tops.clear()
                self._leg_cache.clear()
                break
        return []

    def _ref_book(self, base: str, quote: str | None = None) -> CexBookView | None:
        """The latest in-sync two-sided reference book of `base` (priced in `quote` if given,
        else in any currency); with `quote`, a book of `quote` in `base` counts too."""
        best: CexBookView | None = None
        for mid, v in self.refs.items():
            b = self.p.reference_markets[mid]
            ok = b == base if quote is None else {b, v.quote_currency} == {base, quote}
            if ok and v.in_sync and v.bids and v.asks and (
                best is None or v.ts_recv_ns > best.ts_recv_ns
            ):
                best = v
        return best

    def _book_ratio(self, currency: str) -> tuple[int, int]:
        q = self.p.quote_currency
        v = self._ref_book(currency, q)
        if v is None:
            raise QuoteError(f"{self.p.pair}: no reference book prices {currency} in {q}")
        two_mid = v.bids[0][0] + v.asks[0][0]  # 2 x mid, e18
        if self.p.reference_markets[v.market_id] == currency:
            return two_mid, 2 * 10**18  # the book's base is the currency: mid pair-quote units
        return 2 * 10**18, two_mid  # the book prices the pair quote in the currency

    def _refs_ok(self, cex: CexBookView, dex: DexView, now_ns: int) -> bool:
        """Every reference this candidate is priced with is held and not stale at `now_ns`."""
        p = self.p
        need = {c for c in (cex.quote_currency, dex.quote_currency) if c in p.fx_from_books}
        books = [self._ref_book(c, p.quote_currency) for c in need]
        if p.sol_from_books and p.base_currency != "SOL":
            sol = self._ref_book("SOL")
            books.append(sol)
            if sol is not None and sol.quote_currency in p.fx_from_books:
                books.append(self._ref_book(sol.quote_currency, p.quote_currency))
        if all(b is not None and not self.is_stale(b, now_ns) for b in books):
            return True
        self.stats["reference_skips"] += 1
        return False

    def sol_price(self, cex: CexBookView) -> Decimal | None:
        """SOL in the pair quote (human units) for a candidate of this CEX book: the book's mid
        for a SOL pair, else a SOL reference book's, converted at the pair's FX; the constant
        when `sol_from_books` is off; None when no book can say."""
        p = self.p
        if not p.sol_from_books:
            return p.costs.sol_price_quote
        book = cex if p.base_currency == "SOL" else self._ref_book("SOL")
        if book is None or not book.bids or not book.asks:
            return None
        n, d = self._ratio(book.quote_currency)
        return Decimal(book.bids[0][0] + book.asks[0][0]) * n / (2 * 10**18 * d)

    def _use_sol(self, price: Decimal) -> None:
        """Cost the next candidate with gas valued at `price` (pair quote per SOL)."""
        if price != self._model.params.sol_price_quote:
            costs = replace(self.p.costs, sol_price_quote=price)
            self._model = CostModel(costs, self.p.quote_decimals)

    def _point(self, q: LegQuote) -> Point:
        r = self._ratio(q.quote_currency)
        buy = q.side == "buy"
        gross = q.gross_quote
        if r == (1, 1):  # the pair's own currency (or par): no conversion, no rounding
            return (q, gross, q.fee_quote, q.quote_amount)
        return (
            q,
            to_pair_quote(gross, r, round_up=buy),
            to_pair_quote(q.fee_quote, r, round_up=True),
            to_pair_quote(q.quote_amount, r, round_up=buy),
        )

    def _slippage_ppb(self, buy_market_id: str, sell_market_id: str) -> int:
        """Expected slippage of both legs, ppb: realised p95 per market, else the default."""
        d = self.p.costs.slippage_default_ppb
        est = self.slippage
        return est.expected_ppb(buy_market_id, d) + est.expected_ppb(sell_market_id, d)

    def _cost(
        self, b: Point, s: Point, cex: CexBookView, cex_buys: bool, slip: int
    ) -> CandidateCost:
        return self._model.evaluate(
            b[1], b[2], s[1], s[2], cex_buys, cex.market == "perp", slip, self.landing
        )

    def _best(
        self, cex: CexBookView, dex: DexView, cex_buys: bool, slip: int | None = None
    ) -> SizedCandidate | None:
        """The PnL-maximising size; `slip` is the candidate's expected slippage (ppb) if known."""
        sol = self.sol_price(cex)
        if sol is None or sol <= 0:
            return None  # no SOL price to value the gas with (`_refs_ok` flags it first)
        self._use_sol(sol)
        lot = self._lot(cex, dex)
        buy_view: VenueView = cex if cex_buys else dex
        sell_view: VenueView = dex if cex_buys else cex
        buys = self._curve(buy_view, True, lot)
        sells = self._curve(sell_view, False, lot)
        c = self.p.costs
        cap = self.p.max_notional_quote
        # Bps terms that do not depend on the size: rank sizes on the edge before gas.
        if slip is None:
            slip = self._slippage_ppb(buy_view.market_id, sell_view.market_id)
        flat_ppb = slip + hedge_ppb(c, cex.market == "perp") + c.safety_margin_ppb
        b_size, s_size = buys.size, sells.size
        if buys.clean and sells.clean and b_size == s_size:
            # Every size valid on both legs: the loop below reduces to "first maximum of the
            # edges before the cap", done with C-level list operations (same ints, same pick).
            stop = min(buys.over_cap(cap), sells.over_cap(cap))
            if stop == 0:
                return self._exact(
                    buy_view, sell_view, buys, sells, -1, -1, cex, lot, flat_ppb, slip
                )
            edges = list(map(sub, sells.part[:stop], buys.adjusted(flat_ppb)[:stop]))
            best_i = edges.index(max(edges))
            return self._exact(
                buy_view, sell_view, buys, sells, best_i, best_i - 1, cex, lot, flat_ppb, slip
            )
        best_i, best_edge, prev_i = -1, 0, -1
        last_ok = -1
        b_amount, s_amount = buys.amount, sells.amount
        b_gross, b_part, s_part = buys.gross, buys.part, sells.part
        for i in range(min(len(b_size), len(s_size))):
            size = b_size[i]
            if size is None or size != s_size[i]:
                continue  # a size one leg cannot price (or rounds to another size)
            if b_amount[i] > cap or s_amount[i] > cap:
                break  # amounts grow with size: every larger size is over the cap too
            gross = b_gross[i]
            if gross <= 0:
                continue  # a size too small to cost anything has no notional to rank
            # same rounding as costs.bps_of: the flat bps of the notional, rounded up
            edge = s_part[i] - b_part[i] + (-gross * flat_ppb // 1_000_000_000)
            if best_i < 0 or edge > best_edge:
                best_i, best_edge, prev_i = i, edge, last_ok
            last_ok = i
        return self._exact(
            buy_view, sell_view, buys, sells, best_i, prev_i, cex, lot, flat_ppb, slip
        )

    def _exact(
        self,
        buy_view: VenueView,
        sell_view: VenueView,
        buys: _Curve,
        sells: _Curve,
        best_i: int,
        prev_i: int,
        cex: CexBookView,
        lot: int,
        flat_ppb: int,
        slip: int,
    ) -> SizedCandidate | None:
        """Refine the grid's pick to the exact best whole lot between its grid neighbours.

        The edge before gas is concave in the size: a buy walks ever dearer levels, ticks or
        ladder prices, a sell ever cheaper ones, fees and the flat bps are proportional. So the
        grid's best point (`best_i`, -1 when no grid size executes) brackets the maximum
        between the grid sizes either side of it (below the first grid size when none
        executes), and a fan search (`_Probe.argmax`) finds it there (integers throughout;
        the grid point wins ties). PnL rises with that edge (gas takes at
        most `priority_share_of_edge` of it), so this is the PnL-maximising whole lot too.
        Venue minimums: sizes are whole lots of both legs, and a leg below its market's
        `min_notional` is not executable.
        """
        cex_buys = buy_view is cex
        grid = self.grid(lot)
        probe = _Probe(self, buy_view, sell_view, lot, flat_ppb)
        g_edge: int | None = None
        if best_i >= 0:
            g_size = buys.size[best_i]
            assert g_size is not None, "grid pick is priced"
            g_at = grid.index(g_size)
            lo = grid[g_at - 1] if g_at > 0 else 0
            hi = grid[g_at + 1] if g_at + 1 < len(grid) else g_size
            # the grid's walks priced this size already: no walk of its own
            probe.seed(
                g_size // lot,
                self._leg_of_curve(buy_view, buys.point(best_i), g_size),
                self._leg_of_curve(sell_view, sells.point(best_i), g_size),
            )
            g_edge = probe.edge(g_size // lot)
        else:
            lo, hi = 0, grid[0] if grid else 0
        lo_n, hi_n = lo // lot + 1, (hi - 1) // lot if hi > lo else lo // lot
        n = None
        if self.bounded_search:
            g_n = buys.size[best_i] // lot if best_i >= 0 else None  # type: ignore[operator]
            n = self._bounded_argmax(probe, lo_n, hi_n, g_n, buy_view, sell_view)
        if n is None:
            n = probe.argmax(lo_n, hi_n)
        n_edge = None if n is None else probe.edge(n)
        if n is None or n_edge is None or (g_edge is not None and n_edge <= g_edge):
            if g_edge is None:
                return None  # nothing executes (or the grid pick is below a venue minimum)
            b, s = buys.point(best_i), sells.point(best_i)
            prev = None
            if prev_i >= 0 and prev_i == best_i - 1:
                prev = (buys.point(prev_i), sells.point(prev_i))
            cost = self._cost(b, s, cex, cex_buys, slip)
            return SizedCandidate(best_i, b[0], s[0], b[3], s[3], cost, prev, cex, cex_buys)
        b, s = probe.points(n)
        cost = self._cost(b, s, cex, cex_buys, slip)
        size = n * lot
        below = [
            i for i, z in enumerate(buys.size) if z is not None and z < size and z == sells.size[i]
        ]
        prev = (buys.point(below[-1]), sells.point(below[-1])) if below else None
        return SizedCandidate(best_i, b[0], s[0], b[3], s[3], cost, prev, cex, cex_buys)

    def _bounded_argmax(
        self,
        probe: _Probe,
        lo: int,
        hi: int,
        g: int | None,
        buy_view: VenueView,
        sell_view: VenueView,
    ) -> int | None:
        """`probe.argmax(lo, hi)`'s outcome, settled from two sizes beside a proven maximum
        (None: not settled, the search runs).

        Each leg's integers are within `_leg_slack` (E, both legs summed) of a real curve that
        is convex (a buy) or concave (a sell), so the edge is within E of a concave f. Beside a
        point x with e(x) - e(x -/+ 1) >= 3E the slope of f is >= E toward x, so every size
        further out on that side has e <= e(x) (concavity: f falls by at least the slope per
        lot, 2E covers both roundings); with one unit more, strictly below.
        - The grid pick g (the window's or the one just above it) beats both neighbours by 3E:
          no size in the window beats it, so the search's pick (whatever it is) loses to g
          and `_exact` keeps g. Returned as g.
        - The window's first (or last) lot strictly beats its neighbour by 3E + 1: it is the
          window's unique maximum, which the search always prices (every fan holds both
          ends) and keeps. Returned as that lot.
        The sizes priced here stay in the probe: a search that runs after finds them there.
        """
        lo = max(lo, 1)
        if hi - lo < POLISH_LOTS * 2 + 2 or probe.flat_ppb >= PPB:
            # a window this small is one batch for the search anyway; flat costs of 100 % or
            # more would scale the roundings past the bounds `_leg_slack` counts
            return None
        e_buy = self._leg_slack(buy_view, True)
        if e_buy is None:
            return None
        e_sell = self._leg_slack(sell_view, False)
        if e_sell is None:
            return None
        gap = 3 * (e_buy + e_sell)
        # A neighbour that does not execute settles its side too: what makes a size
        # unexecutable grows with it (depth, the notional cap: kind 1) or shrinks with it
        # (a minimum notional, no gross: kind -1), so every size past it fails the same way.
        if g is not None and lo <= g <= hi + 1:
            ns = [x for x in (g - 1, g, g + 1) if lo <= x <= hi or x == g]
            got = dict(zip(ns, probe.kinds_edges(ns)))
            kind, edge = got[g]
            if kind == 0 and all(
                k == (-1 if x < g else 1) or (k == 0 and edge - e >= gap)
                for x, (k, e) in got.items()
                if x != g
            ):
                return g
        (k0, e0), (k1, e1) = probe.kinds_edges([lo, lo + 1])
        if k0 == 0 and (k1 == 1 or (k1 == 0 and e0 - e1 > gap)):
            return lo
        (k0, e0), (k1, e1) = probe.kinds_edges([hi, hi - 1])
        if k0 == 0 and (k1 == -1 or (k1 == 0 and e0 - e1 > gap)):
            return hi
        return None

    def _leg_slack(self, view: VenueView, buy: bool) -> int | None:
        """E: how far one leg's priced integers (`_price_leg`: its part, and for a buy the flat
        bps of its gross; pair-quote base units) may lie from a real curve that is convex in
        the size for a buy, concave for a sell, at any size the view has priced; None where no
        bound is known (the exact-size search then runs).

        The roundings, each below one unit of what it rounds (r: the view's currency in the
        pair quote, rounded up; a rounding that only ever goes against us counts half, the
        real curve being free to sit mid-way):
        - a book or ladder (levels best first, else the curve need not be convex): the walked
          amount, the fee (a CLOB's up to its fee unit u), the flat bps, and the conversion of
          each: below (u + 4) r + 3 units wide, all against us for a buy;
        - an Orca pool sold into (exact in; P its price, view units per base unit, rounded up):
          per whole tick range walked, the input and its fee rounded up (< 3 base units, worth
          <= P each) and the output down; in the last partial range the input after the fee
          (< 1 base unit), the sqrt price (one unit: U = L / 2^64 quote units, x P when the
          quote is token A) and the output; all against us: (k + 1)(1 + 3P + U) + P + 1 wide
          for k ranges, x r plus two conversions.
        - an Orca pool bought from (exact out; P its price at the far end of the last range
          begun, which no size asked so far passes): per whole range the output rounded down
          (< 1 base unit, bought again at <= P) and the input and its fee rounded up; the
          last range's sqrt price (U, x P when the quote is token A) and input: all against
          us, (k + 1)(4 + P + U) + P + 1 wide, x 2 for the flat bps on the gross.
        Raydium pools (no walk kept): None.
        """
        n, d = self._ratio(view.quote_currency)
        r_up = -(-n // d)
        if isinstance(view, CexBookView | ClobView):
            # once per view and side, beside its priced sizes (`_leg_prices`): under the key
            # -1, which is never a size (-1 there: no bound)
            key = (view.market_id, buy)
            hit = self._leg_cache.get(key)
            if hit is None or hit[0] is not view:
                hit = self._leg_cache[key] = (view, {})
            held = hit[1].get(-1)
            if isinstance(held, int):
                return held if held >= 0 else None
            prices = [lv[0] for lv in (view.asks if buy else view.bids)]
            if prices != sorted(prices, reverse=not buy):
                hit[1][-1] = -1
                return None
            unit = view.fee_rounding_quote_units if isinstance(view, ClobView) else 1
            slack = hit[1][-1] = (unit + 4) * r_up + 4
            return slack
        if not isinstance(view, ClmmView):
            return None
        walk = self._walk_of(view, buy)
        walked = None if walk is None else walk.walked()
        if walked is None:
            return None
        ranges, liquidity, far_sqrt_x64 = walked
        if buy:
            # the price only rises along a buy: at most the far end of the last range begun
            if far_sqrt_x64 <= 0:
                return None
            sq, one = far_sqrt_x64 * far_sqrt_x64, 1 << 128
            price = -(-sq // one) if view.base_is_a else -(-one // sq)
            ulp = -(-liquidity * max(1, price) // (1 << 64))
            wide = (ranges + 1) * (4 + price + ulp) + price + 1
            return wide * r_up + 3  # the flat bps on the gross, rounded too: x 2, halved
        top = self._tops_of(view)[1]
        if top is None or top[0] <= 0:
            return None
        price = -(-top[0] * d // (top[1] * n))  # view-quote units per base unit, rounded up
        ulp = -(-liquidity * max(1, price) // (1 << 64))
        wide = (ranges + 1) * (1 + 3 * price + ulp) + price + 1
        return (wide * r_up + 2) // 2 + 2

    def _leg_prices(self, view: VenueView, buy: bool, sizes: list[int]) -> list[LegPoint | int]:
        """One leg at each size (base units, any order) as Points, the same numbers as the
        grid's curves; -1 where below its market's minimum notional, +1 where it cannot be
        priced (depth). Cached per view, so every candidate of the view shares the walks."""
        key = (view.market_id, buy)
        hit = self._leg_cache.get(key)
        if hit is None or hit[0] is not view:
            hit = self._leg_cache[key] = (view, {})
        cache = hit[1]
        todo = sorted({z for z in sizes if z not in cache})
        if todo:
            for z, pt in zip(todo, self._price_leg(view, buy, todo)):
                cache[z] = pt
        return [cache[z] for z in sizes]

    def _leg_of_curve(self, view: VenueView, pt: Point, size: int) -> Point | int:
        """A grid curve's Point as `_price_leg` gives it at `size` (the same quote): -1 below
        the market's minimum notional, +1 where the quote is not of that size."""
        q = pt[0]
        if q.size_base != size:
            return 1
        minimum = self.p.min_notional.get(view.market_id)
        if minimum is not None and q.gross_quote < minimum:
            return -1
        return pt

    def _leg_point(self, view: VenueView, buy: bool, size: int, pt: LegPoint) -> Point:
        """The Point of a `_leg_prices` entry: a leg's raw walk made its `LegQuote` (a CLMM
        amount holds the pool fee: `fee_in_amount`)."""
        q = pt[0]
        if isinstance(q, LegQuote):
            return (q, pt[1], pt[2], pt[3])
        leg = LegQuote(
            view.venue, view.market_id, "buy" if buy else "sell", size, q[0], q[1],
            isinstance(view, ClmmView), q[2], view.quote_currency,
        )  # fmt: skip
        return (leg, pt[1], pt[2], pt[3])

    def _price_leg(self, view: VenueView, buy: bool, sizes: list[int]) -> list[LegPoint | int]:
        p = self.p
        minimum = p.min_notional.get(view.market_id)
        r = self._ratio(view.quote_currency)
        par = r == (1, 1)
        out: list[LegPoint | int] = []
        if isinstance(view, CexBookView | ClobView):
            # The same integers `_point` gives the `LegQuote` (gross == amount before the fee:
            # `fee_in_amount` is False), the quote itself left for `_leg_point`.
            try:
                raw = self._book_amounts(view, buy, sizes)
            except QuoteError:
                return [1] * len(sizes)
            for w in raw:
                if isinstance(w, QuoteError):
                    out.append(1)
                elif minimum is not None and w[0] < minimum:
                    out.append(-1)
                elif par:
                    out.append((w, w[0], w[1], w[0]))
                else:
                    amount = to_pair_quote(w[0], r, round_up=buy)
                    out.append((w, amount, to_pair_quote(w[1], r, round_up=True), amount))
            return out
        if not isinstance(view, ClmmView):
            return [1] * len(sizes)  # not a venue view: nothing prices it
        # The numbers of `_clmm_curve`'s LegQuotes (`fee_in_amount`: gross = amount -/+ fee),
        # converted as `_point` does; the quote itself is left for `_leg_point`.
        try:
            walks = clmm_curve_amounts(view, sizes, buy=buy, walk=self._walk_of(view, buy))
        except QuoteError:
            return [1] * len(sizes)
        for cw in walks:
            if isinstance(cw, QuoteError):
                out.append(1)
                continue
            amount, fee = cw[0], cw[1]
            gross = amount - fee if buy else amount + fee
            if minimum is not None and gross < minimum:
                out.append(-1)
            elif par:
                out.append((cw, gross, fee, amount))
            else:
                out.append(
                    (
                        cw,
                        to_pair_quote(gross, r, round_up=buy),
                        to_pair_quote(fee, r, round_up=True),
                        to_pair_quote(amount, r, round_up=buy),
                    )
                )
        return out

    def marginal_bps(self, best: SizedCandidate) -> float:
        """PnL gained since the grid size below, bps of the notional it added (none: net)."""
        if best.prev is None:
            return best.cost.net_bps
        b, s = best.prev
        flat = best.cost.flat_ppb
        edge, _, gas_q = self._model.edge_and_gas(b[1], b[2], s[1], s[2], flat, self.landing)
        prev_pnl = edge - gas_q  # = costs.candidate_pnl
        dn = best.cost.notional_quote - b[1]
        return (best.cost.pnl_quote - prev_pnl) * 10_000.0 / dn if dn > 0 else 0.0

    def _top_price(self, view: VenueView, buy: bool) -> Top:
        """Best marginal price as (num, den), pair-quote base units per base unit, exact."""
        tops = self._tops_of(view)
        return tops[0] if buy else tops[1]

    def _tops_of(self, view: VenueView) -> tuple[Top, Top]:
        """(best price to buy at, best price to sell at) of `view`, once per view object."""
        hit = self._tops.get(view.market_id)
        if hit is not None and hit[0] is view:
            return hit[1], hit[2]
        buy, sell = self._top_price_of(view, True), self._top_price_of(view, False)
        self._tops[view.market_id] = (view, buy, sell)
        return buy, sell

    def _top_price_of(self, view: VenueView, buy: bool) -> tuple[int, int] | None:
        if isinstance(view, CexBookView):
            levels = view.asks if buy else view.bids
            if not levels:
                return None
            n, d = self._ratio(view.quote_currency)
            shift = self.p.quote_decimals - self.p.base_decimals
            num, den = levels[0][0] * n, PRICE_SCALE * d
            return (num * 10**shift, den) if shift >= 0 else (num, den * 10**-shift)
        if isinstance(view, ClobView):
            ladder = view.asks if buy else view.bids
            if not ladder or view.base_units_per_lot <= 0 or view.quote_units_per_tick_lot_den <= 0:
                return None
            n, d = self._ratio(view.quote_currency)
            per_lot = ladder[0][0] * view.quote_units_per_tick_lot_num
            return per_lot * n, view.quote_units_per_tick_lot_den * view.base_units_per_lot * d
        pool = view.pool
        if isinstance(pool, Whirlpool):
            sqrt_x64 = pool.sqrt_price
        elif isinstance(pool, PoolState):
            sqrt_x64 = pool.sqrt_price_x64
        else:
            return None  # no pool held yet
        if sqrt_x64 <= 0:
            return None
        # token-B base units per token-A base unit = (sqrt_x64 / 2^64)^2
        sq, one = sqrt_x64 * sqrt_x64, 1 << 128
        n, d = self._ratio(view.quote_currency)
        return (sq * n, one * d) if view.base_is_a else (one * n, sq * d)

    def _spread_bound(
        self,
        cex: CexBookView,
        dex: DexView,
        cex_buys: bool,
        slip: int | None = None,
        tops: tuple[tuple[Top, Top], tuple[Top, Top]] | None = None,
    ) -> Ratio | None:
        """Upper bound of the net edge at any size, exact ppb ratio (None: cannot bound).

        At any size a buy pays at least the best ask (a CLMM: at least the pool price) and a
        sell gets at most the best bid (pool price), so the gross spread is at most the top
        prices' spread; the size-independent costs (CEX fee, slippage, hedge, safety) are sure
        to be paid on top. DEX fees and gas only lower the edge further and are left out.
        `tops` are `_tops_of(cex)` and `_tops_of(dex)` when the caller holds them already.
        """
        cex_tops, dex_tops = tops or (self._tops_of(cex), self._tops_of(dex))
        if cex_buys:
            buy_p, sell_p = cex_tops[0], dex_tops[1]
        else:
            buy_p, sell_p = dex_tops[0], cex_tops[1]
        if buy_p is None or sell_p is None or buy_p[0] <= 0:
            return None
        c = self.p.costs
        fee = c.cex_taker_fee_ppb.get(cex.venue)
        if fee is None:
            fee = bps_to_ppb(cex.taker_fee_bps)
        if slip is None:
            slip = self._slippage_ppb(cex.market_id, dex.market_id)
        flat = slip + (self._flat_perp_ppb if cex.market == "perp" else c.safety_margin_ppb)
        # sell / buy = rn / rd; bound = (rn / rd - 1) x 10^9 - fee x (1 or, when the CEX
        # sells, rn / rd: the fee is on the sell amount, costs on the buy notional) - flat.
        rn, rd = sell_p[0] * buy_p[1], sell_p[1] * buy_p[0]
        if cex_buys:
            return rn * PPB - rd * (PPB + fee + flat), rd
        return rn * (PPB - fee) - rd * (PPB + flat), rd

    def _spread_bound_bps(
        self, cex: CexBookView, dex: DexView, cex_buys: bool, slip: int | None = None
    ) -> float | None:
        """Float view of `_spread_bound`, bps (reports and tests)."""
        bound = self._spread_bound(cex, dex, cex_buys, slip)
        return None if bound is None else bound[0] / (bound[1] * PPB_PER_BPS)

    def _evaluate(
        self,
        cex: CexBookView,
        dex: DexView,
        cex_buys: bool,
        key: str,
        slip: int,
        bound: Ratio | None,
        trigger_view: VenueView,
        now_ns: int,
    ) -> Opportunity | None:
        """One direction of one candidate; `key` its hysteresis key, `slip` its slippage ppb,
        `bound` its `_spread_bound` (worked out by `on_view`)."""
        trigger_net = self._trigger_net_ppb
        # Skip the walks when the bound proves the outcome: below the trigger, and either armed
        # (nothing to do) or already below the re-arm line (re-arm). Exact: ratios compared
        # by cross-multiplication (den > 0), with the slack added.
        if bound is not None and (n := bound[0] + BOUND_SLACK_PPB * bound[1]) < trigger_net * (
            d := bound[1]
        ):
            st = self.debouncer.states.get(key)
            if st is not None and st.armed:
                # An armed key that does not trigger: `decide` would change nothing.
                self.stats["bound_skips"] += 1
                return None
            rearm_line = trigger_net - self.p.hysteresis.rearm_below_ppb
            if st is None or n < rearm_line * d:
                self.stats["bound_skips"] += 1
                self.debouncer.decide(
                    key,
                    triggered=False,
                    net=(n, d),
                    trigger_net_ppb=trigger_net,
                    size_base=0,
                    now_ns=now_ns,
                )
                return None
        self.stats["evaluations"] += 1
        best = self._best(cex, dex, cex_buys, slip)
        if best is None:
            self.stats["no_executable_size"] += 1
            self.debouncer.decide(
                key,
                triggered=False,
                net=None,
                trigger_net_ppb=trigger_net,
                size_base=0,
                now_ns=now_ns,
            )
            return None
        cost = best.cost
        # spread >= costs and net >= min_net, i.e. the exact net >= max(0, min_net)
        triggered = cost.pnl_quote > 0 and not ratio_lt(cost.net, trigger_net)
        decision, st = self.debouncer.decide(
            key,
            triggered=triggered,
            net=cost.net,
            trigger_net_ppb=trigger_net,
            size_base=best.buy.size_base,
            now_ns=now_ns,
        )
        if decision not in ("signal", "update"):
            return None
        if decision == "signal":
            st.epoch = self.id_epoch
        if cex_buys:
            direction, buy_mid, sell_mid = BUY_CEX_SELL_DEX, cex.market_id, dex.market_id
        else:
            direction, buy_mid, sell_mid = BUY_DEX_SELL_CEX, dex.market_id, cex.market_id
        # Positional (keywords cost ~1.5 us a signal); `_OPPORTUNITY_FIELDS` pins the order.
        return Opportunity(
            f"{key}|{st.epoch}.{st.signals}" if st.epoch else f"{key}|{st.signals}",  # id
            self.p.pair,  # pair
            direction,  # direction
            buy_mid,  # buy_venue
            sell_mid,  # sell_venue
            best.buy.size_base,  # size_base
            best.buy_quote,  # buy_quote
            best.sell_quote,  # sell_quote
            cost.spread_bps,  # spread_bps
            cost.costs,  # costs
            cost.costs.total_bps + max(0.0, self.p.min_net_bps),  # threshold_bps (report)
            cost.net_bps,  # net_bps
            cost.pnl_quote,  # expected_pnl_quote
            self.marginal_bps(best),  # marginal_bps
            cost.cu_price_micro_lamports,  # cu_price_micro_lamports
            st.update_seq,  # update_seq
            max(cex.ts_event_ns, dex.ts_event_ns),  # ts_event_ns
            trigger_view.ts_recv_ns,  # ts_recv_ns
            now_ns,  # ts_detect_ns
            (),  # stale_venues
            trigger_view.ts_ingest_ns,  # ts_ingest_ns
            0,  # ts_detect_wall_ns
            # each leg's market currency ("" for the pair's own) and the ratio `_best` priced
            # it at (operators/fx.py)
            "" if (bq := best.buy.quote_currency) == (pq := self.p.quote_currency) else bq,
            self._ratio(bq),  # buy_fx
            "" if (sq := best.sell.quote_currency) == pq else sq,  # sell_quote_currency
            self._ratio(sq),  # sell_fx
        )
