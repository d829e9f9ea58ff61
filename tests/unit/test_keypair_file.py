"""The Solana keypair at rest: sealed with scrypt + AES-256-GCM, opened only with its password,
and never printable once open."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from solders.keypair import Keypair

from cli.main import main
from connectors import keypair as kf
from operators.errors import ConfigError
from tests.conftest import MemoryKeyring

FAST_N = 2**10
"""Test-only scrypt cost (the default, 2**17, takes ~0.8 s per open)."""


def _sealed(kp: Keypair, password: str = "pw-1") -> bytes:
    return kf.seal_keypair(bytes(kp), password, scrypt_n=FAST_N)


def _secret_forms(kp: Keypair) -> list[str]:
    secret = bytes(kp)[:32]
    return [str(kp), secret.hex(), base64.b64encode(secret).decode(), str(list(secret))[1:-1]]


def test_sealed_keypair_opens_with_its_password_and_signs_as_the_original() -> None:
    kp = Keypair()
    signer = kf.open_keypair(_sealed(kp), "pw-1")
    assert signer.pubkey() == kp.pubkey()
    assert signer.sign_message(b"solarb") == kp.sign_message(b"solarb")
    doc = json.loads(_sealed(kp))
    assert (doc["format"], doc["version"], doc["pubkey"]) == ("solarb-keypair", 1, str(kp.pubkey()))
    assert (doc["kdf"]["name"], doc["kdf"]["n"], doc["cipher"]["name"]) == (
        "scrypt", FAST_N, "aes-256-gcm",
    )  # fmt: skip


def test_wrong_password_and_every_tampered_field_are_refused_with_a_config_error() -> None:
    kp, other = Keypair(), Keypair()
    blob = _sealed(kp)
    with pytest.raises(ConfigError, match="wrong password, or the keypair file was altered"):
        kf.open_keypair(blob, "pw-2")
    doc = json.loads(blob)
    for field, value in (
        ("pubkey", str(other.pubkey())),
        ("kdf", {**doc["kdf"], "n": FAST_N * 2}),
        ("ciphertext", base64.b64encode(b"\x00" * 80).decode()),
    ):
        with pytest.raises(ConfigError, match="wrong password, or the keypair file was altered"):
            kf.open_keypair(json.dumps({**doc, field: value}).encode(), "pw-1")
    for bad, why in (
        (b"", "not UTF-8 JSON"),
        (blob[: len(blob) // 2], "not UTF-8 JSON"),
        (b"\xff\xfe", "not UTF-8 JSON"),
        (json.dumps({**doc, "format": "x"}).encode(), "not a solarb keypair file"),
        (json.dumps({**doc, "version": 9}).encode(), "version 9 not supported"),
        (json.dumps({**doc, "kdf": {**doc["kdf"], "n": 1000}}).encode(), "out of range"),
        (json.dumps({**doc, "ciphertext": "%%%"}).encode(), "not valid base64"),
    ):
        with pytest.raises(ConfigError, match=why):
            kf.open_keypair(bad, "pw-1")


def test_an_open_signer_never_shows_or_pickles_its_secret() -> None:
    import pickle

    kp = Keypair()
    signer = kf.open_keypair(_sealed(kp), "pw-1")
    shown = repr(signer) + str(signer) + f"{signer}"
    assert shown.count(str(kp.pubkey())) == 3
    for form in _secret_forms(kp):
        assert form not in shown
    with pytest.raises(TypeError, match="never pickled"):
        pickle.dumps(signer)


def test_keys_cli_seals_imports_and_checks_without_printing_the_secret(
    memory_keyring: MemoryKeyring,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kf, "SCRYPT_N", FAST_N)
    memory_keyring.set_password("solarb", "keypair_password", "pw-cli")
    kp = Keypair()
    src = tmp_path / "id.json"
    src.write_text(json.dumps(list(bytes(kp))))
    out = tmp_path / "sealed" / "id.solarb.json"
    ref = ["--password-ref", "keychain:solarb:keypair_password"]
    assert main(["keys", "keypair-import", str(src), "--out", str(out), *ref]) == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert main(["keys", "keypair-check", str(out), *ref]) == 0
    assert main(["keys", "keypair-import", str(src), "--out", str(out), *ref]) == 2  # no overwrite
    printed = capsys.readouterr()
    text = printed.out + printed.err
    assert f"keypair {kp.pubkey()} sealed in {out}" in text
    assert f"opens; pubkey {kp.pubkey()}" in text
    assert "exists already; keypair files are never overwritten" in text
    for form in _secret_forms(kp):
        assert form not in text
        assert form not in out.read_text()
    memory_keyring.set_password("solarb", "keypair_password", "not-it")
    assert main(["keys", "keypair-check", str(out), *ref]) == 2
    assert "wrong password" in capsys.readouterr().err


def test_a_malformed_solana_cli_keypair_is_refused() -> None:
    for text in ("[1, 2, 3]", "{}", "[" + ",".join(["300"] * 64) + "]", "nope"):
        with pytest.raises(ConfigError, match="not a solana-cli keypair"):
            kf.solana_cli_keypair_bytes(text)
    with pytest.raises(ConfigError, match="public half does not match"):
        kf.seal_keypair(bytes(Keypair())[:32] + bytes(Keypair())[32:], "pw", scrypt_n=FAST_N)


def test_keys_set_stores_prompted_credentials_at_the_configured_entries_and_check_sees_them(
    memory_keyring: MemoryKeyring,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import getpass

    answers = iter(["api-key-XYZ", "api-secret-XYZ"])
    monkeypatch.setattr(getpass, "getpass", lambda _prompt="": next(answers))
    assert main(["keys", "check"]) == 1
    assert main(["keys", "set", "binance"]) == 0
    assert memory_keyring.store[("solarb", "binance_api_key")] == "api-key-XYZ"
    assert memory_keyring.store[("solarb", "binance_api_secret")] == "api-secret-XYZ"
    out = capsys.readouterr().out
    assert "binance.api_key    MISSING" in out
    assert "stored binance api_key at keychain:solarb:binance_api_key" in out
    assert main(["keys", "check"]) == 0
    out = capsys.readouterr().out
    assert "binance.api_key    present (keychain:solarb:binance_api_key)" in out
    assert "XYZ" not in out
    assert main(["keys", "set", "nowhere"]) == 2
    assert "[venues.nowhere] is not configured" in capsys.readouterr().err
