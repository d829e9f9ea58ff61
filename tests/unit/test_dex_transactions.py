"""Swap legs become signed v0 transactions with exact limits, budgets and account creation."""

from __future__ import annotations

import logging
import struct
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.transaction import VersionedTransaction

from connectors import venues
from connectors.solana import openbook as ob_codec
from connectors.solana import phoenix as ph_codec
from connectors.solana.orca import tick_array_address as orca_tick_array
from connectors.solana.programs import (
    ASSOCIATED_TOKEN_PROGRAM_ID,
    associated_token_address,
)
from connectors.solana.raydium_clmm import bitmap_extension_address
from connectors.solana.raydium_clmm import tick_array_address as raydium_tick_array
from connectors.solana.swap_plan import SwapPlan, SwapRequest
from connectors.solana.transactions import build_swap_transaction
from operators.clmm import quote_swap
from operators.clob import BookSide, OpenBookLeaf
from operators.errors import ExecutionError
from operators.slippage import edge_in_token, max_in_after_give_up, min_out_after_give_up
from tests.unit.orca_helpers import SOL_MINT, USDC_MINT, synth_arrays, synth_pool
from tests.unit.raydium_pools import make_pool

PAYER = Keypair.from_seed(bytes(range(1, 33)))
OWNER = str(PAYER.pubkey())
BLOCKHASH = str(Hash.new_unique())
COMPUTE_BUDGET = "ComputeBudget111111111111111111111111111111"


def _decode(signed_bytes: bytes) -> tuple[VersionedTransaction, MessageV0]:
    tx = VersionedTransaction.from_bytes(signed_bytes)
    assert isinstance(tx.message, MessageV0)
    return tx, tx.message


def _program_ids(msg: MessageV0) -> list[str]:
    keys = msg.account_keys
    return [str(keys[ix.program_id_index]) for ix in msg.instructions]


# ------------------------------------------------------------------------------- limits


def test_min_out_gives_up_only_the_allowed_share_of_the_edge() -> None:
    # 30% of a 1_000-unit edge: the minimum is 300 below the quote
    assert min_out_after_give_up(50_000, 1_000, 300_000) == 49_700
    # the give-up is floored: 1 ppm of 999 gives up nothing
    assert min_out_after_give_up(50_000, 999, 1) == 50_000
    assert max_in_after_give_up(40_000, 1_001, 500_000) == 40_500


def test_edge_converts_to_base_units_at_the_legs_own_price() -> None:
    # 1_000 quote units of edge at 7 base per 20 quote -> 350 base units (floored)
    assert edge_in_token(1_000, 7, 20, token_is_quote=False) == 350
    assert edge_in_token(1_000, 7, 20, token_is_quote=True) == 1_000


@pytest.mark.parametrize(
    ("quoted", "edge", "ppm", "message"),
    [
        (100, -1, 10, "negative"),
        (100, 10, 1_000_001, "outside"),
        (100, 1_000, 1_000_000, "no minimum output"),
        (0, 1, 1, "not positive"),
    ],
)
def test_limits_refuse_nonsense_instead_of_a_blanket_tolerance(
    quoted: int, edge: int, ppm: int, message: str
) -> None:
    with pytest.raises(ExecutionError, match=message) as info:
        min_out_after_give_up(quoted, edge, ppm)
    assert info.value.retryable is False


# --------------------------------------------------------------------------------- Orca


def _orca_request(amount: int = 2_000_000, give_up_ppm: int = 250_000) -> SwapRequest:
    pool = synth_pool(100, 10**12)
    arrays = synth_arrays({-704: 10**11, 704: -(10**11)}, [-1408, -704, 0, 704])
    quote = quote_swap(pool, arrays, amount, a_to_b=True)
    min_out = min_out_after_give_up(quote.amount_out, 4_000, give_up_ppm)
    return SwapRequest(
        venue="orca",
        market_address=pool.address,
        market=pool,
        owner=OWNER,
        input_mint=SOL_MINT,
        exact_in=True,
        amount=amount,
        limit=min_out,
        quoted_in=quote.amount_in,
        quoted_out=quote.amount_out,
        tick_after=quote.tick_after,
    )


