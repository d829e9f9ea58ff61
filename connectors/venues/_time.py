"""Server-time bodies of the CEX time endpoints, as typed wire schemas (venue field names)."""

from __future__ import annotations

from typing import TypeVar

import msgspec

from operators.errors import FeedError

T = TypeVar("T")


def decode_body(body: bytes, schema: type[T], venue: str, what: str) -> T:
    """Decode `body` into `schema`; `FeedError` naming the venue and the bad field otherwise."""
    try:
        return msgspec.json.decode(body, type=schema)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise FeedError(f"bad {what} body: {body[:120]!r} ({exc})", venue=venue) from exc
