"""Compute unit limits per venue and the priority fee -> ComputeBudget price conversion."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import DexComputeSettings, load_settings
from connectors.solana.compute import (
    MAX_CU_LIMIT,
    cu_limit_for,
    cu_price_micro_lamports,
    measured_limit,
)
from operators.errors import ConfigError, ExecutionError

SETTINGS = DexComputeSettings(
    cu_limits={"orca": 300_000, "phoenix": 200_000}, measure_margin_bps=2_000
)


def test_the_configured_limit_is_used_for_a_venue_not_measured() -> None:
    assert cu_limit_for("orca", SETTINGS) == 300_000
    assert cu_limit_for("phoenix", SETTINGS, {"orca": 100_000}) == 200_000


def test_a_measured_venue_gets_its_units_plus_the_margin_rounded_up() -> None:
    assert cu_limit_for("orca", SETTINGS, {"orca": 100_000}) == 120_000
    assert cu_limit_for("orca", SETTINGS, {"orca": 100_001}) == 120_002  # 120_001.2 up
    # measured beats the configured value in both directions
    assert cu_limit_for("phoenix", SETTINGS, {"phoenix": 250_000}) == 300_000


def test_a_measured_limit_is_capped_at_the_runtime_ceiling() -> None:
    assert measured_limit(1_200_000, 2_000) == MAX_CU_LIMIT == 1_400_000
    assert measured_limit(1_000_000, 0) == 1_000_000
    with pytest.raises(ConfigError, match="measured units 0"):
        measured_limit(0, 2_000)


def test_a_venue_with_no_limit_is_refused_naming_the_key_to_set() -> None:
    with pytest.raises(ConfigError, match=r"\[dex_compute.cu_limits\] openbook = <units>"):
        cu_limit_for("openbook", SETTINGS)


def test_the_default_config_sizes_every_dex_venue() -> None:
    settings = load_settings()
    dex = sorted(v for v, s in settings.venues.items() if s.kind in ("clmm", "clob"))
    assert sorted(settings.dex_compute.cu_limits) == dex
    assert {v: cu_limit_for(v, settings) for v in dex} == {
        "openbook": 250_000,
        "orca": 300_000,
        "phoenix": 200_000,
        "raydium_clmm": 300_000,
    }
    assert cu_limit_for("orca", settings.dex_compute) == cu_limit_for("orca", settings)
    assert (settings.dex_compute.measure_at_startup, settings.dex_compute.measure_margin_bps) == (
        False,
        2_000,
    )


def test_a_limit_outside_the_runtime_range_is_a_config_error() -> None:
    with pytest.raises(ValueError, match=r"\[1, 1400000\]"):
        DexComputeSettings(cu_limits={"orca": 1_400_001})
    with pytest.raises(ValueError, match=r"\[1, 1400000\]"):
        DexComputeSettings(cu_limits={"orca": 0})


def test_price_spreads_the_fee_over_the_limit_rounded_down() -> None:
    assert cu_price_micro_lamports(10_000, 200_000) == 50_000
    assert cu_price_micro_lamports(1, 300_000) == 3  # 3.33 down: charged ceil(0.9) = 1
    assert cu_price_micro_lamports(0, 200_000) == 0
    assert cu_price_micro_lamports(7, 1_400_000) == 5  # charged ceil(7.0) = 7
    assert cu_price_micro_lamports(1, 1_400_000) == 0  # 0.71 down: charged 0, one under
    assert cu_price_micro_lamports(10**20, 1) == (1 << 64) - 1  # capped at u64


def test_price_refuses_a_limit_outside_the_runtime_range_or_a_negative_fee() -> None:
    with pytest.raises(ExecutionError, match="outside"):
        cu_price_micro_lamports(1_000, 0)
    with pytest.raises(ExecutionError, match="outside"):
        cu_price_micro_lamports(1_000, MAX_CU_LIMIT + 1)
    with pytest.raises(ExecutionError, match="negative priority fee"):
        cu_price_micro_lamports(-1, 200_000)


@given(
    fee=st.integers(min_value=0, max_value=10**12),
    limit=st.integers(min_value=1, max_value=MAX_CU_LIMIT),
)
def test_the_runtimes_charge_never_exceeds_the_fee_and_misses_it_by_at_most_a_lamport(
    fee: int, limit: int
) -> None:
    price = cu_price_micro_lamports(fee, limit)
    charged = -(-limit * price // 1_000_000)
    assert charged <= fee
    assert charged >= fee - (0 if limit <= 1_000_000 else 1)
    # the largest such price: one micro-lamport more overspends
    assert -(-limit * (price + 1) // 1_000_000) > fee
