"""Phoenix v1 `Swap` instruction builder (sans-I/O): decoded market + IOC order -> Instruction.

Facts (Ellipsis-Labs/phoenix-v1 `src/program/instruction.rs`, `processor/new_order.rs`,
`state/order_schema/order_packet.rs`; the published `@ellipsis-labs/phoenix-sdk`
`createSwapInstruction` builds the same bytes, see tests/unit/test_dex_swap_oracle.py):

    accounts: phoenix program, log authority (PDA ["log"]), market (w), trader (signer),
      base account (w), quote account (w), base vault (w), quote vault (w), token program
    data: instruction tag u8 = 0 (Swap), then the Borsh `OrderPacket` enum: tag u8 = 2
      (ImmediateOrCancel) {side u8 (0 bid, 1 ask), price_in_ticks Option<u64>, num_base_lots
      u64, num_quote_lots u64, min_base_lots_to_fill u64, min_quote_lots_to_fill u64,
      self_trade_behavior u8 (0 abort, 1 cancel-provide, 2 decrement-take), match_limit
      Option<u64>, client_order_id u128, use_only_deposited_funds bool, last_valid_slot
      Option<u64>, last_valid_unix_timestamp_in_seconds Option<u64>} (Option = tag u8 + value)

A `Swap` needs no seat: it fills immediately or not at all and settles through the trader's token
accounts. A buy is sized in quote lots (`num_quote_lots`, `num_base_lots` 0), a sell in base lots;
the min-fill fields are the slippage limit the program enforces.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from connectors.solana.program_errors import PHOENIX_ERRORS
from connectors.solana.programs import TOKEN_PROGRAM_ID, meta
from connectors.solana.swap_plan import (
    SwapPlan,
    SwapRequest,
    ceil_div,
    classic_token_accounts,
    input_is_first_mint,
    owner_token_account,
    require_market,
    require_uint,
)
from operators.clob import PhoenixMarket
from operators.errors import ExecutionError

__all__ = [
    "PHOENIX_PROGRAM_ID",
    "SWAP_ERRORS",
    "PhoenixIoc",
    "SelfTradeBehavior",
    "log_authority",
    "plan_swap",
    "swap_instruction",
]

PHOENIX_PROGRAM_ID = "PhoeNiXZ8ByJGLkxNfZRnkUfjvmuYqLR89jjFHGqdXY"
_PROGRAM = Pubkey.from_string(PHOENIX_PROGRAM_ID)
_SWAP_TAG = 0
_IOC_TAG = 2
_U64_MAX = (1 << 64) - 1
_U128_MAX = (1 << 128) - 1


class SelfTradeBehavior(IntEnum):
    """What the program does when our order meets our own resting order."""

    ABORT = 0
    CANCEL_PROVIDE = 1
    DECREMENT_TAKE = 2


@lru_cache(maxsize=1)
def log_authority() -> Pubkey:
    """The program's log authority PDA ["log"]."""
    return Pubkey.find_program_address([b"log"], _PROGRAM)[0]


@dataclass(frozen=True, slots=True)
class PhoenixIoc:
    """An ImmediateOrCancel order packet, all sizes in lots, price in ticks (None: no limit)."""

    side: str  # "bid" | "ask"
    num_base_lots: int
    num_quote_lots: int
    min_base_lots_to_fill: int
    min_quote_lots_to_fill: int
    price_in_ticks: int | None = None
    self_trade_behavior: SelfTradeBehavior = SelfTradeBehavior.CANCEL_PROVIDE
    match_limit: int | None = None
    client_order_id: int = 0
    use_only_deposited_funds: bool = False
    last_valid_slot: int | None = None
    last_valid_unix_timestamp_in_seconds: int | None = None

    def encode(self) -> bytes:
        """The Borsh `OrderPacket::ImmediateOrCancel` bytes."""
        if self.side not in ("bid", "ask"):
            raise ExecutionError(f"Swap side {self.side!r} is not bid|ask", retryable=False)
        for name in (
            "num_base_lots",
            "num_quote_lots",
            "min_base_lots_to_fill",
            "min_quote_lots_to_fill",
        ):
            _u64(getattr(self, name), name)
        if not 0 <= self.client_order_id <= _U128_MAX:
            raise ExecutionError("Swap client_order_id does not fit u128", retryable=False)
        return b"".join(
            (
                struct.pack("<BB", _IOC_TAG, 0 if self.side == "bid" else 1),
                _option(self.price_in_ticks, "price_in_ticks"),
                struct.pack(
                    "<QQQQB",
                    self.num_base_lots,
                    self.num_quote_lots,
                    self.min_base_lots_to_fill,
                    self.min_quote_lots_to_fill,
                    int(self.self_trade_behavior),
                ),
                _option(self.match_limit, "match_limit"),
                struct.pack(
                    "<QQ?",
                    self.client_order_id & _U64_MAX,
                    self.client_order_id >> 64,
                    self.use_only_deposited_funds,
                ),
                _option(self.last_valid_slot, "last_valid_slot"),
                _option(
                    self.last_valid_unix_timestamp_in_seconds,
                    "last_valid_unix_timestamp_in_seconds",
                ),
            )
        )


