"""Public keys between an account's 32 raw bytes and base58, shared by every Solana codec."""

from __future__ import annotations

from solders.pubkey import Pubkey

from operators.errors import DecodeError

__all__ = ["b58", "b58_or_none", "key_bytes"]

_ZERO = bytes(32)


def b58(raw: bytes) -> str:
    """The base58 string of a 32-byte public key as stored in an account."""
    return str(Pubkey.from_bytes(raw))


def b58_or_none(raw: bytes) -> str | None:
    """`b58`, or None for the all-zero key (Anchor's `Option<Pubkey>` left unset)."""
    return None if raw == _ZERO else b58(raw)


def key_bytes(key: str, what: str) -> bytes:
    """The 32 bytes of a base58 public key, for an encoder; `what` names the field in errors."""
    try:
        return bytes(Pubkey.from_string(key))
    except ValueError as exc:
        message = f"cannot encode {what}: {key!r} is not a base58 pubkey"
        raise DecodeError(message, account=what) from exc
