"""Phoenix v1 market account decoder (sans-I/O): raw account bytes -> `PhoenixMarket`.

Layout (facts from Ellipsis-Labs/phoenix-v1 `src/program/accounts.rs`, `src/state/markets/
fifo.rs` and the sokoban red-black tree / node allocator; all little-endian, `repr(C)`):

    0    MarketHeader (576 B): discriminant u64, status u64, MarketSizeParams {bids_size,
         asks_size, num_seats} u64 x3, base TokenParams {decimals u32, vault_bump u32, mint,
         vault} (72 B), base_lot_size u64, quote TokenParams (72 B), quote_lot_size u64,
         tick_size_in_quote_atoms_per_base_unit u64, authority, fee_recipient,
         market_sequence_number u64, successor, raw_base_units_per_base_unit u32, pad u32,
         pad [u64; 32]
    576  FIFOMarket: pad [u64; 32], base_lots_per_base_unit, tick_size_in_quote_lots_per_base_unit,
         order_sequence_number, taker_fee_bps, collected_quote_lot_fees,
         unclaimed_quote_lot_fees (u64 each), then the bids, asks and traders trees
    tree RedBlackTree: root u32, pad u32 x3, NodeAllocator {size u64, bump_index u32,
         free_list_head u32}, then MAX_SIZE nodes of {registers [u32; 4] (left, right, parent,
         color; register 0 is the free-list link of a freed node), key, value}, 1-indexed.
    order node (64 B): key FIFOOrderId {price_in_ticks u64, order_sequence_number u64 (bit-
         inverted for bids)}, value FIFORestingOrder {trader_index, num_base_lots,
         last_valid_slot, last_valid_unix_timestamp_in_seconds} (u64 each)
    trader node (144 B): key Pubkey, value TraderState (12 x u64)

Live orders are nodes 1..bump_index-1 that are not on the free list (the same rule the
Phoenix SDK uses); their count must equal the allocator's `size`.

PROVENANCE.md ("Not found"): no permissive source of real Phoenix account bytes exists in the
fixtures, so `encode_market` below builds synthetic accounts for tests and simulation only.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Sequence

from connectors.solana.keys import b58
from operators.clob import PhoenixMarket, PhoenixOrder, aggregate_levels
from operators.errors import DecodeError

__all__ = ["MARKET_DISCRIMINANT", "decode_market", "encode_market", "market_account_size"]

MARKET_DISCRIMINANT = 8167313896524341111
"""u64 LE at offset 0: keccak(program id ++ "phoenix::program::accounts::MarketHeader")[..8]."""

HEADER_SIZE = 576
FIFO_FIXED_SIZE = 256 + 6 * 8
TREE_HEADER_SIZE = 32
ORDER_NODE_SIZE = 16 + 16 + 32
TRADER_NODE_SIZE = 16 + 32 + 96
_BID_BIT = 1 << 63  # leading bit of a bid's (inverted) order sequence number

_HEADER = struct.Struct("<QQQQQII32s32sQII32s32sQQ32s32sQ32sI")
_FIFO = struct.Struct("<QQQQQQ")
_TREE = struct.Struct("<I12xQII")
_ORDER_BODY = struct.Struct("<16xQQQQQQ")  # registers skipped: key + value only
_FREE_LINK = struct.Struct("<I")
_HEADER_FIFO_OFFSET = HEADER_SIZE + 256

_ACCOUNT = "phoenix market"
MAX_TAKER_FEE_BPS = 10_000
"""A taker fee above 100% of the notional cannot be charged: no market is made with one."""


def market_account_size(bids_size: int, asks_size: int, num_seats: int) -> int:
    """Bytes of a Phoenix market account with these MarketSizeParams."""
    return (
        HEADER_SIZE
        + FIFO_FIXED_SIZE
        + TREE_HEADER_SIZE * 3
        + ORDER_NODE_SIZE * (bids_size + asks_size)
        + TRADER_NODE_SIZE * num_seats
    )


def _check_allocator(where: str, size: int, bump_index: int, free_head: int, capacity: int) -> bool:
    """Bounds of one tree's node allocator, checked before any walk; False: never initialised."""
    if bump_index == 0 and free_head == 0 and size == 0:
        return False  # never initialised (all zeroes)
    if not 1 <= bump_index <= capacity + 1:
        raise DecodeError(
            f"{where}: bump_index {bump_index} outside 1..{capacity + 1}", account=_ACCOUNT
        )
    if size > bump_index - 1:
        raise DecodeError(
            f"{where}: allocator size {size} > {bump_index - 1} nodes ever allocated "
            f"(capacity {capacity})",
            account=_ACCOUNT,
        )
    return True


