"""The per-pair join: every CEX x DEX combination, both directions, net of every cost, at size.

`PairEngine.on_view(view, now_ns)` keeps the latest view per market id and re-evaluates every
candidate the new view takes part in: (CEX view, DEX view) x {buy CEX / sell DEX, buy DEX / sell
CEX}. A candidate whose views are stale or not in sync is skipped and never signals. Stale is
`now_ns - ts_recv_ns` over a budget, `now_ns` being the triggering view's receive time: a CEX
book's budget is its venue's (`cex_stale_after_ns`, from the book stream's cadence: a liquid
book that has not changed for 10 stream periods has a stalled feed, with or without a health
event saying so, as in a replay); a DEX view's is `stale_after_ns`.

Trigger (MISSION.md), all in bps of the buying leg's gross notional:
    spread_bps >= fees_cex + fees_dex + gas + slippage + safety (+ hedge for a perp CEX leg)
and net_bps = spread_bps - costs >= min_net_bps, i.e. net_bps >= max(0, min_net_bps).
Both are decided exactly on integers (operators/fixedpoint.py): the net edge as a ppb ratio of
the notional, thresholds in ppb; the float bps of an `Opportunity` are its report view. The
expected PnL is the floor of that exact net edge in quote base units, so `pnl > 0` (also
required) already implies net > 0: a sign the risk guard can check on the integer.

Size. A linear grid of `size_steps` sizes up to `max_trade_base`, rounded down to the lot size
of both legs (the CEX market's configured lot, a CLOB's base lot). Sizes whose buy or sell quote
exceeds `max_notional_quote` are dropped. Each leg is priced for the whole grid in one walk (one
CLMM tick walk via `quote_curve`; DEX curves are cached until that DEX view changes). The size
maximising the expected PnL in quote units wins: PnL = proceeds - cost - gas - (slippage +
hedge + safety) of the notional. Gas rises with the edge by at most `priority_share_of_edge` of
it, so the PnL is maximal where the edge before gas is: the grid is ranked on that, and only the
winner (and the grid step below it, for `marginal_bps`) is fully costed.

Ids are `pair|direction|buy_market>sell_market|n`, n counting signals of that key: no clock, no
randomness, so a replay reproduces them. `buy_venue`/`sell_venue` of an opportunity are MARKET
ids (what the risk guard and the execution venues key on).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from math import gcd
from operator import add, sub
from typing import NamedTuple

from operators.clmm.accounts import Whirlpool
from operators.clmm.raydium_accounts import PoolState
from operators.costs import (
    CandidateCost,
    CostModel,
    CostParams,
    LandingStats,
    SlippageEstimator,
    hedge_ppb,
)
from operators.errors import QuoteError
from operators.events import Opportunity
from operators.fixedpoint import PPB, PPB_PER_BPS, Ratio, bps_to_ppb, ppb_of, ratio_lt
from operators.pricing import (
    PRICE_SCALE,
    LegQuote,
    LegSide,
    buy_base_curve,
    cex_curve_amounts,
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
BOUND_SLACK_PPB = 1_000
"""0.01 bps under the exact bound before a skip: the same skip/evaluate split (and journal
counters) as when the bound was a float; a skip is proven either way."""

DexView = ClmmView | ClobView
_OPPORTUNITY_FIELDS = (
    "opportunity_id", "pair", "direction", "buy_venue", "sell_venue", "size_base", "buy_quote",
    "sell_quote", "spread_bps", "costs", "threshold_bps", "net_bps", "expected_pnl_quote",
    "marginal_bps", "cu_price_micro_lamports", "update_seq", "ts_event_ns", "ts_recv_ns",
    "ts_detect_ns", "stale_venues", "ts_ingest_ns", "ts_detect_wall_ns",
)  # fmt: skip
if tuple(f.name for f in fields(Opportunity)) != _OPPORTUNITY_FIELDS:  # pragma: no cover
    # `_evaluate` builds Opportunity positionally: a field added or moved must fail loudly here.
    raise ImportError("operators.events.Opportunity fields changed; update operators.spread")
Point = tuple[LegQuote, int, int, int]
"""A priced size: the leg, then gross, fee and amount in pair-quote base units (against us)."""
Curve = list[Point | None]
Top = tuple[int, int] | None
"""A view's best marginal price as (num, den), pair-quote base units per base unit, exact."""


