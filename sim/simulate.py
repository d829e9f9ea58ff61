"""Planted-shock simulator (Binance + Orca), and the sample's shared names and pool model.

Every bundled sample is a session of the market simulator (`sim/market.py`,
docs/simulator.md). This generator is kept for the plumbing tests that pin every decision of a
short session: its dislocations are planted to beat the trigger, so its profits measure the
plumbing, never the strategy. A SOL/USDC fair price follows a seeded random walk with a few
scheduled jumps; Binance spot publishes `depth@100ms` diffs (combined-stream envelope, string
prices, `U`/`u` ids) after a REST snapshot; an Orca Whirlpool (real account byte layout, built
with `connectors.solana.orca` encoders) follows the CEX with a lag, because "other
arbitrageurs" only close a gap after a few slots. Most gaps stay under the trigger; each
scheduled jump opens one that beats it.

`SimPool` (the Whirlpool model), the Binance book (`binance_feed`), the sample addresses, pair
specs and sample paths here are shared with the market simulator.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from solders.pubkey import Pubkey

from connectors.capture import CaptureWriter
from operators.errors import ConfigError
from operators.events import RawFrame
from sim.cex_frames import SimBook, SimFeed

HERE = Path(__file__).resolve().parent
SAMPLE_DIR = HERE / "sample"
SAMPLE_CAPTURE = SAMPLE_DIR / "sol_usdc_market.parquet"
"""The main sample: a session of the market simulator (sim/market.py). Its name differs from
the old planted-jump sample's, so a checkout that still holds that file regenerates."""
SAMPLE_MARKETS = SAMPLE_DIR / "markets.toml"
SAMPLE_MARKETS_ALL = SAMPLE_DIR / "markets_all.toml"
SAMPLE_CAPTURE_ALL = SAMPLE_DIR / "all_venues_market.parquet"
CLASSIC_VENUES = ("binance", "orca")
ALL_VENUES = ("binance", "okx", "bybit", "orca", "raydium_clmm", "phoenix", "openbook")

SOL_MINT = "So11111111111111111111111111111111111111112"
USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
WHIRLPOOLS_CONFIG = "2LecshUwdy9xi7meFgHtFJQNSKk4KdTrcpvaB56dP2NQ"


SPL_TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
MINT_DECIMALS = {SOL_MINT: 9, USDC_MINT: 6}


def spl_mint_bytes(decimals: int, supply: int = 10**18) -> bytes:
    """An SPL Mint account (82 bytes): no authorities, `supply`, `decimals`, initialized."""
    return bytes(36) + supply.to_bytes(8, "little") + bytes([decimals, 1]) + bytes(36)


def sample_pubkey(label: str) -> str:
    """A deterministic, obviously-simulated address for a simulated account."""
    return str(Pubkey(hashlib.sha256(f"solarb sample {label}".encode()).digest()))


SAMPLE_POOL = sample_pubkey("whirlpool SOL/USDC")
SAMPLE_RAYDIUM_POOL = sample_pubkey("raydium clmm SOL/USDC")
SAMPLE_RAYDIUM_CONFIG = sample_pubkey("raydium amm config SOL/USDC")
SAMPLE_PHOENIX_MARKET = sample_pubkey("phoenix SOL/USDC")
SAMPLE_OPENBOOK_MARKET = sample_pubkey("openbook SOL/USDC")
SAMPLE_OPENBOOK_BIDS = sample_pubkey("openbook SOL/USDC bids")
SAMPLE_OPENBOOK_ASKS = sample_pubkey("openbook SOL/USDC asks")
SAMPLE_WETH_POOL = sample_pubkey("whirlpool wETH/USDC")
WETH_MINT = "7vfCXTUXx5WJV5JADk17DUJ4ksgau7utNKj4b963voxs"  # Wormhole wETH, 8 decimals
SAMPLE_CAPTURE_MULTI = SAMPLE_DIR / "multi_pair_market.parquet"
SAMPLE_MARKETS_MULTI = SAMPLE_DIR / "markets_multi.toml"


@dataclass(frozen=True)
class PairSpec:
    """What names one simulated Binance + Orca pair: its symbol, pool, base mint and decimals."""

    name: str
    cex_symbol: str
    pool_address: str
    base_mint: str
    base_decimals: int
    vault_a_label: str
    vault_b_label: str


