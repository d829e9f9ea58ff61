from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from config import SecretRef, load_settings
from operators.errors import ConfigError


def test_default_config_and_markets_validate() -> None:
    s = load_settings(env={})
    assert [p.name for p in s.pairs] == ["SOL/USDC"]
    assert [m.market_id for m in s.pairs[0].markets] == [
        "binance:SOLUSDC",
        "orca:HJPjoWUrhoZzkNfRpHuieeFk9WcZWjwy6PBjZ81ngndJ",
    ]
    assert s.risk.max_notional_usd == Decimal("5000")
    assert s.venues["binance"].api_key == "keychain:solarb:binance_api_key"


def test_env_override_replaces_nested_key_with_typed_value() -> None:
    s = load_settings(
        env={"SOLARB__RISK__MAX_NOTIONAL_USD": "2500", "SOLARB__GAS__CU_LIMIT": "300000"}
    )
    assert s.risk.max_notional_usd == Decimal("2500")
    assert s.gas.cu_limit == 300_000


def test_bad_value_names_file_key_and_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    text = (Path(__file__).parents[2] / "config" / "default.toml").read_text()
    bad.write_text(text.replace("max_open_orders = 4", "max_open_orders = 0"))
    with pytest.raises(ConfigError) as err:
        load_settings(bad, env={})
    msg = str(err.value)
    assert str(bad) in msg
    assert "risk.max_open_orders" in msg
    assert "greater than or equal to 1" in msg


def test_raw_secret_in_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env={"SOLARB__VENUES__BINANCE__API_KEY": "abcd1234secret"})
    assert "venues.binance.api_key" in str(err.value)
    assert "keychain:service:name" in str(err.value)
    assert "abcd1234secret" not in str(err.value)


def test_secret_reference_splits_service_and_name() -> None:
    ref = SecretRef.parse("keychain:solarb:okx_key")
    assert (ref.service, ref.name) == ("solarb", "okx_key")


def test_invalid_toml_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.toml"
    bad.write_text("[engine\n")
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML"):
        load_settings(bad, env={})


def test_market_on_unknown_venue_is_refused(tmp_path: Path) -> None:
    m = tmp_path / "m.toml"
    m.write_text(
        '[[pairs]]\nname="X/USDC"\nbase="X"\nquote="USDC"\nbase_decimals=9\nquote_decimals=6\n'
        'max_trade_base="1"\n[[pairs.markets]]\nvenue="kraken"\nsymbol="XUSDC"\n'
    )
    with pytest.raises(ConfigError, match="'kraken' is not in \\[venues\\]"):
        load_settings(markets_path=m, env={})


def test_treasury_is_a_base58_address_or_a_clear_error() -> None:
    from cli.check_online import check_treasury

    addr = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
    s = load_settings(env={"SOLARB__DEX_EXECUTION__TREASURY": addr})
    assert s.dex_execution.treasury == addr
    assert [c.line().split() for c in check_treasury(s)] == [["OK", "treasury", addr]]
    assert "not set" in check_treasury(load_settings(env={}))[0].value
    with pytest.raises(ConfigError) as err:
        load_settings(env={"SOLARB__DEX_EXECUTION__TREASURY": "not-an-address"})
    assert "dex_execution.treasury" in str(err.value)
    assert "base58 Solana address" in str(err.value)


def test_constant_reference_prices_are_opt_in_per_markets_file() -> None:
    # off by default: a live markets file without a SOL book for a non-SOL pair must refuse to
    # start rather than value gas at a constant; the two-pair sample opts in for itself, and
    # the environment still overrides both
    from engine.params import spread_params_from_settings
    from sim.simulate import SAMPLE_MARKETS, SAMPLE_MARKETS_MULTI

    assert load_settings(markets_path=SAMPLE_MARKETS, env={}).reference.constant_fallback is False
    multi = load_settings(markets_path=SAMPLE_MARKETS_MULTI, env={})
    assert multi.reference.constant_fallback is True
    assert spread_params_from_settings(multi, "ETH/USDC").reference_notes
    env = {"SOLARB__REFERENCE__CONSTANT_FALLBACK": "false"}
    strict = load_settings(markets_path=SAMPLE_MARKETS_MULTI, env=env)
    with pytest.raises(ConfigError, match="no book prices SOL"):
        spread_params_from_settings(strict, "ETH/USDC")