def _decode_orders(data: bytes, offset: int, capacity: int, side: str) -> tuple[PhoenixOrder, ...]:
    """Live orders of one order tree at `offset` (capacity `capacity` nodes)."""
    root, size, bump_index, free_head = _TREE.unpack_from(data, offset)
    where = f"{side} tree"
    if not _check_allocator(where, size, bump_index, free_head, capacity):
        return ()
    used = bump_index - 1
    nodes_at = offset + TREE_HEADER_SIZE
    free: set[int] = set()
    head = free_head
    while head != bump_index:
        if not 1 <= head < bump_index or head in free:
            raise DecodeError(f"{where}: corrupt free list at node {head}", account=_ACCOUNT)
        free.add(head)
        head = _FREE_LINK.unpack_from(data, nodes_at + (head - 1) * ORDER_NODE_SIZE)[0]
    if used - len(free) != size:
        raise DecodeError(
            f"{where}: {used - len(free)} live nodes but allocator size is {size}",
            account=_ACCOUNT,
        )
    if (size == 0) != (root == 0):
        raise DecodeError(f"{where}: root {root} inconsistent with size {size}", account=_ACCOUNT)
    make = PhoenixOrder._make
    body = _ORDER_BODY.iter_unpack(data[nodes_at : nodes_at + used * ORDER_NODE_SIZE])
    if free:
        orders = [make(row) for i, row in enumerate(body, start=1) if i not in free]
    else:
        orders = list(map(make, body))
    seqs = [o[1] for o in orders]
    # a bid's stored sequence number has its leading bit set, an ask's does not
    if seqs and (min(seqs) < _BID_BIT if side == "bids" else max(seqs) >= _BID_BIT):
        raise DecodeError(
            f"{where}: an order_sequence_number belongs to the other side", account=_ACCOUNT
        )
    if any(o[0] == 0 and o[3] for o in orders):  # (price_in_ticks, ..., num_base_lots)
        raise DecodeError(f"{where}: a resting order has price_in_ticks 0", account=_ACCOUNT)
    return tuple(orders)


def _check_params(h: tuple[int, ...], fifo: tuple[int, ...]) -> None:
    """Market parameters the program never initialises a market with."""
    base_lot_size, quote_lot_size, tick_atoms = h[9], h[14], h[15]
    blpbu, tick_qlpbu, fee_bps = fifo[0], fifo[1], fifo[3]
    if min(base_lot_size, quote_lot_size, blpbu, tick_qlpbu) <= 0:
        raise DecodeError(
            f"lot sizes not initialised (base_lot_size {base_lot_size}, quote_lot_size "
            f"{quote_lot_size}, base_lots_per_base_unit {blpbu}, "
            f"tick_size_in_quote_lots_per_base_unit {tick_qlpbu})",
            account=_ACCOUNT,
        )
    if tick_qlpbu % blpbu:
        raise DecodeError(
            f"field tick_size_in_quote_lots_per_base_unit {tick_qlpbu} is not a multiple of "
            f"base_lots_per_base_unit {blpbu}",
            account=_ACCOUNT,
        )
    if tick_atoms != tick_qlpbu * quote_lot_size:
        raise DecodeError(
            f"field tick_size_in_quote_atoms_per_base_unit {tick_atoms} != "
            f"tick_size_in_quote_lots_per_base_unit {tick_qlpbu} x quote_lot_size "
            f"{quote_lot_size}",
            account=_ACCOUNT,
        )
    if fee_bps > MAX_TAKER_FEE_BPS:
        raise DecodeError(
            f"field taker_fee_bps {fee_bps} > {MAX_TAKER_FEE_BPS} (over 100%)", account=_ACCOUNT
        )


