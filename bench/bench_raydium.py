"""Raydium CLMM benchmarks: exact quote latency by ticks crossed, 16-size curve, account decode.

The pool is synthetic (spacing 1, 60 ticks per array): nested positions put an initialized tick
every 10 ticks below the price, so a token0 -> token1 swap sized to a price bound crosses
exactly N initialized ticks and several tick arrays.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import partial

from connectors.solana import raydium_clmm as rc
from operators.clmm import raydium_math as rm
from operators.clmm.raydium import quote_curve_raydium, quote_swap_raydium
from operators.clmm.raydium_accounts import (
    AmmConfig,
    PoolState,
    RaydiumTickArray,
    RewardInfo,
    TickArrayBitmapExtension,
    TickState,
)

Z = "11111111111111111111111111111111"
CONFIG = AmmConfig(1, 0, Z, 120000, 2500, 1, 40000, 0, Z, (0, 0, 0))


def _samples_us(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t0) / 1_000)
    return out


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _pool() -> tuple[PoolState, list[object]]:
    liq = 10**12
    nets: dict[int, int] = {}
    for k in range(1, 16):  # position k spans (-10k, 10k + 5)
        nets[-10 * k] = nets.get(-10 * k, 0) + liq
        nets[10 * k + 5] = nets.get(10 * k + 5, 0) - liq
    arrays: dict[int, dict[int, TickState]] = {}
    for t, net in nets.items():
        start = rm.array_start_index(t, 1)
        arrays.setdefault(start, {})[t - start] = TickState(
            t, net, abs(net), 0, 0, (0, 0, 0), (0,) * 13
        )
    accounts: list[object] = []
    bitmap = 0
    for start, slots in arrays.items():
        empty = (TickState(start + i, 0, 0, 0, 0, (0, 0, 0), (0,) * 13) for i in range(60))
        ticks = tuple(slots.get(i, e) for i, e in enumerate(empty))
        accounts.append(RaydiumTickArray(Z, start, ticks, len(slots), 0, bytes(107)))
        bitmap |= 1 << (start // 60 + 512)
    accounts.append(TickArrayBitmapExtension(Z, ((0,) * 8,) * 14, ((0,) * 8,) * 14))
    reward = RewardInfo(0, 0, 0, 0, 0, 0, 0, Z, Z, Z, 0)
    pool = PoolState(
        1, Z, Z, Z, Z, Z, Z, Z, 9, 6, 1, 15 * liq, rm.sqrt_price_at_tick(0), 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, bytes(7), (reward,) * 3,
        tuple((bitmap >> (64 * i)) & (2**64 - 1) for i in range(16)),
        0, 0, 0, 0, 0, 0, 0, 0, (0,) * 24, (0,) * 32,
    )  # fmt: skip
    return pool, accounts


def run(quick: bool = False) -> list[dict[str, object]]:
    """Quote p50/p99 (us) at 0/3/10 ticks crossed, curve vs single quote, decode (us/account)."""
    repeat = 40 if quick else 1000
    pool, accounts = _pool()
    out: list[dict[str, object]] = []
    sizes: dict[int, int] = {}
    for crossed in (0, 3, 10):
        bound = rm.sqrt_price_at_tick(-(10 * crossed + 5))
        q = quote_swap_raydium(
            pool, accounts, 10**15, a_to_b=True, sqrt_price_limit=bound, amm_config=CONFIG
        )
        size = q.amount_in - 1
        check = quote_swap_raydium(pool, accounts, size, a_to_b=True, amm_config=CONFIG)
        assert check.ticks_crossed == crossed, (crossed, check)
        sizes[crossed] = size
        one = partial(quote_swap_raydium, pool, accounts, size, a_to_b=True, amm_config=CONFIG)
        samples = _samples_us(one, repeat)
        for label, q_ in (("p50", 0.5), ("p99", 0.99)):
            out.append(
                {
                    "name": f"raydium_quote_{crossed}_ticks_{label}",
                    "value": _pct(samples, q_),
                    "unit": "us",
                    "target": f"<= {100 + 40 * crossed} us {label}"
                    if label == "p50"
                    else f"<= {300 + 100 * crossed} us {label}",
                    "better": "lower",
                    "note": f"exact-in a->b quote crossing {crossed} initialized ticks",
                }
            )
    top = sizes[10]
    amounts = [top * (i + 1) // 16 for i in range(16)]
    curve = _samples_us(
        lambda: quote_curve_raydium(pool, accounts, amounts, a_to_b=True, amm_config=CONFIG),
        max(10, repeat // 4),
    )
    single = _samples_us(
        lambda: quote_swap_raydium(pool, accounts, top, a_to_b=True, amm_config=CONFIG),
        max(10, repeat // 4),
    )
    out.append(
        {
            "name": "raydium_curve_16_sizes_p50",
            "value": statistics.median(curve),
            "unit": "us",
            "target": "<= 500 us p50",
            "better": "lower",
            "note": f"one tick walk for 16 sizes up to 10 ticks; one quote at the top size "
            f"takes {statistics.median(single):.1f} us",
        }
    )
    separate = _samples_us(
        lambda: [
            quote_swap_raydium(pool, accounts, a, a_to_b=True, amm_config=CONFIG) for a in amounts
        ],
        max(10, repeat // 4),
    )
    out.append(
        {
            "name": "raydium_16_separate_quotes_p50",
            "value": statistics.median(separate),
            "unit": "us",
            "target": "informational (curve should beat it)",
            "better": "lower",
            "note": "the same 16 sizes quoted one by one (what quote_curve_raydium saves)",
        }
    )
    out.append(
        {
            "name": "raydium_curve_16_over_one_quote",
            "value": statistics.median(curve) / statistics.median(single),
            "unit": "x",
            "target": "<= 4 x",
            "better": "lower",
            "note": "16-size curve time / single quote time at the largest size (10 ticks)",
        }
    )
    arr = next(a for a in accounts if isinstance(a, RaydiumTickArray))
    blobs: dict[str, tuple[Callable[[bytes], object], bytes]] = {
        "pool_state": (rc.decode_pool_state, rc.encode_pool_state(pool)),
        "amm_config": (rc.decode_amm_config, rc.encode_amm_config(CONFIG)),
        "tick_array": (rc.decode_tick_array, rc.encode_tick_array(arr)),
        "bitmap_extension": (
            rc.decode_tick_array_bitmap_extension,
            rc.encode_tick_array_bitmap_extension(accounts[-1]),  # type: ignore[arg-type]
        ),
    }
    for name, (decode, raw) in blobs.items():
        out.append(
            {
                "name": f"raydium_decode_{name}_p50",
                "value": statistics.median(_samples_us(partial(decode, raw), repeat)),
                "unit": "us",
                "target": "<= 500 us p50" if name == "tick_array" else "<= 60 us p50",
                "better": "lower",
                "note": f"{name} decode, {len(raw)} bytes",
            }
        )
    return out


if __name__ == "__main__":
    for row in run(quick=False):
        print(f"{row['name']:<40} {row['value']:>10.2f} {row['unit']:<3} {row['target']}")
