"""Shared test helpers: where ../shared/fixtures is, and a skip when it is absent."""

from __future__ import annotations

import base64
import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("SOLARB_FIXTURES") or ROOT.parent / "shared" / "fixtures")
"""../shared/fixtures beside the checkout; `SOLARB_FIXTURES` points elsewhere (a git worktree
lives one level deeper, so its ../shared is not the shared folder)."""


def fixtures_dir() -> Path:
    """The shared fixtures folder, or skip the calling test with the reason."""
    if not FIXTURES.is_dir():
        pytest.skip(f"real venue fixtures not found at {FIXTURES} (../shared is absent here)")
    return FIXTURES


def load_account(path: Path) -> tuple[dict[str, Any], bytes]:
    """A fixture account JSON and its raw data bytes (read in place, never copied)."""
    meta = json.loads(path.read_text())
    return meta, base64.b64decode(meta["data_b64"])


def iter_cex_lines(path: Path) -> Iterator[dict[str, Any]]:
    """The lines of a CEX capture fixture (`ts_recv_ns, venue, kind, stream, payload`)."""
    with gzip.open(path, "rt") as fh:
        for line in fh:
            yield json.loads(line)


@pytest.fixture
def fixtures() -> Path:
    """Path of ../shared/fixtures; skips the test with a clear reason where it is absent."""
    return fixtures_dir()


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
