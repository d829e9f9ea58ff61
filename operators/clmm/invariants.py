"""On-chain invariants of decoded CLMM accounts: states the programs can never write.

A decoder that accepts any bytes of the right size hands the engine states no pool can be in (a
doubled `sqrt_price`, a tick beyond the program's range, a tick that disagrees with the price),
and the spread engine prices them as real. Each check below is a rule the program itself keeps
(facts from orca-so/whirlpools `programs/whirlpool/src/{math,manager,state}` and
raydium-io/raydium-clmm `programs/amm/src/{libraries,instructions,states}`); a violation is a
`DecodeError` naming the venue, the account and the field.

The tick rule (both programs, swap loop): when a swap ends exactly on a tick boundary moving
a→b (Orca) / zero_for_one (Raydium), the program stores `tick_current = boundary tick - 1`;
anywhere else it stores `tick_at_sqrt_price(sqrt_price)`. So the only allowed states are
`tick_current == tick_at(sqrt)` or, when `sqrt == sqrt_at(tick_at(sqrt))` exactly,
`tick_current == tick_at(sqrt) - 1` (which is how Orca's current tick can be MIN_TICK - 1 at
MIN_SQRT_PRICE).
"""

from __future__ import annotations

from collections.abc import Callable

from operators.clmm import math as orca_math
from operators.clmm import raydium_math
from operators.clmm.accounts import Tick, TickArray, Whirlpool
from operators.clmm.raydium_accounts import TICK_ARRAY_SIZE as RAYDIUM_TICK_ARRAY_SIZE
from operators.clmm.raydium_accounts import AmmConfig, PoolState, RaydiumTickArray
from operators.errors import DecodeError, QuoteError

__all__ = [
    "ORCA_MAX_FEE_RATE",
    "ORCA_MAX_PROTOCOL_FEE_RATE",
    "RAYDIUM_FEE_RATE_DENOMINATOR",
    "check_amm_config",
    "check_orca_tick_array",
    "check_raydium_pool",
    "check_raydium_tick_array",
    "check_tick_array_start",
    "check_whirlpool",
    "tick_matches_sqrt_price",
]

ORCA_MAX_FEE_RATE = 60_000
"""Whirlpool `MAX_FEE_RATE` (per 1e6, 6%): the highest fee any Whirlpool version accepts."""
ORCA_MAX_PROTOCOL_FEE_RATE = 2_500
"""Whirlpool `MAX_PROTOCOL_FEE_RATE` (per 1e4 of the fee, 25%)."""
RAYDIUM_FEE_RATE_DENOMINATOR = 1_000_000
"""Raydium CLMM `FEE_RATE_DENOMINATOR_VALUE`: trade fee < it, protocol + fund shares <= it."""
_ORCA_EMPTY_TICK = Tick.empty()


def _fail(venue: str, account: str, message: str) -> DecodeError:
    return DecodeError(f"{venue} {message}", account=account)


def tick_matches_sqrt_price(
    tick: int,
    sqrt_price_x64: int,
    tick_at: Callable[[int], int],
    sqrt_at: Callable[[int], int],
) -> bool:
    """Whether a stored current tick is one the program's swap loop can leave for this price."""
    if orca_math.MIN_TICK_INDEX <= tick < orca_math.MAX_TICK_INDEX:
        # tick_at(p) is the greatest t with sqrt_at(t) <= p, so the two allowed states are
        # exactly sqrt_at(tick) <= p <= sqrt_at(tick + 1): two exact prices (Orca's are
        # cached), no log search on every pool update
        return sqrt_at(tick) <= sqrt_price_x64 <= sqrt_at(tick + 1)
    exact = tick_at(sqrt_price_x64)
    if tick == exact:
        return True
    # the one-tick case: an a→b swap that stopped exactly on tick `exact`'s boundary
    return tick == exact - 1 and sqrt_at(exact) == sqrt_price_x64


def _check_price_and_tick(
    venue: str,
    account: str,
    tick: int,
    tick_field: str,
    sqrt_price_x64: int,
    sqrt_field: str,
    sqrt_range: tuple[int, int, bool],
    tick_at: Callable[[int], int],
    sqrt_at: Callable[[int], int],
) -> None:
    lo, hi, hi_inclusive = sqrt_range
    if not (lo <= sqrt_price_x64 <= hi if hi_inclusive else lo <= sqrt_price_x64 < hi):
        close = "]" if hi_inclusive else ")"
        raise _fail(
            venue, account, f"field {sqrt_field} {sqrt_price_x64} outside [{lo}, {hi}{close}"
        )
    # MIN_TICK - 1 is reachable only through the one-tick case at MIN_SQRT_PRICE (checked next)
    if not orca_math.MIN_TICK_INDEX - 1 <= tick <= orca_math.MAX_TICK_INDEX:
        raise _fail(
            venue,
            account,
            f"field {tick_field} {tick} outside "
            f"[{orca_math.MIN_TICK_INDEX}, {orca_math.MAX_TICK_INDEX}]",
        )
    try:
        consistent = tick_matches_sqrt_price(tick, sqrt_price_x64, tick_at, sqrt_at)
    except QuoteError as exc:  # the price bounds above keep the math in range; belt and braces
        raise _fail(venue, account, f"field {sqrt_field}: {exc}") from exc
    if not consistent:
        raise _fail(
            venue,
            account,
            f"field {tick_field} {tick} inconsistent with {sqrt_field} {sqrt_price_x64} "
            f"(the program stores tick {tick_at(sqrt_price_x64)} for that price)",
        )


