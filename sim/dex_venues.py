"""Multi-venue simulated session: every venue follows one fair price in its own wire format.

Used by `sim.simulate.generate` for any `SimConfig.venues` other than the classic Binance +
Orca pair. CEX books: Binance spot diffs + REST snapshot (as the classic session), OKX v5
`books` and Bybit v5 `orderbook.50` rendered by `sim.cex_frames` (real CRC32
checksums, seqId/prevSeqId, u/seq), re-centred on the venue's lagged fair price every step.
DEX markets publish real account bytes built with the project's encoders (Orca Whirlpool +
tick arrays, Raydium CLMM PoolState + AmmConfig + tick arrays + bitmap extension, Phoenix
market, OpenBook v2 market + bids + asks): they drift each slot and are pulled back next to the
fair price once a gap has outlived the venue's arbitrage lag. Each venue draws from its own
seeded random stream, so adding a venue never changes another venue's frames.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterator
from decimal import Decimal

from solders.pubkey import Pubkey

from operators.errors import ConfigError
from operators.events import RawFrame
from sim.cex_frames import BAND_TICKS, SIDE_MIN_LEVELS, SimFeed
from sim.simulate import (
    ALL_VENUES,
    Q64,
    SAMPLE_OPENBOOK_ASKS,
    SAMPLE_OPENBOOK_BIDS,
    SAMPLE_OPENBOOK_MARKET,
    SAMPLE_PHOENIX_MARKET,
    SAMPLE_POOL,
    SAMPLE_RAYDIUM_CONFIG,
    SAMPLE_RAYDIUM_POOL,
    SOL_MINT,
    USDC_MINT,
    BinanceBook,
    SimConfig,
    SimPool,
    VenueProfile,
    binance_depth_frames,
    price_of_sqrt_x64,
    sample_pubkey,
    sqrt_price_x64_of,
)

CEX_SIM_VENUES = ("binance", "okx", "bybit")
LOTS_PER_SOL = 1_000
"""Base lots per SOL on both simulated CLOBs (one lot = 0.001 SOL = 10^6 lamports)."""
TICKS_PER_USDC = 1_000
"""Phoenix ticks / OpenBook price lots per 1 USDC of price: 0.001 USDC per SOL each."""
CEX_SHOCK_DECAY = 0.95
"""Per depth step: a CEX-local shock fades as that venue's own arbitrageurs close it."""
_Z = "11111111111111111111111111111111"


def _pk_bytes(address: str) -> bytes:
    return bytes(Pubkey.from_string(address))


class _TrackingFeed(SimFeed):
    """A `SimFeed` whose book re-centres on a moving mid (the venue following the fair price)."""

    def step_to(self, mid_ticks: int, ts_ms: int) -> bytes:
        """Move the book to `mid_ticks`, change a few levels, return the venue's update frame."""
        book = self.book
        book.mid_ticks = mid_ticks
        changed_b: dict[int, int] = {}
        changed_a: dict[int, int] = {}
        for side, changed, sign in ((book.bids, changed_b, -1), (book.asks, changed_a, 1)):
            for px in [p for p in side if not 1 <= sign * (p - mid_ticks) <= BAND_TICKS]:
                del side[px]  # crossed or out of the band: pulled
                changed[px] = 0
            while len(side) < SIDE_MIN_LEVELS + 10:
                px = mid_ticks + sign * self.rng.randint(1, BAND_TICKS)
                if px not in side:
                    side[px] = changed[px] = self.rng.randint(1, 50_000)
        more_b, more_a = book.step(self.rng.randint(1, 4))
        changed_b.update(more_b)
        changed_a.update(more_a)
        prev_u, prev_seq = self.update_id, self.seq
        self.update_id += 1
        self.seq += self.rng.randint(1, 5)
        self._record_truth()
        prev = prev_seq if self.venue == "okx" else prev_u
        return self._render_update(changed_b, changed_a, prev_u + 1, prev, ts_ms)


