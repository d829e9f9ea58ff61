"""A keyring backend for CLI subprocesses under test: in-memory, seeded from the environment.

`PYTHON_KEYRING_BACKEND=tests.env_keyring.EnvKeyring` with `SOLARB_TEST_KEYRING` holding a JSON
object {"service:name": "value"} gives a `solarb` subprocess test secrets without the real OS
keychain (what `tests.conftest.MemoryKeyring` does in-process). Writes stay in memory.
"""

from __future__ import annotations

import json
import os

from keyring.backend import KeyringBackend


class EnvKeyring(KeyringBackend):
    """Entries from `SOLARB_TEST_KEYRING`; never the OS keychain."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        seed = json.loads(os.environ.get("SOLARB_TEST_KEYRING", "{}"))
        self.store: dict[tuple[str, str], str] = {
            tuple(k.split(":", 1)): v for k, v in seed.items()  # type: ignore[misc]
        }

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)
