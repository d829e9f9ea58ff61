from __future__ import annotations

import pytest

from connectors.secrets import resolve_secret
from operators.errors import ConfigError
from tests.conftest import MemoryKeyring


def test_reference_resolves_to_the_keychain_entry(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password("solarb", "binance_api_key", "k-123")
    assert resolve_secret("keychain:solarb:binance_api_key") == "k-123"


def test_missing_entry_names_the_reference_and_how_to_add_it(
    memory_keyring: MemoryKeyring,
) -> None:
    with pytest.raises(ConfigError) as err:
        resolve_secret("keychain:solarb:okx_key")
    assert str(err.value) == (
        "keychain:solarb:okx_key: no such entry in the keychain "
        "(add it with: keyring set solarb okx_key)"
    )


def test_locked_keychain_is_a_config_error_without_the_secret(
    memory_keyring: MemoryKeyring,
) -> None:
    memory_keyring.set_password("solarb", "k", "very-secret-value")
    memory_keyring.locked = True
    with pytest.raises(ConfigError) as err:
        resolve_secret("keychain:solarb:k")
    assert "very-secret-value" not in str(err.value)
    assert "keychain not reachable (KeyringLocked)" in str(err.value)


def test_a_raw_secret_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as err:
        resolve_secret("sk_live_abc")
    assert str(err.value) == "a secret must be a 'keychain:service:name' reference, not a value"