# ----------------------------------------------------------------------------------- Orca


def check_whirlpool(w: Whirlpool, account: str) -> None:
    """Raise DecodeError unless the Whirlpool is a state the program can hold."""
    if w.tick_spacing == 0:
        raise _fail("orca", account, "field tick_spacing is 0")
    if w.fee_rate > ORCA_MAX_FEE_RATE:
        raise _fail("orca", account, f"field fee_rate {w.fee_rate} > max {ORCA_MAX_FEE_RATE}")
    if w.protocol_fee_rate > ORCA_MAX_PROTOCOL_FEE_RATE:
        raise _fail(
            "orca",
            account,
            f"field protocol_fee_rate {w.protocol_fee_rate} > max {ORCA_MAX_PROTOCOL_FEE_RATE}",
        )
    _check_price_and_tick(
        "orca",
        account,
        w.tick_current_index,
        "tick_current_index",
        w.sqrt_price,
        "sqrt_price",
        (orca_math.MIN_SQRT_PRICE_X64, orca_math.MAX_SQRT_PRICE_X64, True),
        orca_math.tick_index_from_sqrt_price,
        orca_math.sqrt_price_from_tick_index,
    )


def check_orca_tick_array(ta: TickArray, account: str) -> None:
    """Raise DecodeError for a tick the program cannot write (spacing-free checks)."""
    empty = _ORCA_EMPTY_TICK
    for i, t in enumerate(ta.ticks):
        if not t.initialized:
            # removing a tick's last liquidity resets the whole tick to its default
            if t is not empty and t != empty:
                raise _fail("orca", account, f"ticks[{i}] is uninitialized but not zeroed")
            continue
        if t.liquidity_gross == 0:
            raise _fail("orca", account, f"ticks[{i}] is initialized with liquidity_gross 0")
        if abs(t.liquidity_net) > t.liquidity_gross:
            raise _fail(
                "orca",
                account,
                f"ticks[{i}] |liquidity_net| {abs(t.liquidity_net)} > liquidity_gross "
                f"{t.liquidity_gross}",
            )


# ----------------------------------------------------------------------------------- Raydium


def check_raydium_pool(p: PoolState, account: str) -> None:
    """Raise DecodeError unless the PoolState is a state the program can hold."""
    if p.tick_spacing == 0:
        raise _fail("raydium_clmm", account, "field tick_spacing is 0")
    # swaps keep the price strictly inside (MIN, MAX); pool creation accepts [MIN, MAX)
    _check_price_and_tick(
        "raydium_clmm",
        account,
        p.tick_current,
        "tick_current",
        p.sqrt_price_x64,
        "sqrt_price_x64",
        (raydium_math.MIN_SQRT_PRICE_X64, raydium_math.MAX_SQRT_PRICE_X64, False),
        raydium_math.tick_at_sqrt_price,
        raydium_math.sqrt_price_at_tick,
    )


def check_amm_config(c: AmmConfig, account: str) -> None:
    """Raise DecodeError for fee rates or a tick spacing the program would refuse."""
    den = RAYDIUM_FEE_RATE_DENOMINATOR
    if c.tick_spacing == 0:
        raise _fail("raydium_clmm", account, "AmmConfig field tick_spacing is 0")
    if c.trade_fee_rate >= den:
        raise _fail(
            "raydium_clmm", account, f"AmmConfig field trade_fee_rate {c.trade_fee_rate} >= {den}"
        )
    if c.protocol_fee_rate + c.fund_fee_rate > den:
        raise _fail(
            "raydium_clmm",
            account,
            f"AmmConfig fields protocol_fee_rate {c.protocol_fee_rate} + fund_fee_rate "
            f"{c.fund_fee_rate} > {den}",
        )


def check_raydium_tick_array(a: RaydiumTickArray, account: str) -> None:
    """Raise DecodeError for a count beyond capacity or a tick's impossible liquidity."""
    if a.initialized_tick_count > RAYDIUM_TICK_ARRAY_SIZE:
        raise _fail(
            "raydium_clmm",
            account,
            f"field initialized_tick_count {a.initialized_tick_count} > capacity "
            f"{RAYDIUM_TICK_ARRAY_SIZE}",
        )
    for i, t in enumerate(a.ticks):
        if abs(t.liquidity_net) > t.liquidity_gross:
            raise _fail(
                "raydium_clmm",
                account,
                f"ticks[{i}] |liquidity_net| {abs(t.liquidity_net)} > liquidity_gross "
                f"{t.liquidity_gross}",
            )


# ----------------------------------------------------------------------------------- both


def check_tick_array_start(
    venue: str, account: str, start_tick_index: int, tick_spacing: int, per_array: int
) -> None:
    """Raise DecodeError unless `start_tick_index` is an array start of a pool with this spacing.

    Both programs only create arrays at multiples of `tick_spacing * per_array` whose span
    touches [MIN_TICK, MAX_TICK].
    """
    span = tick_spacing * per_array
    if span <= 0 or start_tick_index % span:
        raise _fail(
            venue,
            account,
            f"field start_tick_index {start_tick_index} is not a multiple of "
            f"tick_spacing {tick_spacing} x {per_array}",
        )
    if start_tick_index + span <= orca_math.MIN_TICK_INDEX or (
        start_tick_index > orca_math.MAX_TICK_INDEX
    ):
        raise _fail(
            venue, account, f"field start_tick_index {start_tick_index} outside the tick range"
        )
