"""CLOB benchmarks: Phoenix / OpenBook v2 account decode and the ladder walk at size.

Accounts are synthetic (built with the connectors' encoders: no real bytes exist, see
PROVENANCE.md "Not found") with distinct prices so every order is its own level.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from connectors.solana import openbook, phoenix
from operators.clob import OpenBookLeaf, clob_buy_cost, phoenix_view


def _p50_us(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
    return statistics.median(samples) / 1_000


def _phoenix_bytes(n: int) -> bytes:
    size = max(1024, n)
    return phoenix.encode_market(
        bids=[(10_000 - i, 1 + i % 50) for i in range(n)],
        asks=[(10_001 + i, 1 + i % 50) for i in range(n)],
        bids_size=size,
        asks_size=size,
        num_seats=128,
    )


def _openbook_bytes(n: int) -> bytes:
    leaves = [
        OpenBookLeaf(openbook.fixed_key("asks", 10_001 + i, i), 1 + i % 50, 0) for i in range(n)
    ]
    return openbook.encode_book_side("asks", leaves)


def run(quick: bool = False) -> list[dict[str, object]]:
    """Decode p50 (us) per account size and walk p50 (us) across 10 levels."""
    repeat = 20 if quick else 300
    out: list[dict[str, object]] = []
    for n in (100, 1000):
        data = _phoenix_bytes(n)
        out.append(
            {
                "name": f"phoenix_decode_{n}_orders_per_side",
                "value": _p50_us(lambda d=data: phoenix.decode_market(d), repeat),
                "unit": "us",
                "target": "<= 2000 us p50" if n == 1000 else "<= 300 us p50",
                "better": "lower",
                "note": f"decode_market, {n} bids + {n} asks, capacity {max(1024, n)}/side",
            }
        )
    # 1024 nodes per book side: n leaves need 2n-1 nodes, so 500 is about the largest book
    for n in (100, 500):
        data = _openbook_bytes(n)
        out.append(
            {
                "name": f"openbook_decode_book_side_{n}_orders",
                "value": _p50_us(lambda d=data: openbook.decode_book_side(d).levels(0), repeat),
                "unit": "us",
                "target": "<= 1500 us p50" if n == 500 else "<= 300 us p50",
                "better": "lower",
                "note": f"decode_book_side + levels(now_ts), {n} fixed asks (<= 512 fit)",
            }
        )
    market = phoenix.decode_market(_phoenix_bytes(100))
    view = phoenix_view(
        market,
        venue="phoenix",
        market_id="bench",
        pair="SOL/USDC",
        quote_currency="USDC",
        slot=1,
        ts_event_ns=0,
        ts_recv_ns=0,
    )
    lots_10 = sum(size for _, size in view.asks[:10]) - 1  # ends inside the 10th level
    size_base = lots_10 * view.base_units_per_lot
    assert clob_buy_cost(view, size_base).levels_used == 10
    out.append(
        {
            "name": "clob_walk_10_levels",
            "value": _p50_us(lambda: clob_buy_cost(view, size_base), repeat * 10),
            "unit": "us",
            "target": "<= 20 us p50",
            "better": "lower",
            "note": "clob_buy_cost on a Phoenix view, size ending inside the 10th ask level",
        }
    )
    return out


if __name__ == "__main__":
    for row in run(quick=False):
        print(f"{row['name']:45s} {row['value']:10.1f} {row['unit']}  ({row['target']})")
