"""A venue's trading credentials from config: keychain references resolved, never echoed.

`[venues.<id>]` holds `api_key`, `api_secret` and (OKX) `api_passphrase` as
`keychain:service:name` references and `api_key_type` (`hmac`, or `ed25519` with the PEM private
key as the secret entry). What a venue needs (a passphrase, which key types) is its order
codec's to say, so nothing here branches on a venue's name.
"""

from __future__ import annotations

from config import VenueSettings
from connectors import venues
from connectors.cex.orders.common import Credentials
from connectors.secrets import resolve_secret
from operators.errors import ConfigError


def load_credentials(venue: str, settings: VenueSettings) -> Credentials:
    """The credentials of `venue`; `ConfigError` naming the missing key (never a value)."""
    codec = venues.cex(venue).orders
    if codec is None:
        raise ConfigError(f"venues.{venue}: this venue has no order client")
    if not settings.api_key or not settings.api_secret:
        raise ConfigError(f"venues.{venue}: api_key and api_secret (keychain references) "
                          "are needed to trade")
    if settings.api_key_type not in codec.key_types:
        raise ConfigError(f"venues.{venue}: api_key_type {settings.api_key_type!r} is not "
                          f"supported (supported: {list(codec.key_types)})")
    if codec.needs_passphrase and not settings.api_passphrase:
        raise ConfigError(f"venues.{venue}: api_passphrase (a keychain reference) is needed")
    key = resolve_secret(settings.api_key)
    secret = resolve_secret(settings.api_secret)
    passphrase = resolve_secret(settings.api_passphrase) if settings.api_passphrase else ""
    if settings.api_key_type == "ed25519":
        return Credentials(key, passphrase=passphrase, ed25519_pem=secret.encode())
    return Credentials(key, secret, passphrase=passphrase)