def test_orca_leg_is_a_signed_v0_transaction_with_budget_then_swap() -> None:
    req = _orca_request()
    signed = build_swap_transaction(
        venues.dex("orca"),
        req,
        payer=PAYER,
        recent_blockhash=BLOCKHASH,
        cu_limit=180_000,
        cu_price_micro_lamports=25_000,
    )
    tx, msg = _decode(signed.tx_bytes)
    assert str(tx.signatures[0]) == signed.signature
    assert tx.verify_with_results() == [True]
    assert str(msg.recent_blockhash) == BLOCKHASH
    assert msg.account_keys[0] == PAYER.pubkey()
    assert _program_ids(msg) == [COMPUTE_BUDGET, COMPUTE_BUDGET, venues.dex("orca").program_id]
    assert bytes(msg.instructions[0].data) == b"\x02" + struct.pack("<I", 180_000)
    assert bytes(msg.instructions[1].data) == b"\x03" + struct.pack("<Q", 25_000)
    data = bytes(msg.instructions[2].data)
    amount, threshold = struct.unpack_from("<QQ", data, 8)
    assert (amount, threshold) == (req.amount, req.limit)
    assert req.limit == req.quoted_out - 1_000  # 25% of a 4_000 edge
    assert signed.limits == {"other_amount_threshold": req.limit, "sqrt_price_limit": 0}
    assert (signed.cu_limit, signed.cu_price_micro_lamports) == (180_000, 25_000)
    assert signed.created_accounts == ()


def test_orca_static_arrays_follow_the_pool_tick_with_a_spare_either_side() -> None:
    req = _orca_request()
    plan = venues.dex("orca").plan_swap(req)  # type: ignore[misc]
    keys = [str(a.pubkey) for a in plan.instruction.accounts]
    assert keys[11:14] == [orca_tick_array(req.market_address, s) for s in (0, -704, -1408)]
    assert keys[15:] == [orca_tick_array(req.market_address, s) for s in (704, -2112)]
    assert plan.instruction.data[-7:] == b"\x01" + struct.pack("<IBB", 1, 6, 2)


def test_orca_quote_ending_beyond_the_walkable_arrays_is_refused() -> None:
    req = replace(_orca_request(), tick_after=-2113)
    with pytest.raises(ExecutionError, match="beyond the tick arrays") as info:
        build_swap_transaction(
            venues.dex("orca"),
            req,
            payer=PAYER,
            recent_blockhash=BLOCKHASH,
            cu_limit=200_000,
            cu_price_micro_lamports=0,
        )
    assert info.value.retryable is False


def test_missing_token_account_is_created_idempotently_before_the_swap() -> None:
    req = _orca_request()
    usdc_ata = str(associated_token_address(OWNER, USDC_MINT))
    signed = build_swap_transaction(
        venues.dex("orca"),
        req,
        payer=PAYER,
        recent_blockhash=BLOCKHASH,
        cu_limit=200_000,
        cu_price_micro_lamports=1,
        missing_token_accounts={usdc_ata, "11111111111111111111111111111111"},
    )
    _, msg = _decode(signed.tx_bytes)
    assert _program_ids(msg)[2] == str(ASSOCIATED_TOKEN_PROGRAM_ID)
    create = msg.instructions[2]
    assert bytes(create.data) == b"\x01"
    assert [str(msg.account_keys[i]) for i in create.accounts[:4]] == [
        OWNER,
        usdc_ata,
        OWNER,
        USDC_MINT,
    ]
    assert signed.created_accounts == (usdc_ata,)


# ------------------------------------------------------------------------------ Raydium


