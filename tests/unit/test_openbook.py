"""OpenBook v2 decoders: hand-packed Market/BookSide bytes, critbit round trips, expiry, pegs.

No real OpenBook v2 account bytes exist in ../shared/fixtures (PROVENANCE.md "Not found"): the
hand-packed tests write each field with struct.pack_into at the offsets of openbook-v2's
`Market`, `BookSide`, `OrderTreeNodes`, `InnerNode` and `LeafNode`, independently of the
decoder and of the `encode_*` builders.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from solders.pubkey import Pubkey

from connectors.solana.openbook import (
    BOOK_SIDE_SIZE,
    decode_book_side,
    decode_market,
    encode_book_side,
    fixed_key,
    pegged_key,
)
from operators.clob import OpenBookLeaf
from operators.errors import DecodeError

U64 = (1 << 64) - 1
NODES = 840  # 8 disc + 6 roots * 8 + 256 reserved + 16 node header + 512 reserved


def _put(buf: bytearray, offset: int, fmt: str, *values: object) -> None:
    struct.pack_into("<" + fmt, buf, offset, *values)


def _pk(byte: int) -> bytes:
    return bytes([byte]) * 32


def _hand_packed_market() -> bytes:
    buf = bytearray(848)
    buf[:8] = hashlib.sha256(b"account:Market").digest()[:8]
    d = 8  # every field offset below is relative to the end of the discriminator
    _put(buf, d + 0, "BBB", 253, 9, 6)
    buf[d + 8 : d + 40] = _pk(1)  # market_authority
    _put(buf, d + 40, "q", 1_800_000_000)  # time_expiry
    buf[d + 48 : d + 80] = _pk(2)  # collect_fee_admin
    buf[d + 112 : d + 144] = _pk(3)  # consume_events_admin (open_orders_admin stays zero)
    buf[d + 176 : d + 192] = b"SOL-USDC".ljust(16, b"\0")
    buf[d + 192 : d + 224] = _pk(4)  # bids
    buf[d + 224 : d + 256] = _pk(5)  # asks
    buf[d + 256 : d + 288] = _pk(6)  # event_heap
    buf[d + 288 : d + 320] = _pk(7)  # oracle_a
    _put(buf, d + 352, "dq", 0.25, 100)  # oracle_config
    _put(buf, d + 440, "qqQqqq", 10, 1_000_000, 123, 1_690_000_000, -100, 300)
    _put(buf, d + 488, "QQ", 5, 1)  # fees_accrued u128 = 5 + 2^64
    _put(buf, d + 520, "QQ", 7, 8)  # referrer_rebates_accrued, fees_available
    _put(buf, d + 536, "QQ", 9, 0)  # maker_volume
    buf[d + 568 : d + 600] = _pk(10)  # base_mint
    buf[d + 600 : d + 632] = _pk(11)  # quote_mint
    _put(buf, d + 664, "Q", 444)  # base_deposit_total
    _put(buf, d + 704, "Q", 555)  # quote_deposit_total
    return bytes(buf)


def test_hand_packed_market_decodes_every_documented_field() -> None:
    m = decode_market(_hand_packed_market())
    assert (m.bump, m.base_decimals, m.quote_decimals) == (253, 9, 6)
    assert m.market_authority == str(Pubkey.from_bytes(_pk(1)))
    assert m.time_expiry == 1_800_000_000
    assert m.open_orders_admin is None
    assert m.consume_events_admin == str(Pubkey.from_bytes(_pk(3)))
    assert m.name == "SOL-USDC"
    assert (m.bids, m.asks, m.event_heap) == tuple(
        str(Pubkey.from_bytes(_pk(b))) for b in (4, 5, 6)
    )
    assert (m.oracle_a, m.oracle_b) == (str(Pubkey.from_bytes(_pk(7))), None)
    assert (m.oracle_conf_filter, m.oracle_max_staleness_slots) == (0.25, 100)
    assert (m.quote_lot_size, m.base_lot_size, m.seq_num) == (10, 1_000_000, 123)
    assert (m.registration_time, m.maker_fee, m.taker_fee) == (1_690_000_000, -100, 300)
    assert m.fees_accrued == 5 + (1 << 64)
    assert (m.referrer_rebates_accrued, m.fees_available, m.maker_volume) == (7, 8, 9)
    assert (m.base_mint, m.quote_mint) == (
        str(Pubkey.from_bytes(_pk(10))),
        str(Pubkey.from_bytes(_pk(11))),
    )
    assert (m.base_deposit_total, m.quote_deposit_total) == (444, 555)
    assert m.is_expired(1_800_000_000) is False
    assert m.is_expired(1_800_000_001) is True


def _leaf(buf, handle, key, qty, ts, tif=0, peg_limit=-1, slot=0, coid=0):
    at = NODES + handle * 88
    _put(buf, at, "BBH", 2, slot, tif)
    _put(buf, at + 8, "QQ", key & U64, key >> 64)
    buf[at + 24 : at + 56] = _pk(9)
    _put(buf, at + 56, "qQqQ", qty, ts, peg_limit, coid)


def _hand_packed_asks() -> bytes:
    buf = bytearray(8 + 90944)
    buf[:8] = hashlib.sha256(b"account:BookSide").digest()[:8]
    _put(buf, 8, "IIII", 2, 2, 5, 1)  # roots: fixed (node 2, 2 leaves), pegged (node 5, 1)
    _put(buf, 312, "B3xIII", 1, 6, 2, 1)  # asks, bump_index 6, free_list_len 2, head 1
    _put(buf, NODES + 0 * 88, "B3xI", 4, 0)  # LastFreeNode
    _put(buf, NODES + 1 * 88, "B3xI", 3, 0)  # FreeNode -> 0
    k100, k101 = (100 << 64) | 1, (101 << 64) | 2
    inner = NODES + 2 * 88
    _put(buf, inner, "B3xI", 1, 63)  # prefix_len 63: keys differ first at bit 64
    _put(buf, inner + 8, "QQ", k100 & U64, k100 >> 64)
    _put(buf, inner + 24, "IIQQ", 3, 4, 1_060, U64)
    _leaf(buf, 3, k100, 30, 1_000, tif=60, slot=4, coid=77)
    _leaf(buf, 4, k101, 20, 1_000)
    peg_key = (((-3 + (1 << 63)) & U64) << 64) | 3  # offset -3 lots
    _leaf(buf, 5, peg_key, 5, 1_000, peg_limit=98)
    return bytes(buf)


def test_hand_packed_book_side_reads_fixed_and_pegged_trees() -> None:
    side = decode_book_side(_hand_packed_asks())
    assert side.side == "asks"
    assert [(leaf.price_data, leaf.quantity) for leaf in side.fixed] == [(100, 30), (101, 20)]
    first = side.fixed[0]
    assert (first.owner_slot, first.time_in_force, first.timestamp) == (4, 60, 1_000)
    assert (first.client_order_id, first.owner, first.peg_limit) == (77, _pk(9), -1)
    assert len(side.oracle_pegged) == 1
    assert side.oracle_pegged[0].peg_limit == 98


def test_levels_drop_orders_expired_at_now_ts() -> None:
    side = decode_book_side(_hand_packed_asks())
    assert side.levels() == [(100, 30), (101, 20)]
    assert side.levels(now_ts=1_059) == [(100, 30), (101, 20)]
    assert side.levels(now_ts=1_060) == [(101, 20)]  # timestamp + tif <= now: expired


def test_pegged_orders_need_an_oracle_price_and_respect_their_peg_limit() -> None:
    side = decode_book_side(_hand_packed_asks())
    assert side.levels(now_ts=1_000, oracle_price_lots=103) == [(100, 35), (101, 20)]
    assert side.levels(now_ts=1_000, oracle_price_lots=102) == [(99, 5), (100, 30), (101, 20)]
    # at oracle 100 the peg lands on 97 < peg_limit 98: invalid for an ask, left out
    assert side.levels(now_ts=1_000, oracle_price_lots=100) == [(100, 30), (101, 20)]
    # at oracle 3 the peg lands on 0: not representable, skipped
    assert side.levels(now_ts=1_000, oracle_price_lots=3) == [(100, 30), (101, 20)]


def test_wrong_book_side_discriminator_is_a_decode_error() -> None:
    data = bytearray(_hand_packed_asks())
    data[0] ^= 0xFF
    with pytest.raises(DecodeError, match="openbook bookside: discriminator"):
        decode_book_side(bytes(data))


def test_leaf_count_mismatch_is_a_decode_error() -> None:
    data = bytearray(_hand_packed_asks())
    _put(data, 8, "II", 2, 3)
    _put(data, 316, "I", 8)  # bump_index covering 3 leaves' 5 nodes: the allocator agrees
    with pytest.raises(DecodeError, match="2 leaves but root says 3"):
        decode_book_side(bytes(data))


def test_leaf_count_the_allocator_cannot_hold_fails_before_any_walk() -> None:
    data = bytearray(_hand_packed_asks())
    _put(data, 8, "II", 2, 20_000_000)
    with pytest.raises(
        DecodeError,
        match=r"leaf_count 20000000 \(fixed\) \+ 1 \(oracle-pegged\) need 40000000 nodes but "
        r"bump_index 6 - free_list_len 2 are in use \(capacity 1024\)",
    ):
        decode_book_side(bytes(data))


def test_root_pointing_at_a_free_node_is_a_decode_error() -> None:
    data = bytearray(_hand_packed_asks())
    _put(data, 8, "II", 1, 2)
    with pytest.raises(DecodeError, match="node 1 has tag 3"):
        decode_book_side(bytes(data))


def test_inner_node_pointing_at_itself_is_a_decode_error() -> None:
    data = bytearray(_hand_packed_asks())
    _put(data, NODES + 2 * 88 + 24, "I", 2)
    with pytest.raises(DecodeError, match="cycle"):
        decode_book_side(bytes(data))


def test_short_market_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="a Market needs 848"):
        decode_market(_hand_packed_market()[:100])


def test_encoded_book_side_has_the_program_size() -> None:
    assert len(encode_book_side("bids")) == BOOK_SIDE_SIZE == 90952


fixed_st = st.tuples(
    st.integers(1, 40),  # price lots
    st.integers(1, 10**9),  # quantity
    st.integers(0, 50),  # timestamp
    st.sampled_from([0, 0, 5, 30]),  # time_in_force
)
pegged_st = st.tuples(
    st.integers(-25, 25),  # offset lots
    st.integers(1, 10**9),
    st.integers(0, 50),
    st.sampled_from([0, 10]),
    st.sampled_from([-1, 10, 30]),  # peg_limit
)


@settings(max_examples=60, deadline=None)
@given(
    side=st.sampled_from(["bids", "asks"]),
    fixed=st.lists(fixed_st, max_size=40),
    pegged=st.lists(pegged_st, max_size=15),
    free=st.integers(0, 4),
    now_ts=st.sampled_from([None, 20, 45]),
    oracle=st.sampled_from([None, 1, 20, 40]),
)
def test_encode_decode_levels_equal_aggregated_valid_input(
    side, fixed, pegged, free, now_ts, oracle
) -> None:
    fixed_leaves = [
        OpenBookLeaf(fixed_key(side, p, i), q, ts, tif) for i, (p, q, ts, tif) in enumerate(fixed)
    ]
    pegged_leaves = [
        OpenBookLeaf(pegged_key(side, off, 100 + i), q, ts, tif, lim)
        for i, (off, q, ts, tif, lim) in enumerate(pegged)
    ]
    data = encode_book_side(side, fixed_leaves, pegged_leaves, num_free_nodes=free)
    book = decode_book_side(data)
    bids = side == "bids"

    def alive(ts: int, tif: int) -> bool:
        return now_ts is None or tif == 0 or now_ts < ts + tif

    agg: dict[int, int] = {}
    for p, q, ts, tif in fixed:
        if alive(ts, tif):
            agg[p] = agg.get(p, 0) + q
    if oracle is not None:
        for off, q, ts, tif, lim in pegged:
            price = oracle + off
            if not alive(ts, tif) or price < 1:
                continue
            if lim != -1 and (price > lim if bids else price < lim):
                continue
            agg[price] = agg.get(price, 0) + q
    assert book.levels(now_ts, oracle) == sorted(agg.items(), reverse=bids)
    keys = [leaf.key for leaf in book.fixed]
    assert keys == sorted(keys, reverse=bids)  # best first, as the program iterates


# --------------------------------------------------------------------------- SDK oracle
# Optional cross-check against the official TypeScript client (@openbook-dex/openbook-v2
# 0.2.10). Tests never touch the network: it must already be installed outside the repo, e.g.
#   mkdir -p ~/.cache/solarb/clob-oracle && cd ~/.cache/solarb/clob-oracle &&
#   npm install @ellipsis-labs/phoenix-sdk@2.0.3 @openbook-dex/openbook-v2@0.2.10
# (or point SOLARB_CLOB_ORACLE_DIR at such a folder); otherwise the test skips with the reason.
# That client cannot price oracle-pegged orders ("Not implemented yet") and ignores expiry
# unless told the cluster time, so the cross-check covers fixed orders without expiry.

_OPENBOOK_SDK_JS = r"""
const ob = require('@openbook-dex/openbook-v2');
const anchor = require('@coral-xyz/anchor');
const { PublicKey } = require('@solana/web3.js');
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const coder = new anchor.BorshCoder(ob.IDL);
const market = { client: { program: { _coder: coder } }, priceLotsToUi: () => 0,
                 baseLotsToUi: () => 0 };