SOL_USDC = PairSpec("SOL/USDC", "SOLUSDC", SAMPLE_POOL, SOL_MINT, 9, "vault a", "vault b")
WETH_USDC = PairSpec(
    "ETH/USDC", "ETHUSDC", SAMPLE_WETH_POOL, WETH_MINT, 8, "weth vault a", "weth vault b"
)


@dataclass(frozen=True)
class SimConfig:
    """Knobs of the simulated session (all deterministic given `seed`)."""

    seed: int = 7
    duration_s: int = 180
    start_ns: int = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
    mid0: Decimal = Decimal("150")
    depth_interval_ms: int = 100
    slot_ms: int = 400
    vol_bps_per_step: float = 0.8
    levels: int = 60
    # (second, jump in bps): the last three stay under the trigger on purpose.
    jumps: tuple[tuple[int, int], ...] = (
        (20, 70),
        (50, -80),
        (85, 65),
        (115, -75),
        (150, 90),
        (35, 12),
        (100, -14),
        (135, 16),
    )
    arb_gap_bps: float = 12.0
    arb_lag_slots: int = 8
    pool_fee_rate: int = 500
    tick_spacing: int = 64
    positions: tuple[tuple[int, int, int], ...] = field(
        default=(
            (-19904, -18048, 30_000_000_000_000),
            (-20480, -17472, 20_000_000_000_000),
            (-23040, -14976, 10_000_000_000_000),
        )
    )
    raydium_fee_rate: int = 400
    raydium_tick_spacing: int = 10
    raydium_positions: tuple[tuple[int, int, int], ...] = (
        (-19900, -18050, 25_000_000_000_000),
        (-20500, -17500, 15_000_000_000_000),
        (-23000, -15000, 8_000_000_000_000),
    )


# ---------------------------------------------------------------- Binance side


def binance_feed(rng: random.Random, symbol: str = "SOLUSDC") -> SimFeed:
    """The sample's Binance spot book: `sim.cex_frames`' one simulated book (`SimBook`,
    integer cents and 0.001 lots, drawing from `rng`) rendered by its Binance feed; empty until
    `binance_requote` places the first ladder."""
    feed = SimFeed("binance", symbol, seed=0, book=SimBook(mid_ticks=0, rng=rng), truth_keep=1)
    feed.update_id = 1_000_000
    return feed


def binance_best_bid_ticks(mid: float) -> int:
    """Best bid in cents of a ladder around `mid` (USDC per base): the cent below mid - half a
    cent, so the touch straddles the mid."""
    exact = Decimal(repr(round(mid, 6)))
    return int(((exact - Decimal("0.005")) * 100).to_integral_value(rounding="ROUND_FLOOR"))


