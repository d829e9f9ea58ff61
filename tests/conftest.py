"""Shared test helpers: where ../shared/fixtures is, and a skip when it is absent."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures"


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
