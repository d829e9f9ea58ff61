"""OpenBook v2: a market account plus its two BookSide accounts (bids, asks).

Decoders: connectors/solana/openbook.py. The market names its `bids` / `asks` accounts, so the
live feed reads the market first and then watches both sides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from connectors.solana import openbook as codec
from connectors.solana import openbook_take
from connectors.solana.swap_plan import SwapRequest
from connectors.venues.base import AccountDecoder, DexAdapter, base_quote_tokens
from operators.errors import DecodeError, ExecutionError

PROGRAM_ID = openbook_take.OPENBOOK_PROGRAM_ID


def _check_market(market: Any) -> None:
    if market.base_lot_size <= 0 or market.quote_lot_size <= 0:
        raise DecodeError(
            f"lot sizes must be positive (base {market.base_lot_size}, "
            f"quote {market.quote_lot_size})"
        )


def _wanted(_address: str, market: Any, _derive: bool) -> list[str]:
    return [str(market.bids), str(market.asks)]


def _complete_swap(req: SwapRequest, accounts: Mapping[str, Any]) -> SwapRequest:
    """The book side the leg takes from (a sell hits the bids, a buy lifts the asks): its
    makers' open-orders accounts settle in the same instruction."""
    market = req.market
    sell = req.input_mint == str(market.base_mint)
    key = str(market.bids if sell else market.asks)
    side = accounts.get(key)
    if side is None:
        raise ExecutionError(f"{req.market_address}: book side {key} not fetched",
                             retryable=True, venue="openbook")  # fmt: skip
    return replace(req, book_side=side)


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
    complete_swap=_complete_swap,
)