def binance_depth_frames(
    feed: SimFeed,
    rng: random.Random,
    mid: float,
    ts: int,
    *,
    with_snapshot: bool,
    levels: int = 60,
    hit: tuple[set[int], set[int]] = (set(), set()),
) -> list[RawFrame]:
    """Requote the book around `mid` and give its `depth@100ms` diff frame (and the REST
    snapshot, which lands 30 ms later after a few buffered diffs, as live). Levels in `hit`
    (bids, asks a trade walked since the last frame) go on the wire even when the requote left
    them as the reader last saw them not."""
    book = feed.book
    changed_b, changed_a = book.requote(binance_best_bid_ticks(mid), levels)
    for changed, side, prices in ((changed_b, book.bids, hit[0]), (changed_a, book.asks, hit[1])):
        for px in prices:
            changed.setdefault(px, side.get(px, 0))
    first = feed.update_id + 1
    feed.update_id += 1 + rng.randrange(0, 20)
    payload = feed.render_update(changed_b, changed_a, first, first - 1, ts // 1_000_000)
    out = [RawFrame(ts, "binance", feed.stream, "ws", payload)]
    if with_snapshot:
        snapshot_stream = f"GET /api/v3/depth?symbol={feed.symbol}&limit=1000"
        snap = feed.rest_snapshot(1000, ts // 1_000_000)
        out.append(RawFrame(ts + 30_000_000, "binance", snapshot_stream, "rest", snap))
    return out


# ---------------------------------------------------------------- Orca side

Q64 = 1 << 64


def sqrt_price_x64_of(price: Decimal, base_decimals: int = 9, quote_decimals: int = 6) -> int:
    """Q64.64 sqrt of a human price (quote per base) in raw token units, rounded down."""
    from decimal import localcontext

    with localcontext() as ctx:
        ctx.prec = 60
        raw = price * (Decimal(10) ** (quote_decimals - base_decimals))
        return int(raw.sqrt() * Q64)


def price_of_sqrt_x64(
    sqrt_price_x64: int, base_decimals: int = 9, quote_decimals: int = 6
) -> float:
    """Human price of a Q64.64 sqrt price (float: for the simulator's dynamics only)."""
    return float((sqrt_price_x64 / Q64) ** 2 * 10 ** (base_decimals - quote_decimals))


class SimPool:
    """A simulated Whirlpool: positions -> tick arrays; price moves -> pool account bytes."""

    def __init__(self, cfg: SimConfig, address: str, spec: PairSpec | None = None) -> None:
        from connectors.solana import orca
        from operators.clmm import accounts
        from operators.clmm import math as clmm_math

        self.orca = orca
        self.acc = accounts
        self.math = clmm_math
        self.cfg = cfg
        self.address = address
        self.spec = spec or SOL_USDC
        self.sqrt_price_x64 = sqrt_price_x64_of(cfg.mid0, self.spec.base_decimals)

    def tick(self) -> int:
        """Current tick of the pool's sqrt price."""
        return int(self.math.tick_index_from_sqrt_price(self.sqrt_price_x64))

    def liquidity(self) -> int:
        """Active liquidity at the current tick (sum of positions in range)."""
        t = self.tick()
        return sum(liq for lo, hi, liq in self.cfg.positions if lo <= t < hi)

    def tick_arrays(self) -> list[tuple[str, bytes]]:
        """(address, account bytes) of every tick array that holds a position bound."""
        ts = self.cfg.tick_spacing
        per_array = 88 * ts
        nets: dict[int, int] = {}
        gross: dict[int, int] = {}
        for lo, hi, liq in self.cfg.positions:
            nets[lo] = nets.get(lo, 0) + liq
            nets[hi] = nets.get(hi, 0) - liq
            gross[lo] = gross.get(lo, 0) + liq
            gross[hi] = gross.get(hi, 0) + liq
        starts = sorted({self.orca.tick_array_start_index(t, ts) for t in nets})
        starts = sorted(set(starts) | {starts[0] - per_array, starts[-1] + per_array})
        out = []
        for start in starts:
            ticks = []
            for i in range(88):
                t = start + i * ts
                if t in nets:
                    ticks.append(self.acc.Tick.initialized_with(nets[t], gross[t]))
                else:
                    ticks.append(self.acc.Tick.empty())
            ta = self.acc.TickArray(
                start_tick_index=start, ticks=tuple(ticks), whirlpool=self.address
            )
            out.append(
                (self.orca.tick_array_address(self.address, start), self.orca.encode_tick_array(ta))
            )
        return out

    def account_bytes(self) -> bytes:
        """The Whirlpool account bytes for the current price and liquidity."""
        w = self.acc.Whirlpool.simulated(
            whirlpools_config=WHIRLPOOLS_CONFIG,
            tick_spacing=self.cfg.tick_spacing,
            fee_rate=self.cfg.pool_fee_rate,
            liquidity=self.liquidity(),
            sqrt_price=self.sqrt_price_x64,
            tick_current_index=self.tick(),
            token_mint_a=self.spec.base_mint,
            token_mint_b=USDC_MINT,
            token_vault_a=sample_pubkey(self.spec.vault_a_label),
            token_vault_b=sample_pubkey(self.spec.vault_b_label),
        )
        return self.orca.encode_whirlpool(w)

    def move_to(self, price: float) -> None:
        """Set the pool price (as a swap by someone else would)."""
        self.sqrt_price_x64 = sqrt_price_x64_of(Decimal(repr(price)), self.spec.base_decimals)

    def price(self) -> float:
        """Human price of the pool."""
        return price_of_sqrt_x64(self.sqrt_price_x64, self.spec.base_decimals)


# ---------------------------------------------------------------- the session


def generate(cfg: SimConfig) -> Iterator[RawFrame]:
    """Yield the session's frames (receive order per venue; `write_capture` sorts them)."""
    return _generate_classic(cfg)


def _generate_classic(cfg: SimConfig, spec: PairSpec = SOL_USDC) -> Iterator[RawFrame]:
    rng = random.Random(cfg.seed)
    feed = binance_feed(rng, spec.cex_symbol)
    pool = SimPool(cfg, spec.pool_address, spec)
    pool_stream = f"{spec.pool_address}:{spec.pool_address}"
    slot = 300_000_000
    mid = float(cfg.mid0)
    jumps = dict(cfg.jumps)
    steps = cfg.duration_s * 1000 // cfg.depth_interval_ms
    step_ns = cfg.depth_interval_ms * 1_000_000
    per_slot = max(1, cfg.slot_ms // cfg.depth_interval_ms)
    lagging = 0
    frames: list[RawFrame] = []
    t0 = cfg.start_ns
    for addr, data in pool.tick_arrays():
        frames.append(RawFrame(t0, "orca", f"{spec.pool_address}:{addr}", "account", data, slot))
    frames.append(RawFrame(t0 + 1, "orca", pool_stream, "account", pool.account_bytes(), slot))
    yield from frames
    feed.book.requote(binance_best_bid_ticks(mid), cfg.levels)
    snapshot_at = 3
    for i in range(1, steps + 1):
        ts = t0 + i * step_ns + rng.randrange(0, 2_000_000)
        sec_before = (i - 1) * cfg.depth_interval_ms // 1000
        sec_now = i * cfg.depth_interval_ms // 1000
        mid *= math.exp(rng.gauss(0.0, cfg.vol_bps_per_step / 1e4))
        if sec_now != sec_before and sec_now in jumps:
            mid *= math.exp(jumps[sec_now] / 1e4)
        yield from binance_depth_frames(
            feed, rng, mid, ts, with_snapshot=i == snapshot_at, levels=cfg.levels
        )
        if i % per_slot == 0:
            slot += 1
            gap_bps = (mid / pool.price() - 1.0) * 1e4
            lagging = lagging + 1 if abs(gap_bps) > cfg.arb_gap_bps else 0
            if lagging >= cfg.arb_lag_slots:
                pool.move_to(mid * (1.0 - math.copysign(3.0, gap_bps) / 1e4))
                lagging = 0
            elif rng.random() < 0.5:
                pool.move_to(pool.price() * math.exp(rng.gauss(0.0, 1.5) / 1e4))
            else:
                continue
            yield RawFrame(
                ts + 5_000_000, "orca", pool_stream, "account", pool.account_bytes(), slot
            )


def write_capture(path: Path, cfg: SimConfig | None = None) -> int:
    """Write a simulated session to `path`; return the number of frames."""
    cfg = cfg or SimConfig()
    frames = sorted(generate(cfg), key=lambda f: f.ts_recv_ns)
    with CaptureWriter(path) as w:
        w.write_all(frames)
    return len(frames)


def ensure_sample(
    force: bool = False,
    progress: Callable[[str], object] | None = None,
    *,
    all_venues: bool = False,
    multi_pair: bool = False,
) -> Path:
    """The bundled sample capture, made on first use: a session of the market simulator
    (`sim.market`): Binance + Orca SOL/USDC, or all seven venues, or two pairs if asked."""
    if all_venues and multi_pair:
        raise ConfigError("the samples are either all venues of one pair or two pairs, not both")
    path = (
        SAMPLE_CAPTURE_ALL if all_venues else SAMPLE_CAPTURE_MULTI if multi_pair else SAMPLE_CAPTURE
    )
    if force or not path.is_file():
        tmp = path.with_suffix(".tmp")
        # sim.market imports this module: bound late
        from sim.market import ALL_VENUES_MARKET, write_market_capture, write_multi_pair_capture

        if multi_pair:
            n = write_multi_pair_capture(tmp)
        elif all_venues:
            n = write_market_capture(tmp, ALL_VENUES_MARKET)
        else:
            n = write_market_capture(tmp)
        tmp.replace(path)
        if progress:
            progress(f"solarb: generated sample session: {n} frames -> {path}")
    return path


def sample_markets(all_venues: bool = False, multi_pair: bool = False) -> Path:
    """The markets file that matches the sample capture (`markets_all.toml` for all venues,
    `markets_multi.toml` for two pairs)."""
    if multi_pair:
        return SAMPLE_MARKETS_MULTI
    return SAMPLE_MARKETS_ALL if all_venues else SAMPLE_MARKETS
