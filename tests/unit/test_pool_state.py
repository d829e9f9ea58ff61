"""ClmmPoolState: tick-array window, slot ordering, staleness and resync, venue-generic."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from operators.clmm.accounts import Tick
from operators.clmm.accounts import TickArray as OrcaTickArray
from operators.clmm.accounts import Whirlpool as OrcaPool
from operators.clmm.math import sqrt_price_from_tick_index
from operators.clmm.raydium_accounts import AmmConfig as RaydiumConfig
from operators.clmm.raydium_accounts import PoolState as RaydiumPool
from operators.clmm.raydium_accounts import RaydiumTickArray as RTickArray
from operators.clob import BookSide, OpenBookLeaf, OpenBookMarket, PhoenixMarket, PhoenixOrder
from operators.errors import DecodeError
from operators.events import HealthEvent, PoolUpdate
from operators.pool_state import ClmmPoolState, ClobMarketState, start_index_for
from operators.views import ClmmView, ClobView
from tests.unit.raydium_pools import CONFIG, Z, make_pool, tick_state

POOL = "HJPjoWUrhoZzkNfRpHuieeFk9WcZWjwy6PBjZ81ngndJ"
MS = 1_000_000


# Real decoded types (the operator dispatches on them), built with only the fields it reads set.
def Whirlpool(tick_current_index: int, tick_spacing: int) -> OrcaPool:
    return OrcaPool.simulated(
        whirlpools_config=Z, tick_spacing=tick_spacing, fee_rate=3000, liquidity=0,
        sqrt_price=sqrt_price_from_tick_index(tick_current_index),
        tick_current_index=tick_current_index, token_mint_a=Z, token_mint_b=Z,
        token_vault_a=Z, token_vault_b=Z,
    )  # fmt: skip


def TickArray(start_tick_index: int, ticks: tuple[int, ...], whirlpool: str) -> OrcaTickArray:
    return OrcaTickArray(start_tick_index, tuple(Tick.empty() for _ in range(88)), whirlpool)


def PoolState(tick_current: int, tick_spacing: int) -> RaydiumPool:
    return make_pool(tick_spacing, tick_current, [])[0]


def RaydiumTickArray(start_tick_index: int, ticks: tuple[int, ...], pool_id: str) -> RTickArray:
    slots = tuple(tick_state(0) for _ in range(60))
    return RTickArray(pool_id, start_tick_index, slots, 0, 0, bytes(107))


def AmmConfig(trade_fee_rate: int) -> RaydiumConfig:
    return replace(CONFIG, trade_fee_rate=trade_fee_rate)


def _state() -> ClmmPoolState:
    return ClmmPoolState(
        "orca", f"orca:{POOL}", "SOL/USDC", "USDC", True, stale_after_ns=2_000 * MS
    )


def _upd(account: str, decoded: object, slot: int, t_ms: int, role: str = "") -> PoolUpdate:
    return PoolUpdate("orca", f"orca:{POOL}", account, role, decoded, slot, 0, t_ms * MS)


def _ta(start: int) -> TickArray:
    return TickArray(start, (0,) * 88, POOL)


def _views(out: list[ClmmView | HealthEvent]) -> list[ClmmView]:
    return [o for o in out if isinstance(o, ClmmView)]


def _feed(state: ClmmPoolState, tick: int, slot: int, t_ms: int) -> list[ClmmView | HealthEvent]:
    out = state.on_account(_upd(POOL, Whirlpool(tick, 64), slot, t_ms))
    for start in state.wanted_tick_array_starts():
        out += state.on_account(_upd(f"ta{start}", _ta(start), slot, t_ms))
    return out


def test_wanted_starts_are_the_seven_arrays_around_sol_usdc_tick() -> None:
    state = _state()
    state.on_account(_upd(POOL, Whirlpool(-32101, 64), 10, 1))
    assert state.wanted_tick_array_starts() == [
        -50688,
        -45056,
        -39424,
        -33792,
        -28160,
        -22528,
        -16896,
    ]


def test_wanted_starts_equal_the_real_sol_usdc_fixture_arrays(fixtures: Path) -> None:
    folder = fixtures / "solana/orca_whirlpool/sol_usdc_ts64_2022-11"
    held = sorted(-int(p.name.split(".")[0][4:]) for p in folder.glob("ta_n*.json"))
    state = _state()
    state.on_account(_upd(POOL, Whirlpool(-32101, 64), 10, 1))  # expected.json tick/spacing
    assert state.wanted_tick_array_starts() == held


def test_view_not_in_sync_until_pool_and_current_array_held() -> None:
    state = _state()
    v1 = _views(state.on_account(_upd("ta-28160", _ta(-28160), 10, 1)))
    v2 = _views(state.on_account(_upd(POOL, Whirlpool(-32101, 64), 10, 2)))
    out = state.on_account(_upd("ta-33792", _ta(-33792), 10, 3))
    assert [v1[0].in_sync, v2[0].in_sync, _views(out)[0].in_sync] == [False, False, True]
    assert [o.status for o in out if isinstance(o, HealthEvent)] == ["up"]
    assert [a.start_tick_index for a in state.view().tick_arrays] == [-33792, -28160]


def test_older_slot_never_overwrites_newer_pool() -> None:
    state = _state()
    _feed(state, -32101, 20, 1)
    assert state.on_account(_upd(POOL, Whirlpool(-20000, 64), 19, 2)) == []
    assert state.view().pool == Whirlpool(-32101, 64)
    assert state.stale_dropped == 1
    state.on_account(_upd(POOL, Whirlpool(-32000, 64), 20, 3))  # same slot is accepted
    assert state.view().pool == Whirlpool(-32000, 64)


def test_price_move_to_new_array_changes_wanted_and_flags_until_it_arrives() -> None:
    state = _state()
    _feed(state, -32101, 20, 1)
    out = state.on_account(_upd(POOL, Whirlpool(-3000, 64), 21, 2))
    assert state.wanted_tick_array_starts() == [-22528, -16896, -11264, -5632, 0, 5632, 11264]
    assert _views(out)[0].in_sync is False
    assert sorted(state.arrays) == [-22528, -16896]
    out = state.on_account(_upd("ta-5632", _ta(-5632), 21, 3))
    assert _views(out)[0].in_sync is True


def test_silence_longer_than_stale_after_flags_view_and_emits_health() -> None:
    state = _state()
    _feed(state, -32101, 20, 1_000)
    assert state.on_clock(2_900 * MS) == []
    out = state.on_clock(3_001 * MS)
    assert [(type(o).__name__, getattr(o, "status", None)) for o in out] == [
        ("HealthEvent", "stale"),
        ("ClmmView", None),
    ]
    assert _views(out)[0].in_sync is False
    # a lone pool update is not enough: the current array must be fresh too
    assert (
        _views(state.on_account(_upd(POOL, Whirlpool(-32101, 64), 30, 3_100)))[0].in_sync is False
    )
    assert _views(state.on_account(_upd("ta-33792", _ta(-33792), 30, 3_100)))[0].in_sync is True


def test_feed_down_flags_every_view_until_data_after_resync() -> None:
    state = _state()
    _feed(state, -32101, 20, 1)
    down = HealthEvent("orca:feed", "lag", "primary0 lags 40 slots", 5 * MS, 5 * MS)
    flags = [v.in_sync for v in _views(state.on_health(down))]
    flags += [v.in_sync for v in _views(_feed(state, -32101, 21, 6))]
    up = HealthEvent("orca:feed", "resync", "primary1", 7 * MS, 7 * MS)
    flags += [v.in_sync for v in _views(state.on_health(up))]
    assert flags == [False] * len(flags) and len(flags) == 10
    assert _views(_feed(state, -32101, 22, 8))[-1].in_sync is True


def test_raydium_pool_needs_amm_config_and_uses_60_tick_arrays() -> None:
    state = ClmmPoolState(
        "raydium_clmm",
        "raydium_clmm:P",
        "SOL/USDC",
        "USDC",
        True,
        stale_after_ns=2_000 * MS,
        arrays_each_side=1,
    )
    state.on_account(_upd("P", PoolState(71168, 1), 5, 1))
    assert state.wanted_tick_array_starts() == [71100, 71160, 71220]
    out = state.on_account(_upd("T", RaydiumTickArray(71160, (0,) * 60, "P"), 5, 2))
    assert _views(out)[0].in_sync is False
    assert _views(state.on_account(_upd("C", AmmConfig(100), 5, 3)))[0].in_sync is True


def test_tick_array_of_another_pool_raises_decode_error_naming_account() -> None:
    state = _state()
    state.on_account(_upd(POOL, Whirlpool(-32101, 64), 10, 1))
    with pytest.raises(DecodeError, match=r"account taX: .*belongs to pool OTHER"):
        state.on_account(_upd("taX", TickArray(-33792, (), "OTHER"), 10, 2))


def test_absent_current_array_counts_as_known_empty() -> None:
    state = _state()
    state.on_account(_upd(POOL, Whirlpool(-32101, 64), 10, 1))
    assert _views(state.on_absent_tick_array(-33792, 2 * MS))[0].in_sync is True


@given(st.integers(-443636, 443636), st.sampled_from([1, 8, 64, 128]), st.sampled_from([60, 88]))
def test_start_index_holds_tick_and_is_aligned(tick: int, spacing: int, per: int) -> None:
    start = start_index_for(tick, spacing, per)
    assert start <= tick < start + spacing * per
    assert start % (spacing * per) == 0


def test_real_sol_usdc_accounts_make_an_in_sync_view_with_seven_arrays(fixtures: Path) -> None:
    from connectors.solana.orca import decode_tick_array, decode_whirlpool
    from tests.conftest import load_account

    folder = fixtures / "solana/orca_whirlpool/sol_usdc_ts64_2022-11"
    state = _state()
    for path in sorted(folder.glob("ta_n*.json")):
        meta, data = load_account(path)
        state.on_account(_upd(meta["pubkey"], decode_tick_array(data, meta["pubkey"]), 7, 1))
    meta, data = load_account(folder / f"whirlpool.{POOL}.json")
    out = state.on_account(_upd(POOL, decode_whirlpool(data, POOL), 7, 2))
    view = _views(out)[0]
    assert (view.in_sync, view.slot, view.pool.tick_current_index) == (True, 7, -32101)
    assert [a.start_tick_index for a in view.tick_arrays] == state.wanted_tick_array_starts()
    assert len(view.tick_arrays) == 7


# ---------------------------------------------------------------- on-chain CLOB markets


def _make(cls: type, **overrides: object) -> object:
    """An instance with every field zero/empty except `overrides` (only the read fields matter)."""
    values: dict[str, object] = {}
    for f in fields(cls):
        if not f.init:
            continue
        kind = str(f.type)
        zero: object = (
            () if "tuple" in kind else [] if "Ladder" in kind else "" if "str" in kind else 0
        )
        values[f.name] = overrides.get(f.name, 0.0 if kind == "float" else zero)
    return cls(**values)


def _clob_upd(account: str, decoded: object, slot: int, t_ms: int) -> PoolUpdate:
    return PoolUpdate("openbook", "openbook:M", account, "", decoded, slot, 0, t_ms * MS)


def _leaf(price_lots: int, qty: int) -> OpenBookLeaf:
    return OpenBookLeaf(key=price_lots << 64, quantity=qty, timestamp=0)


def test_openbook_view_needs_market_and_both_sides_of_this_epoch() -> None:
    state = ClobMarketState("openbook", "openbook:M", "SOL/USDC", "USDC", stale_after_ns=2_000 * MS)
    market = _make(
        OpenBookMarket, bids="B", asks="A", base_lot_size=10, quote_lot_size=1, taker_fee=400
    )
    bids = BookSide("bids", (_leaf(150, 3), _leaf(149, 2)), ())
    asks = BookSide("asks", (_leaf(151, 4),), ())
    flags = [_clob_views(state.on_account(_clob_upd("M", market, 5, 1)))[0].in_sync]
    flags.append(_clob_views(state.on_account(_clob_upd("B", bids, 5, 2)))[0].in_sync)
    view = _clob_views(state.on_account(_clob_upd("A", asks, 5, 3)))[0]
    assert [*flags, view.in_sync] == [False, False, True]
    assert (view.bids, view.asks, view.taker_fee_bps) == (((150, 3), (149, 2)), ((151, 4),), 4.0)
    assert state.on_account(_clob_upd("A", BookSide("asks", (), ()), 4, 4)) == []
    down = HealthEvent("solana:feed", "down", "closed", 5 * MS, 5 * MS)
    assert _clob_views(state.on_health(down))[0].in_sync is False
    state.on_health(HealthEvent("solana:feed", "resync", "primary1", 6 * MS, 6 * MS))
    assert _clob_views(state.on_account(_clob_upd("M", market, 6, 7)))[0].in_sync is False
    state.on_account(_clob_upd("B", bids, 6, 7))
    assert _clob_views(state.on_account(_clob_upd("A", asks, 6, 7)))[0].in_sync is True


def test_openbook_side_from_the_wrong_account_is_a_decode_error() -> None:
    state = ClobMarketState("openbook", "openbook:M", "SOL/USDC", "USDC", stale_after_ns=2_000 * MS)
    state.on_account(
        _clob_upd(
            "M", _make(OpenBookMarket, bids="B", asks="A", base_lot_size=1, quote_lot_size=1), 5, 1
        )
    )
    with pytest.raises(DecodeError, match="account X: openbook:M: bids side should be B, got X"):
        state.on_account(_clob_upd("X", BookSide("bids", (), ()), 5, 2))


def test_phoenix_view_is_in_sync_from_the_market_account_alone() -> None:
    state = ClobMarketState("phoenix", "phoenix:P", "SOL/USDC", "USDC", stale_after_ns=2_000 * MS)
    market = _make(
        PhoenixMarket,
        status=1,
        base_lot_size=1000,
        quote_lot_size=1,
        base_lots_per_base_unit=1000,
        tick_size_in_quote_lots_per_base_unit=1000,
        taker_fee_bps=2,
        bid_orders=(PhoenixOrder(150, 1, 0, 7),),
    )
    view = _clob_views(state.on_account(_clob_upd("P", market, 9, 1)))[0]
    assert (view.in_sync, view.bids, view.asks, view.slot) == (True, ((150, 7),), (), 9)


def _clob_views(out: list[object]) -> list[ClobView]:
    return [o for o in out if isinstance(o, ClobView)]


def test_real_raydium_accounts_need_config_and_refuse_another_pools_array(fixtures: Path) -> None:
    from connectors.solana import raydium_clmm as ray
    from tests.conftest import load_account

    folder = fixtures / "solana/raydium_clmm/carbon_decoder_fixtures"
    pool_key = "AcPS8SrzXDwPxk6LLz2tykwFEsSeD5LtctMLVeh2shq8"
    cfg_key = "9iFER3bpjf1PTTCQCfTRu17EJgvsxo9pVyA9QWwEuX4x"
    ta_key = "HBytvMypGaPRENK9w9HmtFeNLr9xCHvPamcCiiYsYvqY"
    state = ClmmPoolState("raydium_clmm", f"raydium_clmm:{pool_key}", "SOL/USDC", "USDC", True,
                          stale_after_ns=2_000 * MS, arrays_each_side=1)  # fmt: skip

    def upd(key: str, decoded: object) -> PoolUpdate:
        return PoolUpdate("raydium_clmm", state.market_id, key, "", decoded, 9, 0, MS)

    pool = ray.decode_pool_state(load_account(folder / f"pool_state.{pool_key}.json")[1])
    state.on_account(upd(pool_key, pool))
    assert state.wanted_tick_array_starts() == [71100, 71160, 71220]  # tick 71168, spacing 1
    assert _views(state.on_absent_tick_array(71160, 2 * MS))[0].in_sync is False  # no config
    config = ray.decode_amm_config(load_account(folder / f"amm_config.{cfg_key}.json")[1])
    assert _views(state.on_account(upd(cfg_key, config)))[0].in_sync is True
    other = ray.decode_tick_array(load_account(folder / f"tick_array_state.{ta_key}.json")[1])
    with pytest.raises(DecodeError, match=f"account {ta_key}: .*belongs to pool 2AP2wU8H"):
        state.on_account(upd(ta_key, other))


def test_raydium_bitmap_extension_rides_in_the_view_for_far_tick_walks() -> None:
    from operators.clmm.raydium_accounts import TickArrayBitmapExtension

    state = ClmmPoolState(
        "raydium_clmm", "raydium_clmm:P", "SOL/USDC", "USDC", True,
        stale_after_ns=2_000 * MS, arrays_each_side=1,
    )  # fmt: skip
    state.on_account(_upd("P", PoolState(71168, 1), 5, 1))
    state.on_account(_upd("T", RaydiumTickArray(71160, (0,) * 60, "P"), 5, 2))
    state.on_account(_upd("C", AmmConfig(100), 5, 3))
    ext = TickArrayBitmapExtension("P", ((0,) * 8,) * 14, ((0,) * 8,) * 14)
    view = _views(state.on_account(_upd("E", ext, 5, 4)))[0]
    assert view.in_sync is True
    assert view.tick_arrays == (RaydiumTickArray(71160, (0,) * 60, "P"), ext)
