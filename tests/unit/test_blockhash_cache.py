"""The recent-blockhash cache: refresh period, validity margin and height estimate."""

from __future__ import annotations

import pytest

from connectors.solana.blockhash import BlockhashCache, BlockhashSettings, RecentBlockhash
from operators.errors import ConfigError, ExecutionError

MS = 1_000_000
SETTINGS = BlockhashSettings(refresh_ms=2_000, slot_ms=400, min_remaining_blocks=40)


def test_nothing_held_is_due_and_refused() -> None:
    cache = BlockhashCache(SETTINGS)
    assert (cache.refresh_due(0), cache.next_refresh_ns(0)) == (True, 0)
    with pytest.raises(ExecutionError, match="no recent blockhash") as info:
        cache.get(0)
    assert (info.value.retryable, info.value.code) == (True, "blockhash_stale")


def test_a_fresh_blockhash_is_handed_out_until_its_margin_is_used_up() -> None:
    cache = BlockhashCache(SETTINGS)
    cache.update(RecentBlockhash("H1", 1_150), block_height=1_000, now_ns=0)
    assert cache.get(0) == RecentBlockhash("H1", 1_150)
    assert (cache.refresh_due(1_999 * MS), cache.refresh_due(2_000 * MS)) == (False, True)
    assert cache.next_refresh_ns(500 * MS) == 1_500 * MS
    # 110 blocks later 40 remain: still usable; one block more and it is not
    assert cache.estimated_height(110 * 400 * MS) == 1_110
    assert cache.get(110 * 400 * MS).blockhash == "H1"
    with pytest.raises(ExecutionError):
        cache.get(111 * 400 * MS)
    assert cache.remaining_blocks(111 * 400 * MS) == 39


def test_a_height_read_re_anchors_the_estimate_but_never_backwards() -> None:
    cache = BlockhashCache(SETTINGS)
    cache.update(RecentBlockhash("H1", 1_150), block_height=1_000, now_ns=0)
    cache.observe_height(1_100, 400 * MS)  # the cluster ran faster than the estimate
    assert (cache.estimated_height(400 * MS), cache.usable(400 * MS)) == (1_100, True)
    assert cache.refresh_due(400 * MS) is False
    cache.observe_height(1_050, 800 * MS)  # a lagging node's height is ignored
    assert cache.estimated_height(800 * MS) == 1_101
    cache.observe_height(1_111, 800 * MS)
    assert (cache.usable(800 * MS), cache.refresh_due(800 * MS)) == (False, True)


def test_a_refresh_period_longer_than_the_margin_is_refused() -> None:
    with pytest.raises(ConfigError, match="refresh_ms 16000 must be shorter"):
        BlockhashSettings(refresh_ms=16_000, slot_ms=400, min_remaining_blocks=40)


def test_the_dex_execution_config_section_builds_every_setting() -> None:
    from config import DexExecutionSettings
    from connectors.solana.sender import SendSettings
    from connectors.solana.wsol import WsolPolicy

    cfg = DexExecutionSettings(
        skip_preflight=True, confirm_commitment="finalized", rebroadcast_ms=300,
        blockhash_refresh_ms=1_000, blockhash_min_remaining_blocks=30,
        wsol_floor_lamports=5, wsol_target_lamports=9,
    )  # fmt: skip
    assert SendSettings.from_config(cfg) == SendSettings(
        skip_preflight=True, commitment="finalized", rebroadcast_ms=300
    )
    assert BlockhashSettings.from_config(cfg) == BlockhashSettings(
        refresh_ms=1_000, min_remaining_blocks=30
    )
    assert WsolPolicy.from_config(cfg) == WsolPolicy(5, 9)
    with pytest.raises(ValueError, match="wsol_floor_lamports must be below"):
        DexExecutionSettings(wsol_floor_lamports=9, wsol_target_lamports=9)
