"""Phoenix market decoder: hand-packed bytes at the documented offsets, round trips, errors.

No real Phoenix account bytes exist in ../shared/fixtures (PROVENANCE.md "Not found"), so the
first test writes an account field by field with struct.pack_into at the offsets of
phoenix-v1's MarketHeader / FIFOMarket and sokoban's RedBlackTree, independently of the
decoder and of `encode_market`.
"""

from __future__ import annotations

import base64
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

from connectors.solana.phoenix import (
    MARKET_DISCRIMINANT,
    decode_market,
    encode_market,
    market_account_size,
)
from operators.clob import PhoenixOrder
from operators.errors import DecodeError

U64 = (1 << 64) - 1


def _put(buf: bytearray, offset: int, fmt: str, *values: object) -> None:
    struct.pack_into("<" + fmt, buf, offset, *values)


def _node(buf, tree_at, index, regs, price, seq, trader, lots, slot=0, ts=0):
    at = tree_at + 32 + (index - 1) * 64
    _put(buf, at, "4I", *regs)
    _put(buf, at + 16, "Q", price)
    _put(buf, at + 24, "Q", seq)
    _put(buf, at + 32, "Q", trader)
    _put(buf, at + 40, "Q", lots)
    _put(buf, at + 48, "Q", slot)
    _put(buf, at + 56, "Q", ts)


def _hand_packed_market() -> bytes:
    bids_size, asks_size, seats = 8, 8, 2
    size = 576 + 304 + (32 + 64 * 8) * 2 + 32 + 144 * 2
    buf = bytearray(size)
    _put(buf, 0, "Q", 8167313896524341111)
    _put(buf, 8, "Q", 1)  # Active
    _put(buf, 16, "QQQ", bids_size, asks_size, seats)
    _put(buf, 40, "II", 9, 250)
    buf[48:80] = bytes([0xAA]) * 32  # base mint
    buf[80:112] = bytes([0xAB]) * 32
    _put(buf, 112, "Q", 1_000_000)  # base_lot_size
    _put(buf, 120, "II", 6, 251)
    buf[128:160] = bytes([0xBB]) * 32  # quote mint
    _put(buf, 192, "Q", 10)  # quote_lot_size
    _put(buf, 200, "Q", 10_000)  # tick size, quote atoms per base unit
    _put(buf, 272, "Q", 77)  # market_sequence_number
    _put(buf, 312, "I", 1)
    _put(buf, 832, "QQQQQQ", 1000, 1000, 42, 3, 11, 12)
    bids_at = 880
    # bids tree: 3 live nodes (1, 3, 4) + node 2 freed; root 1, left 3 (best), right 4.
    # registers are (left, right, parent, color 0 black / 1 red)
    _put(buf, bids_at, "I", 1)
    _put(buf, bids_at + 16, "QII", 3, 5, 2)  # size 3, bump_index 5, free_list_head 2
    _node(buf, bids_at, 1, (3, 4, 0, 0), 15_000, U64 ^ 5, 1, 40)
    _node(buf, bids_at, 2, (5, 0, 0, 0), 16_000, U64 ^ 9, 1, 999)  # freed: next = bump
    _node(buf, bids_at, 3, (0, 0, 1, 1), 15_010, U64 ^ 7, 2, 25, 1_000, 0)
    _node(buf, bids_at, 4, (0, 0, 1, 1), 15_000, U64 ^ 8, 2, 5)
    asks_at = bids_at + 32 + 64 * 8
    _put(buf, asks_at, "I", 1)
    _put(buf, asks_at + 16, "QII", 2, 3, 3)
    _node(buf, asks_at, 1, (0, 2, 0, 0), 15_020, 10, 1, 7, 0, 1_700_000_000)
    _node(buf, asks_at, 2, (0, 0, 1, 1), 15_030, 11, 2, 8)
    traders_at = asks_at + 32 + 64 * 8
    _put(buf, traders_at + 16, "QII", 0, 1, 1)
    return bytes(buf)


