"""Exact Orca Whirlpool swap quotes: the program's swap loop over the supplied tick arrays.

Semantics (orca-so/whirlpools `swap_manager::swap` and rust-sdk/core `compute_swap`):
- the walk goes from the pool's sqrt price toward the next initialized tick (or the end of the
  supplied tick-array sequence, or the sqrt price limit), one `compute_swap_step` per range,
  crossing initialized ticks with `liquidity_net` (subtracted when a->b, added when b->a);
- the tick arrays may be given in any order and number; the walk uses the run of consecutive
  arrays (88 * tick_spacing ticks each) around the current tick, and raises
  `InsufficientLiquidity` if it must leave that run before the amount is filled;
- without an explicit `sqrt_price_limit` a size that cannot be filled completely raises
  `InsufficientLiquidity` (the program's PartialFillError for exact-out; for exact-in we refuse
  rather than report a smaller input); with an explicit limit the swap stops at the limit and
  the quote shows the partial amounts, as the program does;
- adaptive-fee pools (fee tier index != tick spacing) need their Oracle account and are refused
  with `QuoteError`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from operators.clmm import math as m
from operators.clmm.accounts import TICK_ARRAY_SIZE, TickArray, Whirlpool
from operators.clmm.types import InsufficientLiquidity, QuoteError, SwapQuote

__all__ = [
    "OrcaCurveWalk",
    "TickSequence",
    "build_tick_sequence",
    "quote_curve_amounts_orca",
    "quote_curve_orca",
    "quote_swap_orca",
]


@dataclass(frozen=True, slots=True)
class TickSequence:
    """A run of consecutive tick arrays (by start index) and the run's tick bounds."""

    arrays: dict[int, TickArray]
    first_start: int
    last_start: int
    tick_spacing: int
    start_index: int
    end_index: int


def build_tick_sequence(
    pool: Whirlpool, tick_arrays: Sequence[object], a_to_b: bool
) -> TickSequence:
    """The consecutive run of the pool's tick arrays that covers the next tick to trade into."""
    spacing = pool.tick_spacing
    span = TICK_ARRAY_SIZE * spacing
    by_start: dict[int, TickArray] = {}
    for ta in tick_arrays:
        if not isinstance(ta, TickArray):
            raise QuoteError(
                f"orca {pool.address or 'pool'}: {type(ta).__name__} is not a TickArray"
            )
        if pool.address and ta.whirlpool != pool.address:
            raise QuoteError(
                f"orca {pool.address}: tick array {ta.start_tick_index} belongs to {ta.whirlpool}"
            )
        if ta.start_tick_index % span:
            raise QuoteError(
                f"orca {pool.address or 'pool'}: tick array start {ta.start_tick_index} "
                f"is not a multiple of {span}"
            )
        by_start[ta.start_tick_index] = ta
    # a->b trades into ticks <= current; b->a into ticks > current
    anchor = pool.tick_current_index if a_to_b else pool.tick_current_index + 1
    first = anchor // spacing // TICK_ARRAY_SIZE * span
    if first not in by_start:
        raise InsufficientLiquidity(
            f"orca {pool.address or 'pool'}: no tick array covers tick {anchor} "
            f"(need start {first}; have {sorted(by_start)})"
        )
    last = first
    while first - span in by_start:
        first -= span
    while last + span in by_start:
        last += span
    return TickSequence(
        by_start,
        first,
        last,
        spacing,
        max(first, m.MIN_TICK_INDEX),
        min(last + span - 1, m.MAX_TICK_INDEX),
    )


# The walk state: (sqrt_price_x64, tick, liquidity, remaining, calculated, fee_sum, crossed)
_State = tuple[int, int, int, int, int, int, int]


