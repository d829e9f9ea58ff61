"""`solarb check --online` on loopback: green on a healthy setup, names the failing check."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from cli.check_online import run_online_checks
from cli.main import main
from sim.loopback import Loopback
from sim.simulate import SAMPLE_MARKETS
from tests.conftest import MemoryKeyring

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture
def keys(memory_keyring: MemoryKeyring) -> MemoryKeyring:
    # the default config names Binance's API key and secret in the keychain
    memory_keyring.store[("solarb", "binance_api_key")] = "test-key"
    memory_keyring.store[("solarb", "binance_api_secret")] = "test-secret"
    return memory_keyring


def test_check_loopback_is_green_on_a_healthy_setup(
    keys: MemoryKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--markets", str(SAMPLE_MARKETS), "check", "--loopback", "--within", "5"]) == 0
    out = capsys.readouterr().out
    names = [line.split()[1] for line in out.splitlines() if line.startswith(("OK", "FAIL"))]
    assert names == [
        "risk", "keychain", "treasury", "clock", "rpc", "markets", "symbol", "key", "feed", "feed"
    ]
    assert "FAIL" not in out and "GREEN: 10/10 checks passed" in out
    assert "OK   key binance                  no withdraw, can trade, NOT IP-restricted" in out
    assert "test-key" not in out and "test-secret" not in out


def test_check_names_the_stopped_venue_and_fails(keys: MemoryKeyring, loop: Loopback) -> None:
    settings = loop.settings(None, SAMPLE_MARKETS)
    assert loop.venues is not None
    loop.venues.stop()  # every loopback CEX venue gone; the stand-in still serves
    loop.venues = None  # already stopped: the fixture's stop() must not stop it again
    lines: list[str] = []
    assert run_online_checks(settings, within_s=2.0, timeout_s=2.0, emit=lines.append) is False
    failing = [line.split()[1:3] for line in lines if line.startswith("FAIL")]
    assert failing == [
        ["clock", "binance"], ["symbol", "binance:SOLUSDC"], ["key", "binance"],
        ["feed", "binance:spot"],
    ]
    assert lines[-1] == (
        "RED: 6/10 checks passed; failing: clock binance, symbol binance:SOLUSDC, key binance, "
        "feed binance:spot"
    )


def test_check_fails_on_a_clock_past_the_drift_cap(keys: MemoryKeyring, loop: Loopback) -> None:
    assert loop.venues is not None
    loop.venues.venues.sims["binance"].clock_skew_ms = 2_500
    lines: list[str] = []
    ok = run_online_checks(
        loop.settings(None, SAMPLE_MARKETS), within_s=5.0, emit=lines.append
    )
    (clock,) = [ln for ln in lines if ln.startswith(("OK", "FAIL")) and "clock binance" in ln]
    assert ok is False and clock.startswith("FAIL") and "(cap 1000)" in clock
    assert int(clock.split()[3]) in range(2_400, 2_600)  # +2500 ms, give or take the RTT


def test_live_refuses_to_start_when_the_preflight_is_red(
    memory_keyring: MemoryKeyring, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # no API key in the (empty, in-memory) keychain: the keychain check is red
    argv = ["--markets", str(SAMPLE_MARKETS), "live", "--loopback", "--signals-only",
            "--duration", "1", "--journal", f"{tmp_path}/j"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "FAIL keychain                     missing: binance.api_key, binance.api_secret" in out
    assert "solarb live: refusing to start: the preflight is red" in out
    assert not (tmp_path / "j").exists()


def test_check_names_a_tick_size_the_venue_does_not_have(
    keys: MemoryKeyring, loop: Loopback
) -> None:
    settings = loop.settings(None, SAMPLE_MARKETS)
    pair = settings.pairs[0]
    cex = pair.markets[0].model_copy(update={"tick_size": Decimal("0.1")})
    pair = pair.model_copy(update={"markets": [cex, *pair.markets[1:]]})
    lines: list[str] = []
    ok = run_online_checks(
        settings.model_copy(update={"pairs": [pair]}), within_s=5.0, emit=lines.append
    )
    assert ok is False
    assert (
        "FAIL symbol binance:SOLUSDC       tick_size 0.1 in the markets file, 0.01 at the venue"
        in lines
    )


def test_check_is_red_for_a_key_that_can_withdraw(keys: MemoryKeyring, loop: Loopback) -> None:
    assert loop.venues is not None
    loop.venues.venues.desk("binance").add_account("test-key", "test-secret", can_withdraw=True)
    lines: list[str] = []
    ok = run_online_checks(loop.settings(None, SAMPLE_MARKETS), within_s=5.0, emit=lines.append)
    assert ok is False
    assert "FAIL key binance                  CAN WITHDRAW: refuse to trade with it " \
        "(NOT IP-restricted)" in lines
    assert lines[-1] == "RED: 9/10 checks passed; failing: key binance"
