"""Secrets from the OS keychain (`keyring`), named in config by `keychain:service:name`.

The value is returned to the caller and never logged, printed or put in an error message.
"""

from __future__ import annotations

import keyring
from keyring.errors import KeyringError

from config import RpcSettings, SecretRef, is_secret_ref
from operators.errors import ConfigError


def resolve_secret(ref: str) -> str:
    """The secret a `keychain:service:name` reference points to; ConfigError if it is absent."""
    try:
        parsed = SecretRef.parse(ref)
    except ValueError:
        # Never echo what was given: it may be the secret itself.
        raise ConfigError(
            "a secret must be a 'keychain:service:name' reference, not a value"
        ) from None
    try:
        value = keyring.get_password(parsed.service, parsed.name)
    except KeyringError as exc:
        raise ConfigError(f"{ref}: keychain not reachable ({type(exc).__name__})") from None
    if not value:
        raise ConfigError(
            f"{ref}: no such entry in the keychain "
            f"(add it with: keyring set {parsed.service} {parsed.name})"
        )
    return value


def resolve_url(value: str) -> str:
    """An endpoint URL from config: a `keychain:service:name` reference resolved, else as is."""
    return resolve_secret(value) if is_secret_ref(value) else value


def resolve_rpc(rpc: RpcSettings) -> RpcSettings:
    """`rpc` with every endpoint URL that is a keychain reference replaced by its value."""
    return rpc.model_copy(
        update={
            "http": [resolve_url(u) for u in rpc.http],
            "ws": [resolve_url(u) for u in rpc.ws],
            "failover_http": resolve_url(rpc.failover_http),
            "failover_ws": resolve_url(rpc.failover_ws),
        }
    )


def keychain_status() -> str:
    """Name of the active keyring backend (for the daily checklist)."""
    return type(keyring.get_keyring()).__name__