def _next_tick(seq: TickSequence, tick: int, a_to_b: bool, where: str) -> tuple[int, int | None]:
    """Next initialized tick to enter (index, liquidity_net), or the run's edge (index, None)."""
    spacing = seq.tick_spacing
    span = TICK_ARRAY_SIZE * spacing
    arrays = seq.arrays
    if a_to_b:
        if tick < seq.start_index or tick > seq.end_index:
            raise InsufficientLiquidity(
                f"orca {where}: swap a->b needs ticks below {seq.start_index}; "
                "supply the next lower tick array"
            )
        start = tick // spacing // TICK_ARRAY_SIZE * span
        slot = (tick - start) // spacing  # initialized ticks at or below `tick`
        while start >= seq.first_start:
            ta = arrays[start]
            offsets = ta.initialized_offsets
            i = bisect_right(offsets, slot) - 1
            if i >= 0:
                o = offsets[i]
                return start + o * spacing, ta.ticks[o].liquidity_net
            start -= span
            slot = TICK_ARRAY_SIZE - 1
        return seq.start_index, None
    if tick >= seq.end_index or tick + 1 < seq.start_index:
        raise InsufficientLiquidity(
            f"orca {where}: swap b->a needs ticks above {seq.end_index}; "
            "supply the next higher tick array"
        )
    start = tick // spacing // TICK_ARRAY_SIZE * span
    slot = (tick - start) // spacing  # initialized ticks strictly above `tick`
    if start < seq.first_start:
        start, slot = seq.first_start, -1
    while start <= seq.last_start:
        ta = arrays[start]
        offsets = ta.initialized_offsets
        i = bisect_right(offsets, slot)
        if i < len(offsets):
            o = offsets[i]
            index = start + o * spacing
            if index > seq.end_index:
                break
            return index, ta.ticks[o].liquidity_net
        start += span
        slot = -1
    return seq.end_index, None


# One tick range to trade through: (next tick, its liquidity_net or None at the run's edge,
# its sqrt price, the step target, the fixed amount to reach the target or -1 if not known)
_Range = tuple[int, "int | None", int, int, int]


def _range(seq: TickSequence, tick: int, limit: int, a_to_b: bool, where: str) -> _Range:
    next_index, next_net = _next_tick(seq, tick, a_to_b, where)
    next_price = m.sqrt_price_from_tick_index(next_index)
    if a_to_b:
        target = next_price if next_price > limit else limit
    else:
        target = next_price if next_price < limit else limit
    return next_index, next_net, next_price, target, -1


def _walk(
    seq: TickSequence,
    state: _State,
    fee_rate: int,
    limit: int,
    is_input: bool,
    a_to_b: bool,
    where: str,
    first: _Range | None = None,
    max_ranges: int = -1,
    need_tick: bool = True,
) -> _State:
    """Run the program's swap loop from `state` (all of it, or `max_ranges` tick ranges).

    `first` may carry the first range, precomputed (with its fixed amount) by the caller.
    `need_tick` False: the end state's tick is not wanted (amounts only), so a tick inside a
    range is worked out only when the walk goes on to the next range; the end tick is then
    not the pool's (the amounts are the same).
    """
    price, tick, liq, remaining, calc, fee_sum, crossed = state
    step_fn = m.swap_step_tuple
    tick_due = False  # the price moved inside a range and `tick` is not worked out yet
    while remaining > 0 and price != limit and max_ranges != 0:
        max_ranges -= 1
        if tick_due:
            tick = m.tick_index_from_sqrt_price(price)
            tick_due = False
        if first is None:
            next_index, next_net, next_price, target, known_fixed = _range(
                seq, tick, limit, a_to_b, where
            )
        else:
            next_index, next_net, next_price, target, known_fixed = first
            first = None
        while True:
            amount_in, amount_out, new_price, fee = step_fn(
                remaining, fee_rate, liq, price, target, is_input, a_to_b, known_fixed
            )
            known_fixed = -1
            before = remaining
            fee_sum += fee
            if is_input:
                remaining -= amount_in + fee
                calc += amount_out
            else:
                remaining -= amount_out
                calc += amount_in + fee
            if remaining < 0:
                raise QuoteError(f"orca {where}: amount remaining underflows (program overflow)")
            if calc > m.U64_MAX or fee_sum > m.U64_MAX:
                raise QuoteError(f"orca {where}: calculated amount exceeds u64")
            if new_price == next_price:
                if next_net is not None:
                    liq = liq - next_net if a_to_b else liq + next_net
                    if liq < 0 or liq > m.U128_MAX:
                        raise QuoteError(
                            f"orca {where}: liquidity leaves u128 at tick {next_index}"
                        )
                    crossed += 1
                tick = next_index - 1 if a_to_b else next_index
                tick_due = False
            elif new_price != price:
                if need_tick:
                    tick = m.tick_index_from_sqrt_price(new_price)
                else:
                    tick_due = True
            elif remaining == before and new_price != target:
                raise QuoteError(f"orca {where}: swap step made no progress")
            price = new_price
            if remaining == 0 or price == target:
                break
    return price, tick, liq, remaining, calc, fee_sum, crossed


