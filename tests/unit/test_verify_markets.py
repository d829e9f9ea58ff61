"""The markets file is checked against the chain before trading: a wrong `base_is_a`, wrong
decimals, a foreign program or other tokens refuse to start with one clear ConfigError."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from config import Settings, load_settings
from connectors import venues
from engine.verify import Account, verify_dex_markets
from operators.errors import ConfigError
from sim.market import ALL_VENUES_MARKET, simulate_market
from sim.simulate import (
    MINT_DECIMALS,
    SAMPLE_MARKETS,
    SAMPLE_MARKETS_ALL,
    SAMPLE_POOL,
    SOL_MINT,
    SPL_TOKEN_PROGRAM,
    USDC_MINT,
    SimConfig,
    SimPool,
    spl_mint_bytes,
)

MINTS = {m: Account(SPL_TOKEN_PROGRAM, spl_mint_bytes(d)) for m, d in MINT_DECIMALS.items()}


def _chain(extra: Mapping[str, Account | None] | None = None) -> dict[str, Account | None]:
    pool = SimPool(SimConfig(), SAMPLE_POOL).account_bytes()
    chain: dict[str, Account | None] = {
        SAMPLE_POOL: Account(venues.dex("orca").program_id, pool),
        **MINTS,
    }
    chain.update(extra or {})
    return chain


def _fetcher(chain: Mapping[str, Account | None]):  # type: ignore[no-untyped-def]
    asked: list[list[str]] = []

    def fetch(keys: Sequence[str]) -> dict[str, Account | None]:
        asked.append(list(keys))
        return {k: chain.get(k) for k in keys}

    fetch.asked = asked  # type: ignore[attr-defined]
    return fetch


def _settings(**market: object) -> Settings:
    """The sample settings without the pair's mints (decimals alone decide), `market` applied
    to the Orca market."""
    s = load_settings(markets_path=SAMPLE_MARKETS, env={})
    pair = s.pairs[0]
    markets = [m.model_copy(update=market) if m.venue == "orca" else m for m in pair.markets]
    pair = pair.model_copy(update={"markets": markets, "base_mint": "", "quote_mint": ""})
    return s.model_copy(update={"pairs": [pair]})


def test_the_sample_orca_market_matches_its_pool_and_mints() -> None:
    fetch = _fetcher(_chain())
    assert verify_dex_markets(_settings(), fetch) == 1
    assert fetch.asked == [[SAMPLE_POOL], sorted([SOL_MINT, USDC_MINT])]


def test_base_is_a_left_wrong_refuses_to_start_and_says_how_to_fix_it() -> None:
    with pytest.raises(ConfigError) as err:
        verify_dex_markets(_settings(base_is_a=False), _fetcher(_chain()))
    assert str(err.value) == (
        "the markets file does not match the chain:\n"
        f"  market orca:{SAMPLE_POOL}: base_is_a = false gives base decimals 6 and quote "
        "decimals 9, the pair says 9 and 6; set base_is_a = true"
    )


def test_configured_mints_catch_a_swapped_pool_even_when_decimals_agree() -> None:
    s = _settings(base_is_a=False)
    pair = s.pairs[0].model_copy(update={"base_mint": SOL_MINT, "quote_mint": USDC_MINT})
    s = s.model_copy(update={"pairs": [pair]})
    with pytest.raises(
        ConfigError,
        match=r"base_is_a = false but the pool's token B is the quote "
        rf"mint {USDC_MINT}; set base_is_a = true",
    ):
        verify_dex_markets(s, _fetcher(_chain()))
    other = s.pairs[0].model_copy(
        update={"base_mint": "So1ana111111111111111111111111111111111111"}
    )
    s2 = _settings().model_copy(update={"pairs": [other]})
    with pytest.raises(
        ConfigError, match=r"base_mint is So1ana1\w+ in the pair config, the market.s is"
    ):
        verify_dex_markets(s2, _fetcher(_chain()))


def test_a_missing_account_a_foreign_owner_and_wrong_decimals_are_each_named() -> None:
    pool = _chain()[SAMPLE_POOL]
    assert pool is not None
    cases = [
        ({SAMPLE_POOL: None}, f"account {SAMPLE_POOL} not found"),
        ({SAMPLE_POOL: Account("11111111111111111111111111111111", pool.data)},
         "owner is 11111111111111111111111111111111, not the orca program whirLbMi"),
        ({SAMPLE_POOL: Account(pool.owner, pool.data[:100])}, "does not decode as a orca market"),
        ({USDC_MINT: Account(SPL_TOKEN_PROGRAM, spl_mint_bytes(8))},
         "decimals are base 9 / quote 8 on chain, the pair says base_decimals 9 / "
         "quote_decimals 6"),
        ({USDC_MINT: None}, f"mint {USDC_MINT}: account not found"),
        ({USDC_MINT: Account("11111111111111111111111111111111", spl_mint_bytes(6))},
         "not an SPL mint"),
    ]  # fmt: skip
    for extra, why in cases:
        with pytest.raises(ConfigError, match=f"market orca:{SAMPLE_POOL}: .*{why}"):
            verify_dex_markets(_settings(), _fetcher(_chain(extra)))


def test_every_simulated_dex_venue_passes_with_decimals_from_its_own_accounts() -> None:
    settings = load_settings(markets_path=SAMPLE_MARKETS_ALL, env={})
    dex = {m.address: m.venue for p in settings.pairs for m in p.markets if m.address}
    chain: dict[str, Account | None] = dict(MINTS)
    for f in simulate_market(replace(ALL_VENUES_MARKET, duration_s=2)):
        market, _, account = f.stream.partition(":")
        if f.kind == "account" and account == market and market in dex:
            chain[market] = Account(venues.dex(dex[market]).program_id, f.payload)
    assert sorted(chain) == sorted([*dex, *MINTS])
    fetch = _fetcher(chain)
    assert verify_dex_markets(settings, fetch) == 4
    assert fetch.asked[1] == sorted([SOL_MINT, USDC_MINT])  # only Orca needs the mint accounts


def test_paper_on_loopback_refuses_a_wrong_base_is_a_before_any_feed_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli.main import main

    bad = tmp_path / "markets.toml"
    bad.write_text(SAMPLE_MARKETS.read_text().replace("base_is_a = true", "base_is_a = false"))
    code = main(["--markets", str(bad), "paper", "--loopback", "--duration", "5",
                 "--journal", str(tmp_path / "j")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "the markets file does not match the chain" in err
    assert "set base_is_a = true" in err
    assert not (tmp_path / "j").exists()  # refused before any run folder was made
