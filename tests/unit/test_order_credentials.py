"""Trading credentials from config: keychain references, venue needs, nothing echoed."""

from __future__ import annotations

import pytest

from config import VenueSettings
from connectors.cex.orders.keys import load_credentials
from operators.errors import ConfigError
from tests.conftest import MemoryKeyring
from tests.unit.test_cex_order_signing import FIX_ED25519_PEM


def _venue(**kw: object) -> VenueSettings:
    return VenueSettings(kind="cex", taker_fee_bps=10.0, **kw)  # type: ignore[arg-type]


def test_hmac_credentials_resolve_from_the_keychain(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password("solarb", "okx_key", "okx-key-value")
    memory_keyring.set_password("solarb", "okx_secret", "okx-secret-value")
    memory_keyring.set_password("solarb", "okx_pass", "okx-pass-value")
    creds = load_credentials("okx", _venue(api_key="keychain:solarb:okx_key",
                                           api_secret="keychain:solarb:okx_secret",
                                           api_passphrase="keychain:solarb:okx_pass"))
    assert (creds.api_key, creds.passphrase, creds.is_ed25519) == (
        "okx-key-value", "okx-pass-value", False)
    assert "okx-secret-value" not in repr(creds)


def test_binance_ed25519_key_is_read_as_pem(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password("solarb", "bk", "ed-key")
    memory_keyring.set_password("solarb", "bpem", FIX_ED25519_PEM.decode())
    creds = load_credentials("binance", _venue(api_key="keychain:solarb:bk",
                                               api_secret="keychain:solarb:bpem",
                                               api_key_type="ed25519"))
    assert creds.is_ed25519 and len(creds.ed25519_b64(b"x")) == 88


@pytest.mark.parametrize(("venue", "kw", "message"), [
    ("okx", {"api_key": "keychain:s:k", "api_secret": "keychain:s:s"},
     "venues.okx: api_passphrase (a keychain reference) is needed"),
    ("bybit", {"api_key": "keychain:s:k", "api_secret": "keychain:s:s",
               "api_key_type": "ed25519"},
     "venues.bybit: api_key_type 'ed25519' is not supported (supported: ['hmac'])"),
    ("binance", {}, "venues.binance: api_key and api_secret (keychain references) are needed "
                    "to trade"),
])
def test_what_a_venue_needs_is_checked_before_any_lookup(venue, kw, message) -> None:
    with pytest.raises(ConfigError) as err:
        load_credentials(venue, _venue(**kw))
    assert str(err.value) == message


def test_a_raw_passphrase_in_config_is_refused() -> None:
    with pytest.raises(ValueError, match="never the secret itself"):
        _venue(api_passphrase="hunter2")
