"""Replay partitions by pair: each pair's streams together, pairs apart, ambiguity merged."""

from __future__ import annotations

import pytest

from config import load_settings
from engine.router import pair_partitions
from operators.errors import ConfigError
from sim.simulate import SAMPLE_MARKETS, SAMPLE_MARKETS_MULTI, SAMPLE_POOL


def test_each_pair_gets_its_own_partition_and_unknown_streams_share_one() -> None:
    s = load_settings(markets_path=SAMPLE_MARKETS_MULTI, env={})
    eth_pool = next(m.address for p in s.pairs if p.name == "ETH/USDC" for m in p.markets
                    if m.address)  # fmt: skip
    eth_sym = next(m.symbol for p in s.pairs if p.name == "ETH/USDC" for m in p.markets
                   if m.symbol)  # fmt: skip
    streams = [
        "solusdc@depth@100ms", "GET /api/v3/depth?symbol=SOLUSDC&limit=1000",
        f"{SAMPLE_POOL}:{SAMPLE_POOL}", f"{eth_sym.lower()}@depth@100ms",
        f"{eth_pool}:{eth_pool}", "btcusdt@depth@100ms",
    ]  # fmt: skip
    assert pair_partitions(s, streams) == {
        streams[0]: "SOL/USDC", streams[1]: "SOL/USDC", streams[2]: "SOL/USDC",
        streams[3]: "ETH/USDC", streams[4]: "ETH/USDC", streams[5]: "unrouted",
    }  # fmt: skip


def test_a_stream_name_two_pairs_could_own_puts_both_pairs_in_one_partition() -> None:
    s = load_settings(markets_path=SAMPLE_MARKETS, env={})
    pair = s.pairs[0]
    cex = next(m for m in pair.markets if m.symbol)
    perp = cex.model_copy(update={"venue": "binance-usdm", "market": "perp"})
    # a perp pair whose Binance USD-M stream has the spot stream's very name
    twin = pair.model_copy(update={"name": "SOL/USDC-PERP", "markets": [perp]})
    s2 = s.model_copy(update={"pairs": [pair, twin]})
    groups = pair_partitions(s2, ["solusdc@depth@100ms", f"{SAMPLE_POOL}:{SAMPLE_POOL}"])
    assert set(groups.values()) == {"SOL/USDC"}


def test_an_unknown_partitioning_is_a_config_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from engine.router import replay_partitioning

    with pytest.raises(ConfigError, match="replay partition must be all, pair or stream"):
        replay_partitioning(load_settings(markets_path=SAMPLE_MARKETS, env={}), [], "venue")
