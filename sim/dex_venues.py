"""Simulated Solana DEX markets in their real account layouts, for the market simulator.

`sim.market_venues` moves these (other traders' swaps, competitors) and publishes what they
render: an Orca Whirlpool + tick arrays (`sim.simulate.SimPool`), a Raydium CLMM PoolState +
AmmConfig + tick arrays + bitmap extension, a Phoenix market, an OpenBook v2 market + its two
book sides, each built with the project's own encoders. Each market draws its ladders' sizes
from the random stream it is given.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal

from solders.pubkey import Pubkey

from sim.simulate import (
    Q64,
    SAMPLE_OPENBOOK_ASKS,
    SAMPLE_OPENBOOK_BIDS,
    SAMPLE_OPENBOOK_MARKET,
    SAMPLE_PHOENIX_MARKET,
    SAMPLE_RAYDIUM_CONFIG,
    SAMPLE_RAYDIUM_POOL,
    SOL_MINT,
    USDC_MINT,
    SimConfig,
    price_of_sqrt_x64,
    sample_pubkey,
    sqrt_price_x64_of,
)

LOTS_PER_SOL = 1_000
"""Base lots per SOL on both simulated CLOBs (one lot = 0.001 SOL = 10^6 lamports)."""
TICKS_PER_USDC = 1_000
"""Phoenix ticks / OpenBook price lots per 1 USDC of price: 0.001 USDC per SOL each."""
_Z = "11111111111111111111111111111111"


def _pk_bytes(address: str) -> bytes:
    return bytes(Pubkey.from_string(address))


class _DexVenue:
    """One simulated DEX market: its price, and the accounts that render it."""

    address = ""

    def __init__(self, cfg: SimConfig, venue: str, rng: random.Random) -> None:
        self.venue = venue
        self.rng = rng
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


class _RaydiumVenue(_DexVenue):
    """A Raydium CLMM pool (token 0 = SOL): PoolState, AmmConfig, tick arrays, bitmap ext."""

    def __init__(self, cfg: SimConfig, venue: str, rng: random.Random) -> None:
        from connectors.solana import raydium_clmm
        from operators.clmm import raydium_accounts, raydium_math

        super().__init__(cfg, venue, rng)
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

    def __init__(self, cfg: SimConfig, venue: str, rng: random.Random) -> None:
        super().__init__(cfg, venue, rng)
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

    def __init__(self, cfg: SimConfig, venue: str, rng: random.Random) -> None:
        super().__init__(cfg, venue, rng)
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
    "raydium_clmm": _RaydiumVenue,
    "phoenix": _PhoenixVenue,
    "openbook": _OpenBookVenue,
}
