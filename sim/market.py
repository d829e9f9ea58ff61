"""A market simulator that can say no: competitors, random flow, quiet periods, latency.

The classic generator (`sim.simulate`) plants five dislocations that all beat the trigger and
then keeps the pool still for eight slots, so the engine cannot lose on it. This one models a
market where the engine can lose (docs/simulator.md says what it models and what it does not):

- a fair SOL/USDC price that the CEX book follows (price discovery happens on the CEX), as a
  seeded random walk whose volatility switches between an active and a quiet regime;
- dislocations arriving as a Poisson process in the active regime, their sizes drawn from an
  exponential distribution, most of them too small to pay; a share of them starts on the DEX
  (a large swap on the pool) rather than on the CEX;
- other arbitrageurs who close any gap between pool and CEX wider than their own hurdle, a
  configurable number of slots after it opened (and miss a slot now and then);
- random flow on every venue: swaps that move the pool every slot, market orders that walk the
  CEX book; the book keeps moving every 100 ms, during our latency too;
- per-venue feed latency: every frame is received a seeded draw after its event, in order
  per stream (a TCP stream or a subscription never reorders).

With more venues (`MarketConfig.venues`, sim/market_venues.py), OKX and Bybit books follow the
fair price a step or two late and take local dislocations of their own, and every DEX market
(Orca, Raydium CLMM, Phoenix, OpenBook) has its own flow and its own competitors. `pair` and
`pool` give another pair (ETH/USDC of the two-pair sample) on Binance + Orca.

Everything is drawn from `MarketConfig` and its seed, one random stream per component, so
changing one knob (say the competitors' lag) leaves every other component's draws unchanged
(adding venues does change where dislocations start, so the fair path of the 7-venue session
differs from the two-venue one). The output is a capture in the venues' wire formats, for the
sample's markets files (`sim/sample/markets*.toml`). Every bundled sample is made here
(`MarketConfig()`, `ALL_VENUES_MARKET`, `MULTI_PAIR_MARKETS`).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

from connectors.capture import CaptureWriter
from operators.errors import ConfigError
from operators.events import RawFrame
from sim.simulate import (
    ALL_VENUES,
    CLASSIC_VENUES,
    SOL_USDC,
    WETH_USDC,
    PairSpec,
    SimConfig,
    binance_best_bid_ticks,
    binance_depth_frames,
    binance_feed,
)

Z99 = 2.3263478740408408
"""Standard normal 99th percentile: turns (median, p99) into a log-normal's sigma."""


@dataclass(frozen=True)
class LatencyDist:
    """A log-normal delay given by its median and 99th percentile, in milliseconds."""

    median_ms: float
    """Half the draws are shorter than this."""
    p99_ms: float
    """One draw in a hundred is longer than this (the tail: GC pauses, congestion, retries)."""

    def __post_init__(self) -> None:
        if not 0 < self.median_ms <= self.p99_ms:
            raise ConfigError(
                f"latency distribution: need 0 < median_ms <= p99_ms, got "
                f"{self.median_ms} / {self.p99_ms}"
            )

    def draw_ns(self, rng: random.Random) -> int:
        """One delay in ns."""
        sigma = math.log(self.p99_ms / self.median_ms) / Z99
        return int(self.median_ms * math.exp(sigma * rng.gauss(0.0, 1.0)) * 1_000_000)