def test_hand_packed_account_decodes_every_documented_field() -> None:
    m = decode_market(_hand_packed_market())
    assert m.discriminant == MARKET_DISCRIMINANT
    assert (m.status, m.bids_size, m.asks_size, m.num_seats) == (1, 8, 8, 2)
    assert (m.base_decimals, m.base_vault_bump, m.quote_decimals, m.quote_vault_bump) == (
        9,
        250,
        6,
        251,
    )
    assert m.base_mint == str(Pubkey.from_bytes(bytes([0xAA]) * 32))
    assert m.base_vault == str(Pubkey.from_bytes(bytes([0xAB]) * 32))
    assert m.quote_mint == str(Pubkey.from_bytes(bytes([0xBB]) * 32))
    assert (m.base_lot_size, m.quote_lot_size) == (1_000_000, 10)
    assert m.tick_size_in_quote_atoms_per_base_unit == 10_000
    assert (m.market_sequence_number, m.raw_base_units_per_base_unit) == (77, 1)
    assert (m.base_lots_per_base_unit, m.tick_size_in_quote_lots_per_base_unit) == (1000, 1000)
    assert (m.order_sequence_number, m.taker_fee_bps) == (42, 3)
    assert (m.collected_quote_lot_fees, m.unclaimed_quote_lot_fees) == (11, 12)


def test_hand_packed_ladder_aggregates_per_price_and_skips_freed_nodes() -> None:
    m = decode_market(_hand_packed_market())
    assert m.bids == [(15_010, 25), (15_000, 45)]
    assert m.asks == [(15_020, 7), (15_030, 8)]
    assert sorted(o.num_base_lots for o in m.bid_orders) == [5, 25, 40]
    assert m.bid_orders[1] == PhoenixOrder(15_010, U64 ^ 7, 2, 25, 1_000, 0)


def test_expired_orders_leave_the_ladder_by_slot_and_by_unix_time() -> None:
    m = decode_market(_hand_packed_market())
    assert m.levels("bids", slot=1_000) == [(15_010, 25), (15_000, 45)]
    assert m.levels("bids", slot=1_001) == [(15_000, 45)]
    assert m.levels("asks", unix_ts=1_700_000_000) == [(15_020, 7), (15_030, 8)]
    assert m.levels("asks", unix_ts=1_700_000_001) == [(15_030, 8)]


def test_wrong_discriminant_is_a_decode_error_naming_the_account() -> None:
    data = bytearray(_hand_packed_market())
    data[0] ^= 1
    with pytest.raises(DecodeError, match="phoenix market: discriminant"):
        decode_market(bytes(data))


def test_truncated_account_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="need"):
        decode_market(_hand_packed_market()[:-1])


def test_allocator_size_disagreeing_with_live_nodes_is_a_decode_error() -> None:
    data = bytearray(_hand_packed_market())
    _put(data, 880 + 16, "Q", 4)
    with pytest.raises(DecodeError, match="bids tree: 3 live nodes but allocator size is 4"):
        decode_market(bytes(data))


def test_free_list_cycle_is_a_decode_error() -> None:
    data = bytearray(_hand_packed_market())
    _put(data, 880 + 32 + 64, "I", 2)  # node 2 points to itself
    with pytest.raises(DecodeError, match="corrupt free list"):
        decode_market(bytes(data))


def test_ask_sequence_number_in_bids_tree_is_a_decode_error() -> None:
    data = bytearray(_hand_packed_market())
    _put(data, 880 + 32 + 24, "Q", 5)  # node 1 seq without the bid bit
    with pytest.raises(DecodeError, match="belongs to the other side"):
        decode_market(bytes(data))


def test_encoder_writes_the_documented_size_and_header() -> None:
    data = encode_market(bids=[(100, 1)], bids_size=16, asks_size=32, num_seats=4)
    assert len(data) == market_account_size(16, 32, 4) == 576 + 304 + 96 + 64 * 48 + 144 * 4
    assert struct.unpack_from("<QQQQQ", data, 0) == (MARKET_DISCRIMINANT, 1, 16, 32, 4)