const sides = input.sides.map((b64) => {
  const acc = ob.BookSide.decodeAccountfromBuffer(Buffer.from(b64, 'base64'));
  const side = acc.nodes.orderTreeType === 0 ? { bid: {} } : { ask: {} };
  const book = new ob.BookSide(market, PublicKey.default, acc, side);
  return book.getL2(1_000_000).map((l) => [l[2].toString(), l[3].toString()]);
});
const m = coder.accounts.decode('market', Buffer.from(input.market, 'base64'));
const mk = { baseLotSize: m.baseLotSize.toString(), quoteLotSize: m.quoteLotSize.toString(),
  takerFee: m.takerFee.toString(), makerFee: m.makerFee.toString(),
  timeExpiry: m.timeExpiry.toString(), bids: m.bids.toBase58(), asks: m.asks.toBase58(),
  eventHeap: m.eventHeap.toBase58(), baseMint: m.baseMint.toBase58(),
  quoteMint: m.quoteMint.toBase58(), baseDecimals: m.baseDecimals,
  quoteDecimals: m.quoteDecimals, seqNum: m.seqNum.toString(),
  feesAccrued: m.feesAccrued.toString(), baseDepositTotal: m.baseDepositTotal.toString(),
  quoteDepositTotal: m.quoteDepositTotal.toString() };