class _CexVenue:
    """One simulated CEX book tracking the fair price `lag_steps` late, with noise and shocks."""

    SYMBOLS = {"binance": "SOLUSDC", "okx": "SOL-USDC", "bybit": "SOLUSDC"}

    def __init__(self, cfg: SimConfig, profile: VenueProfile, rng: random.Random) -> None:
        self.venue = profile.venue
        self.profile = profile
        self.rng = rng
        self.offset_bps = 0.0
        self.binance = BinanceBook(rng, cfg.levels) if self.venue == "binance" else None
        self.feed = None
        if self.binance is None:
            self.feed = _TrackingFeed(
                self.venue,
                self.SYMBOLS[self.venue],
                seed=rng.randrange(1 << 30),
                mid_ticks=round(float(cfg.mid0) * 100),
                truth_keep=2,
            )

    def start(self, t0: int, mid: float) -> list[RawFrame]:
        """Frames before the first step: the WS snapshot (OKX, Bybit)."""
        if self.binance is not None:
            self.binance.rebuild(Decimal(repr(round(mid, 6))))
            return []
        assert self.feed is not None
        ts = t0 + self.profile.offset_ms * 1_000_000
        return [
            RawFrame(ts, self.venue, self.feed.stream, "ws", self.feed.ws_snapshot(ts // 10**6))
        ]

    def shock(self, bps: int) -> None:
        """This venue alone moves `bps` away from the others."""
        self.offset_bps += bps

    def on_step(self, i: int, ts: int, history: deque[float]) -> list[RawFrame]:
        """One depth step: the book moves to the lagged fair price; its frames."""
        p = self.profile
        lagged = history[max(0, len(history) - 1 - p.lag_steps)]
        noise = self.rng.gauss(0.0, p.noise_bps) if p.noise_bps else 0.0
        target = lagged * math.exp((noise + self.offset_bps) / 1e4)
        self.offset_bps *= CEX_SHOCK_DECAY
        ts += p.offset_ms * 1_000_000
        if self.feed is not None:
            frame = self.feed.step_to(round(target * 100), ts // 1_000_000)
            return [RawFrame(ts, self.venue, self.feed.stream, "ws", frame)]
        book = self.binance
        assert book is not None
        return binance_depth_frames(book, self.rng, target, ts, with_snapshot=i == 3)


class _DexVenue:
    """One simulated DEX market: drifts each slot, arbitraged back to fair after a lag."""

    address = ""

    def __init__(self, cfg: SimConfig, profile: VenueProfile, rng: random.Random) -> None:
        self.venue = profile.venue
        self.profile = profile
        self.rng = rng
        self.lagging = 0
        self.dirty = False
        self.px = 0.0

    def price(self) -> float:
        """Human price the market quotes around (USDC per SOL)."""
        return self.px

    def move_to(self, price: float) -> None:
        """Set the market's price (a swap or a requote by someone else)."""
        self.px = price

    def start_accounts(self, ts_ns: int) -> list[tuple[str, bytes]]:
        """(account, bytes) of every account, first publication, in dependency order."""
        return self.changed_accounts(ts_ns)

    def changed_accounts(self, ts_ns: int) -> list[tuple[str, bytes]]:
        """(account, bytes) of the accounts a price move rewrites."""
        raise NotImplementedError

    def frames(self, accounts: list[tuple[str, bytes]], ts: int, slot: int) -> list[RawFrame]:
        """Account notifications in the capture's `market:account` stream form."""
        return [
            RawFrame(ts + k, self.venue, f"{self.address}:{acc}", "account", data, slot)
            for k, (acc, data) in enumerate(accounts)
        ]

    def start(self, t0: int, slot: int) -> list[RawFrame]:
        """The first publication of every account."""
        ts = t0 + self.profile.offset_ms * 1_000_000
        return self.frames(self.start_accounts(ts), ts, slot)

    def shock(self, bps: int) -> None:
        """A local move of `bps` (published with the next slot)."""
        self.move_to(self.price() * math.exp(bps / 1e4))
        self.dirty = True

    def on_slot(self, mid: float, ts: int, slot: int) -> list[RawFrame]:
        """One slot: drift, or snap next to the fair price once the gap outlived the lag."""
        p = self.profile
        gap_bps = (mid / self.price() - 1.0) * 1e4
        self.lagging = self.lagging + 1 if abs(gap_bps) > p.arb_gap_bps else 0
        if self.lagging >= p.arb_lag_slots:
            self.move_to(mid * (1.0 - math.copysign(3.0, gap_bps) / 1e4))
            self.lagging = 0
        elif self.rng.random() < 0.5:
            self.move_to(self.price() * math.exp(self.rng.gauss(0.0, p.noise_bps) / 1e4))
        elif not self.dirty:
            return []
        self.dirty = False
        ts += p.offset_ms * 1_000_000
        return self.frames(self.changed_accounts(ts), ts, slot)


class _OrcaVenue(_DexVenue):
    def __init__(self, cfg: SimConfig, profile: VenueProfile, rng: random.Random) -> None:
        super().__init__(cfg, profile, rng)
        self.address = SAMPLE_POOL
        self.pool = SimPool(cfg, SAMPLE_POOL)

    def price(self) -> float:
        return self.pool.price()

    def move_to(self, price: float) -> None:
        self.pool.move_to(price)

    def start_accounts(self, ts_ns: int) -> list[tuple[str, bytes]]:
        return [*self.pool.tick_arrays(), *self.changed_accounts(ts_ns)]

    def changed_accounts(self, ts_ns: int) -> list[tuple[str, bytes]]:
        return [(SAMPLE_POOL, self.pool.account_bytes())]


class _RaydiumVenue(_DexVenue):
    """A Raydium CLMM pool (token 0 = SOL): PoolState, AmmConfig, tick arrays, bitmap ext."""

    def __init__(self, cfg: SimConfig, profile: VenueProfile, rng: random.Random) -> None:
        from connectors.solana import raydium_clmm
        from operators.clmm import raydium_accounts, raydium_math

        super().__init__(cfg, profile, rng)
        self.codec, self.rm, self.acc = raydium_clmm, raydium_math, raydium_accounts
        self.address = SAMPLE_RAYDIUM_POOL
        self.cfg = cfg
        self.spacing = cfg.raydium_tick_spacing
        self.sqrt_price_x64 = sqrt_price_x64_of(cfg.mid0)

    def price(self) -> float:
        return price_of_sqrt_x64(self.sqrt_price_x64)

    def move_to(self, price: float) -> None:
        self.sqrt_price_x64 = sqrt_price_x64_of(Decimal(repr(price)))

    def _arrays(self) -> tuple[list[tuple[str, bytes]], int]:
        """Every tick array over the positions' span (+1 each side) and the pool's bitmap."""
        rm, acc, sp = self.rm, self.acc, self.spacing
        nets: dict[int, int] = {}
        gross: dict[int, int] = {}
        for lo, hi, liq in self.cfg.raydium_positions:
            nets[lo], gross[lo] = nets.get(lo, 0) + liq, gross.get(lo, 0) + liq
            nets[hi], gross[hi] = nets.get(hi, 0) - liq, gross.get(hi, 0) + liq
        span = rm.tick_count(sp)
        starts = [rm.array_start_index(t, sp) for t in nets]
        out, bitmap = [], 0
        for start in range(min(starts) - span, max(starts) + 2 * span, span):
            ticks = []
            for k in range(acc.TICK_ARRAY_SIZE):
                t = start + k * sp
                ticks.append(
                    acc.TickState(t, nets.get(t, 0), gross.get(t, 0), 0, 0, (0, 0, 0), (0,) * 13)
                )
            count = sum(1 for t in ticks if t.liquidity_gross)
            if count:  # the program flips an array's bit with its first initialized tick
                bitmap |= 1 << (start // span + 512)
            arr = acc.RaydiumTickArray(self.address, start, tuple(ticks), count, 0, bytes(107))
            out.append(
                (
                    self.codec.tick_array_address(self.address, start),
                    self.codec.encode_tick_array(arr),
                )
            )
        return out, bitmap

    def start_accounts(self, ts_ns: int) -> list[tuple[str, bytes]]:
        acc = self.acc
        config = acc.AmmConfig(
            1, 1, _Z, 120_000, self.cfg.raydium_fee_rate, self.spacing, 40_000, 0, _Z, (0, 0, 0)
        )
        empty = ((0,) * 8,) * acc.EXTENSION_TICKARRAY_BITMAP_SIZE
        ext = acc.TickArrayBitmapExtension(self.address, empty, empty)
        arrays, _ = self._arrays()
        return [
            (SAMPLE_RAYDIUM_CONFIG, self.codec.encode_amm_config(config)),
            (
                self.codec.bitmap_extension_address(self.address),
                self.codec.encode_tick_array_bitmap_extension(ext),
            ),
            *arrays,
            *self.changed_accounts(ts_ns),
        ]

    def changed_accounts(self, ts_ns: int) -> list[tuple[str, bytes]]:
        acc, rm = self.acc, self.rm
        tick = rm.tick_at_sqrt_price(self.sqrt_price_x64)
        liquidity = sum(liq for lo, hi, liq in self.cfg.raydium_positions if lo <= tick < hi)
        _, bitmap = self._arrays()
        reward = acc.RewardInfo(0, 0, 0, 0, 0, 0, 0, _Z, _Z, _Z, 0)
        pool = acc.PoolState(
            1,
            SAMPLE_RAYDIUM_CONFIG,
            sample_pubkey("raydium owner"),
            SOL_MINT,
            USDC_MINT,
            sample_pubkey("raydium vault 0"),
            sample_pubkey("raydium vault 1"),
            sample_pubkey("raydium observation"),
            9,
            6,
            self.spacing,
            liquidity,
            self.sqrt_price_x64,
            tick,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            bytes(7),
            (reward,) * 3,
            tuple((bitmap >> (64 * i)) & (Q64 - 1) for i in range(16)),
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            (0,) * 24,
            (0,) * 32,
        )
        return [(self.address, self.codec.encode_pool_state(pool))]


class _PhoenixVenue(_DexVenue):
    """A Phoenix SOL/USDC market: one maker's ladder around its price, requoted when it moves."""

    LEVELS = 12

    def __init__(self, cfg: SimConfig, profile: VenueProfile, rng: random.Random) -> None:
        super().__init__(cfg, profile, rng)
        self.address = SAMPLE_PHOENIX_MARKET
        self.px = float(cfg.mid0)
        self.sequence = 0

    def ladder(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(price_in_ticks, num_base_lots) per side, best first."""
        bids, asks = [], []
        for i in range(self.LEVELS):
            off = (1.0 + 1.5 * i) / 1e4
            size = (2.0 + 1.5 * i) * LOTS_PER_SOL
            bids.append(
                (
                    math.floor(self.px * (1 - off) * TICKS_PER_USDC),
                    int(size * (0.6 + 0.8 * self.rng.random())),
                )
            )
            asks.append(
                (
                    math.ceil(self.px * (1 + off) * TICKS_PER_USDC),
                    int(size * (0.6 + 0.8 * self.rng.random())),
                )
            )
        return bids, asks

    def changed_accounts(self, ts_ns: int) -> list[tuple[str, bytes]]:
        from connectors.solana import phoenix

        self.sequence += 1
        bids, asks = self.ladder()
        data = phoenix.encode_market(
            bids=bids,
            asks=asks,
            bids_size=32,
            asks_size=32,
            num_seats=8,
            base_lot_size=10**9 // LOTS_PER_SOL,
            quote_lot_size=1,
            tick_size_in_quote_lots_per_base_unit=10**6 // TICKS_PER_USDC,
            base_lots_per_base_unit=LOTS_PER_SOL,
            taker_fee_bps=2,
            base_mint=_pk_bytes(SOL_MINT),
            quote_mint=_pk_bytes(USDC_MINT),
            market_sequence_number=self.sequence,
        )
        return [(self.address, data)]


class _OpenBookVenue(_DexVenue):
    """An OpenBook v2 SOL/USDC market: the Market account once, both BookSides on each move."""

    LEVELS = 10

    def __init__(self, cfg: SimConfig, profile: VenueProfile, rng: random.Random) -> None:
        super().__init__(cfg, profile, rng)
        self.address = SAMPLE_OPENBOOK_MARKET
        self.px = float(cfg.mid0)
        self.seq_num = 0

    def start_accounts(self, ts_ns: int) -> list[tuple[str, bytes]]:
        from connectors.solana import openbook

        market = openbook.encode_market(
            bids=_pk_bytes(SAMPLE_OPENBOOK_BIDS),
            asks=_pk_bytes(SAMPLE_OPENBOOK_ASKS),
            event_heap=_pk_bytes(sample_pubkey("openbook SOL/USDC event heap")),
            base_mint=_pk_bytes(SOL_MINT),
            quote_mint=_pk_bytes(USDC_MINT),
            base_lot_size=10**9 // LOTS_PER_SOL,
            quote_lot_size=1,
            taker_fee=400,
            name="SOL-USDC",
        )
        return [(self.address, market), *self.changed_accounts(ts_ns)]

    def changed_accounts(self, ts_ns: int) -> list[tuple[str, bytes]]:
        from connectors.solana import openbook
        from operators.clob import OpenBookLeaf

        bids: list[OpenBookLeaf] = []
        asks: list[OpenBookLeaf] = []
        for i in range(self.LEVELS):
            off = (1.5 + 2.0 * i) / 1e4
            size = (3.0 + 2.0 * i) * LOTS_PER_SOL
            bid_lots = math.floor(self.px * (1 - off) * TICKS_PER_USDC)
            ask_lots = math.ceil(self.px * (1 + off) * TICKS_PER_USDC)
            for leaves, key in (
                (bids, openbook.fixed_key("bids", bid_lots, self.seq_num + 1)),
                (asks, openbook.fixed_key("asks", ask_lots, self.seq_num + 2)),
            ):
                qty = int(size * (0.6 + 0.8 * self.rng.random()))
                leaves.append(OpenBookLeaf(key, qty, ts_ns // 10**9, owner_slot=i % 8))
            self.seq_num += 2
        return [
            (SAMPLE_OPENBOOK_BIDS, openbook.encode_book_side("bids", bids)),
            (SAMPLE_OPENBOOK_ASKS, openbook.encode_book_side("asks", asks)),
        ]


_DEX_VENUES: dict[str, type[_DexVenue]] = {
    "orca": _OrcaVenue,
    "raydium_clmm": _RaydiumVenue,
    "phoenix": _PhoenixVenue,
    "openbook": _OpenBookVenue,
}


def generate_venues(cfg: SimConfig) -> Iterator[RawFrame]:
    """Frames of a multi-venue session (`cfg.venues` a subset of ALL_VENUES), per-venue order."""
    unknown = sorted(set(cfg.venues) - set(ALL_VENUES))
    if unknown:
        raise ConfigError(f"simulator: unknown venues {unknown} (known: {ALL_VENUES})")
    profiles = {p.venue: p for p in cfg.venue_profiles}
    missing = sorted(set(cfg.venues) - set(profiles))
    if missing:
        raise ConfigError(f"simulator: no VenueProfile for {missing}")
    rng = random.Random(cfg.seed)  # the fair price; each venue draws from its own stream
    cexes = [
        _CexVenue(cfg, profiles[v], random.Random(f"{cfg.seed}:{v}"))
        for v in cfg.venues
        if v in CEX_SIM_VENUES
    ]
    dexes = [
        _DEX_VENUES[v](cfg, profiles[v], random.Random(f"{cfg.seed}:{v}"))
        for v in cfg.venues
        if v in _DEX_VENUES
    ]
    venues: dict[str, _CexVenue | _DexVenue] = {c.venue: c for c in cexes}
    venues.update((d.venue, d) for d in dexes)
    slot = 300_000_000
    mid = float(cfg.mid0)
    t0 = cfg.start_ns
    for cex in cexes:
        yield from cex.start(t0, mid)
    for dex in dexes:
        yield from dex.start(t0, slot)
    jumps = dict(cfg.jumps)
    shocks: dict[int, list[tuple[str, int]]] = {}
    for sec, venue, bps in cfg.venue_shocks:
        shocks.setdefault(sec, []).append((venue, bps))
    history: deque[float] = deque([mid], maxlen=64)
    steps = cfg.duration_s * 1000 // cfg.depth_interval_ms
    step_ns = cfg.depth_interval_ms * 1_000_000
    per_slot = max(1, cfg.slot_ms // cfg.depth_interval_ms)
    for i in range(1, steps + 1):
        ts = t0 + i * step_ns + rng.randrange(0, 2_000_000)
        sec_before = (i - 1) * cfg.depth_interval_ms // 1000
        sec_now = i * cfg.depth_interval_ms // 1000
        mid *= math.exp(rng.gauss(0.0, cfg.vol_bps_per_step / 1e4))
        if sec_now != sec_before:
            if sec_now in jumps:
                mid *= math.exp(jumps[sec_now] / 1e4)
            for venue, bps in shocks.get(sec_now, []):
                if venue in venues:
                    venues[venue].shock(bps)
        history.append(mid)
        for cex in cexes:
            yield from cex.on_step(i, ts, history)
        if i % per_slot == 0:
            slot += 1
            for dex in dexes:
                yield from dex.on_slot(mid, ts, slot)