def _in_order(data: bytes, tree_at: int) -> tuple[list[int], bool]:
    """In-order traversal of an encoded tree + whether it satisfies the red-black rules."""
    root = struct.unpack_from("<I", data, tree_at)[0]

    def regs(i: int) -> tuple[int, int, int, int]:
        return struct.unpack_from("<4I", data, tree_at + 32 + (i - 1) * 64)

    out: list[int] = []
    ok = True

    def walk(i: int, parent_red: bool) -> int:
        nonlocal ok
        if i == 0:
            return 1
        left, right, _, color = regs(i)
        if parent_red and color == 1:
            ok = False
        lh = walk(left, color == 1)
        out.append(i)
        rh = walk(right, color == 1)
        if lh != rh:
            ok = False
        return lh + (color == 0)

    walk(root, False)
    return out, ok and (root == 0 or regs(root)[3] == 0)


def test_encoder_builds_a_valid_red_black_tree_in_fifo_order() -> None:
    bids = [(100 + i % 7, 1 + i) for i in range(20)]
    data = encode_market(bids=bids, bids_size=64, asks_size=8, num_seats=1, num_free_nodes=3)
    order, valid = _in_order(data, 880)
    assert valid is True
    prices = [struct.unpack_from("<Q", data, 880 + 32 + (i - 1) * 64 + 16)[0] for i in order]
    assert prices == sorted(prices, reverse=True)
    assert len(order) == 20


def _order_st(lo: int, hi: int) -> st.SearchStrategy[tuple[int, int, int, int]]:
    return st.tuples(
        st.integers(lo, hi),  # price_in_ticks (few values so prices collide)
        st.integers(1, 10**6),  # num_base_lots
        st.sampled_from([0, 90, 100, 110]),  # last_valid_slot
        st.sampled_from([0, 1_000, 2_000]),  # last_valid_unix_timestamp
    )


# bids below asks: the program never leaves a crossed book (a crossed one is refused)
bid_order_st = _order_st(1, 30)
ask_order_st = _order_st(31, 60)


def _expected(orders, bids, slot, ts):
    agg: dict[int, int] = {}
    for price, lots, last_slot, last_ts in orders:
        if slot is not None and last_slot and last_slot < slot:
            continue
        if ts is not None and last_ts and last_ts < ts:
            continue
        agg[price] = agg.get(price, 0) + lots
    return sorted(agg.items(), reverse=bids)


@settings(max_examples=60, deadline=None)
@given(
    bids=st.lists(bid_order_st, max_size=40),
    asks=st.lists(ask_order_st, max_size=40),
    free=st.integers(0, 5),
    slot=st.sampled_from([None, 95, 105]),
    ts=st.sampled_from([None, 1_500]),
)
def test_encode_decode_ladder_equals_aggregated_sorted_input(bids, asks, free, slot, ts) -> None:
    def mk(orders, is_bid, base):
        return [
            PhoenixOrder(p, (U64 ^ (base + i)) if is_bid else base + i, 1, lots, s, t)
            for i, (p, lots, s, t) in enumerate(orders)
        ]

    data = encode_market(
        bids=mk(bids, True, 1),
        asks=mk(asks, False, 1000),
        bids_size=64,
        asks_size=64,
        num_seats=2,
        num_free_nodes=free,
    )
    m = decode_market(data)
    assert m.bids == _expected(bids, True, None, None)
    assert m.asks == _expected(asks, False, None, None)
    assert m.levels("bids", slot=slot, unix_ts=ts) == _expected(bids, True, slot, ts)
    assert m.levels("asks", slot=slot, unix_ts=ts) == _expected(asks, False, slot, ts)


