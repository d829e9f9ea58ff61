"""Orca Whirlpool codec: real fixtures decode to their source-asserted values and round-trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from solders.pubkey import Pubkey

from connectors.solana import orca
from operators.clmm.accounts import Tick, TickArray, Whirlpool, WhirlpoolRewardInfo
from operators.clmm.invariants import ORCA_MAX_FEE_RATE, ORCA_MAX_PROTOCOL_FEE_RATE
from operators.clmm.math import (
    MAX_SQRT_PRICE_X64,
    MIN_SQRT_PRICE_X64,
    sqrt_price_from_tick_index,
    tick_index_from_sqrt_price,
)
from operators.errors import DecodeError
from tests.conftest import load_account

ORCA = "solana/orca_whirlpool"
SOL_USDC = f"{ORCA}/sol_usdc_ts64_2022-11"
SAMO_USDC = f"{ORCA}/samo_usdc_ts64_2022-11"
CARBON = f"{ORCA}/carbon_decoder_fixtures"


def _program_accounts(folder: Path) -> list[tuple[dict[str, Any], bytes]]:
    out = []
    for path in sorted(folder.glob("*.json")):
        if path.name == "expected.json":
            continue
        meta, data = load_account(path)
        if meta["owner"] == orca.WHIRLPOOL_PROGRAM_ID and data[:8] in (
            orca.DISC_WHIRLPOOL,
            orca.DISC_TICK_ARRAY,
            orca.DISC_DYNAMIC_TICK_ARRAY,
        ):
            out.append((meta, data))
    return out


def _account(folder: Path, pubkey: str) -> bytes:
    (path,) = folder.glob(f"*.{pubkey}.json")
    return load_account(path)[1]


def _expected(folder: Path) -> dict[str, Any]:
    accounts: dict[str, Any] = json.loads((folder / "expected.json").read_text())["accounts"]
    return accounts


def test_sol_usdc_whirlpool_matches_source_asserted_fields(fixtures: Path) -> None:
    folder = fixtures / SOL_USDC
    key = "HJPjoWUrhoZzkNfRpHuieeFk9WcZWjwy6PBjZ81ngndJ"
    w = orca.decode_whirlpool(_account(folder, key), key)
    exp = _expected(folder)[key]["fields"]
    assert w.address == key
    for name in (
        "whirlpools_config",
        "tick_spacing",
        "fee_rate",
        "protocol_fee_rate",
        "liquidity",
        "sqrt_price",
        "tick_current_index",
        "protocol_fee_owed_a",
        "protocol_fee_owed_b",
        "token_mint_a",
        "token_vault_a",
        "fee_growth_global_a",
        "token_mint_b",
        "token_vault_b",
        "fee_growth_global_b",
        "reward_last_updated_timestamp",
    ):
        assert getattr(w, name) == exp[name], name
    assert [w.whirlpool_bump] == exp["whirlpool_bump"]
    assert list(w.fee_tier_index_seed.to_bytes(2, "little")) == exp["tick_spacing_seed"]
    for i, r in enumerate(w.reward_infos):
        for name in ("mint", "vault", "authority", "emissions_per_second_x64", "growth_global_x64"):
            assert getattr(r, name) == exp[f"reward_infos[{i}].{name}"], (i, name)
    assert w.is_adaptive_fee is False


def test_samo_usdc_tick_array_matches_source_asserted_ticks(fixtures: Path) -> None:
    folder = fixtures / SAMO_USDC
    key = "CHVTbSXJ3W1XEjQXx7BhV2ZSfzmQcbZzKTGZa6ph6BoH"
    ta = orca.decode_tick_array(_account(folder, key), key)
    exp = _expected(folder)[key]["fields"]
    assert (ta.start_tick_index, ta.whirlpool, ta.is_dynamic) == (
        exp["start_tick_index"],
        exp["whirlpool"],
        False,
    )
    assert len(ta.ticks) == 88
    for i in (0, 3, 29, 87):
        t = ta.ticks[i]
        for name in (
            "initialized",
            "liquidity_net",
            "liquidity_gross",
            "fee_growth_outside_a",
            "fee_growth_outside_b",
        ):
            assert getattr(t, name) == exp[f"ticks[{i}].{name}"], (i, name)
        for k in range(3):
            assert t.reward_growths_outside[k] == exp[f"ticks[{i}].reward_growths_outside[{k}]"]
    samo_pool = "9vqYJjDUFecLL2xPUC4Rc7hyCtZ6iJ4mDiVZX7aFXoAe"
    w = orca.decode_whirlpool(_account(folder, samo_pool), samo_pool)
    assert w.token_mint_a == _expected(folder)[samo_pool]["fields"]["token_mint_a"]


def test_carbon_splash_pool_and_fixed_tick_array_match_expected(fixtures: Path) -> None:
    folder = fixtures / CARBON
    exp = _expected(folder)
    key = "CGGNcohZdLdeDBdhmQRGmUH1Viv1p4d1ds2aPLoiVWaR"
    w = orca.decode_whirlpool(_account(folder, key), key)
    f = exp[key]["fields"]
    assert (w.tick_spacing, w.fee_rate, w.protocol_fee_rate) == (32896, 10000, 1300)
    assert (w.liquidity, w.sqrt_price, w.tick_current_index) == (
        f["liquidity"],
        f["sqrt_price"],
        f["tick_current_index"],
    )
    assert [w.whirlpool_bump] == f["whirlpool_bump"]
    assert list(w.fee_tier_index_seed.to_bytes(2, "little")) == f["tick_spacing_seed"]
    assert (w.token_mint_a, w.token_vault_a, w.token_mint_b, w.token_vault_b) == (
        f["token_mint_a"],
        f["token_vault_a"],
        f["token_mint_b"],
        f["token_vault_b"],
    )
    assert w.reward_last_updated_timestamp == f["reward_last_updated_timestamp"]
    assert [
        [r.mint, r.vault, r.authority, r.emissions_per_second_x64, r.growth_global_x64]
        for r in w.reward_infos
    ] == [list(r.values()) for r in f["reward_infos"]]

    ta_key = "GtpDRtj3avG5kK3nTaVVNQrrfpnPaAnib5dJ5K2gmU1k"
    ta = orca.decode_tick_array(_account(folder, ta_key), ta_key)
    tf = exp[ta_key]["fields"]
    assert (ta.start_tick_index, ta.whirlpool, ta.is_dynamic) == (
        tf["start_tick_index"],
        tf["whirlpool"],
        False,
    )
    t75 = tf["ticks[75]"]
    assert ta.ticks[75] == Tick(
        t75["initialized"],
        t75["liquidity_net"],
        t75["liquidity_gross"],
        t75["fee_growth_outside_a"],
        t75["fee_growth_outside_b"],
        tuple(t75["reward_growths_outside"]),
    )
    assert all(t == Tick.empty() for i, t in enumerate(ta.ticks) if i != 75)
    assert ta.initialized_offsets == (75,)


def test_carbon_dynamic_tick_array_decodes_bitmap_indexed_ticks(fixtures: Path) -> None:
    folder = fixtures / CARBON
    key = "FmnzW4qBd5fkyDtqPjA5a3vpQeqstSEG12REFb68dTZa"
    data = _account(folder, key)
    ta = orca.decode_tick_array(data, key)
    derived = _expected(folder)[key]["decoded_by_fixture_builder_not_asserted_by_source"]
    assert (ta.start_tick_index, ta.whirlpool, ta.is_dynamic) == (
        derived["start_tick_index"],
        derived["whirlpool"],
        True,
    )
    assert list(ta.initialized_offsets) == derived["initialized_tick_indices"]
    assert int.from_bytes(data[44:60], "little") == derived["tick_bitmap"]
    # source invariant: bitmap bit i == 0 <=> tick i uninitialized
    assert all(
        t.initialized == bool(derived["tick_bitmap"] >> i & 1) for i, t in enumerate(ta.ticks)
    )
    # tag byte 1 at 60 + 32, then i128 net and u128 gross little-endian (read by hand)
    assert data[92] == 1
    assert ta.ticks[32].liquidity_net == int.from_bytes(data[93:109], "little", signed=True)
    assert ta.ticks[32].liquidity_gross == int.from_bytes(data[109:125], "little") == 74_989_308_705
    assert orca.encode_tick_array(ta) == data


@pytest.mark.parametrize("folder", [SOL_USDC, SAMO_USDC, CARBON])
def test_every_fixture_account_round_trips_and_derives_its_address(
    fixtures: Path, folder: str
) -> None:
    accounts = _program_accounts(fixtures / folder)
    assert len(accounts) >= 3
    for meta, data in accounts:
        if data[:8] == orca.DISC_WHIRLPOOL:
            w = orca.decode_whirlpool(data, meta["pubkey"])
            assert orca.encode_whirlpool(w) == data
            assert orca.decode_whirlpool(orca.encode_whirlpool(w), meta["pubkey"]) == w
        else:
            ta = orca.decode_tick_array(data, meta["pubkey"])
            assert orca.encode_tick_array(ta) == data
            assert orca.tick_array_address(ta.whirlpool, ta.start_tick_index) == meta["pubkey"]


def test_sol_usdc_tick_arrays_cover_the_seven_source_start_indices(fixtures: Path) -> None:
    folder = fixtures / SOL_USDC
    starts = sorted(
        orca.decode_tick_array(d).start_tick_index
        for _, d in _program_accounts(folder)
        if d[:8] == orca.DISC_TICK_ARRAY
    )
    summary = json.loads((folder / "expected.json").read_text())[
        "pool_summary_not_from_source_tests"
    ]
    assert starts == summary["tick_array_start_indices_included"]
    assert orca.tick_array_start_index(-32101, 64) == -33792


def test_wrong_discriminator_is_a_decode_error_naming_the_account(fixtures: Path) -> None:
    data = _account(fixtures / SOL_USDC, "HJPjoWUrhoZzkNfRpHuieeFk9WcZWjwy6PBjZ81ngndJ")
    with pytest.raises(DecodeError, match=r"account HJPjo.*Whirlpool discriminator"):
        orca.decode_whirlpool(
            b"\x00" * 8 + data[8:], "HJPjoWUrhoZzkNfRpHuieeFk9WcZWjwy6PBjZ81ngndJ"
        )
    with pytest.raises(DecodeError, match="neither TickArray nor DynamicTickArray"):
        orca.decode_tick_array(data)


def test_wrong_sizes_are_decode_errors(fixtures: Path) -> None:
    w = _account(fixtures / SOL_USDC, "HJPjoWUrhoZzkNfRpHuieeFk9WcZWjwy6PBjZ81ngndJ")
    with pytest.raises(DecodeError, match="Whirlpool size 652 != 653"):
        orca.decode_whirlpool(w[:-1])
    ta = _account(fixtures / SOL_USDC, "2Eh8HEeu45tCWxY6ruLLRN6VcTSD7bfshGj7bZA87Kne")
    with pytest.raises(DecodeError, match="TickArray size 9989 != 9988"):
        orca.decode_tick_array(ta + b"\x00")
    dyn = _account(fixtures / CARBON, "FmnzW4qBd5fkyDtqPjA5a3vpQeqstSEG12REFb68dTZa")
    with pytest.raises(DecodeError, match="DynamicTickArray size 147 outside"):
        orca.decode_tick_array(dyn[:147])


def test_dynamic_tick_array_bitmap_disagreeing_with_ticks_is_rejected(fixtures: Path) -> None:
    dyn = bytearray(_account(fixtures / CARBON, "FmnzW4qBd5fkyDtqPjA5a3vpQeqstSEG12REFb68dTZa"))
    dyn[44] |= 1  # claims tick 0 initialized while its tag says uninitialized
    with pytest.raises(DecodeError, match="tick_bitmap bit 0 disagrees with ticks\\[0\\]"):
        orca.decode_tick_array(bytes(dyn))


def test_fixed_tick_with_bad_initialized_byte_is_rejected(fixtures: Path) -> None:
    ta = bytearray(_account(fixtures / SOL_USDC, "2Eh8HEeu45tCWxY6ruLLRN6VcTSD7bfshGj7bZA87Kne"))
    ta[12 + 5 * 113] = 2
    with pytest.raises(DecodeError, match=r"ticks\[5\]\.initialized byte is 2"):
        orca.decode_tick_array(bytes(ta))


@pytest.mark.parametrize(
    ("tick", "spacing", "start"),
    [
        (-32101, 64, -33792),
        (0, 64, 0),
        (-1, 64, -5632),
        (5631, 64, 0),
        (5632, 64, 5632),
        (-1, 1, -88),
    ],
)
def test_tick_array_start_index_floors_to_the_array_span(
    tick: int, spacing: int, start: int
) -> None:
    assert orca.tick_array_start_index(tick, spacing) == start


_u128 = st.integers(0, (1 << 128) - 1)
_i128 = st.integers(-(1 << 127), (1 << 127) - 1)
_key = st.binary(min_size=32, max_size=32).map(lambda b: str(Pubkey.from_bytes(b)))
# Only states the program can write round-trip: an initialized tick has liquidity_gross > 0 and
# |liquidity_net| <= liquidity_gross; an uninitialized one is all zero (impossible states are
# refused, see test_decoder_fuzz / the invariant tests below).
_live_tick = st.integers(1, (1 << 128) - 1).flatmap(
    lambda gross: st.builds(
        Tick,
        st.just(True),
        st.integers(-min(gross, 1 << 127), min(gross, (1 << 127) - 1)),
        st.just(gross),
        _u128,
        _u128,
        st.tuples(_u128, _u128, _u128),
    )
)
_tick = st.one_of(st.just(Tick.empty()), _live_tick)
_sqrt_price = st.integers(MIN_SQRT_PRICE_X64, MAX_SQRT_PRICE_X64)


@st.composite
def _price_and_tick(draw: st.DrawFn) -> tuple[int, int]:
    """A sqrt price in the program's range and a current tick the program could store for it."""
    sqrt_price = draw(_sqrt_price)
    tick = tick_index_from_sqrt_price(sqrt_price)
    if sqrt_price_from_tick_index(tick) == sqrt_price and draw(st.booleans()):
        tick -= 1  # an a->b swap that stopped exactly on the boundary
    return sqrt_price, tick


