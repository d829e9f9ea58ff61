"""OKX and Bybit API key permissions asked of the (loopback) venues, signed like their orders:
a trading key without withdraw passes, a key that can withdraw is refused (the preflight that
`solarb live` must pass is red), a bad signature is a clear error naming the venue's answer;
`solarb keys check --loopback` and `solarb check --online` print the same lines."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from cli.check_online import key_permission_checks
from cli.main import main
from config import Settings
from sim.loopback import Loopback
from tests.conftest import MemoryKeyring

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ALL_MARKETS = Path(__file__).resolve().parents[2] / "sim" / "sample" / "markets_all.toml"
"""Binance, OKX and Bybit books beside Solana venues (those after Orca are cut for --loopback,
which serves Orca pools only)."""
KEYS = {
    "binance": ("bn-key", "bn-secret", ""),
    "okx": ("okx-key", "okx-secret", "okx-passphrase"),
    "bybit": ("bybit-key", "bybit-secret", ""),
}


@pytest.fixture
def keys(memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch) -> MemoryKeyring:
    for venue, (key, secret, passphrase) in KEYS.items():
        fields = {"api_key": key, "api_secret": secret, "api_passphrase": passphrase}
        for field, value in fields.items():
            if not value:
                continue
            memory_keyring.store[("solarb", f"{venue}_{field}")] = value
            monkeypatch.setenv(f"SOLARB__VENUES__{venue.upper()}__{field.upper()}",
                               json.dumps(f"keychain:solarb:{venue}_{field}"))
    return memory_keyring


def _register(lb: Loopback, venue: str, *, secret: str | None = None,
              can_withdraw: bool = False) -> None:
    assert lb.venues is not None
    key, real_secret, passphrase = KEYS[venue]
    lb.venues.venues.desk(venue).add_account(key, secret or real_secret, passphrase=passphrase,
                                             can_withdraw=can_withdraw)


def _lines(settings: Settings) -> dict[str, str]:
    checks = asyncio.run(key_permission_checks(settings, 5.0))
    return {c.name: c.line() for c in checks}


@pytest.mark.parametrize("venue", ["okx", "bybit"])
def test_a_trading_key_without_withdraw_passes(
    keys: MemoryKeyring, loop: Loopback, venue: str
) -> None:
    _register(loop, venue)
    line = _lines(loop.settings(None, ALL_MARKETS))[f"key {venue}"]
    assert line.startswith("OK ") and line.endswith("no withdraw, can trade, NOT IP-restricted")


@pytest.mark.parametrize("venue", ["okx", "bybit"])
def test_a_key_that_can_withdraw_is_refused(
    keys: MemoryKeyring, loop: Loopback, venue: str
) -> None:
    _register(loop, venue, can_withdraw=True)
    line = _lines(loop.settings(None, ALL_MARKETS))[f"key {venue}"]
    assert line.startswith("FAIL ")
    assert line.endswith("CAN WITHDRAW: refuse to trade with it (NOT IP-restricted)")


@pytest.mark.parametrize(("venue", "answer"), [
    ("okx", "(HTTP 401, code 50113: Invalid Sign.)"),
    ("bybit", "(HTTP 200, code 10004: Error sign, please check your signature generation "
              "algorithm.)"),
])
def test_a_bad_signature_is_a_clear_error(
    keys: MemoryKeyring, loop: Loopback, venue: str, answer: str
) -> None:
    _register(loop, venue, secret="not-the-secret-in-the-keychain")
    line = _lines(loop.settings(None, ALL_MARKETS))[f"key {venue}"]
    assert line.startswith("FAIL ")
    assert f"{venue}: the key permission query was refused {answer}" in line
    assert "okx-secret" not in line and "bybit-secret" not in line


def test_keys_check_loopback_shows_each_venue(
    keys: MemoryKeyring, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = ALL_MARKETS.read_text()
    markets = tmp_path / "markets.toml"
    markets.write_text(text[: text.index('  [[pairs.markets]]\n  venue = "raydium_clmm"')])
    assert main(["--markets", str(markets), "keys", "check", "--loopback"]) == 0
    out = capsys.readouterr().out
    for venue in ("binance", "okx", "bybit"):
        assert f"key {venue}" in out
    assert out.count("no withdraw, can trade, NOT IP-restricted") == 3
    assert "okx.api_passphrase present (keychain:solarb:okx_api_passphrase)" in out
    for key, secret, passphrase in KEYS.values():
        assert key not in out and secret not in out
        assert not passphrase or passphrase not in out


def test_the_preflight_live_must_pass_is_red_for_an_okx_key_that_can_withdraw(
    keys: MemoryKeyring, loop: Loopback
) -> None:
    from cli.check_online import run_online_checks

    for venue in KEYS:
        _register(loop, venue, can_withdraw=venue == "okx")
    lines: list[str] = []
    assert run_online_checks(loop.settings(None, ALL_MARKETS), within_s=3.0,
                             emit=lines.append) is False
    assert any(line.startswith("FAIL key okx") and "CAN WITHDRAW" in line for line in lines)
    assert "key okx" in lines[-1].split("failing:", 1)[1]