process.stdout.write(JSON.stringify({ sides, market: mk }));
"""


def test_openbook_client_decodes_our_bytes_to_the_same_ladders_and_market() -> None:

    root = Path(os.environ.get("SOLARB_CLOB_ORACLE_DIR", Path.home() / ".cache/solarb/clob-oracle"))
    modules = root / "node_modules"
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the TypeScript client oracle cannot run")
    if not (modules / "@openbook-dex/openbook-v2/package.json").is_file():
        pytest.skip(
            f"@openbook-dex/openbook-v2 not installed under {modules}; tests never download"
        )
    rng = random.Random(11)
    sides, expected = [], []
    for k in range(30):
        side = "bids" if k % 2 == 0 else "asks"
        leaves = [
            OpenBookLeaf(fixed_key(side, rng.randint(1, 60), i), rng.randint(1, 10**9), 0)
            for i in range(rng.randint(0, 200))
        ]
        data = encode_book_side(side, leaves, num_free_nodes=k % 3)
        sides.append(base64.b64encode(data).decode())
        expected.append(decode_book_side(data).levels())
    fixed_only = bytearray(_hand_packed_asks())
    _put(fixed_only, 16, "II", 0, 0)  # the client throws on pegged orders: empty that tree
    _put(fixed_only, 316, "I", 5)  # ... and give its node back (bump_index 6 -> 5)
    sides.append(base64.b64encode(fixed_only).decode())
    expected.append(decode_book_side(bytes(fixed_only)).levels())
    market_bytes = _hand_packed_market()
    run = subprocess.run(
        ["node", "-e", _OPENBOOK_SDK_JS],
        input=json.dumps({"sides": sides, "market": base64.b64encode(market_bytes).decode()}),
        capture_output=True,
        text=True,
        env={**os.environ, "NODE_PATH": str(modules)},
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout)
    for got, want in zip(out["sides"], expected, strict=True):
        assert [(int(p), int(s)) for p, s in got] == want
    m = decode_market(market_bytes)
    assert out["market"] == {
        "baseLotSize": str(m.base_lot_size),
        "quoteLotSize": str(m.quote_lot_size),
        "takerFee": str(m.taker_fee),
        "makerFee": str(m.maker_fee),
        "timeExpiry": str(m.time_expiry),
        "bids": m.bids,
        "asks": m.asks,
        "eventHeap": m.event_heap,
        "baseMint": m.base_mint,
        "quoteMint": m.quote_mint,
        "baseDecimals": m.base_decimals,
        "quoteDecimals": m.quote_decimals,
        "seqNum": str(m.seq_num),
        "feesAccrued": str(m.fees_accrued),
        "baseDepositTotal": str(m.base_deposit_total),
        "quoteDepositTotal": str(m.quote_deposit_total),
    }
