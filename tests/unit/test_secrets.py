from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked

from connectors.secrets import resolve_secret
from operators.errors import ConfigError


class MemoryKeyring(KeyringBackend):
    """A keyring backend made for tests: an in-memory dict, never the real OS keychain."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}
        self.locked = False

    def get_password(self, service: str, username: str) -> str | None:
        if self.locked:
            raise KeyringLocked("locked")
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    before = keyring.get_keyring()
    kr = MemoryKeyring()
    keyring.set_keyring(kr)
    try:
        yield kr
    finally:
        keyring.set_keyring(before)


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
