"""Memory per market (issue 16): one CEX market's 5,000-level book and one CLMM market's 30
decoded tick arrays, as tracemalloc bytes still held after building them.

The book is built from venue strings (2,500 bids + 2,500 asks, as `bench_cex_books`); the tick
arrays are the recorded Orca SOL/USDC fixture arrays decoded again until 30 are held (each a
separate object, as a pool state holds them). Input bytes and strings are excluded.
"""

from __future__ import annotations

import base64
import json
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connectors.solana.orca import decode_tick_array
from operators.book import L2Book

FIXTURE_POOL = (
    Path(
        os.environ.get("SOLARB_FIXTURES")
        or Path(__file__).resolve().parents[2] / "shared" / "fixtures"
    )
    / "solana"
    / "orca_whirlpool"
    / "sol_usdc_ts64_2022-11"
)
TICK_ARRAYS = 30


def _held(build: Callable[[], Any]) -> int:
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    obj = build()
    size = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del obj
    return size


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Bytes held by one 5,000-level book, by 30 tick arrays, and their sum."""
    bids = [[f"{60000 - i * 0.01:.8f}", f"{(i % 97 + 1) / 1000:.8f}"] for i in range(2500)]
    asks = [[f"{60000.01 + i * 0.01:.8f}", f"{(i % 89 + 1) / 1000:.8f}"] for i in range(2500)]

    def book() -> L2Book:
        b = L2Book()
        b.replace(bids, asks)
        b.top_fixed(50)  # what a view read leaves memoised
        return b

    rows: list[dict[str, Any]] = []
    book_bytes = _held(book)
    rows.append(
        {"name": "memory.cex_book_5000_levels", "value": float(book_bytes), "unit": "bytes",
         "target": "reference", "better": "lower",
         "note": "L2Book of 2,500 bids + 2,500 asks from venue strings, top 50 read as integers"}
    )  # fmt: skip
    files = sorted(FIXTURE_POOL.glob("ta_*.json"))
    if not files:
        return rows
    raws = [base64.b64decode(json.loads(p.read_text())["data_b64"]) for p in files]
    arrays_bytes = _held(lambda: [decode_tick_array(raws[i % len(raws)]) for i in range(30)])
    rows += [
        {"name": "memory.clmm_30_tick_arrays", "value": float(arrays_bytes), "unit": "bytes",
         "target": "reference", "better": "lower",
         "note": f"{TICK_ARRAYS} decoded Orca tick arrays (the {len(raws)} recorded fixture "
         "arrays decoded again until 30 are held)"},
        {"name": "memory.per_market_book_plus_30_arrays", "value": float(book_bytes + arrays_bytes),
         "unit": "bytes", "target": "reported", "better": "lower",
         "note": "issue 16's 'memory per market': a 5k-level book + 30 tick arrays"},
    ]  # fmt: skip
    return rows