@dataclass(frozen=True)
class MarketConfig:
    """Parameters of a simulated Binance + Orca SOL/USDC session; all draws follow `seed`.

    The defaults are plausible orders of magnitude for SOL/USDC, chosen before looking at what
    the engine makes of them and NOT calibrated on recorded data (docs/simulator.md).
    """

    seed: int = 2026
    """Seed of every random stream (each component draws from its own, derived from this)."""
    duration_s: int = 600
    """Length of the session, seconds."""
    start_ns: int = 1_767_225_600_000_000_000
    """Event time of the first frame (2026-01-01T00:00:00Z)."""
    mid0: Decimal = Decimal("150")
    """Fair price at the start, USDC per SOL."""
    depth_interval_ms: int = 100
    """Binance `depth@100ms` cadence: the book moves and publishes a diff this often."""
    slot_ms: int = 400
    """Solana slot time: the pool account changes at most once per slot."""
    active_vol_bps_per_step: float = 0.6
    """Fair-price volatility per depth step in the active regime, bps (SOL's ~4-6 %/day
    realised volatility is ~0.5 bps per 100 ms; active hours run above the daily average)."""
    quiet_vol_bps_per_step: float = 0.2
    """Fair-price volatility per depth step in the quiet regime, bps."""
    mean_active_s: float = 90.0
    """Mean length of an active period, seconds (exponential)."""
    mean_quiet_s: float = 60.0
    """Mean length of a quiet period (no dislocations, low volatility), seconds (exponential)."""
    dislocations_per_min: float = 4.0
    """Poisson rate of dislocations in the active regime, per minute (0 = none at all)."""
    dislocation_mean_bps: float = 10.0
    """Mean size of a dislocation, bps; sizes are exponential, so with the default ~24 bps
    trigger only about e^-2.4 = 9 % of them are wide enough to pay, before any competition."""
    dex_origin_share: float = 0.3
    """Share of dislocations that start on the pool (a large swap) instead of the CEX."""
    competitor_hurdle_bps: float = 8.0
    """Other arbitrageurs trade any pool-vs-CEX gap wider than this (their all-in cost)."""
    competitor_lag_slots: int = 1
    """They close a gap this many slots after the slot in which it first exceeds the hurdle
    (0 = in that very slot). Mainnet SOL/USDC gaps are typically closed within a slot or two."""
    competitor_miss_prob: float = 0.25
    """Each slot they are due, they fail to land with this probability (congestion, lost
    auctions), so the actual lag is the configured one plus a geometric tail."""
    competitor_residual_bps: float = 3.0
    """After their trade the gap left is this many bps, on the side it was (they stop where
    the next unit no longer pays them)."""
    dex_swaps_per_slot: float = 1.0
    """Poisson mean of other traders' swaps on the pool per slot."""
    dex_swap_impact_bps: float = 1.5
    """Standard deviation of one such swap's price impact, bps (normal, either side)."""
    cex_trades_per_step: float = 0.3
    """Poisson mean of market orders on the CEX per depth step."""
    cex_trade_mean_base: float = 6.0
    """Mean size of one such market order, SOL (exponential); it walks the book from the
    touch, and the next step's requotes replenish what it took."""
    levels: int = 60
    """Levels per side of the CEX book."""
    feed_latency: dict[str, LatencyDist] = field(
        default_factory=lambda: {
            "binance": LatencyDist(median_ms=8.0, p99_ms=60.0),
            "okx": LatencyDist(median_ms=10.0, p99_ms=70.0),
            "bybit": LatencyDist(median_ms=12.0, p99_ms=80.0),
            "orca": LatencyDist(median_ms=25.0, p99_ms=150.0),
            "raydium_clmm": LatencyDist(median_ms=25.0, p99_ms=150.0),
            "phoenix": LatencyDist(median_ms=25.0, p99_ms=150.0),
            "openbook": LatencyDist(median_ms=25.0, p99_ms=150.0),
        }
    )
    """Per venue: delay from the event (Binance `E`, the end of the slot) to our receive time.
    The paper venue fills against views by receive time, so a slower pool feed would make
    paper fills on the stale pool *more* optimistic; these are a good co-located setup's
    (every Solana venue's account updates come over the same RPC: the same delay)."""
    venues: tuple[str, ...] = CLASSIC_VENUES
    """Venues in the session: Binance (where price discovery happens) plus any of OKX and
    Bybit (CEX books following it) and Orca, Raydium CLMM, Phoenix, OpenBook (DEX markets,
    each with its own flow and its own competitors). Only Orca is built for a pair other than
    SOL/USDC."""
    pair: PairSpec = SOL_USDC
    """The pair: Binance symbol, pool address, base mint and decimals."""
    pool: SimConfig | None = None
    """Orca pool geometry (positions, tick spacing, fee rate) and, for Raydium, its own; None
    = the SOL/USDC sample pools of `sim.simulate.SimConfig` at `mid0`."""
    cex_local_share: float = 0.2
    """Of the dislocations that start on a CEX, the share that starts on one follower CEX alone
    (a local liquidation, a maker requoting wrong) instead of moving the fair price; it fades
    by `cex_local_decay` per step as that venue's own arbitrageurs close it."""
    cex_local_decay: float = 0.95
    """Per depth step, the share of a follower CEX's local offset that survives."""
    cex_followers: dict[str, tuple[int, float]] = field(
        default_factory=lambda: {"okx": (1, 0.6), "bybit": (2, 0.8)}
    )
    """Follower CEX -> (steps it lags the fair price, Gaussian quote noise in bps per step):
    OKX and Bybit quote SOL a beat behind Binance, where most price discovery happens."""
    hedge_perp: tuple[int, float] | None = None
    """A Binance USD-M SOLUSDT perp book following the fair price with (lag steps, noise bps),
    for a `[[pairs.hedges]]` perp to hedge on (sim/market_venues.py `PerpFollower`, its own
    random streams and the Binance feed latency); None (every bundled sample): no perp."""

    def __post_init__(self) -> None:
        for name in ("duration_s", "depth_interval_ms", "slot_ms", "levels"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"market simulator: {name} must be > 0")
        if self.slot_ms % self.depth_interval_ms:
            raise ConfigError("market simulator: slot_ms must be a multiple of depth_interval_ms")
        for name in ("competitor_miss_prob", "dex_origin_share"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"market simulator: {name} must be in [0, 1)")
        if self.competitor_lag_slots < 0 or self.dislocations_per_min < 0:
            raise ConfigError("market simulator: lags and rates must be >= 0")
        unknown = sorted(set(self.venues) - set(ALL_VENUES))
        if unknown or "binance" not in self.venues:
            raise ConfigError(
                f"market simulator: venues must include binance and be among {ALL_VENUES}, "
                f"got {self.venues}"
            )
        if self.pair != SOL_USDC and set(self.venues) != set(CLASSIC_VENUES):
            raise ConfigError("market simulator: a pair other than SOL/USDC is Binance + Orca")
        missing = set(self.venues) - set(self.feed_latency)
        if missing:
            raise ConfigError(f"market simulator: no feed latency for {sorted(missing)}")
        if not 0.0 <= self.cex_local_share <= 1.0 or not 0.0 <= self.cex_local_decay < 1.0:
            raise ConfigError("market simulator: cex_local_share in [0, 1], decay in [0, 1)")


