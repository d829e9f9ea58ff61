"""OpenBook v2 account decoders (sans-I/O): `Market` and `BookSide` bytes -> operators types.

Layouts (facts from openbook-dex/openbook-v2 `programs/openbook-v2/src/state/market.rs` and
`state/orderbook/{bookside,ordertree,nodes}.rs`; Anchor zero-copy, little-endian, 8-byte
account discriminator sha256("account:<Name>")[..8] first):

    Market (8 + 840 B): bump u8, base_decimals u8, quote_decimals u8, pad 5, market_authority,
      time_expiry i64, collect_fee_admin, open_orders_admin, consume_events_admin,
      close_market_admin (zero key = none), name [u8; 16], bids, asks, event_heap, oracle_a,
      oracle_b, OracleConfig {conf_filter f64, max_staleness_slots i64, reserved 72},
      quote_lot_size i64, base_lot_size i64, seq_num u64, registration_time i64, maker_fee i64,
      taker_fee i64 (both 10^-6), fees_accrued u128, fees_to_referrers u128,
      referrer_rebates_accrued u64, fees_available u64, maker_volume u128,
      taker_volume_wo_oo u128, base_mint, quote_mint, market_base_vault, base_deposit_total u64,
      market_quote_vault, quote_deposit_total u64, reserved 128
    BookSide (8 + 90944 B): roots [OrderTreeRoot {maybe_node u32, leaf_count u32}; 2]
      (0 fixed, 1 oracle pegged), reserved_roots [..; 4], reserved 256, OrderTreeNodes
      {order_tree_type u8 (0 bids, 1 asks), pad 3, bump_index u32, free_list_len u32,
      free_list_head u32, reserved 512, nodes [88 B; 1024]}
    InnerNode: tag u8 = 1, pad 3, prefix_len u32, key u128, children [u32; 2],
      child_earliest_expiry [u64; 2], reserved 40
    LeafNode: tag u8 = 2, owner_slot u8, time_in_force u16, pad 4, key u128, owner, quantity i64,
      timestamp u64, peg_limit i64, client_order_id u64
    FreeNode: tag 3 (4 for the last), pad 3, next u32

The tree is a critbit tree on the u128 key (price data in the top 64 bits); a leaf-count of 0
means an empty tree whatever `maybe_node` says. Leaves are read best first (bids: right child
first). PROVENANCE.md ("Not found"): no real OpenBook v2 account bytes exist in the fixtures;
`encode_market` / `encode_book_side` build synthetic accounts for tests and simulation only.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Sequence

from connectors.solana.anchor import account_discriminator
from connectors.solana.keys import b58, b58_or_none
from operators.clob import BookSide, BookSideKind, OpenBookLeaf, OpenBookMarket
from operators.errors import DecodeError

__all__ = [
    "BOOK_SIDE_DISCRIMINATOR",
    "BOOK_SIDE_SIZE",
    "MARKET_DISCRIMINATOR",
    "MARKET_SIZE",
    "decode_book_side",
    "decode_market",
    "encode_book_side",
    "encode_market",
    "fixed_key",
    "pegged_key",
]

MARKET_DISCRIMINATOR = account_discriminator("Market")
BOOK_SIDE_DISCRIMINATOR = account_discriminator("BookSide")
MARKET_SIZE = 8 + 840
NODE_SIZE = 88
MAX_NODES = 1024
NODES_AT = 8 + 6 * 8 + 256 + 16 + 512
BOOK_SIDE_SIZE = NODES_AT + NODE_SIZE * MAX_NODES

TAG_INNER = 1
TAG_LEAF = 2
TAG_FREE = 3
TAG_LAST_FREE = 4
U64_MAX = (1 << 64) - 1
_BOOKSIDE = "openbook bookside"
_MARKET_ACC = "openbook market"
_PEG_BIAS = 1 << 63
I64_MAX = (1 << 63) - 1
FEES_SCALE_FACTOR = 1_000_000
"""Fees are in millionths; neither fee can exceed 100% of the notional."""

_MARKET = struct.Struct(
    "<8sBBB5x32sq32s32s32s32s16s32s32s32s32s32sdq72xqqQqqqQQQQQQQQQQ32s32s32sQ32sQ128x"
)
_ROOTS = struct.Struct("<IIII")
_NODES_HEADER = struct.Struct("<B3xIII")
_INNER = struct.Struct("<B3xIQQII")
_LEAF = struct.Struct("<BBH4xQQ32sqQqQ")


def fixed_key(side: BookSideKind, price_lots: int, seq_num: int) -> int:
    """Tree key of a fixed-price order: price in the top 64 bits, seq (inverted for bids) below."""
    low = (~seq_num) & U64_MAX if side == "bids" else seq_num
    return (price_lots << 64) | low


def pegged_key(side: BookSideKind, price_offset_lots: int, seq_num: int) -> int:
    """Tree key of an oracle-pegged order: i64 offset biased onto u64 in the top 64 bits."""
    price_data = (price_offset_lots + _PEG_BIAS) & U64_MAX
    low = (~seq_num) & U64_MAX if side == "bids" else seq_num
    return (price_data << 64) | low


def decode_market(data: bytes) -> OpenBookMarket:
    """Decode an OpenBook v2 Market account (fees in 10^-6, lot sizes in native units)."""
    if len(data) < MARKET_SIZE:
        raise DecodeError(f"{len(data)} bytes, a Market needs {MARKET_SIZE}", account=_MARKET_ACC)
    f = _MARKET.unpack_from(data, 0)
    if f[0] != MARKET_DISCRIMINATOR:
        raise DecodeError(f"discriminator {f[0].hex()} is not Market", account=_MARKET_ACC)
    _check_market_params(
        quote_lot_size=f[18], base_lot_size=f[19], maker_fee=f[22], taker_fee=f[23]
    )
    return OpenBookMarket(
        bump=f[1],
        base_decimals=f[2],
        quote_decimals=f[3],
        market_authority=b58(f[4]),
        time_expiry=f[5],
        collect_fee_admin=b58(f[6]),
        open_orders_admin=b58_or_none(f[7]),
        consume_events_admin=b58_or_none(f[8]),
        close_market_admin=b58_or_none(f[9]),
        name=f[10].rstrip(b"\0").decode("utf-8", errors="replace"),
        bids=b58(f[11]),
        asks=b58(f[12]),
        event_heap=b58(f[13]),
        oracle_a=b58_or_none(f[14]),
        oracle_b=b58_or_none(f[15]),
        oracle_conf_filter=f[16],
        oracle_max_staleness_slots=f[17],
        quote_lot_size=f[18],
        base_lot_size=f[19],
        seq_num=f[20],
        registration_time=f[21],
        maker_fee=f[22],
        taker_fee=f[23],
        fees_accrued=f[24] | f[25] << 64,
        fees_to_referrers=f[26] | f[27] << 64,
        referrer_rebates_accrued=f[28],
        fees_available=f[29],
        maker_volume=f[30] | f[31] << 64,
        taker_volume_wo_oo=f[32] | f[33] << 64,
        base_mint=b58(f[34]),
        quote_mint=b58(f[35]),
        market_base_vault=b58(f[36]),
        base_deposit_total=f[37],
        market_quote_vault=b58(f[38]),
        quote_deposit_total=f[39],
    )


def _check_market_params(
    *, quote_lot_size: int, base_lot_size: int, maker_fee: int, taker_fee: int
) -> None:
    """Lot sizes and fees (10^-6) that market creation refuses."""
    if base_lot_size <= 0 or quote_lot_size <= 0:
        raise DecodeError(
            f"lot sizes must be positive (base_lot_size {base_lot_size}, quote_lot_size "
            f"{quote_lot_size})",
            account=_MARKET_ACC,
        )
    if not 0 <= taker_fee <= FEES_SCALE_FACTOR or abs(maker_fee) > FEES_SCALE_FACTOR:
        raise DecodeError(
            f"fields taker_fee {taker_fee} / maker_fee {maker_fee} outside "
            f"[0, {FEES_SCALE_FACTOR}] / [-{FEES_SCALE_FACTOR}, {FEES_SCALE_FACTOR}]",
            account=_MARKET_ACC,
        )
    if maker_fee < 0 and -maker_fee > taker_fee:
        # a maker rebate above the taker fee would pay out more than every trade takes in
        raise DecodeError(
            f"field maker_fee {maker_fee}: rebate exceeds taker_fee {taker_fee}",
            account=_MARKET_ACC,
        )


def _tree_nodes(leaf_count: int) -> int:
    # a critbit tree of n leaves holds n leaves and n - 1 inner nodes
    return 2 * leaf_count - 1 if leaf_count else 0


def _check_allocator(roots: tuple[int, int, int, int], bump_index: int, free_list_len: int) -> None:
    """Counts against the 1024-node capacity, checked before any tree walk.

    Nodes are taken from the free list first, else at `bump_index`; so the nodes in use,
    `bump_index - free_list_len`, are exactly the two trees' nodes.
    """
    fixed_root, fixed_count, pegged_root, pegged_count = roots
    if bump_index > MAX_NODES or free_list_len > bump_index:
        raise DecodeError(
            f"bump_index {bump_index} / free_list_len {free_list_len} beyond capacity {MAX_NODES}",
            account=_BOOKSIDE,
        )
    used = _tree_nodes(fixed_count) + _tree_nodes(pegged_count)
    if used != bump_index - free_list_len:
        raise DecodeError(
            f"leaf_count {fixed_count} (fixed) + {pegged_count} (oracle-pegged) need {used} "
            f"nodes but bump_index {bump_index} - free_list_len {free_list_len} are in use "
            f"(capacity {MAX_NODES})",
            account=_BOOKSIDE,
        )
    for tree, root, count in (
        ("fixed", fixed_root, fixed_count),
        ("oracle-pegged", pegged_root, pegged_count),
    ):
        if count and root >= bump_index:
            raise DecodeError(
                f"{tree} root {root} is not an allocated node (bump_index {bump_index})",
                account=_BOOKSIDE,
            )


def _read_tree(
    data: bytes, root: int, leaf_count: int, bids: bool, tree: str
) -> tuple[OpenBookLeaf, ...]:
    """Leaves of one critbit tree, best first; validates handles, tags, count and key order."""
    if leaf_count == 0:
        return ()
    where = f"{'bids' if bids else 'asks'} {tree} tree"
    leaves: list[OpenBookLeaf] = []
    stack = [root]
    visits = 0
    # better child popped first: bids walk the 1-bit (higher key) side first
    first, second = (1, 0) if bids else (0, 1)
    unpack_leaf = _LEAF.unpack_from
    make = OpenBookLeaf._make
    while stack:
        handle = stack.pop()
        visits += 1
        if handle >= MAX_NODES or visits > 2 * leaf_count - 1:
            raise DecodeError(f"{where}: bad node handle {handle} or cycle", account=_BOOKSIDE)
        at = NODES_AT + handle * NODE_SIZE
        tag = data[at]
        if tag == TAG_INNER:
            _, _, _, _, c0, c1 = _INNER.unpack_from(data, at)
            children = (c0, c1)
            stack.append(children[second])
            stack.append(children[first])
        elif tag == TAG_LEAF:
            _, slot, tif, klo, khi, owner, qty, ts, peg_limit, coid = unpack_leaf(data, at)
            leaves.append(make((klo | khi << 64, qty, ts, tif, peg_limit, slot, owner, coid)))
        else:
            raise DecodeError(
                f"{where}: node {handle} has tag {tag}, not inner/leaf", account=_BOOKSIDE
            )
    if len(leaves) != leaf_count:
        raise DecodeError(
            f"{where}: {len(leaves)} leaves but root says {leaf_count}", account=_BOOKSIDE
        )
    for a, b in itertools.pairwise(leaves):
        if (a.key <= b.key) if bids else (a.key >= b.key):
            raise DecodeError(f"{where}: keys out of critbit order", account=_BOOKSIDE)
    for leaf in leaves:
        if leaf.quantity <= 0:  # a fully filled or cancelled order leaves the tree
            raise DecodeError(f"{where}: a leaf has quantity {leaf.quantity}", account=_BOOKSIDE)
        if tree == "fixed" and not 1 <= leaf.price_data <= I64_MAX:
            raise DecodeError(
                f"{where}: a leaf has price {leaf.price_data} lots outside [1, {I64_MAX}]",
                account=_BOOKSIDE,
            )
    return tuple(leaves)


def decode_book_side(data: bytes) -> BookSide:
    """Decode an OpenBook v2 BookSide account into its fixed and oracle-pegged order trees."""
    if len(data) < BOOK_SIDE_SIZE:
        raise DecodeError(
            f"{len(data)} bytes, a BookSide needs {BOOK_SIDE_SIZE}", account=_BOOKSIDE
        )
    if data[:8] != BOOK_SIDE_DISCRIMINATOR:
        raise DecodeError(f"discriminator {data[:8].hex()} is not BookSide", account=_BOOKSIDE)
    roots = _ROOTS.unpack(data[8:24])
    fixed_root, fixed_count, pegged_root, pegged_count = roots
    tree_type, bump_index, free_list_len, _ = _NODES_HEADER.unpack_from(data, 8 + 6 * 8 + 256)
    if tree_type not in (0, 1):
        raise DecodeError(
            f"order_tree_type {tree_type} is neither bids (0) nor asks (1)", account=_BOOKSIDE
        )
    # counts are bounded by the account's capacity before any walk (a crafted leaf_count of
    # millions must fail here, not after millions of node visits)
    _check_allocator(roots, bump_index, free_list_len)
    bids = tree_type == 0
    return BookSide(
        side="bids" if bids else "asks",
        fixed=_read_tree(data, fixed_root, fixed_count, bids, "fixed"),
        oracle_pegged=_read_tree(data, pegged_root, pegged_count, bids, "oracle-pegged"),
    )


# ------------------------------------------------------------------------- test/sim builders


def encode_market(
    *,
    bids: bytes = bytes([11]) * 32,
    asks: bytes = bytes([12]) * 32,
    event_heap: bytes = bytes([13]) * 32,
    base_mint: bytes = bytes([1]) * 32,
    quote_mint: bytes = bytes([2]) * 32,
    base_decimals: int = 9,
    quote_decimals: int = 6,
    base_lot_size: int = 1_000_000,
    quote_lot_size: int = 10,
    maker_fee: int = 0,
    taker_fee: int = 400,
    time_expiry: int = 0,
    seq_num: int = 0,
    name: str = "SOL-USDC",
    oracle_a: bytes = bytes(32),
    oracle_b: bytes = bytes(32),
) -> bytes:
    """Synthetic OpenBook v2 Market account bytes (tests/simulation; no real bytes exist)."""
    return _MARKET.pack(
        MARKET_DISCRIMINATOR,
        254,
        base_decimals,
        quote_decimals,
        bytes([20]) * 32,
        time_expiry,
        bytes([21]) * 32,
        bytes(32),
        bytes(32),
        bytes(32),
        name.encode()[:16].ljust(16, b"\0"),
        bids,
        asks,
        event_heap,
        oracle_a,
        oracle_b,
        0.1,
        -1,
        quote_lot_size,
        base_lot_size,
        seq_num,
        1_700_000_000,
        maker_fee,
        taker_fee,
        *([0] * 10),
        base_mint,
        quote_mint,
        bytes([22]) * 32,
        0,
        bytes([23]) * 32,
        0,
    )


def _expiry(leaf: OpenBookLeaf) -> int:
    return U64_MAX if leaf.time_in_force == 0 else leaf.timestamp + leaf.time_in_force


class _Writer:
    def __init__(self, buf: bytearray, first_handle: int) -> None:
        self.buf = buf
        self.next = first_handle

    def alloc(self) -> int:
        handle = self.next
        if handle >= MAX_NODES:
            raise ValueError("book side holds at most 1024 nodes")
        self.next += 1
        return handle

    def tree(self, leaves: list[OpenBookLeaf]) -> tuple[int, int]:
        """Write a critbit tree of `leaves` (sorted by key, unique); returns (handle, expiry)."""
        handle = self.alloc()
        at = NODES_AT + handle * NODE_SIZE
        if len(leaves) == 1:
            leaf = leaves[0]
            _LEAF.pack_into(
                self.buf,
                at,
                TAG_LEAF,
                leaf.owner_slot,
                leaf.time_in_force,
                leaf.key & U64_MAX,
                leaf.key >> 64,
                leaf.owner,
                leaf.quantity,
                leaf.timestamp,
                leaf.peg_limit,
                leaf.client_order_id,
            )
            return handle, _expiry(leaf)
        crit = (leaves[0].key ^ leaves[-1].key).bit_length() - 1
        split = next(i for i, leaf in enumerate(leaves) if leaf.key >> crit & 1)
        left, left_exp = self.tree(leaves[:split])
        right, right_exp = self.tree(leaves[split:])
        key = leaves[0].key
        struct.pack_into(
            "<B3xIQQIIQQ",
            self.buf,
            at,
            TAG_INNER,
            127 - crit,
            key & U64_MAX,
            key >> 64,
            left,
            right,
            left_exp,
            right_exp,
        )
        return handle, min(left_exp, right_exp)


def encode_book_side(
    side: BookSideKind,
    fixed: Sequence[OpenBookLeaf] = (),
    oracle_pegged: Sequence[OpenBookLeaf] = (),
    *,
    num_free_nodes: int = 0,
) -> bytes:
    """Synthetic OpenBook v2 BookSide bytes with critbit trees of the given leaves.

    For tests/simulation only (no real bytes exist, PROVENANCE.md "Not found"). Keys must be
    unique within a tree. `num_free_nodes` freed nodes (free list) are placed first.
    """
    buf = bytearray(BOOK_SIDE_SIZE)
    buf[:8] = BOOK_SIDE_DISCRIMINATOR
    # freed nodes first: handles 0..n-1, a chain ending in a LastFreeNode
    for h in range(num_free_nodes):
        tag = TAG_LAST_FREE if h == 0 else TAG_FREE
        struct.pack_into("<B3xI", buf, NODES_AT + h * NODE_SIZE, tag, h - 1 if h else 0)
    writer = _Writer(buf, num_free_nodes)
    roots = []
    for leaves in (fixed, oracle_pegged):
        ordered = sorted(leaves, key=lambda leaf: leaf.key)
        if len({leaf.key for leaf in ordered}) != len(ordered):
            raise ValueError("leaf keys must be unique within a tree")
        roots.append((writer.tree(ordered)[0], len(ordered)) if ordered else (0, 0))
    _ROOTS.pack_into(buf, 8, roots[0][0], roots[0][1], roots[1][0], roots[1][1])
    _NODES_HEADER.pack_into(
        buf,
        8 + 6 * 8 + 256,
        0 if side == "bids" else 1,
        writer.next,
        num_free_nodes,
        num_free_nodes - 1 if num_free_nodes else 0,
    )
    return bytes(buf)