def _prepare(pool: Whirlpool, a_to_b: bool, sqrt_price_limit: int | None) -> tuple[int, bool, str]:
    where = pool.address or "whirlpool"
    if pool.is_adaptive_fee:
        raise QuoteError(
            f"orca {where}: adaptive-fee pool (fee tier index {pool.fee_tier_index_seed} != "
            f"tick spacing {pool.tick_spacing}) needs its Oracle account; not supported"
        )
    explicit = bool(sqrt_price_limit)
    if not sqrt_price_limit:
        limit = m.MIN_SQRT_PRICE_X64 if a_to_b else m.MAX_SQRT_PRICE_X64
    else:
        limit = sqrt_price_limit
    if not m.MIN_SQRT_PRICE_X64 <= limit <= m.MAX_SQRT_PRICE_X64:
        raise QuoteError(f"orca {where}: sqrt_price_limit {limit} outside the program's bounds")
    if (a_to_b and limit >= pool.sqrt_price) or (not a_to_b and limit <= pool.sqrt_price):
        raise QuoteError(
            f"orca {where}: sqrt_price_limit {limit} is on the wrong side of the pool price "
            f"{pool.sqrt_price} for {'a->b' if a_to_b else 'b->a'}"
        )
    return limit, explicit, where


def _check_amount(amount: int, where: str) -> None:
    if amount <= 0:
        raise QuoteError(f"orca {where}: amount must be positive (got {amount})")
    if amount > m.U64_MAX:
        raise QuoteError(f"orca {where}: amount {amount} exceeds u64")


def _finish(
    amount: int, end: _State, explicit: bool, is_input: bool, a_to_b: bool, where: str
) -> SwapQuote:
    price, tick, _liq, remaining, calc, fee_sum, crossed = end
    if remaining > 0 and not explicit:
        raise InsufficientLiquidity(
            f"orca {where}: only {amount - remaining} of {amount} "
            f"{'in' if is_input else 'out'} fillable before the price bound"
        )
    filled = amount - remaining
    if is_input:
        return SwapQuote(filled, calc, fee_sum, price, tick, crossed)
    return SwapQuote(calc, filled, fee_sum, price, tick, crossed)


def quote_swap_orca(
    pool: Whirlpool,
    tick_arrays: Sequence[object],
    amount: int,
    *,
    a_to_b: bool,
    exact_in: bool = True,
    sqrt_price_limit: int | None = None,
) -> SwapQuote:
    """Exact Whirlpool swap of `amount` base units (input if exact_in else output)."""
    limit, explicit, where = _prepare(pool, a_to_b, sqrt_price_limit)
    _check_amount(amount, where)
    seq = build_tick_sequence(pool, tick_arrays, a_to_b)
    start: _State = (pool.sqrt_price, pool.tick_current_index, pool.liquidity, amount, 0, 0, 0)
    end = _walk(seq, start, pool.fee_rate, limit, exact_in, a_to_b, where)
    return _finish(amount, end, explicit, exact_in, a_to_b, where)


def quote_curve_orca(
    pool: Whirlpool,
    tick_arrays: Sequence[object],
    amounts: Sequence[int],
    *,
    a_to_b: bool,
    exact_in: bool = True,
) -> list[SwapQuote | QuoteError]:
    """Exact quotes for many sizes (base units) from one shared walk; errors per size as values.

    Whole tick ranges that a size consumes completely are identical for every larger size, so
    they are walked once (checkpoints); each size then finishes from its last checkpoint with
    the same loop `quote_swap_orca` runs, so every entry equals the single quote exactly.
    """
    where = pool.address or "whirlpool"
    out: list[SwapQuote | QuoteError] = []
    for amount, end in zip(amounts, _curve_ends(pool, tick_arrays, amounts, a_to_b, exact_in)):
        if isinstance(end, QuoteError):
            out.append(end)
            continue
        try:
            out.append(_finish(amount, end, False, exact_in, a_to_b, where))
        except QuoteError as exc:
            out.append(exc)
    return out


