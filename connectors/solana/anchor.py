"""Anchor account conventions shared by the Solana venue codecs."""

from __future__ import annotations

import hashlib


def account_discriminator(name: str) -> bytes:
    """The 8-byte prefix Anchor writes on an account of type `name`: sha256("account:<name>")."""
    return hashlib.sha256(f"account:{name}".encode()).digest()[:8]