def decode_market(data: bytes) -> PhoenixMarket:
    """Decode a Phoenix market account; ladders in (price_in_ticks, size_in_base_lots)."""
    if len(data) < HEADER_SIZE + FIFO_FIXED_SIZE:
        raise DecodeError(f"{len(data)} bytes is shorter than a market header", account=_ACCOUNT)
    h = _HEADER.unpack_from(data, 0)
    if h[0] != MARKET_DISCRIMINANT:
        raise DecodeError(f"discriminant {h[0]} is not a MarketHeader", account=_ACCOUNT)
    bids_size, asks_size, num_seats = h[2], h[3], h[4]
    need = market_account_size(bids_size, asks_size, num_seats)
    if len(data) < need:
        raise DecodeError(
            f"{len(data)} bytes but market_size_params ({bids_size}, {asks_size}, {num_seats}) "
            f"need {need}",
            account=_ACCOUNT,
        )
    fifo = _FIFO.unpack_from(data, _HEADER_FIFO_OFFSET)
    blpbu, tick_qlpbu, seq, fee_bps, collected, unclaimed = fifo
    _check_params(h, fifo)
    bids_at = HEADER_SIZE + FIFO_FIXED_SIZE
    asks_at = bids_at + TREE_HEADER_SIZE + ORDER_NODE_SIZE * bids_size
    traders_at = asks_at + TREE_HEADER_SIZE + ORDER_NODE_SIZE * asks_size
    # the seats tree is not decoded, but a seat count beyond capacity is a corrupt account
    _, seats_size, seats_bump, seats_free = _TREE.unpack_from(data, traders_at)
    _check_allocator("traders tree", seats_size, seats_bump, seats_free, num_seats)
    bid_orders = _decode_orders(data, bids_at, bids_size, "bids")
    ask_orders = _decode_orders(data, asks_at, asks_size, "asks")
    bids = aggregate_levels(
        ((o.price_in_ticks, o.num_base_lots) for o in bid_orders if o.num_base_lots),
        descending=True,
    )
    asks = aggregate_levels(
        ((o.price_in_ticks, o.num_base_lots) for o in ask_orders if o.num_base_lots),
        descending=False,
    )
    # Matching removes every resting order an incoming order reaches (expired ones included),
    # so the program never leaves a crossed book.
    if bids and asks and bids[0][0] >= asks[0][0]:
        raise DecodeError(
            f"crossed book: best bid {bids[0][0]} >= best ask {asks[0][0]} (price_in_ticks)",
            account=_ACCOUNT,
        )
    return PhoenixMarket(
        discriminant=h[0],
        status=h[1],
        bids_size=bids_size,
        asks_size=asks_size,
        num_seats=num_seats,
        base_decimals=h[5],
        base_vault_bump=h[6],
        base_mint=b58(h[7]),
        base_vault=b58(h[8]),
        base_lot_size=h[9],
        quote_decimals=h[10],
        quote_vault_bump=h[11],
        quote_mint=b58(h[12]),
        quote_vault=b58(h[13]),
        quote_lot_size=h[14],
        tick_size_in_quote_atoms_per_base_unit=h[15],
        authority=b58(h[16]),
        fee_recipient=b58(h[17]),
        market_sequence_number=h[18],
        successor=b58(h[19]),
        raw_base_units_per_base_unit=h[20],
        base_lots_per_base_unit=blpbu,
        tick_size_in_quote_lots_per_base_unit=tick_qlpbu,
        order_sequence_number=seq,
        taker_fee_bps=fee_bps,
        collected_quote_lot_fees=collected,
        unclaimed_quote_lot_fees=unclaimed,
        bid_orders=bid_orders,
        ask_orders=ask_orders,
        bids=bids,
        asks=asks,
    )


# ------------------------------------------------------------------------- test/sim builder


def _fifo_sort_key(order: PhoenixOrder, bids: bool) -> tuple[int, int]:
    # FIFOOrderId's Ord: asks by (price, seq) ascending; bids by (price, seq) descending, where
    # the stored bid seq is bit-inverted so earlier bids still come first.
    if bids:
        return (-order.price_in_ticks, -order.order_sequence_number)
    return (order.price_in_ticks, order.order_sequence_number)


def _as_orders(
    orders: Sequence[PhoenixOrder | tuple[int, int]], bids: bool, first_seq: int
) -> list[PhoenixOrder]:
    out = []
    for i, o in enumerate(orders):
        if isinstance(o, PhoenixOrder):
            out.append(o)
            continue
        seq = first_seq + i
        out.append(PhoenixOrder(o[0], (~seq) & ((1 << 64) - 1) if bids else seq, 1, o[1]))
    return out