def quote_curve_amounts_orca(
    pool: Whirlpool,
    tick_arrays: Sequence[object],
    amounts: Sequence[int],
    *,
    a_to_b: bool,
    exact_in: bool = True,
    walk: OrcaCurveWalk | None = None,
) -> list[tuple[int, int, int, int] | QuoteError]:
    """`quote_curve_orca`'s amounts only: (amount_in, amount_out, fee_amount, ticks_crossed)
    per size, the same integers; the end price's tick is not worked out (a float log and two
    exact checks per size that sizing does not need). `walk`: this pool's and direction's
    `OrcaCurveWalk`, kept by the caller across calls (None: a fresh one)."""
    where = pool.address or "whirlpool"
    out: list[tuple[int, int, int, int] | QuoteError] = []
    if walk is None:
        walk = OrcaCurveWalk(pool, tick_arrays, a_to_b=a_to_b, exact_in=exact_in)
    for amount, end in zip(amounts, walk.ends(amounts, need_tick=False)):
        if isinstance(end, QuoteError):
            out.append(end)
            continue
        remaining, calc, fee_sum, crossed = end[3], end[4], end[5], end[6]
        if remaining > 0:  # as `_finish` without an explicit limit
            out.append(
                InsufficientLiquidity(
                    f"orca {where}: only {amount - remaining} of {amount} "
                    f"{'in' if exact_in else 'out'} fillable before the price bound"
                )
            )
        elif exact_in:
            out.append((amount, calc, fee_sum, crossed))
        else:
            out.append((calc, amount, fee_sum, crossed))
    return out


