"""Values the Solana RPC transport hands out: account/slot/signature updates, endpoint health.

Kept apart from `connectors.solana.rpc` (the transport) so consumers can import the types alone.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Protocol

from operators.errors import FeedError
from operators.events import HealthEvent


class RpcSettingsLike(Protocol):
    """The fields of `config.RpcSettings` this module reads (connectors never import config)."""

    @property
    def http(self) -> list[str]: ...
    @property
    def ws(self) -> list[str]: ...
    @property
    def failover_http(self) -> str: ...
    @property
    def failover_ws(self) -> str: ...
    @property
    def commitment(self) -> str: ...
    @property
    def timeout_ms(self) -> int: ...


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    """Raw bytes of one account at `slot`; `via` is bootstrap, subscription or resync."""

    pubkey: str
    data: bytes
    owner: str
    lamports: int
    slot: int
    ts_recv_ns: int
    endpoint: str
    via: str


@dataclass(frozen=True, slots=True)
class SlotUpdate:
    """A slotNotification from the WS endpoint in use."""

    slot: int
    ts_recv_ns: int
    endpoint: str


@dataclass(frozen=True, slots=True)
class SignatureUpdate:
    """A signature reached the requested commitment; `err` is None on success."""

    signature: str
    slot: int
    err: object
    ts_recv_ns: int


RpcItem = AccountUpdate | SlotUpdate | HealthEvent


@dataclass(slots=True)
class Endpoint:
    """One RPC node and what we know of its health (slot, latency, failures, cooldown)."""

    name: str
    http_url: str
    ws_url: str
    is_failover: bool
    slot: int = 0
    lag_slots: int = 0
    lagging: bool = False
    latency_ns: int = 0
    failures: int = 0
    cooldown_until_ns: int = 0
    healthy_probes: int = 0
    """Consecutive health probes answered in time and not lagging."""


def account_from_json(value: dict[str, Any]) -> tuple[bytes, str, int]:
    """(data bytes, owner, lamports) of an RPC account object in base64 encoding."""
    data = value["data"]
    if not isinstance(data, list) or len(data) != 2 or data[1] != "base64":
        raise FeedError(f"account data is not [b64, 'base64']: {str(data)[:60]}", venue="solana")
    return base64.b64decode(data[0]), str(value["owner"]), int(value["lamports"])
