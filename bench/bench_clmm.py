"""Orca Whirlpool exact quotes and account decoding: latency per call.

A self-contained synthetic pool shaped like SOL/USDC ts64 (fee 0.2%, liquidity 1.8e14, an
initialized tick every 128 ticks over 7 tick arrays); swap sizes are chosen so the walk crosses
exactly 0, 3 and 10 initialized ticks (checked before timing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from connectors.solana import orca
from operators.clmm import quote_curve, quote_swap
from operators.clmm.accounts import Tick, TickArray, Whirlpool
from operators.clmm.math import sqrt_price_from_tick_index

POOL = "HJPjoWUrhoZzkNfRpHuieeFk9WcZWjwy6PBjZ81ngndJ"
SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
SPACING = 64
TICK = -32101


def _pool_and_arrays() -> tuple[Whirlpool, list[TickArray]]:
    span = 88 * SPACING
    first = (TICK // SPACING // 88) * span - 3 * span
    starts = [first + k * span for k in range(7)]
    nets: dict[int, int] = {}
    # ticks every 128 from the bottom: alternating +/- small nets keep liquidity near 1.8e14
    for i, t in enumerate(range(first + 64, first + 7 * span, 128)):
        nets[t] = (3 if i % 2 else -3) * 10**12
    liquidity = 180 * 10**12
    pool = Whirlpool.simulated(
        whirlpools_config=POOL,
        tick_spacing=SPACING,
        fee_rate=2000,
        liquidity=liquidity,
        sqrt_price=sqrt_price_from_tick_index(TICK) + 12345,
        tick_current_index=TICK,
        token_mint_a=SOL,
        token_mint_b=USDC,
        token_vault_a=SOL,
        token_vault_b=USDC,
        protocol_fee_rate=300,
        address=POOL,
    )
    arrays = []
    for start in starts:
        ticks = tuple(
            Tick.initialized_with(nets[t], abs(nets[t])) if t in nets else Tick.empty()
            for t in range(start, start + span, SPACING)
        )
        arrays.append(TickArray(start, ticks, POOL))
    return pool, arrays


def _amount_crossing(pool: Whirlpool, arrays: list[TickArray], k: int) -> int:
    """An a->b exact-in size that crosses exactly k initialized ticks."""
    below = sorted(
        (t for ta in arrays for t, _ in ta.initialized_ticks(SPACING) if t <= TICK), reverse=True
    )
    if k == 0:
        limit = (sqrt_price_from_tick_index(below[0]) + pool.sqrt_price) // 2
    else:
        limit = (
            sqrt_price_from_tick_index(below[k - 1]) + sqrt_price_from_tick_index(below[k])
        ) // 2
    partial = quote_swap(pool, arrays, 10**19, a_to_b=True, sqrt_price_limit=limit)
    amount = partial.amount_in
    got = quote_swap(pool, arrays, amount, a_to_b=True).ticks_crossed
    assert got == k, (k, got)
    return amount


def _times_us(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t0) / 1000)
    out.sort()
    return out


def _pct(xs: list[float], q: float) -> float:
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def run(quick: bool = False) -> list[dict[str, object]]:
    """Quote latency for 0/3/10 crossed ticks, 16-size curve vs one quote, decode per account."""
    n = 300 if quick else 5000
    pool, arrays = _pool_and_arrays()
    results: list[dict[str, object]] = []
    sizes: dict[int, int] = {}
    for k in (0, 3, 10):
        amount = sizes[k] = _amount_crossing(pool, arrays, k)
        ts = _times_us(partial(quote_swap, pool, arrays, amount, a_to_b=True), n)
        for label, q in (("p50", 0.5), ("p99", 0.99)):
            results.append(
                {
                    "name": f"orca_quote_{k}_ticks_{label}",
                    "value": _pct(ts, q),
                    "unit": "us",
                    "target": "<= 100 us p50" if label == "p50" else "",
                    "better": "lower",
                    "note": f"quote_swap exact-in a->b crossing {k} initialized ticks, 7 arrays",
                }
            )
    top = sizes[10]
    curve_sizes = [max(1, top * (i + 1) // 16) for i in range(16)]
    one = _times_us(lambda: quote_swap(pool, arrays, top, a_to_b=True), n // 2)
    many = _times_us(lambda: quote_curve(pool, arrays, curve_sizes, a_to_b=True), n // 2)
    results.append(
        {
            "name": "orca_curve16_vs_one_quote",
            "value": _pct(many, 0.5) / _pct(one, 0.5),
            "unit": "x",
            "target": "<= 4x",
            "better": "lower",
            "note": f"quote_curve 16 sizes up to 10 ticks: p50 {_pct(many, 0.5):.0f} us",
        }
    )
    pool_bytes = orca.encode_whirlpool(pool)
    array_bytes = orca.encode_tick_array(arrays[3])
    dyn_bytes = orca.encode_tick_array(
        TickArray(arrays[3].start_tick_index, arrays[3].ticks, POOL, is_dynamic=True)
    )
    decoders: list[tuple[str, Callable[[bytes], object], bytes]] = [
        ("whirlpool", orca.decode_whirlpool, pool_bytes),
        ("tick_array", orca.decode_tick_array, array_bytes),
        ("dynamic_tick_array", orca.decode_tick_array, dyn_bytes),
    ]
    for name, decode, raw in decoders:
        ts = _times_us(partial(decode, raw), n)
        results.append(
            {
                "name": f"orca_decode_{name}_p50",
                "value": _pct(ts, 0.5),
                "unit": "us",
                "target": "",
                "better": "lower",
                "note": f"decode one {name} account ({len(raw)} bytes; arrays hold 44 live ticks)",
            }
        )
    return results


if __name__ == "__main__":
    for r in run(quick=True):
        print(r)
