"""OpenBook v2 `place_take_order` instruction builder (sans-I/O): market + order -> Instruction.

Facts (openbook-dex/openbook-v2 `programs/openbook-v2/src/instructions/place_take_order.rs`,
`accounts_ix/place_take_order.rs`, the IDL; the published `@openbook-dex/openbook-v2`
`OpenBookV2Client.placeTakeOrderIx` builds the same bytes, see tests/unit/test_dex_swap_oracle.py):

    accounts: signer (signer, w), penalty_payer (signer, w), market (w), market_authority,
      bids (w), asks (w), market_base_vault (w), market_quote_vault (w), event_heap (w),
      user_base_account (w), user_quote_account (w), oracle_a, oracle_b (the market's keys,
      the zero key when unset), token_program, system_program, open_orders_admin? (signer;
      when absent the program id itself, Anchor's convention for a missing optional); then
      remaining accounts (w): the makers' OpenOrders accounts, so their fills settle at once
      instead of waiting in the event heap
    data: sha256("global:place_take_order")[:8], side u8 (0 bid, 1 ask), price_lots i64,
      max_base_lots i64, max_quote_lots_including_fees i64, order_type u8 (1 IOC, 3 market,
      5 fill-or-kill), limit u8 (max maker orders to match)
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from connectors.solana.keys import b58
from connectors.solana.program_errors import OPENBOOK_ERRORS
from connectors.solana.programs import (
    SYSTEM_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    anchor_ix_discriminator,
    meta,
)
from connectors.solana.swap_plan import (
    SwapPlan,
    SwapRequest,
    ceil_div,
    classic_token_accounts,
    input_is_first_mint,
    owner_token_account,
    require_market,
)
from operators.clob import BookSide, OpenBookMarket
from operators.errors import ExecutionError

__all__ = [
    "OPENBOOK_PROGRAM_ID",
    "SWAP_ERRORS",
    "OpenBookTake",
    "TakeOrderType",
    "maker_open_orders",
    "place_take_order_instruction",
    "plan_swap",
]

OPENBOOK_PROGRAM_ID = "opnb2LAfJYbRMAHHvqjCwQxanZn7ReEHp1k81EohpZb"
_PROGRAM = Pubkey.from_string(OPENBOOK_PROGRAM_ID)
_DISC = anchor_ix_discriminator("place_take_order")
_ARGS = struct.Struct("<BqqqBB")
_I64_MAX = (1 << 63) - 1
_FEE_UNIT = 1_000_000  # taker_fee is in millionths
_ABSENT = AccountMeta(_PROGRAM, is_signer=False, is_writable=False)


class TakeOrderType(IntEnum):
    """`PlaceOrderType` values a taker order may use."""

    IMMEDIATE_OR_CANCEL = 1
    MARKET = 3
    FILL_OR_KILL = 5


@dataclass(frozen=True, slots=True)
class OpenBookTake:
    """A taker order: side `bid`|`ask`, limit price and maxima in lots, match limit."""

    side: str
    price_lots: int
    max_base_lots: int
    max_quote_lots_including_fees: int
    order_type: TakeOrderType = TakeOrderType.IMMEDIATE_OR_CANCEL
    limit: int = 16

    def encode(self) -> bytes:
        """The instruction data (discriminator + PlaceTakeOrderArgs)."""
        if self.side not in ("bid", "ask"):
            raise ExecutionError(
                f"place_take_order side {self.side!r} is not bid|ask", retryable=False
            )
        for name in ("price_lots", "max_base_lots", "max_quote_lots_including_fees"):
            value = getattr(self, name)
            if not 1 <= value <= _I64_MAX:
                raise ExecutionError(
                    f"place_take_order {name} {value} must be in [1, i64 max]", retryable=False
                )
        if not 0 <= self.limit <= 255:
            raise ExecutionError(
                f"place_take_order limit {self.limit} is not a u8", retryable=False
            )
        return _DISC + _ARGS.pack(
            0 if self.side == "bid" else 1,
            self.price_lots,
            self.max_base_lots,
            self.max_quote_lots_including_fees,
            int(self.order_type),
            self.limit,
        )


def maker_open_orders(
    book: BookSide, take: OpenBookTake, *, now_ts: int | None = None, max_accounts: int = 8
) -> list[str]:
    """OpenOrders accounts of the fixed-price makers the order would meet, best first, distinct.

    Walks the opposite side up to `max_base_lots` and `limit` orders within the limit price;
    expired orders are skipped as the program removes them without filling.
    """
    taking_bids = take.side == "ask"
    remaining = take.max_base_lots
    owners: list[str] = []
    for matched, leaf in enumerate(book.fixed):
        if remaining <= 0 or matched >= take.limit or len(owners) >= max_accounts:
            break
        if now_ts is not None and leaf.is_expired(now_ts):
            continue
        price = leaf.price_data
        if (price < take.price_lots) if taking_bids else (price > take.price_lots):
            break
        owner = b58(leaf.owner)
        if owner not in owners:
            owners.append(owner)
        remaining -= leaf.quantity
    return owners


def place_take_order_instruction(
    market_address: str,
    market: OpenBookMarket,
    owner: str,
    take: OpenBookTake,
    *,
    user_base_account: str = "",
    user_quote_account: str = "",
    makers: Sequence[str] = (),
    open_orders_admin: str | None = None,
) -> Instruction:
    """`place_take_order` for `owner` (signer and penalty payer); ATAs unless accounts given."""
    base = owner_token_account(user_base_account, owner, market.base_mint, "user_base_account")
    quote = owner_token_account(user_quote_account, owner, market.quote_mint, "user_quote_account")
    accounts = [
        meta(owner, signer=True, writable=True),
        meta(owner, signer=True, writable=True),
        meta(market_address, writable=True),
        meta(market.market_authority),
        meta(market.bids, writable=True),
        meta(market.asks, writable=True),
        meta(market.market_base_vault, writable=True),
        meta(market.market_quote_vault, writable=True),
        meta(market.event_heap, writable=True),
        AccountMeta(base, False, True),
        AccountMeta(quote, False, True),
        # the market stores an unset oracle as the zero key and the SDK passes it as such
        meta(market.oracle_a or SYSTEM_PROGRAM_ID),
        meta(market.oracle_b or SYSTEM_PROGRAM_ID),
        AccountMeta(TOKEN_PROGRAM_ID, False, False),
        AccountMeta(SYSTEM_PROGRAM_ID, False, False),
        meta(open_orders_admin, signer=True) if open_orders_admin else _ABSENT,
        *(meta(m, writable=True) for m in makers),
    ]
    return Instruction(_PROGRAM, take.encode(), accounts)


def plan_swap(req: SwapRequest) -> SwapPlan:
    """The fill-or-kill `place_take_order` of a request, sized in base lots.

    A buy is exact-out (base out) within a quote budget including fees: it fills completely
    within the budget or fails, so the maximum input holds exactly. A sell is exact-in (base in)
    and the program's only bound is a per-lot limit price: the price at which every lot filling
    there still pays the minimum out after the taker fee, but never above the quote's worst level
    (`worst_price`), since a stricter floor would refuse the very book the quote walked.
    """
    market = require_market(req, OpenBookMarket, "openbook")
    sell = input_is_first_mint(req, market.base_mint, market.quote_mint, "openbook")
    if sell != req.exact_in:
        raise ExecutionError(
            "OpenBook take legs are sized in base: a sell is exact-in, a buy exact-out",
            retryable=False,
            venue="openbook",
        )
    base_lots = req.amount // market.base_lot_size
    if base_lots <= 0:
        raise ExecutionError(
            f"amount {req.amount} is less than one base lot", retryable=False, venue="openbook"
        )
    if sell:
        # fee rounding may take one more unit than the exact rate: ask for it
        gross = ceil_div(req.limit * _FEE_UNIT, _FEE_UNIT - market.taker_fee) + 1
        price = ceil_div(gross, base_lots * market.quote_lot_size)
        if req.worst_price is not None:
            price = min(price, req.worst_price)
        take = OpenBookTake(
            side="ask",
            price_lots=max(1, price),
            max_base_lots=base_lots,
            max_quote_lots_including_fees=_I64_MAX,
            order_type=TakeOrderType.FILL_OR_KILL,
        )
    else:
        budget = req.limit // market.quote_lot_size
        if budget <= 0:
            raise ExecutionError(
                f"maximum input {req.limit} is less than one quote lot",
                retryable=False,
                venue="openbook",
            )
        # the budget binds the spend; no single lot can cost more than all of it
        take = OpenBookTake(
            side="bid",
            price_lots=min(budget, _I64_MAX),
            max_base_lots=base_lots,
            max_quote_lots_including_fees=min(budget, _I64_MAX),
            order_type=TakeOrderType.FILL_OR_KILL,
        )
    makers = maker_open_orders(req.book_side, take) if isinstance(req.book_side, BookSide) else []
    ix = place_take_order_instruction(req.market_address, market, req.owner, take, makers=makers)
    accounts = classic_token_accounts(
        (ix.accounts[9].pubkey, market.base_mint), (ix.accounts[10].pubkey, market.quote_mint)
    )
    limits = {
        "price_lots": take.price_lots,
        "max_base_lots": take.max_base_lots,
        "max_quote_lots_including_fees": take.max_quote_lots_including_fees,
    }
    return SwapPlan(ix, limits, accounts)


SWAP_ERRORS: Mapping[int, str] = OPENBOOK_ERRORS
"""Custom error number -> the program's error name (its whole enum: `program_errors`)."""