def _raydium_request(tick_after: int, spacing: int = 1, tick: int = 3) -> SwapRequest:
    positions = [(-70, 25, 4 * 10**12), (-150, 130, 10**12)]
    pool, accounts = make_pool(spacing, tick, positions)
    pool = replace(pool, token_mint_0=SOL_MINT, token_mint_1=USDC_MINT)
    address = str(Keypair.from_seed(bytes([3]) * 32).pubkey())
    return SwapRequest(
        venue="raydium_clmm",
        market_address=address,
        market=pool,
        owner=OWNER,
        input_mint=SOL_MINT,
        exact_in=True,
        amount=10_000,
        limit=9_000,
        quoted_in=10_000,
        quoted_out=9_500,
        tick_after=tick_after,
        bitmap_extension=accounts[-1],
    )


def test_raydium_passes_the_arrays_walked_plus_one_and_no_extension_inside_the_bitmap() -> None:
    req = _raydium_request(tick_after=-100)
    plan = venues.dex("raydium_clmm").plan_swap(req)  # type: ignore[misc]
    keys = [str(a.pubkey) for a in plan.instruction.accounts[13:]]
    # 60-tick arrays initialized at 0 (tick 25), -120 (tick -70), -180 (tick -150), 120: the
    # pool's own array, the one the quote ends in (-60 holds no tick: skipped), one spare
    assert keys == [raydium_tick_array(req.market_address, s) for s in (0, -120, -180)]
    assert plan.limits == {"other_amount_threshold": 9_000, "sqrt_price_limit": 0}


def test_raydium_pool_beyond_the_default_bitmap_passes_the_extension_first() -> None:
    far = 512 * 60 + 30  # spacing 1: the pool's array 30_720 lies outside its own bitmap
    pool, accounts = make_pool(1, far, [(far - 100, far + 100, 10**12)])
    pool = replace(pool, token_mint_0=SOL_MINT, token_mint_1=USDC_MINT)
    req = replace(
        _raydium_request(far),
        market=pool,
        bitmap_extension=accounts[-1],
        tick_after=far - 10,
    )
    plan = venues.dex("raydium_clmm").plan_swap(req)  # type: ignore[misc]
    keys = [str(a.pubkey) for a in plan.instruction.accounts[13:]]
    assert keys[0] == bitmap_extension_address(req.market_address)
    # the first initialized array below is 30_600 (tick 30_650), inside the bitmap; none below
    assert keys[1:] == [raydium_tick_array(req.market_address, 30_600)]


# ------------------------------------------------------------------------ Phoenix, OpenBook

CLOB_MARKET = str(Keypair.from_seed(bytes(32)).pubkey())


def _clob_request(
    venue: str,
    market: object,
    input_mint: str,
    amount: int,
    limit: int,
    quoted: tuple[int, int],
    *,
    exact_in: bool = True,
    book_side: BookSide | None = None,
) -> SwapRequest:
    """A CLOB leg of `OWNER` on the synthetic market; `quoted` = (in, out)."""
    return SwapRequest(
        venue=venue,
        market_address=CLOB_MARKET,
        market=market,
        owner=OWNER,
        input_mint=input_mint,
        exact_in=exact_in,
        amount=amount,
        limit=limit,
        quoted_in=quoted[0],
        quoted_out=quoted[1],
        book_side=book_side,
    )


def _plan(req: SwapRequest) -> SwapPlan:
    plan_swap = venues.dex(req.venue).plan_swap
    assert plan_swap is not None
    return plan_swap(req)


def test_phoenix_sell_sets_min_quote_lots_net_of_fee_rounded_up_to_lots() -> None:
    raw = ph_codec.encode_market(taker_fee_bps=5, base_lot_size=1_000, quote_lot_size=10)
    market = ph_codec.decode_market(raw)
    req = _clob_request(
        "phoenix", market, market.base_mint, 2_500_000, 99_950, (2_500_000, 100_000)
    )
    plan = _plan(req)
    # the program compares a sell's quote lots after fees: ceil(99_950 / 10) lots
    assert plan.limits == {"min_base_lots_to_fill": 0, "min_quote_lots_to_fill": 9_995}
    data = bytes(plan.instruction.data)
    assert data[:4] == bytes([0, 2, 1, 0])  # Swap, IOC, ask, no price limit
    assert struct.unpack_from("<QQQQ", data, 4) == (2_500, 0, 0, 9_995)