@given(
    _price_and_tick().flatmap(
        lambda pt: st.builds(
            Whirlpool,
            _key,
            st.integers(0, 255),
            st.integers(1, 65535),
            st.integers(0, 65535),
            st.integers(0, ORCA_MAX_FEE_RATE),
            st.integers(0, ORCA_MAX_PROTOCOL_FEE_RATE),
            _u128,
            st.just(pt[0]),
            st.just(pt[1]),
            st.integers(0, (1 << 64) - 1),
            st.integers(0, (1 << 64) - 1),
            _key,
            _key,
            _u128,
            _key,
            _key,
            _u128,
            st.integers(0, (1 << 64) - 1),
            st.tuples(*[st.builds(WhirlpoolRewardInfo, _key, _key, _key, _u128, _u128)] * 3),
        )
    )
)
def test_whirlpool_encode_decode_round_trip(w: Whirlpool) -> None:
    assert orca.decode_whirlpool(orca.encode_whirlpool(w)) == w


@settings(max_examples=40)
@given(st.integers(-(1 << 31), (1 << 31) - 1), st.lists(_tick, min_size=88, max_size=88), _key)
def test_fixed_tick_array_encode_decode_round_trip(
    start: int, ticks: list[Tick], pool: str
) -> None:
    ta = TickArray(start, tuple(ticks), pool)
    assert orca.decode_tick_array(orca.encode_tick_array(ta)) == ta


@settings(max_examples=40)
@given(st.lists(st.one_of(st.just(Tick.empty()), _live_tick), min_size=88, max_size=88))
def test_dynamic_tick_array_encode_decode_round_trip(ticks: list[Tick]) -> None:
    ta = TickArray(
        -5632, tuple(ticks), "XbZJ25spXckFsU7xYD2Sr3FkXsiw991yHPshExYSpD9", is_dynamic=True
    )
    assert orca.decode_tick_array(orca.encode_tick_array(ta)) == ta
