"""Exact Raydium CLMM swap quotes: the program's swap loop over tick arrays, in Python ints.

Follows raydium-io/raydium-clmm instructions/swap.rs (swap_internal) and swap_v2.rs for a pool
without dynamic fee and without limit orders at the ticks it crosses (both are refused with a
QuoteError, never approximated). Token-2022 transfer fees are not applied: amounts are what the
pool vaults see. `a_to_b` means token_0 -> token_1 (the program's zero_for_one).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from operators.clmm import raydium_math as rm
from operators.clmm.raydium_accounts import (
    AmmConfig,
    PoolState,
    RaydiumTickArray,
    TickArrayBitmapExtension,
    TickState,
)
from operators.clmm.types import InsufficientLiquidity, QuoteError, SwapQuote

__all__ = ["next_initialized_tick_array_start", "quote_curve_raydium", "quote_swap_raydium"]

_MAX_BITMAP_HOPS = 4096  # far more than the 2 * 15 bitmaps that exist; guards a corrupt bitmap


def next_initialized_tick_array_start(
    pool: PoolState,
    bitmap_extension: TickArrayBitmapExtension | None,
    current_start: int,
    zero_for_one: bool,
) -> int | None:
    """Start tick of the next initialized tick array after current_start, or None past the end."""
    spacing = pool.tick_spacing
    bitmap = pool.tick_array_bitmap_u1024
    last = rm.array_start_index(current_start, spacing)
    mult = rm.tick_count(spacing)
    min_start = rm.array_start_index(rm.MIN_TICK, spacing)
    max_start = rm.array_start_index(rm.MAX_TICK, spacing)
    for _ in range(_MAX_BITMAP_HOPS):
        found, start = rm.default_bitmap_next(bitmap, last, spacing, zero_for_one)
        if found:
            return start
        if spacing >= 15:  # the default bitmap already spans every tick
            return None
        last = start
        if bitmap_extension is None:
            raise InsufficientLiquidity(
                f"raydium pool {pool.token_mint_0}/{pool.token_mint_1}: walk leaves the default "
                f"bitmap at tick array {last}; the TickArrayBitmapExtension account is needed"
            )
        nxt = last - mult if zero_for_one else last + mult
        if nxt < min_start or nxt > max_start:
            found, start = False, nxt
        else:
            offset = rm.extension_bitmap_offset(nxt, spacing)
            bits = bitmap_extension.bitmap_u512(nxt < 0, offset)
            found, start = rm.extension_next_in_bitmap(bits, nxt, spacing, zero_for_one)
        if found:
            return start
        last = start
        if last < rm.MIN_TICK or last > rm.MAX_TICK:
            return None
    raise QuoteError("raydium: tick array bitmap search did not terminate")


def _first_tick_array(
    pool: PoolState, ext: TickArrayBitmapExtension | None, zero_for_one: bool
) -> tuple[bool, int]:
    """(pool tick's own array is initialized, start of the first array the swap uses)."""
    spacing = pool.tick_spacing
    start = rm.array_start_index(pool.tick_current, spacing)
    if rm.overflows_default_bitmap(pool.tick_current, spacing):
        if ext is None:
            raise InsufficientLiquidity(
                f"raydium pool tick {pool.tick_current} is beyond the default bitmap; the "
                "TickArrayBitmapExtension account is needed"
            )
        bits = ext.bitmap_u512(start < 0, rm.extension_bitmap_offset(start, spacing))
        is_set = bool((bits >> rm.extension_offset_in_bitmap(start, spacing)) & 1)
    else:
        is_set, start = rm.default_bitmap_is_set(
            pool.tick_array_bitmap_u1024, pool.tick_current, spacing
        )
    if is_set:
        return True, start
    nxt = next_initialized_tick_array_start(pool, ext, start, zero_for_one)
    if nxt is None:
        raise InsufficientLiquidity(
            f"raydium pool {pool.token_mint_0}/{pool.token_mint_1}: no initialized tick array "
            f"in direction a_to_b={zero_for_one}"
        )
    return False, nxt


@dataclass(slots=True)
class _Leg:
    """One requested size and what the walk has done for it so far (base units)."""

    index: int
    amount: int
    remaining: int
    calculated: int = 0
    fee: int = 0


@dataclass(slots=True)
class _Cursor:
    """Where the walk stands: price, tick, in-range liquidity and current tick array."""

    sqrt_price_x64: int
    tick: int
    liquidity: int
    array: RaydiumTickArray
    array_start: int
    is_match: bool
    crossed: int

    def copy(self) -> _Cursor:
        return _Cursor(
            self.sqrt_price_x64,
            self.tick,
            self.liquidity,
            self.array,
            self.array_start,
            self.is_match,
            self.crossed,
        )


@dataclass(slots=True)
class _Ctx:
    """Inputs fixed for one quote call."""

    pool: PoolState
    arrays: dict[int, RaydiumTickArray]
    ext: TickArrayBitmapExtension | None
    fee_rate_ppm: int
    zero_for_one: bool
    exact_in: bool
    fee_on_input: bool
    limit_x64: int
    limit_given: bool

    def array(self, start: int) -> RaydiumTickArray:
        arr = self.arrays.get(start)
        if arr is None:
            raise InsufficientLiquidity(
                f"raydium pool {self.pool.token_mint_0}/{self.pool.token_mint_1}: tick array "
                f"start_index={start} is needed by the swap but was not supplied"
            )
        return arr


def _first_initialized(arr: RaydiumTickArray, zero_for_one: bool) -> TickState:
    if not arr.initialized_offsets:
        raise QuoteError(
            f"raydium tick array {arr.start_tick_index} is marked initialized but holds no tick"
        )
    return arr.ticks[arr.initialized_offsets[-1 if zero_for_one else 0]]


def _next_initialized_in_array(
    arr: RaydiumTickArray, tick: int, spacing: int, zero_for_one: bool
) -> TickState | None:
    if rm.array_start_index(tick, spacing) != arr.start_tick_index:
        return None
    offset = (tick - arr.start_tick_index) // spacing
    offs = arr.initialized_offsets
    if zero_for_one:
        i = bisect.bisect_right(offs, offset)
        return arr.ticks[offs[i - 1]] if i > 0 else None
    i = bisect.bisect_right(offs, offset)
    return arr.ticks[offs[i]] if i < len(offs) else None


def _next_tick(ctx: _Ctx, cur: _Cursor) -> TickState:
    """The next initialized tick in the swap direction, moving to the next array when needed."""
    found = _next_initialized_in_array(cur.array, cur.tick, ctx.pool.tick_spacing, ctx.zero_for_one)
    if found is not None:
        return found
    if not cur.is_match:
        cur.is_match = True
        return _first_initialized(cur.array, ctx.zero_for_one)
    nxt = next_initialized_tick_array_start(ctx.pool, ctx.ext, cur.array_start, ctx.zero_for_one)
    if nxt is None:
        raise InsufficientLiquidity(
            f"raydium pool {ctx.pool.token_mint_0}/{ctx.pool.token_mint_1}: liquidity runs out "
            f"past tick {cur.tick} (a_to_b={ctx.zero_for_one})"
        )
    cur.array = ctx.array(nxt)
    cur.array_start = nxt
    return _first_initialized(cur.array, ctx.zero_for_one)


def _apply(ctx: _Ctx, leg: _Leg, amount_in: int, amount_out: int, fee: int) -> None:
    consumed_in = amount_in + fee if ctx.fee_on_input else amount_in
    if ctx.exact_in:
        leg.remaining -= consumed_in
        leg.calculated += amount_out
    else:
        leg.remaining -= amount_out
        leg.calculated += consumed_in
    if leg.remaining < 0 or leg.calculated > rm.U64_MAX:
        raise QuoteError("raydium: swap amounts overflow (CalculateOverflow)")
    leg.fee += fee


def _after_step(
    ctx: _Ctx, cur: _Cursor, tick_state: TickState, tick_next: int, sqrt_tick: int, new_sqrt: int
) -> None:
    """Move the cursor to the step's end price; cross the tick when the step reached it."""
    if new_sqrt == sqrt_tick:
        if tick_state.has_limit_orders:
            raise QuoteError(
                f"raydium tick {tick_state.tick} holds limit orders; filling them is not modelled"
            )
        if tick_state.liquidity_gross != 0:
            net = -tick_state.liquidity_net if ctx.zero_for_one else tick_state.liquidity_net
            liquidity = cur.liquidity + net
            if (net < 0 and liquidity < 0) or liquidity > rm.U128_MAX:
                raise QuoteError(f"raydium: liquidity underflow crossing tick {tick_state.tick}")
            cur.liquidity = liquidity
            cur.crossed += 1
        cur.tick = tick_next - 1 if ctx.zero_for_one else tick_next
    elif new_sqrt != cur.sqrt_price_x64:
        cur.tick = rm.tick_at_sqrt_price(new_sqrt)
    cur.sqrt_price_x64 = new_sqrt


def _finalize(ctx: _Ctx, leg: _Leg, cur: _Cursor) -> SwapQuote | QuoteError:
    filled = leg.amount - leg.remaining
    amount_in, amount_out = (filled, leg.calculated) if ctx.exact_in else (leg.calculated, filled)
    if leg.remaining != 0 and not ctx.limit_given:
        return InsufficientLiquidity(
            f"raydium: only {filled} of {leg.amount} fills before the price bound "
            "(the program refuses partial fills without a price limit)"
        )
    if amount_in == 0 or amount_out == 0:
        return QuoteError(
            f"raydium: size {leg.amount} gives a zero side (TooSmallInputOrOutputAmount)"
        )
    return SwapQuote(
        amount_in=amount_in,
        amount_out=amount_out,
        fee_amount=leg.fee,
        sqrt_price_after=cur.sqrt_price_x64,
        tick_after=cur.tick,
        ticks_crossed=cur.crossed,
    )


def _run(
    ctx: _Ctx, cur: _Cursor, legs: list[_Leg], results: dict[int, SwapQuote | QuoteError]
) -> None:
    """Walk ticks once for every leg in `legs`, splitting off a leg only when it stops."""
    zfo = ctx.zero_for_one
    while legs:
        if cur.sqrt_price_x64 == ctx.limit_x64:
            for leg in legs:
                results[leg.index] = _finalize(ctx, leg, cur)
            return
        try:
            tick_state = _next_tick(ctx, cur)
            tick_next = min(max(tick_state.tick, rm.MIN_TICK), rm.MAX_TICK)
            sqrt_tick = rm.sqrt_price_at_tick(tick_next)
            past_limit = sqrt_tick < ctx.limit_x64 if zfo else sqrt_tick > ctx.limit_x64
            target = ctx.limit_x64 if past_limit else sqrt_tick
            ok = (
                cur.tick >= tick_next and cur.sqrt_price_x64 >= sqrt_tick
                if zfo
                else tick_next > cur.tick and sqrt_tick >= cur.sqrt_price_x64
            )
            if not ok:
                raise QuoteError(f"raydium: tick walk out of order at tick {tick_next}")
            reached, partial = _split(ctx, cur, target, legs)
        except QuoteError as exc:
            for leg in legs:
                results[leg.index] = exc
            return
        start_sqrt = cur.sqrt_price_x64
        for leg in partial:
            leg_cur = cur.copy()
            try:
                nxt, a_in, a_out, fee = rm.compute_swap_step(
                    start_sqrt,
                    target,
                    cur.liquidity,
                    leg.remaining,
                    ctx.fee_rate_ppm,
                    ctx.exact_in,
                    zfo,
                    ctx.fee_on_input,
                )
                _apply(ctx, leg, a_in, a_out, fee)
                _after_step(ctx, leg_cur, tick_state, tick_next, sqrt_tick, nxt)
            except QuoteError as exc:
                results[leg.index] = exc
                continue
            if leg.remaining == 0 or leg_cur.sqrt_price_x64 == ctx.limit_x64:
                results[leg.index] = _finalize(ctx, leg, leg_cur)
            else:  # landed exactly on the tick with input left: this leg walks on alone
                _run(ctx, leg_cur, [leg], results)
        if not reached:
            return
        try:
            if start_sqrt == target:
                nxt, a_in, a_out, fee = target, 0, 0, 0
            else:
                smallest = min(reached, key=lambda leg: leg.remaining)
                nxt, a_in, a_out, fee = rm.compute_swap_step(
                    start_sqrt,
                    target,
                    cur.liquidity,
                    smallest.remaining,
                    ctx.fee_rate_ppm,
                    ctx.exact_in,
                    zfo,
                    ctx.fee_on_input,
                )
            live: list[_Leg] = []
            for leg in reached:
                try:
                    if start_sqrt != target:
                        _apply(ctx, leg, a_in, a_out, fee)
                    live.append(leg)
                except QuoteError as exc:
                    results[leg.index] = exc
            _after_step(ctx, cur, tick_state, tick_next, sqrt_tick, nxt)
        except QuoteError as exc:
            for leg in reached:
                results.setdefault(leg.index, exc)
            return
        legs = []
        for leg in live:
            if leg.remaining == 0:
                results[leg.index] = _finalize(ctx, leg, cur)
            else:
                legs.append(leg)


def _split(ctx: _Ctx, cur: _Cursor, target: int, legs: list[_Leg]) -> tuple[list[_Leg], list[_Leg]]:
    """(legs whose remaining reaches the target price in full, legs that stop inside this step)."""
    if cur.sqrt_price_x64 == target:
        return legs, []
    try:
        in_at, out_at = rm.delta_amounts_for_swap(
            target, cur.sqrt_price_x64, cur.liquidity, ctx.zero_for_one
        )
    except rm.TokenAmountOverflow:
        return [], legs
    need = in_at if ctx.exact_in else out_at
    reached: list[_Leg] = []
    partial: list[_Leg] = []
    for leg in legs:
        calc = rm.amount_for_price_calc(
            leg.remaining, ctx.fee_rate_ppm, ctx.exact_in, ctx.fee_on_input
        )
        (reached if calc >= need else partial).append(leg)
    return reached, partial


def _context(
    pool: PoolState,
    tick_arrays: Iterable[object],
    a_to_b: bool,
    exact_in: bool,
    sqrt_price_limit: int | None,
    amm_config: AmmConfig | None,
) -> _Ctx:
    if not isinstance(pool, PoolState):
        raise QuoteError(f"unsupported pool type for a Raydium quote: {type(pool).__name__}")
    if not isinstance(amm_config, AmmConfig):
        raise QuoteError("raydium quote needs the pool's AmmConfig (trade_fee_rate lives there)")
    if not pool.swap_enabled:
        raise QuoteError(f"raydium pool status {pool.status:#x} disables swaps")
    if pool.dynamic_fee_enabled:
        raise QuoteError("raydium pool has dynamic fee enabled; this quote does not model it")
    if not 0 <= amm_config.trade_fee_rate < rm.FEE_RATE_DENOMINATOR:
        raise QuoteError(f"raydium trade_fee_rate {amm_config.trade_fee_rate} out of range")
    arrays: dict[int, RaydiumTickArray] = {}
    ext: TickArrayBitmapExtension | None = None
    pool_ids: set[str] = set()
    for acc in tick_arrays:  # other account types are not Raydium's: filtered out by type
        if isinstance(acc, RaydiumTickArray):
            arrays[acc.start_tick_index] = acc
            pool_ids.add(acc.pool_id)
        elif isinstance(acc, TickArrayBitmapExtension):
            ext = acc
            pool_ids.add(acc.pool_id)
    if len(pool_ids) > 1:
        # the program checks each array's pool_id against the pool; we can at least refuse a mix
        raise QuoteError(
            f"raydium tick arrays/extension belong to several pools: {sorted(pool_ids)}"
        )
    given = sqrt_price_limit is not None and sqrt_price_limit != 0
    if given:
        assert sqrt_price_limit is not None
        limit = sqrt_price_limit
    else:
        limit = rm.MIN_SQRT_PRICE_X64 + 1 if a_to_b else rm.MAX_SQRT_PRICE_X64 - 1
    ok = (
        rm.MIN_SQRT_PRICE_X64 < limit < pool.sqrt_price_x64
        if a_to_b
        else pool.sqrt_price_x64 < limit < rm.MAX_SQRT_PRICE_X64
    )
    if not ok:
        raise QuoteError(
            f"raydium sqrt_price_limit {limit} is not beyond the pool price "
            f"{pool.sqrt_price_x64} in direction a_to_b={a_to_b} (SqrtPriceLimitOverflow)"
        )
    fee_on = pool.fee_on
    fee_on_input = fee_on not in (1, 2) or (fee_on == 1) == a_to_b
    return _Ctx(
        pool, arrays, ext, amm_config.trade_fee_rate, a_to_b, exact_in, fee_on_input, limit, given
    )


def _quote_many(ctx: _Ctx, amounts: Sequence[int]) -> list[SwapQuote | QuoteError]:
    results: dict[int, SwapQuote | QuoteError] = {}
    legs: list[_Leg] = []
    for i, amount in enumerate(amounts):
        if amount <= 0 or amount > rm.U64_MAX:
            results[i] = QuoteError(f"raydium swap amount {amount} must be in 1..u64::MAX")
        else:
            legs.append(_Leg(i, amount, amount))
    if legs:
        try:
            is_match, start = _first_tick_array(ctx.pool, ctx.ext, ctx.zero_for_one)
            cur = _Cursor(
                ctx.pool.sqrt_price_x64,
                ctx.pool.tick_current,
                ctx.pool.liquidity,
                ctx.array(start),
                start,
                is_match,
                0,
            )
        except QuoteError as exc:
            for leg in legs:
                results[leg.index] = exc
        else:
            legs.sort(key=lambda leg: leg.amount)
            _run(ctx, cur, legs, results)
    return [results[i] for i in range(len(amounts))]


def quote_swap_raydium(
    pool: PoolState,
    tick_arrays: Iterable[object],
    amount: int,
    *,
    a_to_b: bool,
    exact_in: bool = True,
    sqrt_price_limit: int | None = None,
    amm_config: AmmConfig | None = None,
) -> SwapQuote:
    """Exact swap of `amount` base units (input if exact_in, else output); raises QuoteError."""
    ctx = _context(pool, tick_arrays, a_to_b, exact_in, sqrt_price_limit, amm_config)
    result = _quote_many(ctx, [amount])[0]
    if isinstance(result, QuoteError):
        raise result
    return result


def quote_curve_raydium(
    pool: PoolState,
    tick_arrays: Iterable[object],
    amounts: list[int],
    *,
    a_to_b: bool,
    exact_in: bool = True,
    amm_config: AmmConfig | None = None,
) -> list[SwapQuote | QuoteError]:
    """Exact quotes for many sizes (base units) from one tick walk, in the order given."""
    ctx = _context(pool, tick_arrays, a_to_b, exact_in, None, amm_config)
    return _quote_many(ctx, amounts)
