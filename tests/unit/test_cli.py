from __future__ import annotations

import pytest

from cli.main import main
from tests.conftest import MemoryKeyring


def test_check_reports_missing_keys_and_fails(
    memory_keyring: MemoryKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert "config         OK (1 pairs, 8 venues)" in out
    assert "binance.api_key    MISSING: keychain:solarb:binance_api_key: no such entry" in out


def test_check_passes_when_keys_are_in_the_keychain_and_never_prints_them(
    memory_keyring: MemoryKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    memory_keyring.set_password("solarb", "binance_api_key", "AKIA-do-not-print")
    memory_keyring.set_password("solarb", "binance_api_secret", "s3cr3t-do-not-print")
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "binance.api_key    present (keychain:solarb:binance_api_key)" in out
    assert "do-not-print" not in out


def test_bad_config_is_one_clear_error_and_exit_code_2(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text("[engine]\nbook_depth = -1\n")
    assert main(["--config", str(bad), "check"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "key 'engine.book_depth'" in err


def test_missing_capture_file_is_reported(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "nope.parquet")]) == 2
    assert "capture not found" in capsys.readouterr().err


def test_check_looks_up_rpc_urls_given_as_keychain_references(
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SOLARB__RPC__FAILOVER_HTTP", '"keychain:solarb:rpc_failover"')
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert "  rpc.failover_http MISSING: keychain:solarb:rpc_failover: no such entry" in out
    memory_keyring.set_password("solarb", "rpc_failover", "https://x.example/?api-key=NOPRINT")
    main(["check"])
    out = capsys.readouterr().out
    assert "  rpc.failover_http present (keychain:solarb:rpc_failover)" in out
    assert "NOPRINT" not in out