def _encode_tree(
    buf: bytearray,
    offset: int,
    capacity: int,
    orders: list[PhoenixOrder],
    bids: bool,
    num_free_nodes: int,
) -> None:
    """Write a valid sokoban red-black tree of `orders` (+ freed garbage nodes) at `offset`."""
    n = len(orders)
    if n + num_free_nodes > capacity:
        raise ValueError(f"{n} orders + {num_free_nodes} free nodes exceed capacity {capacity}")
    ordered = sorted(orders, key=lambda o: _fifo_sort_key(o, bids))
    # Freed nodes take even indices first so live and dead nodes interleave.
    total = n + num_free_nodes
    by_parity = [i for i in range(2, total + 1, 2)] + [i for i in range(1, total + 1, 2)]
    free_idx = by_parity[:num_free_nodes]
    free_set = set(free_idx)
    live_idx = [i for i in range(1, total + 1) if i not in free_set][:n]
    bump_index = total + 1
    regs: dict[int, list[int]] = {i: [0, 0, 0, 0] for i in range(1, total + 1)}
    depth: dict[int, int] = {}

    def build(lo: int, hi: int, parent: int, d: int) -> int:
        if lo > hi:
            return 0
        mid = (lo + hi) // 2
        idx = live_idx[mid]
        depth[idx] = d
        regs[idx][2] = parent
        regs[idx][0] = build(lo, mid - 1, idx, d + 1)
        regs[idx][1] = build(mid + 1, hi, idx, d + 1)
        return idx

    root = build(0, n - 1, 0, 0)
    if n:
        max_depth = max(depth.values())
        if n != (1 << (max_depth + 1)) - 1:  # not perfect: deepest level red keeps RB rules
            for idx, d in depth.items():
                regs[idx][3] = 1 if d == max_depth else 0
    chain = [*reversed(free_idx), bump_index]
    free_head = chain[0]
    for a, b in itertools.pairwise(chain):
        regs[a][0] = b
    struct.pack_into("<I12xQII", buf, offset, root, n, bump_index, free_head)
    values = {idx: o for idx, o in zip(live_idx, ordered)}
    for idx in range(1, total + 1):
        o = values.get(idx)
        if o is None:  # freed node: keep a stale order body, as the program leaves it
            side_seq = _BID_BIT | idx if bids else idx
            o = PhoenixOrder(999_999, side_seq, 7, 12_345)
        struct.pack_into(
            "<IIIIQQQQQQ",
            buf,
            offset + TREE_HEADER_SIZE + (idx - 1) * ORDER_NODE_SIZE,
            *regs[idx],
            o.price_in_ticks,
            o.order_sequence_number,
            o.trader_index,
            o.num_base_lots,
            o.last_valid_slot,
            o.last_valid_unix_timestamp_in_seconds,
        )


def encode_market(
    *,
    bids: Sequence[PhoenixOrder | tuple[int, int]] = (),
    asks: Sequence[PhoenixOrder | tuple[int, int]] = (),
    bids_size: int = 1024,
    asks_size: int = 1024,
    num_seats: int = 128,
    base_lot_size: int = 1_000,
    quote_lot_size: int = 1,
    tick_size_in_quote_lots_per_base_unit: int = 1_000,
    base_lots_per_base_unit: int = 1_000,
    taker_fee_bps: int = 2,
    status: int = 1,
    base_decimals: int = 9,
    quote_decimals: int = 6,
    base_mint: bytes = bytes([1]) * 32,
    quote_mint: bytes = bytes([2]) * 32,
    market_sequence_number: int = 0,
    order_sequence_number: int = 0,
    raw_base_units_per_base_unit: int = 1,
    num_free_nodes: int = 0,
) -> bytes:
    """Synthetic Phoenix market account bytes holding the given orders (tests/simulation only).

    No real Phoenix account bytes are available (PROVENANCE.md, "Not found"): this builder
    follows the documented layout. `(price_in_ticks, num_base_lots)` tuples get fresh sequence
    numbers (bit-inverted for bids); `num_free_nodes` freed nodes with stale bodies are
    interleaved in each order tree to exercise the free list.
    """
    buf = bytearray(market_account_size(bids_size, asks_size, num_seats))
    struct.pack_into(
        "<QQQQQII32s32sQII32s32sQQ32s32sQ32sI",
        buf,
        0,
        MARKET_DISCRIMINANT,
        status,
        bids_size,
        asks_size,
        num_seats,
        base_decimals,
        255,
        base_mint,
        bytes([3]) * 32,
        base_lot_size,
        quote_decimals,
        254,
        quote_mint,
        bytes([4]) * 32,
        quote_lot_size,
        tick_size_in_quote_lots_per_base_unit * quote_lot_size,
        bytes([5]) * 32,
        bytes([6]) * 32,
        market_sequence_number,
        bytes(32),
        raw_base_units_per_base_unit,
    )
    bid_orders = _as_orders(bids, True, 1)
    ask_orders = _as_orders(asks, False, 1 + len(bids))
    seq = order_sequence_number or 1 + len(bids) + len(asks)
    struct.pack_into(
        "<QQQQQQ",
        buf,
        _HEADER_FIFO_OFFSET,
        base_lots_per_base_unit,
        tick_size_in_quote_lots_per_base_unit,
        seq,
        taker_fee_bps,
        0,
        0,
    )
    bids_at = HEADER_SIZE + FIFO_FIXED_SIZE
    asks_at = bids_at + TREE_HEADER_SIZE + ORDER_NODE_SIZE * bids_size
    traders_at = asks_at + TREE_HEADER_SIZE + ORDER_NODE_SIZE * asks_size
    _encode_tree(buf, bids_at, bids_size, bid_orders, True, num_free_nodes)
    _encode_tree(buf, asks_at, asks_size, ask_orders, False, num_free_nodes)
    struct.pack_into("<I12xQII", buf, traders_at, 0, 0, 1, 1)  # empty, initialised
    return bytes(buf)
