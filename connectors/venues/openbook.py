"""OpenBook v2: a market account plus its two BookSide accounts (bids, asks).

Decoders: connectors/solana/openbook.py. The market names its `bids` / `asks` accounts, so the
live feed reads the market first and then watches both sides.
"""

from __future__ import annotations

from typing import Any

from connectors.solana import openbook as codec
from connectors.solana import openbook_take
from connectors.venues.base import AccountDecoder, DexAdapter, base_quote_tokens
from operators.errors import DecodeError

PROGRAM_ID = openbook_take.OPENBOOK_PROGRAM_ID


def _check_market(market: Any) -> None:
    if market.base_lot_size <= 0 or market.quote_lot_size <= 0:
        raise DecodeError(
            f"lot sizes must be positive (base {market.base_lot_size}, "
            f"quote {market.quote_lot_size})"
        )


def _wanted(_address: str, market: Any, _derive: bool) -> list[str]:
    return [str(market.bids), str(market.asks)]


OPENBOOK = DexAdapter(
    id="openbook",
    kind="clob",
    program_id=PROGRAM_ID,
    decoders={
        codec.MARKET_DISCRIMINATOR: AccountDecoder("market", codec.decode_market),
        codec.BOOK_SIDE_DISCRIMINATOR: AccountDecoder("book_side", codec.decode_book_side),
    },
    decode_main=codec.decode_market,
    wanted_accounts=_wanted,
    watch_main=lambda _derive: True,
    check_market=_check_market,
    tokens=base_quote_tokens,
    plan_swap=openbook_take.plan_swap,
)
