"""Raydium CLMM account decoding against real mainnet accounts (../shared/fixtures, in place)."""

from __future__ import annotations

import json
import re
from decimal import Decimal, getcontext
from pathlib import Path
from typing import Any

import pytest
from solders.pubkey import Pubkey

from connectors.solana import raydium_clmm as rc
from operators.clmm.raydium_accounts import TickArrayBitmapExtension
from operators.errors import DecodeError
from tests.conftest import load_account

CARBON = "solana/raydium_clmm/carbon_decoder_fixtures"
ORACLE = "solana/raydium_clmm/openbook_v2_oracle_fixture"
POOL = "AcPS8SrzXDwPxk6LLz2tykwFEsSeD5LtctMLVeh2shq8"
CONFIG = "9iFER3bpjf1PTTCQCfTRu17EJgvsxo9pVyA9QWwEuX4x"
TICK_ARRAY = "HBytvMypGaPRENK9w9HmtFeNLr9xCHvPamcCiiYsYvqY"
SOL_USDC = "2QdhepnKRTLjjSqPL1PtKNwqrUkoLee5Gqs8bvZhRdMv"


def _expected(fixtures: Path, address: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((fixtures / CARBON / "expected.json").read_text())
    fields: dict[str, Any] = data["accounts"][address]["fields"]
    return fields


def _account(fixtures: Path, folder: str, prefix: str, address: str) -> bytes:
    return load_account(fixtures / folder / f"{prefix}.{address}.json")[1]


def _rust_name(carbon_name: str) -> str:
    # carbon spells `token_mint0`, the program `token_mint_0` (paddingN keeps its name)
    if carbon_name.startswith("padding"):
        return carbon_name
    return re.sub(r"([a-z])([01])(?=_|$)", r"\1_\2", carbon_name)


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return list(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def test_pool_state_decodes_every_field_carbon_asserts(fixtures: Path) -> None:
    pool = rc.decode_pool_state(_account(fixtures, CARBON, "pool_state", POOL))
    expected = _expected(fixtures, POOL)
    assert len(expected) == 38
    for name, value in expected.items():
        if name == "bump":
            assert [pool.bump] == value
        elif name == "reward_infos":
            for got, want in zip(pool.reward_infos, value, strict=True):
                for k, v in want.items():
                    assert getattr(got, k) == v, k
        else:
            assert _plain(getattr(pool, _rust_name(name))) == value, name
    assert pool.tick_array_bitmap_u1024 == 0
    assert (pool.fee_on, pool.dynamic_fee_enabled, pool.swap_enabled) == (0, False, True)


def test_amm_config_decodes_every_field_carbon_asserts(fixtures: Path) -> None:
    config = rc.decode_amm_config(_account(fixtures, CARBON, "amm_config", CONFIG))
    for name, value in _expected(fixtures, CONFIG).items():
        assert _plain(getattr(config, name)) == value, name


def test_tick_array_decodes_header_and_every_tick(fixtures: Path) -> None:
    arr = rc.decode_tick_array(_account(fixtures, CARBON, "tick_array_state", TICK_ARRAY))
    expected = _expected(fixtures, TICK_ARRAY)
    assert arr.pool_id == expected["pool_id"]
    assert arr.start_tick_index == expected["start_tick_index"] == -13860
    assert arr.initialized_tick_count == expected["initialized_tick_count"]
    assert arr.recent_epoch == expected["recent_epoch"]
    assert list(arr.padding) == expected["padding"]
    assert len(arr.ticks) == 60
    nonzero = expected["ticks_nonzero"]
    for i, tick in enumerate(arr.ticks):
        want = nonzero.get(str(i))
        if want is None:
            assert tick.tick == 0 and tick.liquidity_gross == 0 and tick.liquidity_net == 0
            continue
        for k, v in want.items():
            assert _plain(getattr(tick, _rust_name(k))) == v, (i, k)
    assert arr.initialized_offsets == ()


@pytest.mark.parametrize(
    ("folder", "prefix", "address", "decode", "encode"),
    [
        (CARBON, "pool_state", POOL, rc.decode_pool_state, rc.encode_pool_state),
        (CARBON, "amm_config", CONFIG, rc.decode_amm_config, rc.encode_amm_config),
        (CARBON, "tick_array_state", TICK_ARRAY, rc.decode_tick_array, rc.encode_tick_array),
        (ORACLE, "pool_state", SOL_USDC, rc.decode_pool_state, rc.encode_pool_state),
    ],
)
def test_encode_of_decode_gives_back_the_account_bytes(
    fixtures: Path, folder: str, prefix: str, address: str, decode: Any, encode: Any
) -> None:
    raw = _account(fixtures, folder, prefix, address)
    assert encode(decode(raw)) == raw


def test_sol_usdc_pool_price_matches_sdk_ui_price(fixtures: Path) -> None:
    pool = rc.decode_pool_state(_account(fixtures, ORACLE, "pool_state", SOL_USDC))
    assert (pool.tick_spacing, pool.tick_current, pool.liquidity) == (10, -37105, 27969667954126)
    assert (pool.mint_decimals_0, pool.mint_decimals_1) == (9, 6)
    getcontext().prec = 60
    sqrt = Decimal(pool.sqrt_price_x64) / Decimal(2**64)
    price = sqrt * sqrt * Decimal(10) ** (pool.mint_decimals_0 - pool.mint_decimals_1)
    assert abs(price - Decimal("24.47008796427385")) <= Decimal("1e-10")


def test_pool_address_is_the_pda_of_config_and_mints(fixtures: Path) -> None:
    pool = rc.decode_pool_state(_account(fixtures, CARBON, "pool_state", POOL))
    keys = (pool.amm_config, pool.token_mint_0, pool.token_mint_1)
    seeds = [b"pool"] + [bytes(Pubkey.from_string(k)) for k in keys]
    pda, bump = Pubkey.find_program_address(seeds, Pubkey.from_string(rc.RAYDIUM_CLMM_PROGRAM_ID))
    assert (str(pda), bump) == (POOL, pool.bump)


def test_tick_array_address_derives_the_fixture_account() -> None:
    assert (
        rc.tick_array_address("2AP2wU8HnpsxJ2ErSjWeSRzG1HLootMoisthJouWJLka", -13860) == TICK_ARRAY
    )


def test_bitmap_extension_address_is_an_off_curve_pda() -> None:
    address = rc.bitmap_extension_address(POOL)
    assert address == rc.bitmap_extension_address(POOL)
    assert Pubkey.from_string(address).is_on_curve() is False
    assert address != rc.bitmap_extension_address(SOL_USDC)


def test_bitmap_extension_round_trips_its_bitmaps() -> None:
    pos = tuple(tuple((i * 8 + j) * 3 for j in range(8)) for i in range(14))
    neg = tuple(tuple(2**64 - 1 - i - j for j in range(8)) for i in range(14))
    ext = TickArrayBitmapExtension(POOL, pos, neg)
    raw = rc.encode_tick_array_bitmap_extension(ext)
    assert len(raw) == 1832
    back = rc.decode_tick_array_bitmap_extension(raw)
    assert back == ext
    assert back.bitmap_u512(False, 1) == sum(((8 + j) * 3) << (64 * j) for j in range(8))


def test_wrong_size_raises_decode_error_naming_the_account(fixtures: Path) -> None:
    raw = _account(fixtures, CARBON, "pool_state", POOL)
    with pytest.raises(DecodeError, match=r"raydium PoolState.*size 1543"):
        rc.decode_pool_state(raw[:-1])


def test_wrong_discriminator_raises_decode_error_naming_the_account(fixtures: Path) -> None:
    raw = _account(fixtures, CARBON, "amm_config", CONFIG)
    bad = bytes(8) + raw[8:]
    with pytest.raises(DecodeError, match=r"raydium AmmConfig.*discriminator"):
        rc.decode_amm_config(bad)
    with pytest.raises(DecodeError, match="raydium TickArrayState"):
        rc.decode_tick_array(_account(fixtures, CARBON, "pool_state", POOL))
    with pytest.raises(DecodeError, match="raydium TickArrayBitmapExtension"):
        rc.decode_tick_array_bitmap_extension(bytes(1832))
