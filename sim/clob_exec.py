"""CLOB swap execution for the RPC stand-in: Phoenix `Swap` (IOC) and OpenBook v2
`place_take_order`, matched against the book the stand-in holds.

Matching follows the programs' rules as far as they are read from their sources: best price
first, FIFO within a price, the limit price, the match limit (number of maker orders), the
minimum fills (Phoenix: a sell's quote lots counted after the taker fee; a shortfall voids the
order, `NewOrderError` 15) and fill-or-kill (OpenBook: any base lot left is
`WouldExecutePartially` 6043). Quote amounts and taker fees use the same conversions as
`operators/clob` (Phoenix: fee in whole quote lots rounded up; OpenBook: fee in quote base units
rounded up); a Phoenix buy takes whole base lots while the quote lots plus fee fit its budget,
an OpenBook buy while quote plus fee fit `max_quote_lots_including_fees`. Makers' funds and the
event heap are not modelled; the book and the taker's token accounts are.

Books are rewritten with the project's encoders, so only synthetic markets (built by
`connectors.solana.phoenix.encode_market` / `openbook.encode_book_side`) can be traded here.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING

from solders.pubkey import Pubkey

from connectors.solana import openbook as ob_codec
from connectors.solana import phoenix as ph_codec
from connectors.solana.openbook_take import OPENBOOK_PROGRAM_ID
from connectors.solana.phoenix_swap import PHOENIX_PROGRAM_ID
from connectors.solana.program_errors import ANCHOR_ERRORS, OPENBOOK_ERRORS, PHOENIX_ERRORS
from operators.clob import BookSide, OpenBookLeaf, PhoenixMarket, PhoenixOrder

if TYPE_CHECKING:
    from sim.dex_exec import _Overlay

__all__ = ["CLOB_HANDLERS"]

_U64 = (1 << 64) - 1
_CU_PER_MAKER = 6_000
_CU_BASE = 30_000
# the vault keys `phoenix.encode_market` writes: a market re-encoded here must keep them
_PHOENIX_SYNTHETIC_VAULTS = (
    str(Pubkey.from_bytes(bytes([3]) * 32)),
    str(Pubkey.from_bytes(bytes([4]) * 32)),
)


def _fail(table: Mapping[int, str], index: int, name: str, detail: str) -> Exception:
    from sim.dex_exec import ProgramError  # the executor imports this module: import late

    return ProgramError.named(table, index, name, detail)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# ---------------------------------------------------------------------------------- Phoenix


class _Reader:
    def __init__(self, data: bytes, at: int) -> None:
        self.data = data
        self.at = at

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return int(value)

    def option(self) -> int | None:
        return self.take("<Q") if self.take("<B") else None


def _phoenix_orders(market: PhoenixMarket, bids: bool) -> list[PhoenixOrder]:
    orders = market.bid_orders if bids else market.ask_orders
    # book order: best price first, then FIFO (bid sequence numbers are stored bit-inverted)
    if bids:
        return sorted(orders, key=lambda o: (-o.price_in_ticks, o.order_sequence_number ^ _U64))
    return sorted(orders, key=lambda o: (o.price_in_ticks, o.order_sequence_number))


def _phoenix_swap(ov: _Overlay, index: int, keys: list[str], data: bytes) -> int:
    r = _Reader(data, 1)
    if r.take("<B") != 2:
        raise _fail(
            PHOENIX_ERRORS, index, "NewOrderError", "Swap takes an ImmediateOrCancel packet only"
        )
    sell = r.take("<B") == 1
    price = r.option()
    num_base_lots, num_quote_lots = r.take("<Q"), r.take("<Q")
    min_base, min_quote = r.take("<Q"), r.take("<Q")
    r.take("<B")  # self-trade behaviour: a Swap has no seat, so it never meets its own orders
    match_limit = r.option()
    market_key = keys[2]
    market_acc = ov.get(market_key)
    if market_acc is None:
        raise _fail(PHOENIX_ERRORS, index, "MarketUninitialized", market_key)
    market = ph_codec.decode_market(bytes(market_acc.data))
    if (market.base_vault, market.quote_vault) != _PHOENIX_SYNTHETIC_VAULTS:
        raise _fail(
            PHOENIX_ERRORS,
            index,
            "FailedToLoadMarketFromAccount",
            "stand-in trades synthetic markets",
        )
    tick_ql = market.tick_size_in_quote_lots_per_base_unit
    blpbu = market.base_lots_per_base_unit
    bps = market.taker_fee_bps
    book = _phoenix_orders(market, bids=sell)
    limit = match_limit if match_limit is not None else _U64
    if price is None:
        price = 0 if sell else _U64
    filled_base, adjusted, used = 0, 0, 0  # adjusted: quote lots x base_lots_per_base_unit
    kept: list[PhoenixOrder] = []
    for order in book:
        crosses = order.price_in_ticks >= price if sell else order.price_in_ticks <= price
        if used >= limit or not crosses:
            kept.append(order)
            continue
        per_lot = order.price_in_ticks * tick_ql
        if sell:
            take = min(order.num_base_lots, num_base_lots - filled_base)
        else:
            take = 0
            lo, hi = 0, order.num_base_lots
            while lo <= hi:  # most whole lots whose quote lots plus fee fit the budget
                mid = (lo + hi) // 2
                quote = (adjusted + mid * per_lot) // blpbu
                if quote + _ceil_div(quote * bps, 10_000) <= num_quote_lots:
                    take, lo = mid, mid + 1
                else:
                    hi = mid - 1
        if take <= 0:
            kept.append(order)
            continue
        used += 1
        filled_base += take
        adjusted += take * per_lot
        if take < order.num_base_lots:
            kept.append(order._replace(num_base_lots=order.num_base_lots - take))
    quote_lots = adjusted // blpbu
    fee_lots = _ceil_div(quote_lots * bps, 10_000)
    quote_counted = quote_lots - fee_lots if sell else quote_lots + fee_lots
    if filled_base < min_base or quote_counted < min_quote:
        raise _fail(
            PHOENIX_ERRORS,
            index,
            "NewOrderError",
            f"IOC minimum fill not met: {filled_base} base lots, {quote_counted} quote lots",
        )
    rest = list(market.ask_orders if sell else market.bid_orders)
    bids, asks = (kept, rest) if sell else (rest, kept)
    raw = ph_codec.encode_market(
        bids=bids,
        asks=asks,
        bids_size=market.bids_size,
        asks_size=market.asks_size,
        num_seats=market.num_seats,
        base_lot_size=market.base_lot_size,
        quote_lot_size=market.quote_lot_size,
        tick_size_in_quote_lots_per_base_unit=tick_ql,
        base_lots_per_base_unit=blpbu,
        taker_fee_bps=bps,
        status=market.status,
        base_decimals=market.base_decimals,
        quote_decimals=market.quote_decimals,
        base_mint=bytes(Pubkey.from_string(market.base_mint)),
        quote_mint=bytes(Pubkey.from_string(market.quote_mint)),
        market_sequence_number=market.market_sequence_number + 1,
        order_sequence_number=market.order_sequence_number,
        raw_base_units_per_base_unit=market.raw_base_units_per_base_unit,
    )
    ov.put(market_key, market_acc, raw)
    base_units = filled_base * market.base_lot_size
    quote_units = quote_counted * market.quote_lot_size
    trader_base, trader_quote, base_vault, quote_vault = keys[4], keys[5], keys[6], keys[7]
    if sell:
        ov.move_tokens(index, trader_base, base_vault, base_units)
        ov.move_tokens(index, quote_vault, trader_quote, quote_units)
    else:
        ov.move_tokens(index, trader_quote, quote_vault, quote_units)
        ov.move_tokens(index, base_vault, trader_base, base_units)
    return _CU_BASE + _CU_PER_MAKER * used


# --------------------------------------------------------------------------------- OpenBook


def _openbook_take(ov: _Overlay, index: int, keys: list[str], data: bytes) -> int:
    side, price, max_base, max_quote, order_type, limit = struct.unpack_from("<BqqqBB", data, 8)
    sell = side == 1
    market_key, bids_key, asks_key = keys[2], keys[4], keys[5]
    market = ob_codec.decode_market(ov.data(market_key, index, "market"))
    book_key = bids_key if sell else asks_key
    book_acc = ov.get(book_key)
    if book_acc is None:
        raise _fail(ANCHOR_ERRORS, index, "AccountNotInitialized", book_key)
    book: BookSide = ob_codec.decode_book_side(bytes(book_acc.data))
    fee_ppm = market.taker_fee
    # a bid's budget includes the taker fee: match against what is left without it
    budget_lots = max_quote if sell else max_quote * 1_000_000 // (1_000_000 + fee_ppm)
    remaining_base, quote_lots, used = max_base, 0, 0
    kept: list[OpenBookLeaf] = []
    for leaf in book.fixed:  # best first
        at = leaf.price_data
        crosses = at >= price if sell else at <= price
        if used >= limit or remaining_base <= 0 or not crosses:
            kept.append(leaf)
            continue
        take = min(leaf.quantity, remaining_base)
        if not sell:
            take = min(take, (budget_lots - quote_lots) // at)
        if take <= 0:
            kept.append(leaf)
            continue
        used += 1
        remaining_base -= take
        quote_lots += take * at
        if take < leaf.quantity:
            kept.append(leaf._replace(quantity=leaf.quantity - take))
    if order_type == 5 and remaining_base > 0:
        raise _fail(
            OPENBOOK_ERRORS, index, "WouldExecutePartially", f"{remaining_base} base lots unfilled"
        )
    filled = max_base - remaining_base
    quote_native = quote_lots * market.quote_lot_size
    fee = _ceil_div(quote_native * fee_ppm, 1_000_000)
    raw = ob_codec.encode_book_side(book.side, kept, book.oracle_pegged)
    ov.put(book_key, book_acc, raw)
    user_base, user_quote = keys[9], keys[10]
    base_vault, quote_vault = keys[6], keys[7]
    base_native = filled * market.base_lot_size
    if sell:
        ov.move_tokens(index, user_base, base_vault, base_native)
        ov.move_tokens(index, quote_vault, user_quote, quote_native - fee)
    else:
        ov.move_tokens(index, user_quote, quote_vault, quote_native + fee)
        ov.move_tokens(index, base_vault, user_base, base_native)
    return _CU_BASE + _CU_PER_MAKER * used


CLOB_HANDLERS = {PHOENIX_PROGRAM_ID: _phoenix_swap, OPENBOOK_PROGRAM_ID: _openbook_take}
"""Program id -> handler, registered by `sim.dex_exec.SwapExecutor`."""