def test_openbook_buy_is_fill_or_kill_within_the_quote_budget_and_names_the_makers() -> None:
    raw = ob_codec.encode_market(base_lot_size=1_000_000, quote_lot_size=10, taker_fee=400)
    market = ob_codec.decode_market(raw)
    makers = [bytes([7]) * 32, bytes([8]) * 32, bytes([7]) * 32]
    asks = BookSide(
        "asks",
        tuple(
            OpenBookLeaf((price << 64) | i, 2, 0, owner=m)
            for i, (price, m) in enumerate(zip((100, 101, 102), makers, strict=True))
        ),
        (),
    )
    req = _clob_request(
        "openbook", market, market.quote_mint, 3_000_000, 3_050, (3_012, 3_000_000),
        exact_in=False, book_side=asks,
    )  # fmt: skip
    plan = _plan(req)
    assert plan.limits == {
        "price_lots": 305,
        "max_base_lots": 3,
        "max_quote_lots_including_fees": 305,
    }
    assert plan.instruction.data[-2:] == bytes([5, 16])  # FillOrKill, match limit 16
    remaining = [bytes(a.pubkey) for a in plan.instruction.accounts[16:]]
    assert remaining == [makers[0], makers[1]]  # 3 lots: 2 at 100 + 1 at 101; distinct owners


# --------------------------------------------------------------------------- key safety


def _secret_forms(k: Keypair) -> list[str]:
    raw = bytes(k)
    return [str(k), raw.hex(), raw[:32].hex(), str(list(raw[:32]))[1:-1]]


def test_no_keypair_byte_reaches_a_repr_an_error_or_a_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    req = _orca_request()
    texts = [
        repr(
            build_swap_transaction(
                venues.dex("orca"),
                req,
                payer=PAYER,
                recent_blockhash=BLOCKHASH,
                cu_limit=200_000,
                cu_price_micro_lamports=1,
            )
        )
    ]
    bad_calls = [
        {"payer": Keypair.from_seed(bytes([9]) * 32)},  # not the request's owner
        {"recent_blockhash": "not-a-hash!"},
        {"cu_limit": 0},
        {"cu_price_micro_lamports": -1},
    ]
    for bad in bad_calls:
        kwargs = {
            "payer": PAYER,
            "recent_blockhash": BLOCKHASH,
            "cu_limit": 200_000,
            "cu_price_micro_lamports": 1,
            **bad,
        }
        with pytest.raises(ExecutionError) as info:
            build_swap_transaction(venues.dex("orca"), req, **kwargs)  # type: ignore[arg-type]
        texts += [str(info.value), repr(info.value), repr(info.value.__cause__)]
    texts += [r.getMessage() for r in caplog.records]
    joined = "\n".join(texts)
    for k in (PAYER, Keypair.from_seed(bytes([9]) * 32)):
        for form in _secret_forms(k):
            assert form not in joined


def test_phoenix_buy_spends_whole_quote_lots_and_needs_the_minimum_base_lots() -> None:
    market = ph_codec.decode_market(ph_codec.encode_market(base_lot_size=1_000, quote_lot_size=10))
    req = _clob_request(
        "phoenix", market, market.quote_mint, 123_456, 2_500_001, (123_456, 2_600_000)
    )
    plan = _plan(req)
    assert plan.limits == {"min_base_lots_to_fill": 2_501, "min_quote_lots_to_fill": 0}
    data = bytes(plan.instruction.data)
    assert data[:4] == bytes([0, 2, 0, 0])  # Swap, IOC, bid, no price limit
    assert struct.unpack_from("<QQQQ", data, 4) == (0, 12_345, 2_501, 0)