@dataclass
class MarketTruth:
    """What really happened in a session, for tests and docs (never fed to the engine)."""

    dislocations: list[tuple[int, str, float]] = field(default_factory=list)
    """(event ns, 'cex' or 'dex', signed size bps) of every dislocation."""
    competitor_trades: int = 0
    mid_by_step: list[float] = field(default_factory=list)
    """Fair (CEX mid) price after each depth step, USDC per SOL (index 0 = the start)."""
    start_ns: int = 0
    step_ns: int = 1

    def mid_at(self, ts_ns: int) -> float:
        """Fair price at event time `ts_ns` (the last step at or before it), USDC per SOL."""
        i = min(max((ts_ns - self.start_ns) // self.step_ns, 0), len(self.mid_by_step) - 1)
        return self.mid_by_step[i]


class _Cex:
    """The Binance book: requoted around the fair mid every step, walked by market orders."""

    def __init__(self, cfg: MarketConfig, book_rng: random.Random, flow_rng: random.Random):
        self.cfg = cfg
        self.feed = binance_feed(book_rng, cfg.pair.cex_symbol)
        self.book = self.feed.book
        self.rng = book_rng
        self.flow = flow_rng

    def step(self, mid: float, event_ns: int, recv_ns: int, snapshot: bool) -> list[RawFrame]:
        """Trades walk the book, then it requotes around `mid`; the step's diff (+ snapshot)."""
        hit_bids: set[int] = set()
        hit_asks: set[int] = set()
        for _ in range(_poisson(self.flow, self.cfg.cex_trades_per_step)):
            mean = self.cfg.cex_trade_mean_base
            units = int(Decimal(repr(round(self.flow.expovariate(1.0 / mean), 3))) * 1000)
            if self.flow.random() < 0.5:  # a market sell hits the bids
                hit_bids |= self.book.take(True, units)
            else:
                hit_asks |= self.book.take(False, units)
        # the requote diffs against the walked book, but the reader still holds the levels as
        # they were before the trades: every level a trade touched goes on the wire too
        frames = binance_depth_frames(
            self.feed,
            self.rng,
            mid,
            event_ns,
            with_snapshot=snapshot,
            levels=self.cfg.levels,
            hit=(hit_bids, hit_asks),
        )
        # received, not sent, times: the diff after the feed latency, the snapshot 30 ms later
        out = [replace(frames[0], ts_recv_ns=recv_ns)]
        if snapshot:
            out.append(replace(frames[1], ts_recv_ns=recv_ns + 30_000_000))
        return out


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth; the means here are small)."""
    if mean <= 0:
        return 0
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class _InOrder:
    """Receive times of one stream: event + a drawn delay, never before the previous frame."""

    def __init__(self, dist: LatencyDist, rng: random.Random) -> None:
        self.dist = dist
        self.rng = rng
        self.last_ns = 0

    def recv_ns(self, event_ns: int) -> int:
        t = max(event_ns + self.dist.draw_ns(self.rng), self.last_ns + 1)
        self.last_ns = t
        return t


def simulate_market(cfg: MarketConfig, truth: MarketTruth | None = None) -> list[RawFrame]:
    """The session's frames in receive order; fills `truth` with what really happened."""
    from sim.market_venues import PERP_VENUE, CexFollower, DexMarket, PerpFollower, dex_market

    truth = truth if truth is not None else MarketTruth()

    def stream(name: str) -> random.Random:
        return random.Random(f"solarb market {cfg.seed} {name}")

    def suffix(venue: str) -> str:
        # the classic pair's streams keep their names, so adding venues changes none of them
        return "" if venue == "orca" else f" {venue}"

    walk, regime, disl, where = (
        stream(n) for n in ("walk", "regime", "dislocations", "dislocation venues")
    )
    cex = _Cex(cfg, stream("cex book"), stream("cex flow"))
    cex_recv = _InOrder(cfg.feed_latency["binance"], stream("binance feed"))
    followers = [
        CexFollower(cfg, v, stream(f"{v} book"), _InOrder(cfg.feed_latency[v], stream(f"{v} feed")))
        for v in cfg.venues
        if v in cfg.cex_followers
    ]
    perp_lat = cfg.feed_latency.get(PERP_VENUE, cfg.feed_latency["binance"])
    perps = []
    if cfg.hedge_perp is not None:
        perp_recv = _InOrder(perp_lat, stream(f"{PERP_VENUE} feed"))
        perps.append(PerpFollower(cfg, cfg.hedge_perp, stream(f"{PERP_VENUE} book"), perp_recv))
    dexes: list[DexMarket] = [
        dex_market(
            cfg,
            v,
            book_rng=stream(f"{v} book"),
            flow_rng=stream(f"dex flow{suffix(v)}"),
            comp_rng=stream(f"competitors{suffix(v)}"),
            recv=_InOrder(cfg.feed_latency[v], stream(f"{v} feed")),
        )
        for v in cfg.venues
        if v not in ("binance", *cfg.cex_followers)
    ]
    slot = 300_000_000
    t0 = cfg.start_ns
    frames: list[RawFrame] = []
    for dex in dexes:
        frames += dex.start(t0, slot)
    mid = float(cfg.mid0)
    truth.start_ns, truth.step_ns, truth.mid_by_step = t0, cfg.depth_interval_ms * 1_000_000, [mid]
    cex.book.requote(binance_best_bid_ticks(mid), cfg.levels)
    for f in followers:
        frames += f.start(t0)
    history = [mid]
    step_ns = cfg.depth_interval_ms * 1_000_000
    steps = cfg.duration_s * 1000 // cfg.depth_interval_ms
    per_slot = cfg.slot_ms // cfg.depth_interval_ms
    active = True
    regime_left_s = regime.expovariate(1.0 / cfg.mean_active_s)
    step_s = cfg.depth_interval_ms / 1000
    rate_per_step = cfg.dislocations_per_min * step_s / 60.0
    for i in range(1, steps + 1):
        event_ns = t0 + i * step_ns
        regime_left_s -= step_s
        if regime_left_s <= 0:
            active = not active
            mean = cfg.mean_active_s if active else cfg.mean_quiet_s
            regime_left_s = regime.expovariate(1.0 / mean)
        vol = cfg.active_vol_bps_per_step if active else cfg.quiet_vol_bps_per_step
        mid *= math.exp(walk.gauss(0.0, vol / 1e4))
        # draws happen in every regime so the stream stays aligned whatever the regimes are
        arrives = disl.random() < rate_per_step
        size_bps = disl.expovariate(1.0 / cfg.dislocation_mean_bps) if arrives else 0.0
        size_bps *= 1 if disl.random() < 0.5 else -1
        on_dex = disl.random() < cfg.dex_origin_share
        # which venue: a stream of its own, drawn every step too (the classic pair's one DEX
        # and no follower CEX leave the draws above exactly as they were)
        dex_pick = where.randrange(len(dexes)) if dexes else 0
        local = where.random() < cfg.cex_local_share
        follower_pick = where.randrange(len(followers)) if followers else 0
        if arrives and active:
            if on_dex and dexes:
                d = dexes[dex_pick]
                truth.dislocations.append((event_ns, _origin("dex", d.venue, cfg), size_bps))
                d.move_to(d.price() * math.exp(size_bps / 1e4))
                d.moved = True
            elif local and followers:
                f = followers[follower_pick]
                truth.dislocations.append((event_ns, f"cex:{f.venue}", size_bps))
                f.offset_bps += size_bps
            else:
                truth.dislocations.append((event_ns, "cex", size_bps))
                mid *= math.exp(size_bps / 1e4)
        truth.mid_by_step.append(mid)
        history.append(mid)
        frames += cex.step(mid, event_ns, cex_recv.recv_ns(event_ns), snapshot=i == 3)
        for f in followers:
            frames += f.step(history, event_ns)
        for p in perps:  # after the followers: their draws stay as they were
            frames += p.step(history, event_ns)
        if len(history) > 64:
            del history[:-64]
        if i % per_slot:
            continue
        # end of a slot: other traders' swaps, then the competitors, then one account update
        slot += 1
        for dex in dexes:
            if dex.end_of_slot(mid):
                truth.competitor_trades += 1
            frames += dex.publish(event_ns, slot)
    frames.sort(key=lambda f: f.ts_recv_ns)
    return frames


def _origin(side: str, venue: str, cfg: MarketConfig) -> str:
    """`dex` on the classic pair (one pool), else `dex:<venue>`."""
    return side if tuple(cfg.venues) == CLASSIC_VENUES else f"{side}:{venue}"


def write_market_capture(
    path: Path, cfg: MarketConfig | None = None, truth: MarketTruth | None = None
) -> int:
    """Write a simulated session to `path`; return the number of frames."""
    frames = simulate_market(cfg or MarketConfig(), truth)
    with CaptureWriter(path) as w:
        w.write_all(frames)
    return len(frames)


WETH_POOL = SimConfig(
    mid0=Decimal("3000"),
    positions=(
        (33088, 34944, 2_100_000_000_000),
        (32512, 35520, 1_400_000_000_000),
        (29952, 38016, 700_000_000_000),
    ),
)
"""The ETH/USDC Whirlpool (Wormhole wETH, 8 decimals): positions around 3000 USDC with about
the SOL/USDC sample pool's USD depth."""
ETH_MARKET = MarketConfig(
    seed=2027,
    mid0=Decimal("3000"),
    pair=WETH_USDC,
    pool=WETH_POOL,
    cex_trade_mean_base=0.3,
)
"""ETH/USDC of the two-pair sample: the SOL/USDC defaults (same relative volatility,
dislocations, competitors and flow), its own seed (the next one, not picked by outcome), CEX
market orders of the same USD size (0.3 ETH ~ 6 SOL)."""
MULTI_PAIR_MARKETS = (MarketConfig(), ETH_MARKET)
"""The two-pair sample: SOL/USDC exactly as the main sample, and ETH/USDC."""
ALL_VENUES_MARKET = MarketConfig(venues=ALL_VENUES)
"""The 7-venue sample: the main sample's defaults (same seed) with every venue."""


def write_multi_pair_capture(
    path: Path,
    pairs: tuple[MarketConfig, ...] = MULTI_PAIR_MARKETS,
    duration_s: int | None = None,
) -> int:
    """Write several pairs' market sessions as one capture; return the frame count.

    Each pair is its own simulation (own seed, own events); their frames are merged in receive
    order (stable: at equal times, the earlier pair's frames first)."""
    frames: list[RawFrame] = []
    for cfg in pairs:
        if duration_s is not None:
            cfg = replace(cfg, duration_s=duration_s)
        frames += simulate_market(cfg)
    frames.sort(key=lambda f: f.ts_recv_ns)
    with CaptureWriter(path) as w:
        w.write_all(frames)
    return len(frames)
