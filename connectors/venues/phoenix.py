"""Phoenix v1: one market account holds the whole book (header, ladders, seats).

Decoder: connectors/solana/phoenix.py. Nothing else to watch.
"""

from __future__ import annotations

import struct
from typing import Any

from connectors.solana import phoenix as codec
from connectors.solana import phoenix_swap
from connectors.venues.base import AccountDecoder, DexAdapter, base_quote_tokens
from operators.errors import DecodeError

PROGRAM_ID = phoenix_swap.PHOENIX_PROGRAM_ID


def _check_market(market: Any) -> None:
    if market.base_lot_size <= 0 or market.base_lots_per_base_unit <= 0:
        raise DecodeError(
            f"lot sizes not initialised (base_lot_size {market.base_lot_size}, "
            f"base_lots_per_base_unit {market.base_lots_per_base_unit})"
        )


PHOENIX = DexAdapter(
    id="phoenix",
    kind="clob",
    program_id=PROGRAM_ID,
    decoders={
        struct.pack("<Q", codec.MARKET_DISCRIMINANT): AccountDecoder("market", codec.decode_market)
    },
    decode_main=codec.decode_market,
    check_market=_check_market,
    tokens=base_quote_tokens,
    plan_swap=phoenix_swap.plan_swap,
)