class _Curve:
    """One leg priced over the size grid: plain int columns to rank sizes on, Points on demand.

    Why columns: every candidate a view takes part in ranks the whole grid, so the ranking
    loop reads flat lists; a CEX leg's `LegQuote`s are built only for the sizes that win
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
        self._cex: tuple[CexBookView, list[tuple[int, int, int] | None]] | None = None
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
    stale_after_ns: int = 2_000_000_000
    """Staleness budget of DEX views and of CEX books absent from `cex_stale_after_ns`."""
    cex_stale_after_ns: Mapping[str, int] = field(default_factory=dict)
    """CEX market id -> its venue's staleness budget (ns)."""
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
    buy: LegQuote
    sell: LegQuote
    buy_quote: int
    sell_quote: int
    cost: CandidateCost
    prev: tuple[Point, Point] | None
    """The grid step below, when it priced (for the marginal)."""
    cex: CexBookView
    cex_buys: bool


class PairEngine:
    """Latest views of one pair, the cost model state and the hysteresis of every candidate."""

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
        self._cands: dict[tuple[str, str], tuple[str, str]] = {}

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

    def is_stale(self, view: VenueView, now_ns: int) -> bool:
        """True when `view` must not be traded: out of sync, or older than its budget (ns)."""
        budget = self.p.cex_stale_after_ns.get(view.market_id, self.p.stale_after_ns)
        return (not view.in_sync) or now_ns - view.ts_recv_ns > budget

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
        self.views[mid] = view
        is_cex = isinstance(view, CexBookView)
        out: list[Opportunity] = []
        stale_after = self.p.stale_after_ns
        cex_budget = self.p.cex_stale_after_ns
        # = self.is_stale(view, now_ns), inlined (hot loop); the other side's check below
        view_stale = (not view.in_sync) or now_ns - view.ts_recv_ns > (
            cex_budget.get(mid, stale_after) if is_cex else stale_after
        )
        evaluate = self._evaluate
        tops_of = self._tops_of
        expected = self.slippage.expected_ppb
        slip_default = self.p.costs.slippage_default_ppb
        view_slip = expected(mid, slip_default)
        for other in self.views.values():
            if isinstance(other, CexBookView) is is_cex:
                continue
            if (
                view_stale
                or (not other.in_sync)
                or now_ns - other.ts_recv_ns
                > (stale_after if is_cex else cex_budget.get(other.market_id, stale_after))
            ):
                stats["stale_skips"] += 2  # both directions
                continue
            cex: CexBookView
            dex: DexView
            if is_cex:
                cex, dex = view, other  # type: ignore[assignment]
            else:
                cex, dex = other, view  # type: ignore[assignment]
            # = self._slippage_ppb(cex.market_id, dex.market_id), the view's share looked up once
            slip = view_slip + expected(other.market_id, slip_default)
            keys = self._cand_keys(cex.market_id, dex.market_id)
            tops = (tops_of(view), tops_of(other)) if is_cex else (tops_of(other), tops_of(view))
            opp = evaluate(cex, dex, True, keys[0], slip, tops, view, now_ns)
            if opp is not None:
                out.append(opp)
            opp = evaluate(cex, dex, False, keys[1], slip, tops, view, now_ns)
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
        if isinstance(view, CexBookView):
            curve = self._cex_curve(view, buy, sizes)
        else:
            fn = buy_base_curve if buy else sell_base_curve
            try:
                quotes = fn(view, sizes, p.base_decimals, p.quote_decimals)
            except QuoteError as exc:  # the whole view cannot be priced (bad pool, bad ladder)
                quotes = [exc] * len(sizes)
            if isinstance(view, ClobView):
                quotes = [self._clob_fee_floor(view, q) for q in quotes]
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

    def _cex_curve(self, view: CexBookView, buy: bool, sizes: list[int]) -> _Curve:
        """The CEX leg's columns, the same numbers `_point` gives its `LegQuote`s."""
        p = self.p
        curve = _Curve(len(sizes))
        try:
            raw: list[tuple[int, int, int] | QuoteError] = cex_curve_amounts(
                view, sizes, p.base_decimals, p.quote_decimals, buy=buy,
                cex_fee_ppb=p.costs.cex_taker_fee_ppb.get(view.venue),
            )  # fmt: skip
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

    def _clob_fee_floor(self, view: ClobView, q: LegQuote | QuoteError) -> LegQuote | QuoteError:
        # The market account's fee is what the program charges; config may only raise it
        # (e.g. a referrer or a fee change not yet seen on chain).
        cfg = self.p.costs.dex_taker_fee_ppb.get(view.venue)
        if isinstance(q, QuoteError) or cfg is None:
            return q
        floor = ppb_of(cfg, q.quote_amount)
        if floor <= q.fee_quote:
            return q
        return LegQuote(
            q.venue, q.market_id, q.side, q.size_base, q.quote_amount, floor, q.fee_in_amount,
            q.levels_used, q.quote_currency,
        )

    def _ratio(self, currency: str) -> tuple[int, int]:
        r = self._fx.get(currency)
        if r is None:
            r = (1, 1) if currency == self.p.quote_currency else fx_ratio(self.p.fx, currency)
            self._fx[currency] = r
        return r

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
                return None
            edges = list(map(sub, sells.part[:stop], buys.adjusted(flat_ppb)[:stop]))
            best_i = edges.index(max(edges))
            return self._sized(buys, sells, best_i, best_i - 1, cex, cex_buys, slip)
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
        if best_i < 0:
            return None
        return self._sized(buys, sells, best_i, prev_i, cex, cex_buys, slip)

    def _sized(
        self,
        buys: _Curve,
        sells: _Curve,
        best_i: int,
        prev_i: int,
        cex: CexBookView,
        cex_buys: bool,
        slip: int,
    ) -> SizedCandidate:
        b, s = buys.point(best_i), sells.point(best_i)
        cost = self._cost(b, s, cex, cex_buys, slip)
        prev = None
        if prev_i >= 0 and prev_i == best_i - 1:
            prev = (buys.point(prev_i), sells.point(prev_i))
        return SizedCandidate(best_i, b[0], s[0], b[3], s[3], cost, prev, cex, cex_buys)

    def marginal_bps(self, best: SizedCandidate) -> float:
        """PnL gained by the last grid step, bps of the notional it added (the first step: net)."""
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
        tops: tuple[tuple[Top, Top], tuple[Top, Top]],
        trigger_view: VenueView,
        now_ns: int,
    ) -> Opportunity | None:
        """One direction of one candidate; `key` its hysteresis key, `slip` its slippage ppb,
        `tops` the CEX and DEX views' `_tops_of`."""
        trigger_net = self._trigger_net_ppb
        bound = self._spread_bound(cex, dex, cex_buys, slip, tops)
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
        if cex_buys:
            direction, buy_mid, sell_mid = BUY_CEX_SELL_DEX, cex.market_id, dex.market_id
        else:
            direction, buy_mid, sell_mid = BUY_DEX_SELL_CEX, dex.market_id, cex.market_id
        # Positional (keywords cost ~1.5 us a signal); `_OPPORTUNITY_FIELDS` pins the order.
        return Opportunity(
            f"{key}|{st.signals}",  # opportunity_id
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
        )