def test_openbook_sell_limit_price_keeps_the_output_after_fee_above_the_minimum() -> None:
    raw = ob_codec.encode_market(base_lot_size=1_000_000, quote_lot_size=10, taker_fee=400)
    market = ob_codec.decode_market(raw)
    req = _clob_request("openbook", market, market.base_mint, 3_000_000, 2_990, (3_000_000, 3_000))
    plan = _plan(req)
    # gross needed ceil(2_990 / (1 - 0.0004)) + 1 = 2_993 over 3 lots of 10 units: 100 per lot;
    # at 100 the fill pays 3_000 - ceil(3_000 * 400 / 10^6) = 2_998 >= 2_990
    assert plan.limits == {
        "price_lots": 100,
        "max_base_lots": 3,
        "max_quote_lots_including_fees": 2**63 - 1,
    }
    assert plan.instruction.data[8] == 1  # ask


def test_openbook_buy_sized_in_quote_is_refused_with_the_reason() -> None:
    market = ob_codec.decode_market(ob_codec.encode_market())
    req = _clob_request("openbook", market, market.quote_mint, 3_000, 1, (3_000, 2))
    with pytest.raises(ExecutionError, match="a buy exact-out") as info:
        _plan(req)
    assert info.value.retryable is False


@given(
    quoted=st.integers(1, 2**64 - 1),
    edge=st.integers(0, 2**64 - 1),
    ppm=st.integers(0, 1_000_000),
)
def test_min_out_never_gives_up_more_than_the_share_of_the_edge(
    quoted: int, edge: int, ppm: int
) -> None:
    try:
        floor = min_out_after_give_up(quoted, edge, ppm)
    except ExecutionError:
        assert edge * ppm // 1_000_000 >= quoted  # refused only when nothing would be left
        return
    assert 0 < floor <= quoted
    assert (quoted - floor) * 1_000_000 <= edge * ppm
    assert max_in_after_give_up(quoted, edge, ppm) - quoted == quoted - floor


def test_raydium_pool_beyond_the_bitmap_without_its_extension_names_the_missing_account() -> None:
    far = 512 * 60 + 30
    pool, _ = make_pool(1, far, [(far - 100, far + 100, 10**12)])
    pool = replace(pool, token_mint_0=SOL_MINT, token_mint_1=USDC_MINT)
    req = replace(_raydium_request(far), market=pool, bitmap_extension=None, tick_after=far - 10)
    with pytest.raises(ExecutionError, match="needs the bitmap extension account") as info:
        venues.dex("raydium_clmm").plan_swap(req)  # type: ignore[misc]
    assert info.value.retryable is False


def test_raydium_swap_with_no_initialized_array_ahead_is_refused() -> None:
    req = _raydium_request(tick_after=200)
    req = replace(req, input_mint=USDC_MINT)  # one-for-zero: up from tick 3
    pool = replace(req.market, tick_current=300)  # above every position: nothing initialized up
    with pytest.raises(ExecutionError, match="no initialized tick array from tick 300"):
        venues.dex("raydium_clmm").plan_swap(replace(req, market=pool))  # type: ignore[misc]


def test_orca_b_to_a_from_the_last_ticks_of_an_array_starts_at_the_next_array() -> None:
    # spacing 8: array 0 spans [0, 704); from tick 700 the next initializable tick (704) is in
    # the next array, so the program's sequence is 704, 1408, 2112
    pool = synth_pool(700, 10**12)
    arrays = synth_arrays({1408: -(10**11)}, [0, 704, 1408, 2112])
    quote = quote_swap(pool, arrays, 1_000, a_to_b=False)
    assert quote.tick_after == 700  # a tiny swap stays below the first array of the sequence
    req = replace(_orca_request(), market=pool, input_mint=USDC_MINT, tick_after=quote.tick_after)
    plan = venues.dex("orca").plan_swap(req)  # type: ignore[misc]
    keys = [str(a.pubkey) for a in plan.instruction.accounts]
    assert keys[11:14] == [orca_tick_array(pool.address, s) for s in (704, 1408, 2112)]
    assert keys[15:] == [orca_tick_array(pool.address, s) for s in (0, 2816)]