# --------------------------------------------------------------------------- SDK oracle
# Optional cross-check against the official TypeScript SDK (@ellipsis-labs/phoenix-sdk 2.0.3).
# Tests never touch the network: the SDK must already be installed outside the repo, e.g.
#   mkdir -p ~/.cache/solarb/clob-oracle && cd ~/.cache/solarb/clob-oracle &&
#   npm install @ellipsis-labs/phoenix-sdk@2.0.3 @openbook-dex/openbook-v2@0.2.10
# (or point SOLARB_CLOB_ORACLE_DIR at such a folder); otherwise the test skips with the reason.

_PHOENIX_SDK_JS = r"""
const ph = require('@ellipsis-labs/phoenix-sdk');
const { PublicKey } = require('@solana/web3.js');
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const conv = (l) => [l.priceInTicks.toString(), l.sizeInBaseLots.toString()];
const out = cases.map((c) => {
  const data = ph.deserializeMarketData(Buffer.from(c.data, 'base64'));
  const market = new ph.MarketState({ address: PublicKey.default, data });
  const ladder = ph.getMarketLadder(market, c.slot, c.unix_ts, -1);
  return { bids: ladder.bids.map(conv), asks: ladder.asks.map(conv),
           fee: data.takerFeeBps, blpbu: data.baseLotsPerBaseUnit,
           tick: data.quoteLotsPerBaseUnitPerTick,
           baseMint: data.header.baseParams.mintKey.toBase58() };
});
process.stdout.write(JSON.stringify(out));
"""


def _sdk_dir(package: str):

    root = Path(os.environ.get("SOLARB_CLOB_ORACLE_DIR", Path.home() / ".cache/solarb/clob-oracle"))
    modules = root / "node_modules"
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the TypeScript SDK oracle cannot run")
    if not (modules / package / "package.json").is_file():
        pytest.skip(
            f"{package} not installed under {modules} (install it there with npm, see the "
            "comment above; tests never download)"
        )
    return modules


def test_phoenix_sdk_decodes_our_bytes_to_the_same_ladders() -> None:

    modules = _sdk_dir("@ellipsis-labs/phoenix-sdk")
    rng = random.Random(7)
    cases, expected = [], []
    for k in range(25):

        def mk(is_bid, base):
            return [
                PhoenixOrder(
                    rng.randint(1, 20) if is_bid else rng.randint(21, 40),  # never crossed
                    (U64 ^ (base + i)) if is_bid else base + i,
                    1,
                    rng.randint(1, 10**6),
                    rng.choice([0, 0, 90, 110]),
                    rng.choice([0, 0, 1_000, 3_000]),
                )
                for i in range(rng.randint(0, 30))
            ]

        bids, asks = mk(True, 1), mk(False, 500)
        slot, ts = rng.choice([(0, 0), (100, 2_000)])
        data = encode_market(
            bids=bids,
            asks=asks,
            bids_size=64,
            asks_size=64,
            num_seats=4,
            num_free_nodes=k % 4,
            taker_fee_bps=k % 5,
        )
        cases.append({"data": base64.b64encode(data).decode(), "slot": slot, "unix_ts": ts})
        m = decode_market(data)
        expected.append(
            (m.levels("bids", slot=slot, unix_ts=ts), m.levels("asks", slot=slot, unix_ts=ts), m)
        )
    cases.append(
        {"data": base64.b64encode(_hand_packed_market()).decode(), "slot": 0, "unix_ts": 0}
    )
    hm = decode_market(_hand_packed_market())
    expected.append((hm.bids, hm.asks, hm))
    run = subprocess.run(
        ["node", "-e", _PHOENIX_SDK_JS],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        env={**os.environ, "NODE_PATH": str(modules)},
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    for got, (bids, asks, m) in zip(json.loads(run.stdout), expected, strict=True):
        assert [(int(p), int(s)) for p, s in got["bids"]] == bids
        assert [(int(p), int(s)) for p, s in got["asks"]] == asks
        assert (got["fee"], got["blpbu"], got["tick"], got["baseMint"]) == (
            m.taker_fee_bps,
            m.base_lots_per_base_unit,
            m.tick_size_in_quote_lots_per_base_unit,
            m.base_mint,
        )