class OrcaCurveWalk:
    """The whole tick ranges of one pool and direction, walked once and kept for later sizes.

    A range that a size consumes whole gives the same step for every larger size (the fixed
    amount of `_probe`, with a budget no size can reach), so its checkpoint does not depend on
    which sizes are asked: the walk is extended lazily, as far as the largest size asked so
    far, and every later call (a grid, then the sizes of an exact-size search, on the same
    pool state) starts from the checkpoints already made. The entries are those of a fresh
    walk, exactly (see `quote_curve_orca`). Hold one per (pool state, tick arrays, direction,
    exact_in); a new pool account needs a new one.
    """

    __slots__ = (
        "_a_to_b", "_checkpoints", "_exact_in", "_exhausted", "_fee_rate", "_limit", "_ranges",
        "_seq", "_where",
    )  # fmt: skip

    def __init__(
        self, pool: Whirlpool, tick_arrays: Sequence[object], *, a_to_b: bool, exact_in: bool
    ) -> None:
        self._limit, _explicit, self._where = _prepare(pool, a_to_b, None)
        self._a_to_b, self._exact_in = a_to_b, exact_in
        self._seq: TickSequence | QuoteError
        try:
            self._seq = build_tick_sequence(pool, tick_arrays, a_to_b)
        except QuoteError as exc:
            self._seq = exc
        self._fee_rate = pool.fee_rate
        # checkpoints[j] = state after j whole ranges, `remaining` holding the amount consumed
        self._checkpoints: list[_State] = [
            (pool.sqrt_price, pool.tick_current_index, pool.liquidity, 0, 0, 0, 0)
        ]
        self._ranges: list[_Range] = []  # ranges[j]: the range after checkpoint j, fixed known
        self._exhausted = False

    def walked(self) -> tuple[int, int, int] | None:
        """(whole tick ranges walked so far, the largest liquidity of any range walked or begun,
        the sqrt price X64 at the far end of the last range begun), or None once the walk met
        a range no u64 size takes whole (a size past it walks on afresh) or cannot walk at
        all, or has not begun a range. A size no larger than the largest asked so far walks at
        most one range past the first count, at a liquidity no larger than the second, and
        ends no further than the third: the spread engine's rounding bound
        (`operators.spread.PairEngine._leg_slack`)."""
        if self._exhausted or isinstance(self._seq, QuoteError) or not self._ranges:
            return None
        liquidity = max(cp[2] for cp in self._checkpoints)
        return len(self._ranges), liquidity, self._ranges[-1][3]

    def ends(self, amounts: Sequence[int], need_tick: bool = True) -> list[_State | QuoteError]:
        """The swap loop's end state for each size (see `quote_curve_orca`)."""
        seq = self._seq
        if isinstance(seq, QuoteError):
            return [seq for _ in amounts]
        limit, where, exact_in, a_to_b = self._limit, self._where, self._exact_in, self._a_to_b
        fee_rate = self._fee_rate
        checkpoints, ranges = self._checkpoints, self._ranges
        out: list[_State | QuoteError] = [QuoteError("unset")] * len(amounts)
        j = 0
        # m.apply_swap_fee(rest, fee_rate), inlined: rest * keep // FEE_RATE_DENOMINATOR
        keep = m.FEE_RATE_DENOMINATOR - fee_rate
        fee_den = m.FEE_RATE_DENOMINATOR
        u64_max = m.U64_MAX
        for pos in sorted(range(len(amounts)), key=amounts.__getitem__):
            amount = amounts[pos]
            try:
                if amount <= 0 or amount > u64_max:
                    _check_amount(amount, where)
                while True:
                    cp = checkpoints[j]
                    rest = amount - cp[3]
                    if rest <= 0 or cp[0] == limit:
                        break
                    if j == len(ranges):
                        if self._exhausted:
                            break
                        probe = _probe(seq, cp, fee_rate, limit, exact_in, a_to_b, where)
                        if probe is None:
                            self._exhausted = True
                            break
                        ranges.append(probe[0])
                        checkpoints.append(probe[1])
                    usable = rest * keep // fee_den if exact_in else rest
                    if ranges[j][4] > usable:
                        break
                    j += 1
                cp = checkpoints[j]
                start = (cp[0], cp[1], cp[2], amount - cp[3], cp[4], cp[5], cp[6])
                first = ranges[j] if j < len(ranges) else None
                out[pos] = _walk(
                    seq, start, fee_rate, limit, exact_in, a_to_b, where, first, -1, need_tick
                )
            except QuoteError as exc:
                out[pos] = exc
        return out


def _curve_ends(
    pool: Whirlpool,
    tick_arrays: Sequence[object],
    amounts: Sequence[int],
    a_to_b: bool,
    exact_in: bool,
    need_tick: bool = True,
) -> list[_State | QuoteError]:
    """The swap loop's end state for each size, from one shared walk (see `quote_curve_orca`)."""
    walk = OrcaCurveWalk(pool, tick_arrays, a_to_b=a_to_b, exact_in=exact_in)
    return walk.ends(amounts, need_tick)


def _probe(
    seq: TickSequence,
    cp: _State,
    fee_rate: int,
    limit: int,
    is_input: bool,
    a_to_b: bool,
    where: str,
) -> tuple[_Range, _State] | None:
    """The whole next range from checkpoint `cp`, or None where no u64 size can take it whole."""
    price, tick, liq, consumed, calc, fee_sum, crossed = cp
    try:
        next_index, next_net, next_price, target, _ = _range(seq, tick, limit, a_to_b, where)
        if is_input:
            fixed = (m.amount_delta_a if a_to_b else m.amount_delta_b)(price, target, liq, True)
        else:
            fixed = (m.amount_delta_b if a_to_b else m.amount_delta_a)(price, target, liq, False)
        # a budget that takes the range whole: the step then does not depend on the size
        budget = m.U64_MAX
        if fixed > (m.apply_swap_fee(budget, fee_rate) if is_input else budget):
            return None
        rng: _Range = (next_index, next_net, next_price, target, fixed)
        state = (price, tick, liq, budget, calc, fee_sum, crossed)
        after = _walk(seq, state, fee_rate, limit, is_input, a_to_b, where, rng, 1)
    except QuoteError:
        return None
    if after[0] != target:
        return None
    used = budget - after[3]
    return rng, (after[0], after[1], after[2], consumed + used, after[4], after[5], after[6])
