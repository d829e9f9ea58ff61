"""Per-market states of the graph: CLOB account frames (Phoenix, OpenBook v2) and CLMM checks.

No real Phoenix / OpenBook v2 account bytes exist (PROVENANCE.md "Not found"): their frames are
built with the connectors' own encoders, at the simulated addresses of
sim/sample/markets_all.toml. Raydium is checked with the real carbon-decoder accounts.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from solders.pubkey import Pubkey

from config import Settings, load_settings
from connectors.solana import openbook, phoenix
from connectors.solana import raydium_clmm as ray
from engine.markets import (
    ClmmMarketState,
    ClobMarketStateAdapter,
    Router,
    build_market_state,
)
from operators.clmm import quote_swap
from operators.clmm.raydium_accounts import AmmConfig
from operators.clob import OpenBookLeaf
from operators.events import HealthEvent, RawFrame
from operators.views import ClmmView, ClobView
from sim.market import MarketConfig, simulate_market
from sim.simulate import (
    SAMPLE_MARKETS_ALL,
    SAMPLE_OPENBOOK_ASKS,
    SAMPLE_OPENBOOK_BIDS,
    SAMPLE_OPENBOOK_MARKET,
    SAMPLE_PHOENIX_MARKET,
    SAMPLE_RAYDIUM_POOL,
)

PHX = f"phoenix:{SAMPLE_PHOENIX_MARKET}"
OBK = f"openbook:{SAMPLE_OPENBOOK_MARKET}"
RAY = f"raydium_clmm:{SAMPLE_RAYDIUM_POOL}"
T0 = 1_767_225_600_000_000_000
MS = 1_000_000


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(markets_path=SAMPLE_MARKETS_ALL, env={})


def _state(settings: Settings, market_id: str) -> object:
    return build_market_state(settings, Router(settings), market_id)


def _frame(
    source: str, market: str, account: str, data: bytes, slot: int, t_ms: int, ingest: int = 0
) -> RawFrame:
    return RawFrame(
        T0 + t_ms * MS, source, f"{market}:{account}", "account", data, slot, ts_ingest_ns=ingest
    )


def _phoenix_bytes(**kw: object) -> bytes:
    args: dict[str, object] = dict(
        bids=[(149_900, 2_000), (149_850, 5_000)],
        asks=[(150_100, 1_500), (150_200, 4_000)],
        bids_size=16, asks_size=16, num_seats=4, base_lot_size=1_000_000, quote_lot_size=1,
        tick_size_in_quote_lots_per_base_unit=1_000, base_lots_per_base_unit=1_000,
        taker_fee_bps=2,
    )  # fmt: skip
    args.update(kw)
    return phoenix.encode_market(**args)  # type: ignore[arg-type]


def _ob_market(**kw: object) -> bytes:
    args: dict[str, object] = dict(
        bids=bytes(Pubkey.from_string(SAMPLE_OPENBOOK_BIDS)),
        asks=bytes(Pubkey.from_string(SAMPLE_OPENBOOK_ASKS)),
        base_lot_size=1_000_000, quote_lot_size=1, taker_fee=400,
    )  # fmt: skip
    args.update(kw)
    return openbook.encode_market(**args)  # type: ignore[arg-type]


def _ob_side(side: str, levels: list[tuple[int, int]]) -> bytes:
    leaves = [
        OpenBookLeaf(openbook.fixed_key(side, px, i + 1), qty, 1_767_225_600)  # type: ignore[arg-type]
        for i, (px, qty) in enumerate(levels)
    ]
    return openbook.encode_book_side(side, leaves)  # type: ignore[arg-type]


BIDS = [(149_950, 3_000), (149_900, 7_000)]
ASKS = [(150_050, 2_500), (150_120, 6_000)]


def _views(out: list[object]) -> list[ClobView]:
    return [v for v in out if isinstance(v, ClobView)]


def test_build_market_state_wires_phoenix_and_openbook_to_the_clob_adapter(
    settings: Settings,
) -> None:
    assert isinstance(_state(settings, PHX), ClobMarketStateAdapter)
    assert isinstance(_state(settings, OBK), ClobMarketStateAdapter)
    assert isinstance(_state(settings, RAY), ClmmMarketState)


def test_phoenix_market_frame_gives_an_in_sync_view_with_exact_ladders(
    settings: Settings,
) -> None:
    st = _state(settings, PHX)
    assert isinstance(st, ClobMarketStateAdapter)
    out = st.on_frame(_frame("phoenix", SAMPLE_PHOENIX_MARKET, SAMPLE_PHOENIX_MARKET,
                             _phoenix_bytes(), 7, 1, ingest=123))  # fmt: skip
    assert [type(x).__name__ for x in out] == ["HealthEvent", "ClobView"]
    view = out[1]
    assert isinstance(view, ClobView)
    assert (view.market_id, view.in_sync, view.slot, view.ts_ingest_ns) == (PHX, True, 7, 123)
    assert view.bids == ((149_900, 2_000), (149_850, 5_000))
    assert view.asks == ((150_100, 1_500), (150_200, 4_000))
    assert (view.base_units_per_lot, view.quote_units_per_tick_lot_num) == (1_000_000, 1)
    assert (view.quote_units_per_tick_lot_den, view.taker_fee_bps) == (1, 2.0)
    assert (st.frames, st.decode_errors) == (1, 0)


def test_openbook_sides_are_matched_to_the_market_by_pubkey(settings: Settings) -> None:
    st = _state(settings, OBK)
    assert isinstance(st, ClobMarketStateAdapter)
    m = SAMPLE_OPENBOOK_MARKET
    out = st.on_frame(_frame("openbook", m, m, _ob_market(), 5, 1))
    assert [v.in_sync for v in _views(out)] == [False]
    out = st.on_frame(_frame("openbook", m, SAMPLE_OPENBOOK_BIDS, _ob_side("bids", BIDS), 5, 2))
    assert [v.in_sync for v in _views(out)] == [False]
    out = st.on_frame(_frame("openbook", m, SAMPLE_OPENBOOK_ASKS, _ob_side("asks", ASKS), 6, 3))
    (view,) = _views(out)
    assert (view.in_sync, view.slot, view.taker_fee_bps) == (True, 6, 4.0)
    assert (view.bids, view.asks) == (tuple(BIDS), tuple(ASKS))
    assert (st.state.bids is not None and st.state.bids.account) == SAMPLE_OPENBOOK_BIDS
    assert (st.frames, st.decode_errors) == (3, 0)


def test_openbook_side_before_its_market_is_held_then_applied_after_it(
    settings: Settings,
) -> None:
    st = _state(settings, OBK)
    assert isinstance(st, ClobMarketStateAdapter)
    m = SAMPLE_OPENBOOK_MARKET
    assert st.on_frame(_frame("openbook", m, SAMPLE_OPENBOOK_ASKS,
                              _ob_side("asks", ASKS), 5, 1)) == []  # fmt: skip
    assert st.on_frame(_frame("openbook", m, SAMPLE_OPENBOOK_BIDS,
                              _ob_side("bids", BIDS), 5, 2)) == []  # fmt: skip
    third = str(Pubkey(bytes(range(32))))
    out = st.on_frame(_frame("openbook", m, third, _ob_side("bids", BIDS), 5, 2))
    assert [(e.status, third in e.detail) for e in out if isinstance(e, HealthEvent)] == [
        ("bad_account", True)
    ]
    out = st.on_frame(_frame("openbook", m, m, _ob_market(), 5, 3))
    assert [v.in_sync for v in _views(out)] == [False, False, True]
    assert (st.frames, st.decode_errors) == (4, 1)
    assert (_views(out)[-1].bids, _views(out)[-1].asks) == (tuple(BIDS), tuple(ASKS))
    assert st.pending_sides == {}


def test_bad_clob_accounts_are_reported_never_applied_and_flag_the_view_they_feed(
    settings: Settings,
) -> None:
    ob = _state(settings, OBK)
    phx = _state(settings, PHX)
    assert isinstance(ob, ClobMarketStateAdapter) and isinstance(phx, ClobMarketStateAdapter)
    m, p = SAMPLE_OPENBOOK_MARKET, SAMPLE_PHOENIX_MARKET
    ob.on_frame(_frame("openbook", m, m, _ob_market(), 5, 1))
    ob.on_frame(_frame("openbook", m, SAMPLE_OPENBOOK_BIDS, _ob_side("bids", BIDS), 5, 2))
    good = _views(ob.on_frame(_frame("openbook", m, SAMPLE_OPENBOOK_ASKS,
                                     _ob_side("asks", ASKS), 5, 3)))[0]  # fmt: skip
    phx.on_frame(_frame("phoenix", p, p, _phoenix_bytes(), 5, 1))
    good_phx = phx.state.view()
    stranger = str(Pubkey.from_string(SAMPLE_OPENBOOK_MARKET.replace("8", "9", 1)))
    truncated = _phoenix_bytes()[:700]
    bad_bump = bytearray(_phoenix_bytes())
    bad_bump[576 + 304 + 24 : 576 + 304 + 28] = (999).to_bytes(4, "little")  # bids bump_index
    # (state, frame, why, flags): a bad update of an account the view is built from flags the
    # view (last good state kept, not in sync); a stranger's bad account flags nothing
    cases = [
        (ob, _frame("openbook", m, stranger, _ob_side("bids", BIDS[:1]), 9, 4),
         f"account {stranger}: book side is neither the market's bids", False),
        (ob, _frame("openbook", m, SAMPLE_OPENBOOK_ASKS, _ob_side("bids", BIDS[:1]), 9, 5),
         "is the market's asks but its order_tree_type says bids", True),
        (ob, _frame("openbook", m, m, b"\x07" * 900, 9, 6), "unknown openbook account", True),
        (ob, _frame("openbook", m, m, _ob_market(base_lot_size=0), 9, 7),
         "lot sizes must be positive", True),
        (ob, _frame("openbook", m, SAMPLE_OPENBOOK_BIDS, _ob_market(), 9, 8),
         f"a market account at {SAMPLE_OPENBOOK_BIDS}, not at {m}", True),
        (phx, _frame("phoenix", p, p, truncated, 9, 4), "shorter than a market header", True),
        (phx, _frame("phoenix", p, p, bytes(bad_bump), 9, 5), "bump_index 999 outside", True),
        (phx, _frame("phoenix", p, p, _ob_market(), 9, 6),
         "unknown phoenix account discriminator", True),
        (phx, _frame("phoenix", p, stranger, _phoenix_bytes(), 9, 7),
         f"a market account at {stranger}", False),
        (phx, _frame("phoenix", p, p, _phoenix_bytes(base_lots_per_base_unit=0), 9, 8),
         "lot sizes not initialised", True),
    ]  # fmt: skip
    for st, frame, why, flags in cases:
        out = st.on_frame(frame)
        assert isinstance(out[0], HealthEvent), why
        ev = out[0]
        assert (ev.source, ev.status, ev.ts_recv_ns) == (
            st.ref.market.market_id, "bad_account", frame.ts_recv_ns,
        )  # fmt: skip
        assert why in ev.detail
        assert frame.stream.split(":")[1] in ev.detail  # the report names the account
        flagged = [v for v in out[1:] if isinstance(v, ClobView)]
        assert len(out) == 1 + len(flagged) and [v.in_sync for v in flagged] == (
            [False] if flags else []
        ), why
    assert (ob.frames, ob.decode_errors, phx.frames, phx.decode_errors) == (8, 5, 6, 5)
    # nothing bad was applied: the last good books and slots are kept, flagged not in sync
    assert ob.state.view() == replace(good, in_sync=False)
    assert phx.state.view() == replace(good_phx, in_sync=False)
    assert max(ob.state.account_slots.values()) == 5
    assert set(ob.state.account_slots) == {m, SAMPLE_OPENBOOK_BIDS, SAMPLE_OPENBOOK_ASKS}
    # each flagged account decoding again (at the bad update's slot or later) clears its flag
    out = ob.on_frame(_frame("openbook", m, m, _ob_market(), 9, 9))
    assert [v.in_sync for v in _views(out)] == [False]  # the asks and bids are still flagged
    out = ob.on_frame(_frame("openbook", m, SAMPLE_OPENBOOK_ASKS, _ob_side("asks", ASKS), 9, 10))
    assert [v.in_sync for v in _views(out)] == [False]  # the bids are still flagged
    out = ob.on_frame(_frame("openbook", m, SAMPLE_OPENBOOK_BIDS, _ob_side("bids", BIDS), 9, 11))
    assert [v.in_sync for v in _views(out)] == [True]
    out = phx.on_frame(_frame("phoenix", p, p, _phoenix_bytes(), 9, 9))
    assert [v.in_sync for v in _views(out)] == [True]


def test_real_raydium_accounts_through_the_market_state_refuse_another_pools_array(
    fixtures: Path,
) -> None:
    from config import MarketSettings, PairSettings
    from engine.markets import MarketRef
    from tests.conftest import load_account

    folder = fixtures / "solana/raydium_clmm/carbon_decoder_fixtures"
    pool_key = "AcPS8SrzXDwPxk6LLz2tykwFEsSeD5LtctMLVeh2shq8"
    cfg_key = "9iFER3bpjf1PTTCQCfTRu17EJgvsxo9pVyA9QWwEuX4x"
    ta_key = "HBytvMypGaPRENK9w9HmtFeNLr9xCHvPamcCiiYsYvqY"
    market = MarketSettings(venue="raydium_clmm", address=pool_key)
    pair = PairSettings(name="SOL/USDC", base="SOL", quote="USDC", base_decimals=9,
                        quote_decimals=6, max_trade_base=Decimal(1), markets=[market])  # fmt: skip
    st = ClmmMarketState(MarketRef(market, pair), 2_000 * MS)
    pool = load_account(folder / f"pool_state.{pool_key}.json")[1]
    config = load_account(folder / f"amm_config.{cfg_key}.json")[1]
    other = load_account(folder / f"tick_array_state.{ta_key}.json")[1]
    out = st.on_frame(_frame("raydium_clmm", pool_key, pool_key, pool, 9, 1))
    assert [(type(v).__name__, getattr(v, "in_sync", None)) for v in out] == [("ClmmView", False)]
    out = st.on_frame(_frame("raydium_clmm", pool_key, cfg_key, config, 9, 2))
    (view,) = out
    assert isinstance(view, ClmmView) and isinstance(view.amm_config, AmmConfig)
    assert view.amm_config.trade_fee_rate == ray.decode_amm_config(config).trade_fee_rate
    out = st.on_frame(_frame("raydium_clmm", pool_key, ta_key, other, 9, 3))
    assert len(out) == 1 and isinstance(out[0], HealthEvent)
    assert out[0].status == "bad_account"
    assert f"account {ta_key}: tick_array belongs to pool 2AP2wU8H" in out[0].detail
    assert (st.frames, st.decode_errors, st.state.arrays) == (3, 1, {})
    assert ta_key not in st.state.account_slots


def test_simulated_raydium_accounts_give_an_in_sync_view_that_quotes_exactly(
    settings: Settings,
) -> None:
    st = _state(settings, RAY)
    assert isinstance(st, ClmmMarketState)
    cfg = replace(MarketConfig(), venues=("binance", "raydium_clmm"), duration_s=2)
    frames = [f for f in simulate_market(cfg) if f.source == "raydium_clmm"]
    heads = [bytes(f.payload[:8]) for f in frames]
    assert heads[:2] == [ray.DISC_AMM_CONFIG, ray.DISC_BITMAP_EXTENSION]
    assert heads.count(ray.DISC_TICK_ARRAY) == 17  # positions' span + 1 each side
    out: list[object] = []
    for f in frames:
        out += st.on_frame(f)
    views = [v for v in out if isinstance(v, ClmmView)]
    assert (st.decode_errors, views[-1].in_sync) == (0, True)
    v = views[-1]
    # 1 SOL bought (USDC -> SOL, token 1 -> 0, exact out) on the view equals the same quote on
    # the capture's own decoded accounts
    pool = ray.decode_pool_state(next(f for f in reversed(frames)
                                      if f.payload[:8] == ray.DISC_POOL_STATE).payload)  # fmt: skip
    arrays = [ray.decode_tick_array(f.payload) for f in frames
              if f.payload[:8] == ray.DISC_TICK_ARRAY]  # fmt: skip
    config = ray.decode_amm_config(frames[0].payload)
    want = quote_swap(pool, arrays, 10**9, a_to_b=False, exact_in=False, amm_config=config)
    got = quote_swap(v.pool, list(v.tick_arrays), 10**9, a_to_b=False, exact_in=False,
                     amm_config=v.amm_config)  # fmt: skip
    assert (got.amount_in, got.amount_out) == (want.amount_in, want.amount_out)
    assert config.trade_fee_rate == 400
