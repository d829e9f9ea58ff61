"""Seeded, bounded fuzzing of every account decoder: mutated real (or hand-packed) account bytes.

Mutations: random byte flips, field-targeted overwrites (sqrt price x2, tick +-big, counts huge,
fees and lot sizes out of range), truncation and extension. For every mutated account:

- the decoder either returns or raises `DecodeError`; any other exception fails the test;
- each decode runs inside a hard time box (a hang, like the old unbounded `leaf_count` walk, is
  a failure); this is a hang detector with a generous bound, not a performance assertion;
- every accepted decode is re-checked against the programs' invariants, re-implemented here
  independently of `operators.clmm.invariants` (tick found by bisection on the exact sqrt-price
  function, bounds written as the programs' literal constants), so an impossible state cannot
  slip through both.

Orca and Raydium mutate the real mainnet accounts in ../shared/fixtures (skipped with a reason
when absent); Phoenix and OpenBook have no real bytes (PROVENANCE.md "Not found") and mutate
the hand-packed accounts their encoders build. Everything is driven by `random.Random(seed)`.
"""

from __future__ import annotations

import random
import signal
import struct
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from solders.pubkey import Pubkey

from config import MarketSettings, PairSettings
from connectors.solana import openbook, orca, phoenix
from connectors.solana import raydium_clmm as ray
from engine.markets import ClmmMarketState, MarketRef
from operators.clmm.accounts import Tick, TickArray, Whirlpool
from operators.clmm.math import sqrt_price_from_tick_index
from operators.clmm.raydium_accounts import AmmConfig, PoolState, RaydiumTickArray
from operators.clmm.raydium_math import sqrt_price_at_tick
from operators.clob import BookSide, OpenBookLeaf, OpenBookMarket, PhoenixMarket
from operators.errors import DecodeError
from operators.events import HealthEvent, RawFrame
from operators.views import ClmmView, ClobView
from tests.conftest import load_account

SEED = 20_261_205
DECODE_TIME_BOX_S = 2.0
"""Far above any honest decode (milliseconds); the unbounded walk it guards against took 17.9 s."""

# The programs' constants, written out here on purpose (independent of the code under test).
MIN_TICK, MAX_TICK = -443636, 443636
ORCA_MIN_SQRT, ORCA_MAX_SQRT = 4295048016, 79226673515401279992447579055
RAY_MIN_SQRT, RAY_MAX_SQRT = 4295048016, 79226673521066979257578248091
ORCA_MAX_FEE_RATE, ORCA_MAX_PROTOCOL_FEE_RATE = 60_000, 2_500
OPENBOOK_MAX_NODES = 1024

ORCA = "solana/orca_whirlpool"
SOL_USDC_POOL = "HJPjoWUrhoZzkNfRpHuieeFk9WcZWjwy6PBjZ81ngndJ"
RAYDIUM = "solana/raydium_clmm"


class DecodeHung(Exception):
    """A decode ran past the time box."""


