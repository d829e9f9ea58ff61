"""On-chain account invariants: impossible states are DecodeErrors naming venue, account, field.

The programs' own rules (operators/clmm/invariants.py, the CLOB decoders, operators/pool_state.py)
and, end to end, what the market state does with a bad account: report it, keep the last good
state, and flag the view until the account decodes again.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from config import MarketSettings, PairSettings
from connectors.solana import openbook, orca, phoenix
from connectors.solana import raydium_clmm as ray
from engine.markets import ClmmMarketState, MarketRef
from operators.clmm.accounts import Tick, TickArray, Whirlpool
from operators.clmm.invariants import check_amm_config, check_raydium_pool, check_whirlpool
from operators.clmm.math import (
    MAX_SQRT_PRICE_X64,
    MIN_SQRT_PRICE_X64,
    MIN_TICK_INDEX,
    sqrt_price_from_tick_index,
)
from operators.clmm.raydium_math import MAX_SQRT_PRICE_X64 as RAY_MAX_SQRT_PRICE_X64
from operators.clob import BookSide, OpenBookLeaf
from operators.errors import DecodeError
from operators.events import HealthEvent, PoolUpdate, RawFrame
from operators.pool_state import ClmmPoolState, ClobMarketState
from operators.views import ClmmView, ClobView
from tests.conftest import load_account
from tests.unit.raydium_pools import CONFIG, Z, make_pool, tick_state

MS = 1_000_000
T0 = 1_767_225_600_000_000_000
SOL_USDC = "solana/orca_whirlpool/sol_usdc_ts64_2022-11"
POOL = "HJPjoWUrhoZzkNfRpHuieeFk9WcZWjwy6PBjZ81ngndJ"


def _whirlpool(tick: int, sqrt_price: int, **kw: int) -> Whirlpool:
    w = Whirlpool.simulated(
        whirlpools_config=Z, tick_spacing=64, fee_rate=3000, liquidity=10**12,
        sqrt_price=sqrt_price, tick_current_index=tick, token_mint_a=Z, token_mint_b=Z,
        token_vault_a=Z, token_vault_b=Z,
    )  # fmt: skip
    return replace(w, **kw)


# --------------------------------------------------------------------------- CLMM pools


def test_whirlpool_tick_one_below_the_price_is_accepted_only_exactly_on_a_boundary() -> None:
    on_boundary = sqrt_price_from_tick_index(-32100)
    check_whirlpool(_whirlpool(-32100, on_boundary), "P")
    check_whirlpool(_whirlpool(-32101, on_boundary), "P")  # a->b swap stopped on the boundary
    with pytest.raises(
        DecodeError,
        match=r"^account P: orca field tick_current_index -32101 inconsistent with sqrt_price "
        rf"{on_boundary + 1} \(the program stores tick -32100 for that price\)$",
    ):
        check_whirlpool(_whirlpool(-32101, on_boundary + 1), "P")
    with pytest.raises(DecodeError, match="tick_current_index -32102 inconsistent"):
        check_whirlpool(_whirlpool(-32102, on_boundary), "P")


def test_whirlpool_at_the_minimum_price_may_hold_the_tick_below_the_minimum() -> None:
    check_whirlpool(_whirlpool(MIN_TICK_INDEX - 1, MIN_SQRT_PRICE_X64), "P")
    with pytest.raises(DecodeError, match="tick_current_index -443638 outside"):
        check_whirlpool(_whirlpool(MIN_TICK_INDEX - 2, MIN_SQRT_PRICE_X64), "P")


def test_whirlpool_price_fee_and_spacing_beyond_the_program_are_refused() -> None:
    top = MAX_SQRT_PRICE_X64
    check_whirlpool(_whirlpool(443636, top), "P")
    cases = [
        (_whirlpool(443636, top + 1), f"orca field sqrt_price {top + 1} outside \\[4295048016, "),
        (_whirlpool(0, 1 << 64, fee_rate=60_001), "orca field fee_rate 60001 > max 60000"),
        (_whirlpool(0, 1 << 64, protocol_fee_rate=2_501),
         "orca field protocol_fee_rate 2501 > max 2500"),
        (_whirlpool(0, 1 << 64, tick_spacing=0), "orca field tick_spacing is 0"),
    ]  # fmt: skip
    for pool, why in cases:
        with pytest.raises(DecodeError, match=why):
            check_whirlpool(pool, "P")


def test_raydium_price_range_is_half_open_at_the_top() -> None:
    pool = make_pool(10, 0, [])[0]
    top = RAY_MAX_SQRT_PRICE_X64
    check_raydium_pool(replace(pool, sqrt_price_x64=top - 1, tick_current=443635), "P")
    with pytest.raises(DecodeError, match=f"raydium_clmm field sqrt_price_x64 {top} outside"):
        check_raydium_pool(replace(pool, sqrt_price_x64=top, tick_current=443636), "P")


def test_raydium_amm_config_fees_beyond_the_denominator_are_refused() -> None:
    check_amm_config(replace(CONFIG, protocol_fee_rate=960_000, fund_fee_rate=40_000), "C")
    with pytest.raises(DecodeError, match="AmmConfig field trade_fee_rate 1000000 >= 1000000"):
        check_amm_config(replace(CONFIG, trade_fee_rate=1_000_000), "C")
    with pytest.raises(
        DecodeError, match="protocol_fee_rate 960001 \\+ fund_fee_rate 40000 > 1000000"
    ):
        check_amm_config(replace(CONFIG, protocol_fee_rate=960_001, fund_fee_rate=40_000), "C")


# --------------------------------------------------------------------------- tick arrays


def _orca_array(ticks: dict[int, Tick], start: int = 0) -> bytes:
    slots = tuple(ticks.get(i, Tick.empty()) for i in range(88))
    return orca.encode_tick_array(TickArray(start, slots, Z))


def test_orca_tick_liquidity_the_program_cannot_write_is_refused() -> None:
    orca.decode_tick_array(_orca_array({3: Tick.initialized_with(-5, 5)}))
    cases = [
        (Tick.initialized_with(0, 0), "orca ticks\\[3\\] is initialized with liquidity_gross 0"),
        (Tick.initialized_with(-6, 5),
         "orca ticks\\[3\\] \\|liquidity_net\\| 6 > liquidity_gross 5"),
        (Tick(False, 0, 0, 7, 0, (0, 0, 0)), "orca ticks\\[3\\] is uninitialized but not zeroed"),
    ]  # fmt: skip
    for tick, why in cases:
        with pytest.raises(DecodeError, match=why):
            orca.decode_tick_array(_orca_array({3: tick}))


def test_raydium_tick_array_count_beyond_its_60_slots_is_refused() -> None:
    _, accounts = make_pool(10, 0, [(-100, 100, 10**9)])
    array = next(a for a in accounts if hasattr(a, "initialized_tick_count"))
    data = bytearray(ray.encode_tick_array(array))
    data[10124] = 61
    with pytest.raises(DecodeError, match="initialized_tick_count 61 > capacity 60"):
        ray.decode_tick_array(bytes(data))


def test_tick_arrays_off_the_pools_array_grid_or_program_are_refused() -> None:
    state = ClmmPoolState("orca", "orca:P", "SOL/USDC", "USDC", True, stale_after_ns=10**9)
    pool = _whirlpool(-32101, sqrt_price_from_tick_index(-32101))
    state.on_account(PoolUpdate("orca", "orca:P", "P", "pool", pool, 1, 0, MS))
    good = TickArray(-33792, tuple(Tick.empty() for _ in range(88)), "P")
    state.on_account(PoolUpdate("orca", "orca:P", "A", "tick_array", good, 1, 0, MS))
    off_grid = replace(good, start_tick_index=-33792 + 64)
    with pytest.raises(
        DecodeError,
        match=r"^account B: orca field start_tick_index -33728 is not a multiple of tick_spacing "
        r"64 x 88$",
    ):
        state.on_account(PoolUpdate("orca", "orca:P", "B", "tick_array", off_grid, 2, 0, MS))
    _, accounts = make_pool(64, -32101, [(-32128, -32000, 10)])
    raydium_array = replace(accounts[0], pool_id="P")
    with pytest.raises(DecodeError, match="a RaydiumTickArray is not a tick array of a Whirlpool"):
        state.on_account(PoolUpdate("orca", "orca:P", "C", "tick_array", raydium_array, 2, 0, MS))
    assert set(state.account_slots) == {"P", "A"}  # nothing refused was recorded


def test_raydium_initialized_tick_must_sit_at_its_slots_tick() -> None:
    pool, accounts = make_pool(10, 0, [(-100, 100, 10**9)])
    array = next(
        a for a in accounts if hasattr(a, "initialized_tick_count") and a.start_tick_index == 0
    )
    state = ClmmPoolState("raydium_clmm", "r:P", "SOL/USDC", "USDC", True, stale_after_ns=10**9)
    state.on_account(PoolUpdate("raydium_clmm", "r:P", "P", "pool", pool, 1, 0, MS))
    ticks = list(array.ticks)
    ticks[10] = tick_state(105, 10**9, 10**9)  # slot 10 is tick 100
    moved = replace(array, pool_id="P", ticks=tuple(ticks))
    with pytest.raises(
        DecodeError, match=r"raydium_clmm ticks\[10\].tick 105 != start_tick_index 0 \+ 10 x"
    ):
        state.on_account(PoolUpdate("raydium_clmm", "r:P", "A", "tick_array", moved, 1, 0, MS))


# --------------------------------------------------------------------------- CLOBs


def _phoenix(**kw: object) -> bytes:
    args: dict[str, object] = dict(bids=[(99, 5)], asks=[(101, 5)], bids_size=8, asks_size=8,
                                   num_seats=2)  # fmt: skip
    args.update(kw)
    return phoenix.encode_market(**args)  # type: ignore[arg-type]


def test_phoenix_crossed_book_and_impossible_parameters_are_refused() -> None:
    phoenix.decode_market(_phoenix())
    cases = [
        (_phoenix(bids=[(101, 5)]),
         "crossed book: best bid 101 >= best ask 101 \\(price_in_ticks\\)"),
        (_phoenix(taker_fee_bps=10_001), "field taker_fee_bps 10001 > 10000"),
        (_phoenix(tick_size_in_quote_lots_per_base_unit=1_500),
         "tick_size_in_quote_lots_per_base_unit 1500 is not a multiple of base_lots_per_base_unit"),
        (_phoenix(quote_lot_size=0), "lot sizes not initialised"),
        (_phoenix(bids=[(0, 5)]), "bids tree: a resting order has price_in_ticks 0"),
    ]  # fmt: skip
    for data, why in cases:
        with pytest.raises(DecodeError, match=why):
            phoenix.decode_market(data)


def test_phoenix_seat_count_beyond_capacity_is_refused_before_any_walk() -> None:
    data = bytearray(_phoenix())
    seats_at = (
        phoenix.HEADER_SIZE
        + phoenix.FIFO_FIXED_SIZE
        + 2 * (phoenix.TREE_HEADER_SIZE + 8 * phoenix.ORDER_NODE_SIZE)
    )
    data[seats_at + 16 : seats_at + 24] = (20_000_000).to_bytes(8, "little")
    with pytest.raises(DecodeError, match="traders tree: allocator size 20000000 > 0 nodes"):
        phoenix.decode_market(bytes(data))


def test_openbook_market_fees_beyond_the_scale_are_refused() -> None:
    openbook.decode_market(openbook.encode_market(maker_fee=-400, taker_fee=400))
    with pytest.raises(DecodeError, match="field maker_fee -401: rebate exceeds taker_fee 400"):
        openbook.decode_market(openbook.encode_market(maker_fee=-401, taker_fee=400))
    with pytest.raises(DecodeError, match="taker_fee 1000001 / maker_fee 0 outside"):
        openbook.decode_market(openbook.encode_market(taker_fee=1_000_001))


def test_openbook_leaf_without_quantity_is_refused() -> None:
    leaf = OpenBookLeaf(openbook.fixed_key("asks", 100, 1), 0, 0)
    with pytest.raises(DecodeError, match="asks fixed tree: a leaf has quantity 0"):
        openbook.decode_book_side(openbook.encode_book_side("asks", [leaf]))


def _side(side: str, price: int) -> BookSide:
    leaf = OpenBookLeaf(openbook.fixed_key(side, price, 1), 5, 0)  # type: ignore[arg-type]
    return openbook.decode_book_side(openbook.encode_book_side(side, [leaf]))  # type: ignore[arg-type]


def test_openbook_sides_crossing_at_one_slot_are_refused_and_across_slots_wait() -> None:
    market = openbook.decode_market(
        openbook.encode_market(bids=bytes([11]) * 32, asks=bytes([12]) * 32)
    )
    state = ClobMarketState("openbook", "openbook:M", "SOL/USDC", "USDC", stale_after_ns=10**12)

    def upd(account: str, decoded: object, slot: int) -> PoolUpdate:
        return PoolUpdate("openbook", "openbook:M", account, "", decoded, slot, 0, T0)

    state.on_account(upd("M", market, 5))
    state.on_account(upd(market.asks, _side("asks", 100), 5))
    with pytest.raises(
        DecodeError,
        match=f"^account {market.bids}: openbook crossed book at slot 5: best bid 100 >= best ask "
        "100 \\(price lots\\)$",
    ):
        state.on_account(upd(market.bids, _side("bids", 100), 5))
    assert state.bids is None  # refused, not applied
    # a newer bids side can cross the older asks until the asks' own update arrives
    out = state.on_account(upd(market.bids, _side("bids", 100), 6))
    (view,) = [v for v in out if isinstance(v, ClobView)]
    assert (view.bids, view.asks, view.in_sync) == (((100, 5),), ((100, 5),), False)
    out = state.on_account(upd(market.asks, _side("asks", 101), 6))
    assert [(v.asks, v.in_sync) for v in out if isinstance(v, ClobView)] == [(((101, 5),), True)]


# --------------------------------------------------------------------------- end to end


def _frame(account: str, data: bytes, slot: int, t_ms: int) -> RawFrame:
    return RawFrame(T0 + t_ms * MS, "orca", f"{POOL}:{account}", "account", data, slot)


def test_doubled_sqrt_price_is_a_bad_account_and_the_last_good_view_is_kept_flagged(
    fixtures: Path,
) -> None:
    folder = fixtures / SOL_USDC
    market = MarketSettings(venue="orca", address=POOL)
    pair = PairSettings(name="SOL/USDC", base="SOL", quote="USDC", base_decimals=9,
                        quote_decimals=6, max_trade_base=Decimal(1), markets=[market])  # fmt: skip
    st = ClmmMarketState(MarketRef(market, pair), 2_000 * MS)
    pool_bytes = load_account(next(folder.glob(f"whirlpool.{POOL}.json")))[1]
    for i, path in enumerate(sorted(folder.glob("ta_*.json"))):
        meta, data = load_account(path)
        st.on_frame(_frame(meta["pubkey"], data, 10, i))
    out = st.on_frame(_frame(POOL, pool_bytes, 10, 10))
    good = out[-1]
    assert isinstance(good, ClmmView) and good.in_sync is True
    assert isinstance(good.pool, Whirlpool) and good.pool.sqrt_price == 3706015876595606636

    doubled = bytearray(pool_bytes)
    sqrt = int.from_bytes(doubled[65:81], "little")
    doubled[65:81] = (2 * sqrt).to_bytes(16, "little")
    out = st.on_frame(_frame(POOL, bytes(doubled), 11, 11))
    assert [type(o).__name__ for o in out] == ["HealthEvent", "ClmmView"]
    health, flagged = out
    assert isinstance(health, HealthEvent) and isinstance(flagged, ClmmView)
    assert (health.source, health.status) == (st.ref.market.market_id, "bad_account")
    assert health.detail == (
        f"{POOL}: account Whirlpool: orca field tick_current_index -32101 inconsistent with "
        f"sqrt_price {2 * sqrt} (the program stores tick -18237 for that price)"
    )
    assert flagged == replace(good, in_sync=False)  # the last good pool, flagged
    assert st.decode_errors == 1 and st.state.account_slots[POOL] == 10

    # the pool decoding again (a newer slot) clears the flag
    out = st.on_frame(_frame(POOL, pool_bytes, 12, 12))
    assert [(type(o).__name__, getattr(o, "status", None)) for o in out] == [
        ("HealthEvent", "up"), ("ClmmView", None)
    ]  # fmt: skip
    assert isinstance(out[1], ClmmView) and out[1].in_sync is True
    assert out[1].pool == good.pool


def test_bad_account_flag_survives_an_older_update_and_clears_on_resync() -> None:
    state = ClmmPoolState("orca", "orca:P", "SOL/USDC", "USDC", True, stale_after_ns=10**12)
    pool = _whirlpool(-32101, sqrt_price_from_tick_index(-32101))
    array = TickArray(-33792, tuple(Tick.empty() for _ in range(88)), "P")
    state.on_account(PoolUpdate("orca", "orca:P", "A", "tick_array", array, 5, 0, MS))
    state.on_account(PoolUpdate("orca", "orca:P", "P", "pool", pool, 5, 0, MS))
    assert state.in_sync() is True
    flagged = [v for v in state.on_bad_account("P", 9, 2 * MS) if isinstance(v, ClmmView)]
    assert [v.in_sync for v in flagged] == [False]
    assert state.on_bad_account("stranger", 9, 2 * MS) == []  # not part of the view
    state.on_account(PoolUpdate("orca", "orca:P", "P", "pool", pool, 8, 0, 3 * MS))
    assert state.in_sync() is False  # older than the bad update: still flagged
    state.on_health(HealthEvent("solana", "down", "ws closed", 4 * MS, 4 * MS))
    state.on_health(HealthEvent("solana", "up", "", 5 * MS, 5 * MS))
    state.on_account(PoolUpdate("orca", "orca:P", "A", "tick_array", array, 9, 0, 6 * MS))
    state.on_account(PoolUpdate("orca", "orca:P", "P", "pool", pool, 8, 0, 6 * MS))
    assert state.in_sync() is True  # the resync re-fetched everything: the old flag is void


def test_a_flagged_tick_array_no_longer_held_stops_flagging_the_view() -> None:
    state = ClmmPoolState("orca", "orca:P", "SOL/USDC", "USDC", True, stale_after_ns=10**12,
                          arrays_each_side=1)  # fmt: skip

    def arr(start: int) -> TickArray:
        return TickArray(start, tuple(Tick.empty() for _ in range(88)), "P")

    def upd(account: str, decoded: object, slot: int) -> PoolUpdate:
        return PoolUpdate("orca", "orca:P", account, "", decoded, slot, 0, MS)

    state.on_account(upd("P", _whirlpool(-32101, sqrt_price_from_tick_index(-32101)), 5))
    state.on_account(upd("A", arr(-33792), 5))
    state.on_account(upd("B", arr(-28160), 5))
    assert state.in_sync() is True
    state.on_bad_account("B", 6, 2 * MS)
    assert state.in_sync() is False
    # the price moves two arrays down: B is pruned, the view no longer rests on it
    state.on_account(upd("P", _whirlpool(-45000, sqrt_price_from_tick_index(-45000)), 7))
    state.on_account(upd("C", arr(-45056), 7))
    assert sorted(state.arrays) == [-45056]
    assert state.in_sync() is True
