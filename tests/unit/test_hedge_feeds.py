"""Hedge perps' books reach the paper venue: subscribed by the live inputs, routed to their pair,
never priced by the spread engine; a hedge with no book fails at once and the spot is unwound."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from config import load_settings
from engine.live_inputs import cex_sources
from engine.router import Router, hedge_feeds
from engine.steps import PairStep, PaperStep
from operators.events import ExecutionReport, RawFrame
from operators.views import CexBookView
from sim.cex_frames import SimFeed
from tests.unit.test_perp_hedge import (
    CEX,
    HEDGE_TOML,
    OPP,
    PAIR,
    PERP,
    SIZE,
    T0,
    _intents,
    _moves,
    _report,
    hedged_markets,
)

MS = 1_000_000


def _perp_frames(n: int) -> list[RawFrame]:
    """`n` USD-M SOLUSDT diffs with the depth snapshot after the first, as the perp's transport
    emits them (the snapshot's lastUpdateId falls inside the first diff, as USD-M's rule asks)."""
    feed = SimFeed("binance-usdm", "SOLUSDT", seed=3)
    path = "GET /fapi/v1/depth?symbol=SOLUSDT&limit=1000"
    out = []
    for k in range(1, n + 1):
        t = T0 + k * 10 * MS
        out += [
            RawFrame(t, "binance-usdm", feed.stream, "ws", b) for b in feed.next_frames(t // MS)
        ]
        if k == 1:
            out.append(RawFrame(t, "binance-usdm", path, "rest", feed.rest_snapshot(1000, t // MS)))
    return out


def test_a_binance_hedge_perp_is_subscribed_and_routed_but_an_okx_one_is_not(
    tmp_path: Path,
) -> None:
    s = load_settings(markets_path=hedged_markets(tmp_path))
    assert [r.market.market_id for r in hedge_feeds(s)] == [PERP]
    assert ("binance-usdm", "perp", ["SOLUSDT"]) in [
        (c.venue, c.market, c.symbols) for c in cex_sources(s)
    ]
    router = Router(s)
    assert router.hedges == {PERP}
    assert {router.market_of(f) for f in _perp_frames(2)} == {PERP}
    assert router.pair_of(PERP) == PAIR
    # an OKX perp shares the venue id `okx` with OKX spot: its health could not be told apart
    okx = HEDGE_TOML.replace("binance-usdm", "okx").replace("SOLUSDT", "SOL-USDT-SWAP")
    okx_spot = '\n  [[pairs.markets]]\n  venue = "okx"\n  symbol = "SOL-USDT"\n'
    path = tmp_path / "okx.toml"
    text = hedged_markets(tmp_path, "").read_text()
    head, _, tail = text.partition("[[pairs.markets]]")
    path.write_text(head + okx_spot.strip() + "\n  quote_currency = \"USDT\"\n\n[[pairs.markets]]"
                    + tail + okx)  # fmt: skip
    s2 = load_settings(markets_path=path)
    assert s2.pair(PAIR).hedges and hedge_feeds(s2) == []
    assert Router(s2).hedges == frozenset()


def test_the_pair_step_emits_hedge_book_views_the_spread_engine_never_sees(
    tmp_path: Path,
) -> None:
    s = load_settings(markets_path=hedged_markets(tmp_path))
    step = PairStep(s, Router(s), PAIR)
    out: list[Any] = []
    for f in _perp_frames(3):
        out += step.on_item((PERP, f, PAIR))
    views = [v for v in out if isinstance(v, CexBookView)]
    assert [(v.market_id, v.in_sync) for v in views] == [(PERP, True)] * 3
    assert views[-1].taker_fee_bps == s.venues["binance-usdm"].taker_fee_bps
    assert step.views == 0  # no view reached the spread engine
    assert "binance-usdm" not in step.engine.feeds  # nor its feed clock


def test_a_hedge_with_no_perp_book_fails_at_once_and_the_spot_is_unwound(tmp_path: Path) -> None:
    step = PaperStep(load_settings(markets_path=hedged_markets(tmp_path)), PAIR)
    buy, sell = _intents()
    step.intents[buy.intent_id], step.intents[sell.intent_id] = buy, sell
    step.legs.on_intents(buy, sell, step.dex_markets, T0)
    step._reports([_report(buy, "filled", SIZE, 4_467_000_000, T0 + 10)])
    out = step._reports([_report(sell, "rejected", 0, 0, T0 + 20)])
    fills = [x for x in out if isinstance(x, ExecutionReport)]
    assert [(f.intent_id, f.status, f.reason) for f in fills[1:]] == [
        (f"{OPP}/hedge", "rejected", f"no book of hedge market {PERP} yet"),
    ]
    assert _moves(out) == [("sent", "failed"), ("failed", "hedging"), ("hedging", "unwinding")]
    assert step.legs.open[OPP].hedge_open is False  # final: nothing left to fill on the perp
    assert CEX in step.legs.hedge_markets
