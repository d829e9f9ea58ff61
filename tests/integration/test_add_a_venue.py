"""Adding a venue is one adapter + one registry entry: nothing else in the engine changes.

A fake CEX (`fakex`, speaking Binance's wire format) and a fake CLMM (`fakepool`, Orca's account
layout) are registered at run time, configured like any venue, and fed the sample session with
their names on the frames: the graph routes, books, pools, prices and trades them exactly as it
does Binance and Orca.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from bytewax.testing import run_main

from config import load_settings
from connectors import venues
from connectors.capture import CaptureWriter, read_capture
from connectors.journal import read_table
from connectors.venues import binance, orca
from flows.replay import build_flow
from operators.errors import ConfigError
from sim.simulate import SAMPLE_MARKETS, SimConfig, write_capture

ROOT = Path(__file__).resolve().parents[2]
CFG = SimConfig(duration_s=40, jumps=((20, 70),))
RENAME = {"binance": "fakex", "orca": "fakepool"}


@pytest.fixture
def fake_venues() -> Iterator[None]:
    venues.register(replace(binance.SPOT, id="fakex", market_sources={}))
    venues.register(replace(orca.ORCA, id="fakepool"))
    try:
        yield
    finally:
        venues.unregister("fakex")
        venues.unregister("fakepool")


def _config(tmp: Path) -> tuple[Path, Path]:
    text = (ROOT / "config" / "default.toml").read_text()
    for old, new in RENAME.items():
        head = f"[venues.{old}]"
        start = text.index(head)
        end = text.index("\n[", start + 1)
        text += "\n" + text[start:end].replace(head, f"[venues.{new}]") + "\n"
    config = tmp / "config.toml"
    config.write_text(text)
    markets = SAMPLE_MARKETS.read_text()
    for old, new in RENAME.items():
        markets = markets.replace(f'venue = "{old}"', f'venue = "{new}"')
    mpath = tmp / "markets.toml"
    mpath.write_text(markets)
    return config, mpath


def _signals(journal: Path) -> list[tuple[object, ...]]:
    t = read_table(journal, "opportunities")
    assert t is not None
    return sorted(
        (
            o["direction"], o["size_base"], o["buy_quote"], o["sell_quote"], o["ts_detect_ns"],
            o["buy_venue"].split(":")[0], o["sell_venue"].split(":")[0],
        )
        for o in t.to_pylist()
        if o["update_seq"] == 0
    )  # fmt: skip


def test_a_registered_fake_venue_trades_like_the_venue_whose_protocol_it_speaks(
    fake_venues: None, tmp_path: Path
) -> None:
    cap = tmp_path / "orig.parquet"
    write_capture(cap, CFG)
    fake_cap = tmp_path / "fake.parquet"
    with CaptureWriter(fake_cap) as w:
        for f in read_capture(cap):
            w.write(replace(f, source=RENAME.get(f.source, f.source)))
    config, markets = _config(tmp_path)

    run_main(build_flow(load_settings(markets_path=SAMPLE_MARKETS, env={}), [cap], tmp_path / "a"))
    fake = load_settings(config, markets, env={})
    run_main(build_flow(fake, [fake_cap], tmp_path / "b"))

    original = _signals(tmp_path / "a")
    renamed = [(*s[:5], RENAME[s[5]], RENAME[s[6]]) for s in original]
    assert len(original) == 1
    assert _signals(tmp_path / "b") == renamed


def test_adapters_pickle_by_id_and_unknown_venues_are_config_errors(fake_venues: None) -> None:
    a = venues.adapter("fakex")
    assert pickle.loads(pickle.dumps(a)) is a
    with pytest.raises(ConfigError, match=r"unknown venue 'nope' \(known: \["):
        venues.adapter("nope")
    with pytest.raises(ConfigError, match="already registered"):
        venues.register(replace(binance.SPOT, id="fakex"))
    with pytest.raises(ConfigError, match="built in"):
        venues.unregister("binance")