@contextmanager
def time_box(seconds: float) -> Iterator[None]:
    """Raise DecodeHung in the body once `seconds` of wall time have passed (main thread)."""

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise DecodeHung(f"decode still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Tally:
    """What the fuzzer saw for one decoder."""

    accepted: int = 0
    rejected: int = 0
    failures: list[str] = field(default_factory=list)

    def check(self, *, accepted: int, rejected: int) -> None:
        """No failure at all, and the seeded run's exact split (a changed rule shows here)."""
        assert self.failures == [], f"{len(self.failures)} failures, first: {self.failures[:3]}"
        assert (self.accepted, self.rejected) == (accepted, rejected)


def run_decode(
    decode: Callable[[bytes], Any],
    data: bytes,
    label: str,
    tally: Tally,
    invariants: Callable[[Any], str | None],
) -> Any:
    """Decode under the time box; record unexpected exceptions and accepted impossible states."""
    try:
        with time_box(DECODE_TIME_BOX_S):
            decoded = decode(data)
    except DecodeError:
        tally.rejected += 1
        return None
    except Exception as exc:  # noqa: BLE001 - the point: anything but DecodeError is a bug
        tally.failures.append(f"{label}: {type(exc).__name__}: {exc}")
        return None
    tally.accepted += 1
    broken = invariants(decoded)
    if broken is not None:
        tally.failures.append(f"{label}: accepted an impossible state: {broken}")
    return decoded


# --------------------------------------------------------------------------------- mutations


def flip_bytes(rng: random.Random, data: bytes, start: int = 0) -> tuple[str, bytes]:
    """1..4 random bytes (at or after `start`) replaced by random values."""
    buf = bytearray(data)
    n = rng.randint(1, 4)
    for _ in range(n):
        buf[rng.randrange(start, len(buf))] = rng.randrange(256)
    return f"flip{n}", bytes(buf)


def truncate_or_extend(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """Cut the account short, or append 1..64 random bytes."""
    if rng.random() < 0.5:
        cut = rng.randrange(0, len(data))
        return f"truncate{cut}", data[:cut]
    extra = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    return f"extend{len(extra)}", data + extra


def put(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, offset, *values)
    return bytes(buf)


def put_u128(data: bytes, offset: int, value: int) -> bytes:
    value %= 1 << 128
    return put(data, offset, "<QQ", value & (2**64 - 1), value >> 64)


def get_u128(data: bytes, offset: int) -> int:
    lo, hi = struct.unpack_from("<QQ", data, offset)
    return lo | hi << 64


def big_tick_delta(rng: random.Random) -> int:
    return rng.choice([-1, 1]) * rng.choice([1, 2, 100, 10_000, 443_636, 1 << 20, 1 << 30])


# --------------------------------------------------------------------------------- invariants


def greatest_tick_at_or_below(sqrt_price_x64: int, sqrt_at: Callable[[int], int]) -> int:
    """Bisection for the greatest tick whose exact sqrt price is <= `sqrt_price_x64`."""
    lo, hi = MIN_TICK, MAX_TICK
    if sqrt_at(lo) > sqrt_price_x64:
        return MIN_TICK - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sqrt_at(mid) <= sqrt_price_x64:
            lo = mid
        else:
            hi = mid - 1
    return lo


def tick_price_problem(
    tick: int, sqrt_price: int, sqrt_range: tuple[int, int, bool], sqrt_at: Callable[[int], int]
) -> str | None:
    lo, hi, hi_inclusive = sqrt_range
    if not lo <= sqrt_price <= hi or (not hi_inclusive and sqrt_price == hi):
        return f"sqrt price {sqrt_price} out of range"
    exact = greatest_tick_at_or_below(sqrt_price, sqrt_at)
    if tick == exact:
        return None
    if tick == exact - 1 and sqrt_at(exact) == sqrt_price:
        return None  # an a->b swap stopped exactly on the boundary
    return f"tick {tick} inconsistent with sqrt price {sqrt_price} (tick there: {exact})"


def whirlpool_problem(w: Whirlpool) -> str | None:
    if w.tick_spacing <= 0:
        return "tick_spacing 0"
    if w.fee_rate > ORCA_MAX_FEE_RATE or w.protocol_fee_rate > ORCA_MAX_PROTOCOL_FEE_RATE:
        return f"fee rates {w.fee_rate}/{w.protocol_fee_rate}"
    return tick_price_problem(
        w.tick_current_index,
        w.sqrt_price,
        (ORCA_MIN_SQRT, ORCA_MAX_SQRT, True),
        sqrt_price_from_tick_index,
    )


def orca_tick_array_problem(ta: TickArray) -> str | None:
    if len(ta.ticks) != 88:
        return f"{len(ta.ticks)} ticks"
    for i, t in enumerate(ta.ticks):
        if t.initialized and (t.liquidity_gross <= 0 or abs(t.liquidity_net) > t.liquidity_gross):
            return f"ticks[{i}] liquidity net {t.liquidity_net} gross {t.liquidity_gross}"
        if not t.initialized and t != Tick(False, 0, 0, 0, 0, (0, 0, 0)):
            return f"ticks[{i}] uninitialized but not zero"
    return None


def raydium_pool_problem(p: PoolState) -> str | None:
    if p.tick_spacing <= 0:
        return "tick_spacing 0"
    return tick_price_problem(
        p.tick_current, p.sqrt_price_x64, (RAY_MIN_SQRT, RAY_MAX_SQRT, False), sqrt_price_at_tick
    )


def amm_config_problem(c: AmmConfig) -> str | None:
    if c.tick_spacing <= 0 or c.trade_fee_rate >= 1_000_000:
        return f"tick_spacing {c.tick_spacing} trade_fee_rate {c.trade_fee_rate}"
    if c.protocol_fee_rate + c.fund_fee_rate > 1_000_000:
        return f"protocol {c.protocol_fee_rate} + fund {c.fund_fee_rate} shares > 100%"
    return None


def raydium_tick_array_problem(a: RaydiumTickArray) -> str | None:
    if not 0 <= a.initialized_tick_count <= 60 or len(a.ticks) != 60:
        return f"initialized_tick_count {a.initialized_tick_count}"
    for i, t in enumerate(a.ticks):
        if abs(t.liquidity_net) > t.liquidity_gross:
            return f"ticks[{i}] liquidity net {t.liquidity_net} gross {t.liquidity_gross}"
    return None


def phoenix_problem(m: PhoenixMarket) -> str | None:
    if min(m.base_lot_size, m.quote_lot_size, m.base_lots_per_base_unit) <= 0:
        return "lot sizes not positive"
    if m.tick_size_in_quote_lots_per_base_unit <= 0 or m.taker_fee_bps > 10_000:
        return f"tick {m.tick_size_in_quote_lots_per_base_unit} fee {m.taker_fee_bps}"
    if len(m.bid_orders) > m.bids_size or len(m.ask_orders) > m.asks_size:
        return "more orders than the trees hold"
    if any(p <= 0 or q <= 0 for p, q in [*m.bids, *m.asks]):
        return "a level with a non-positive price or size"
    if m.bids and m.asks and m.bids[0][0] >= m.asks[0][0]:
        return f"crossed: bid {m.bids[0][0]} >= ask {m.asks[0][0]}"
    return None


def openbook_market_problem(m: OpenBookMarket) -> str | None:
    if m.base_lot_size <= 0 or m.quote_lot_size <= 0:
        return "lot sizes not positive"
    if not 0 <= m.taker_fee <= 1_000_000 or abs(m.maker_fee) > 1_000_000:
        return f"fees {m.maker_fee}/{m.taker_fee}"
    if m.maker_fee < 0 and -m.maker_fee > m.taker_fee:
        return "maker rebate above the taker fee"
    return None


def book_side_problem(side: BookSide) -> str | None:
    leaves = len(side.fixed) + len(side.oracle_pegged)
    if leaves > (OPENBOOK_MAX_NODES + 2) // 2:
        return f"{leaves} leaves cannot fit {OPENBOOK_MAX_NODES} nodes"
    if any(leaf.quantity <= 0 for leaf in (*side.fixed, *side.oracle_pegged)):
        return "a leaf with no quantity"
    if any(not 1 <= leaf.price_data < 1 << 63 for leaf in side.fixed):
        return "a fixed leaf priced outside [1, i64 max]"
    return None


# --------------------------------------------------------------------------------- Orca


def _accounts(folder: Path, disc: tuple[bytes, ...]) -> list[tuple[str, bytes]]:
    out = []
    for path in sorted(folder.glob("*/*.json")):
        if path.name == "expected.json":
            continue
        meta, data = load_account(path)
        if data[:8] in disc:
            out.append((meta["pubkey"], data))
    return out


WP_SQRT, WP_TICK, WP_FEE, WP_PROTO, WP_SPACING, WP_LIQ = 65, 81, 45, 47, 41, 49


def whirlpool_mutation(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """One mutated Whirlpool: targeted at the fields the engine prices with, or random bytes."""
    roll = rng.random()
    sqrt = get_u128(data, WP_SQRT)
    if roll < 0.15:
        return "sqrt x2", put_u128(data, WP_SQRT, sqrt * 2)
    if roll < 0.25:
        return "sqrt random", put_u128(
            data, WP_SQRT, rng.getrandbits(rng.choice([33, 64, 96, 128]))
        )
    if roll < 0.35:
        return "sqrt +-1", put_u128(data, WP_SQRT, sqrt + rng.choice([-1, 1]))
    if roll < 0.45:
        (tick,) = struct.unpack_from("<i", data, WP_TICK)
        new = max(-(1 << 31), min((1 << 31) - 1, tick + big_tick_delta(rng)))
        return "tick +-", put(data, WP_TICK, "<i", new)
    if roll < 0.5:
        return "fee_rate", put(data, WP_FEE, "<H", rng.randrange(1 << 16))
    if roll < 0.55:
        return "protocol_fee_rate", put(data, WP_PROTO, "<H", rng.randrange(1 << 16))
    if roll < 0.6:
        return "tick_spacing", put(
            data, WP_SPACING, "<H", rng.choice([0, 1, rng.randrange(1 << 16)])
        )
    if roll < 0.65:
        return "liquidity", put_u128(data, WP_LIQ, rng.getrandbits(128))
    if roll < 0.9:
        return flip_bytes(rng, data)
    return truncate_or_extend(rng, data)


def test_mutated_real_whirlpools_decode_or_fail_with_decode_error_never_impossible(
    fixtures: Path,
) -> None:
    pools = _accounts(fixtures / ORCA, (orca.DISC_WHIRLPOOL,))
    assert len(pools) == 3
    rng = random.Random(SEED)
    tally, doubled = Tally(), Tally()
    for i in range(20_000):
        key, data = pools[i % len(pools)]
        what, mutated = whirlpool_mutation(rng, data)
        target = doubled if what == "sqrt x2" else tally
        run_decode(
            lambda b, key=key: orca.decode_whirlpool(b, key),
            mutated, f"{key} {what} #{i}", target, whirlpool_problem,
        )  # fmt: skip
    # a doubled price moves the tick by ~13,863 ticks: the program can never store that
    doubled.check(accepted=0, rejected=3_076)
    tally.check(accepted=9_152, rejected=7_772)  # seeded: both paths exercised, counts pinned


def orca_tick_array_mutation(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    roll = rng.random()
    if data[:8] == orca.DISC_DYNAMIC_TICK_ARRAY:
        return flip_bytes(rng, data) if roll < 0.8 else truncate_or_extend(rng, data)
    slot = 12 + rng.randrange(88) * 113
    if roll < 0.2:
        return "initialized byte", put(data, slot, "<B", rng.choice([0, 1, 2, 255]))
    if roll < 0.35:
        return "liquidity_net", put_u128(data, slot + 1, rng.getrandbits(128))
    if roll < 0.5:
        return "liquidity_gross", put_u128(data, slot + 17, rng.choice([0, rng.getrandbits(128)]))
    if roll < 0.85:
        return flip_bytes(rng, data)
    return truncate_or_extend(rng, data)


def test_mutated_real_tick_arrays_decode_or_fail_with_decode_error_never_impossible(
    fixtures: Path,
) -> None:
    arrays = _accounts(fixtures / ORCA, (orca.DISC_TICK_ARRAY, orca.DISC_DYNAMIC_TICK_ARRAY))
    assert len(arrays) == 16
    rng = random.Random(SEED + 1)
    tally = Tally()
    for i in range(6_000):
        key, data = arrays[i % len(arrays)]
        what, mutated = orca_tick_array_mutation(rng, data)
        run_decode(orca.decode_tick_array, mutated, f"{key} {what} #{i}", tally,
                   orca_tick_array_problem)  # fmt: skip
    tally.check(accepted=1_016, rejected=4_984)


# --------------------------------------------------------------------------------- Raydium

RP_SPACING, RP_LIQ, RP_SQRT, RP_TICK = 235, 237, 253, 269


def raydium_pool_mutation(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    roll = rng.random()
    sqrt = get_u128(data, RP_SQRT)
    if roll < 0.15:
        return "sqrt x2", put_u128(data, RP_SQRT, sqrt * 2)
    if roll < 0.25:
        return "sqrt random", put_u128(
            data, RP_SQRT, rng.getrandbits(rng.choice([33, 64, 96, 128]))
        )
    if roll < 0.3:
        return "sqrt max", put_u128(data, RP_SQRT, RAY_MAX_SQRT + rng.choice([-1, 0, 1]))
    if roll < 0.45:
        (tick,) = struct.unpack_from("<i", data, RP_TICK)
        new = max(-(1 << 31), min((1 << 31) - 1, tick + big_tick_delta(rng)))
        return "tick +-", put(data, RP_TICK, "<i", new)
    if roll < 0.5:
        return "tick_spacing", put(data, RP_SPACING, "<H", rng.choice([0, rng.randrange(1 << 16)]))
    if roll < 0.55:
        return "liquidity", put_u128(data, RP_LIQ, rng.getrandbits(128))
    if roll < 0.9:
        return flip_bytes(rng, data)
    return truncate_or_extend(rng, data)


def test_mutated_real_raydium_pools_decode_or_fail_with_decode_error_never_impossible(
    fixtures: Path,
) -> None:
    pools = _accounts(fixtures / RAYDIUM, (ray.DISC_POOL_STATE,))
    assert len(pools) == 2
    rng = random.Random(SEED + 2)
    tally, doubled = Tally(), Tally()
    for i in range(20_000):
        key, data = pools[i % len(pools)]
        what, mutated = raydium_pool_mutation(rng, data)
        target = doubled if what == "sqrt x2" else tally
        run_decode(ray.decode_pool_state, mutated, f"{key} {what} #{i}", target,
                   raydium_pool_problem)  # fmt: skip
    doubled.check(accepted=0, rejected=3_021)
    tally.check(accepted=8_258, rejected=8_721)


def raydium_other_mutation(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    roll = rng.random()
    if data[:8] == ray.DISC_AMM_CONFIG and roll < 0.4:
        field_at = rng.choice([43, 47, 53])  # protocol_fee_rate, trade_fee_rate, fund_fee_rate
        return f"fee@{field_at}", put(data, field_at, "<I", rng.choice(
            [0, 999_999, 1_000_000, 1_000_001, rng.randrange(1 << 32)]))  # fmt: skip
    if data[:8] == ray.DISC_TICK_ARRAY and roll < 0.4:
        if rng.random() < 0.5:
            return "initialized_tick_count", put(data, 10124, "<B", rng.randrange(256))
        slot = 44 + rng.randrange(60) * 168
        return "tick liquidity", put_u128(
            data, slot + 4 + rng.choice([0, 16]), rng.getrandbits(128)
        )
    if roll < 0.85:
        return flip_bytes(rng, data)
    return truncate_or_extend(rng, data)


def test_mutated_real_raydium_configs_and_tick_arrays_never_decode_impossible(
    fixtures: Path,
) -> None:
    configs = _accounts(fixtures / RAYDIUM, (ray.DISC_AMM_CONFIG,))
    arrays = _accounts(fixtures / RAYDIUM, (ray.DISC_TICK_ARRAY,))
    assert (len(configs), len(arrays)) == (1, 1)
    rng = random.Random(SEED + 3)
    cfg_tally, ta_tally = Tally(), Tally()
    for i in range(3_000):
        key, data = configs[0]
        what, mutated = raydium_other_mutation(rng, data)
        run_decode(ray.decode_amm_config, mutated, f"{key} {what} #{i}", cfg_tally,
                   amm_config_problem)  # fmt: skip
    for i in range(3_000):
        key, data = arrays[0]
        what, mutated = raydium_other_mutation(rng, data)
        run_decode(ray.decode_tick_array, mutated, f"{key} {what} #{i}", ta_tally,
                   raydium_tick_array_problem)  # fmt: skip
    cfg_tally.check(accepted=1_280, rejected=1_720)
    ta_tally.check(accepted=1_494, rejected=1_506)


# --------------------------------------------------------------------------------- Phoenix

PHX_BIDS_SIZE, PHX_ASKS_SIZE, PHX_SEATS = 32, 32, 4
PHX_TREES_AT = phoenix.HEADER_SIZE + phoenix.FIFO_FIXED_SIZE
PHX_ASKS_AT = PHX_TREES_AT + phoenix.TREE_HEADER_SIZE + phoenix.ORDER_NODE_SIZE * PHX_BIDS_SIZE
PHX_SEATS_AT = PHX_ASKS_AT + phoenix.TREE_HEADER_SIZE + phoenix.ORDER_NODE_SIZE * PHX_ASKS_SIZE


def phoenix_market(rng: random.Random) -> bytes:
    mid = rng.randint(1_000, 100_000)
    bids = [(mid - rng.randint(1, 50), rng.randint(1, 10**6)) for _ in range(rng.randint(0, 12))]
    asks = [(mid + rng.randint(0, 50), rng.randint(1, 10**6)) for _ in range(rng.randint(0, 12))]
    return phoenix.encode_market(
        bids=bids, asks=asks, bids_size=PHX_BIDS_SIZE, asks_size=PHX_ASKS_SIZE,
        num_seats=PHX_SEATS, num_free_nodes=rng.randint(0, 3),
    )  # fmt: skip


def phoenix_mutation(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    roll = rng.random()
    huge = rng.choice([PHX_BIDS_SIZE + 1, 1 << 20, 20_000_000, (1 << 32) - 1])
    if roll < 0.1:
        at = rng.choice([16, 24, 32])  # bids_size, asks_size, num_seats
        return f"size param@{at}", put(data, at, "<Q", rng.choice([0, huge, 1 << 60]))
    if roll < 0.25:
        tree = rng.choice([PHX_TREES_AT, PHX_ASKS_AT, PHX_SEATS_AT])
        at = tree + rng.choice([16, 24, 28])  # allocator size, bump_index, free_list_head
        fmt = "<Q" if at == tree + 16 else "<I"
        return f"allocator@{at}", put(data, at, fmt, huge)
    if roll < 0.35:
        # FIFOMarket base_lots_per_base_unit, tick size, taker_fee_bps; header base_lot_size,
        # quote_lot_size, tick_size_in_quote_atoms_per_base_unit
        fifo = [phoenix.HEADER_SIZE + 256 + 8 * k for k in (0, 1, 3)]
        at = rng.choice([*fifo, 112, 192, 200])
        return f"market param@{at}", put(
            data, at, "<Q", rng.choice([0, 1, 10_001, rng.getrandbits(64)])
        )
    if roll < 0.5:  # an order's price: may cross the book, or be 0
        tree = rng.choice([PHX_TREES_AT, PHX_ASKS_AT])
        node = rng.randrange(4)
        at = tree + phoenix.TREE_HEADER_SIZE + node * phoenix.ORDER_NODE_SIZE + 16
        return "order price", put(
            data, at, "<Q", rng.choice([0, 1, 1 << 40, rng.randrange(200_000)])
        )
    if roll < 0.85:
        return flip_bytes(rng, data)
    return truncate_or_extend(rng, data)


def test_mutated_phoenix_markets_decode_or_fail_fast_with_decode_error_never_crossed() -> None:
    rng = random.Random(SEED + 4)
    tally = Tally()
    for i in range(4_000):
        what, mutated = phoenix_mutation(rng, phoenix_market(rng))
        run_decode(phoenix.decode_market, mutated, f"phoenix {what} #{i}", tally, phoenix_problem)
    tally.check(accepted=2_209, rejected=1_791)


# --------------------------------------------------------------------------------- OpenBook

OB_ROOTS_AT = 8
OB_MARKET_LOTS_AT = 448
OB_HEADER_AT = 8 + 6 * 8 + 256


def openbook_side(rng: random.Random) -> bytes:
    side = rng.choice(["bids", "asks"])
    prices = (1, 250) if side == "bids" else (251, 500)  # one honest book never crosses
    seqs = rng.sample(range(1, 10_000), rng.randint(0, 40))
    fixed = [
        OpenBookLeaf(openbook.fixed_key(side, rng.randint(*prices), s), rng.randint(1, 10**6),
                     1_700_000_000, rng.choice([0, 60]))
        for s in seqs
    ]  # fmt: skip
    pegged = [
        OpenBookLeaf(openbook.pegged_key(side, rng.randint(-50, 50), s), rng.randint(1, 10**6),
                     1_700_000_000)
        for s in rng.sample(range(10_000, 20_000), rng.randint(0, 5))
    ]  # fmt: skip
    return openbook.encode_book_side(side, fixed, pegged, num_free_nodes=rng.randint(0, 4))  # type: ignore[arg-type]


def openbook_mutation(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    roll = rng.random()
    huge = rng.choice([513, 1025, 20_000_000, (1 << 32) - 1])
    if roll < 0.2:  # root handle or leaf_count of either tree
        at = OB_ROOTS_AT + 4 * rng.randrange(4)
        return f"root@{at}", put(data, at, "<I", rng.choice([0, 1, huge]))
    if roll < 0.3:  # bump_index, free_list_len, free_list_head
        at = OB_HEADER_AT + 4 + 4 * rng.randrange(3)
        return f"allocator@{at}", put(data, at, "<I", rng.choice([0, 1, huge]))
    if roll < 0.45:  # a node's quantity, key or child handle
        node = openbook.NODES_AT + rng.randrange(12) * openbook.NODE_SIZE
        at = node + rng.choice([8, 16, 24, 28, 56])
        return f"node field@{at}", put(data, at, "<I", rng.choice([0, 1, huge]))
    if roll < 0.85:
        return flip_bytes(rng, data, start=0)
    return truncate_or_extend(rng, data)


def test_mutated_openbook_sides_fail_fast_with_decode_error_and_never_overflow_capacity() -> None:
    rng = random.Random(SEED + 5)
    tally = Tally()
    for i in range(4_000):
        what, mutated = openbook_mutation(rng, openbook_side(rng))
        run_decode(openbook.decode_book_side, mutated, f"bookside {what} #{i}", tally,
                   book_side_problem)  # fmt: skip
    tally.check(accepted=2_556, rejected=1_444)


def test_openbook_leaf_count_of_twenty_million_fails_inside_the_time_box() -> None:
    data = openbook.encode_book_side(
        "bids", [OpenBookLeaf(openbook.fixed_key("bids", 100 + k, k + 1), 5, 0) for k in range(8)]
    )
    crafted = put(data, OB_ROOTS_AT + 4, "<I", 20_000_000)
    with time_box(DECODE_TIME_BOX_S), pytest.raises(DecodeError, match="leaf_count 20000000"):
        openbook.decode_book_side(crafted)


def test_mutated_openbook_markets_never_decode_bad_lots_or_fees() -> None:
    rng = random.Random(SEED + 6)
    tally = Tally()
    for i in range(2_000):
        data = openbook.encode_market(taker_fee=rng.choice([0, 400, 1_000_000]))
        roll = rng.random()
        if roll < 0.5:
            # quote_lot_size, base_lot_size, maker_fee, taker_fee (i64 at 448, 456, 480, 488)
            at = rng.choice([OB_MARKET_LOTS_AT + k * 8 for k in (0, 1, 4, 5)])
            value = rng.choice(
                [0, -1, 1, -1_000_001, 1_000_001, rng.randrange(-(1 << 63), 1 << 63)]
            )
            what, mutated = f"i64@{at}", put(data, at, "<q", value)
        elif roll < 0.9:
            what, mutated = flip_bytes(rng, data)
        else:
            what, mutated = truncate_or_extend(rng, data)
        run_decode(openbook.decode_market, mutated, f"market {what} #{i}", tally,
                   openbook_market_problem)  # fmt: skip
    tally.check(accepted=1_244, rejected=756)


# --------------------------------------------------------------------------------- market state

T0 = 1_767_225_600_000_000_000


def _frame(source: str, market: str, account: str, data: bytes, slot: int, i: int) -> RawFrame:
    return RawFrame(T0 + i * 1_000_000, source, f"{market}:{account}", "account", data, slot)


def test_mutated_whirlpool_frames_never_reach_a_view_and_never_raise(fixtures: Path) -> None:
    """Through `ClmmMarketState.on_frame`: every view carries a pool the program could hold,
    and every refused frame flags the view built from the last good pool."""
    folder = fixtures / ORCA / "sol_usdc_ts64_2022-11"
    market = MarketSettings(venue="orca", address=SOL_USDC_POOL)
    pair = PairSettings(name="SOL/USDC", base="SOL", quote="USDC", base_decimals=9,
                        quote_decimals=6, max_trade_base=Decimal(1), markets=[market])  # fmt: skip
    st = ClmmMarketState(MarketRef(market, pair), 10**15)
    for i, path in enumerate(sorted(folder.glob("ta_*.json"))):
        meta, data = load_account(path)
        st.on_frame(_frame("orca", SOL_USDC_POOL, meta["pubkey"], data, 1, i))
    good = load_account(next(folder.glob(f"whirlpool.{SOL_USDC_POOL}.json")))[1]
    rng = random.Random(SEED + 7)
    failures: list[str] = []
    refused = 0
    for i in range(2_000):
        what, data = whirlpool_mutation(rng, good) if i % 4 else ("good", good)
        with time_box(DECODE_TIME_BOX_S):
            out = st.on_frame(_frame("orca", SOL_USDC_POOL, SOL_USDC_POOL, data, 2 + i, 10 + i))
        views = [v for v in out if isinstance(v, ClmmView)]
        bad = [h for h in out if isinstance(h, HealthEvent) and h.status == "bad_account"]
        refused += len(bad)
        for v in views:
            assert isinstance(v.pool, Whirlpool)
            broken = whirlpool_problem(v.pool)
            if broken is not None:
                failures.append(f"#{i} {what}: a view holds an impossible pool: {broken}")
            if bad and v.in_sync:
                failures.append(f"#{i} {what}: a refused pool left the view in sync")
    assert failures == []
    assert (refused, st.decode_errors) == (793, 793)


def test_mutated_clob_frames_never_raise_and_never_give_an_in_sync_crossed_view() -> None:
    """Through `ClobMarketStateAdapter.on_frame` for Phoenix and OpenBook markets."""
    from config import load_settings
    from engine.markets import Router, build_market_state
    from sim.simulate import (
        SAMPLE_MARKETS_ALL,
        SAMPLE_OPENBOOK_ASKS,
        SAMPLE_OPENBOOK_BIDS,
        SAMPLE_OPENBOOK_MARKET,
        SAMPLE_PHOENIX_MARKET,
    )

    settings = load_settings(markets_path=SAMPLE_MARKETS_ALL, env={})
    router = Router(settings)
    phx = build_market_state(settings, router, f"phoenix:{SAMPLE_PHOENIX_MARKET}")
    obk = build_market_state(settings, router, f"openbook:{SAMPLE_OPENBOOK_MARKET}")
    ob_market = openbook.encode_market(
        bids=bytes(Pubkey.from_string(SAMPLE_OPENBOOK_BIDS)),
        asks=bytes(Pubkey.from_string(SAMPLE_OPENBOOK_ASKS)),
    )
    rng = random.Random(SEED + 8)
    failures: list[str] = []
    in_sync: Counter[str] = Counter()
    for i in range(1_500):
        if i % 2:
            what, data = phoenix_mutation(rng, phoenix_market(rng))
            frames = [(phx, "phoenix", SAMPLE_PHOENIX_MARKET, SAMPLE_PHOENIX_MARKET, data)]
        else:
            what, data = openbook_mutation(rng, openbook_side(rng))
            side = rng.choice([SAMPLE_OPENBOOK_BIDS, SAMPLE_OPENBOOK_ASKS])
            frames = [(obk, "openbook", SAMPLE_OPENBOOK_MARKET, side, data)]
            if i % 10 == 0:
                m = SAMPLE_OPENBOOK_MARKET
                frames.insert(0, (obk, "openbook", m, m, ob_market))
        for st, source, market, account, payload in frames:
            with time_box(DECODE_TIME_BOX_S):
                out = st.on_frame(_frame(source, market, account, payload, 10 + i, i))
            for v in out:
                if not (isinstance(v, ClobView) and v.in_sync):
                    continue
                in_sync[source] += 1
                if v.bids and v.asks and v.bids[0][0] >= v.asks[0][0]:
                    failures.append(f"#{i} {what}: in-sync crossed view {v.bids[0]} {v.asks[0]}")
    assert failures == []
    assert in_sync == {"phoenix": 402, "openbook": 87}  # seeded: honest books do get through
