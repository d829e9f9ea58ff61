"""A keyring backend for subprocess tests: entries from `SOLARB_TEST_KEYRING` (JSON), memory only.

A child process started with `PYTHON_KEYRING_BACKEND=tests.env_keyring.EnvKeyring` reads its
keychain from that variable, so a test can hand throwaway loopback keys to a real `solarb` run
without ever touching the OS keychain. Tests only: production never imports it.
"""

from __future__ import annotations

import json
import os

from keyring.backend import KeyringBackend

VAR = "SOLARB_TEST_KEYRING"


def entries(values: dict[tuple[str, str], str]) -> str:
    """The variable's value for `{(service, name): secret}`."""
    return json.dumps({f"{s}\x00{n}": v for (s, n), v in values.items()})


class EnvKeyring(KeyringBackend):
    """Read-only entries from `SOLARB_TEST_KEYRING`."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.store: dict[str, str] = json.loads(os.environ.get(VAR, "{}"))

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get(f"{service}\x00{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[f"{service}\x00{username}"] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop(f"{service}\x00{username}", None)