def _u64(value: int, name: str) -> None:
    require_uint(value, 64, name, instruction="Swap")


def _option(value: int | None, name: str) -> bytes:
    if value is None:
        return b"\x00"
    _u64(value, name)
    return struct.pack("<BQ", 1, value)


def swap_instruction(
    market_address: str,
    market: PhoenixMarket,
    trader: str,
    order: PhoenixIoc,
    *,
    base_account: str = "",
    quote_account: str = "",
) -> Instruction:
    """Phoenix `Swap` with an IOC packet; token accounts default to the trader's ATAs."""
    base = owner_token_account(base_account, trader, market.base_mint, "base_account")
    quote = owner_token_account(quote_account, trader, market.quote_mint, "quote_account")
    accounts = [
        AccountMeta(_PROGRAM, False, False),
        AccountMeta(log_authority(), False, False),
        meta(market_address, writable=True),
        meta(trader, signer=True),
        AccountMeta(base, False, True),
        AccountMeta(quote, False, True),
        meta(market.base_vault, writable=True),
        meta(market.quote_vault, writable=True),
        AccountMeta(TOKEN_PROGRAM_ID, False, False),
    ]
    return Instruction(_PROGRAM, bytes([_SWAP_TAG]) + order.encode(), accounts)


def plan_swap(req: SwapRequest) -> SwapPlan:
    """The `Swap` of an exact-in request: a sell in base lots, a buy in quote lots.

    The minimum fill carries the request's minimum output, rounded up to whole lots. The
    program compares an ask's `min_quote_lots_to_fill` with the quote lots it pays out, which
    are net of the taker fee (phoenix-v1 `fifo.rs`: a sell's matched quote lots less
    `quote_lot_fees`), so the limit needs no fee adjustment.
    """
    market = require_market(req, PhoenixMarket, "phoenix")
    if not req.exact_in:
        raise ExecutionError(
            "Phoenix Swap legs are exact-in (IOC in base lots or quote lots)",
            retryable=False,
            venue="phoenix",
        )
    sell = input_is_first_mint(req, market.base_mint, market.quote_mint, "phoenix")
    if sell:
        order = PhoenixIoc(
            side="ask",
            num_base_lots=req.amount // market.base_lot_size,
            num_quote_lots=0,
            min_base_lots_to_fill=0,
            min_quote_lots_to_fill=ceil_div(req.limit, market.quote_lot_size),
            match_limit=req.match_limit,
        )
    else:
        order = PhoenixIoc(
            side="bid",
            num_base_lots=0,
            num_quote_lots=req.amount // market.quote_lot_size,
            min_base_lots_to_fill=ceil_div(req.limit, market.base_lot_size),
            min_quote_lots_to_fill=0,
            match_limit=req.match_limit,
        )
    if order.num_base_lots == 0 and order.num_quote_lots == 0:
        raise ExecutionError(
            f"amount {req.amount} is less than one lot", retryable=False, venue="phoenix"
        )
    ix = swap_instruction(req.market_address, market, req.owner, order)
    accounts = classic_token_accounts(
        (ix.accounts[4].pubkey, market.base_mint), (ix.accounts[5].pubkey, market.quote_mint)
    )
    limits = {
        "min_base_lots_to_fill": order.min_base_lots_to_fill,
        "min_quote_lots_to_fill": order.min_quote_lots_to_fill,
    }
    return SwapPlan(ix, limits, accounts)


SWAP_ERRORS: Mapping[int, str] = PHOENIX_ERRORS
"""Custom error number -> the program's error name (its whole enum: `program_errors`)."""
