"""Client order ids: deterministic from (opportunity, leg, attempt), valid on every venue.

Binance `newClientOrderId` allows 36 characters, Bybit `orderLinkId` 36 and OKX `clOrdId` 32
letters and digits only, so an id is 31 letters and digits: `S` + 27 base-62 characters of
SHA-256(opportunity id) (160 bits) + the leg letter + the attempt in 2 base-36 digits (+ one
base-36 slice digit for slices 1..35 of a sliced leg: 32 characters). The same
inputs always give the same id, so a restarted engine re-derives the id of an order it may have
sent and can query it before sending anything again (never a duplicate order). Different legs or
attempts of one opportunity differ in their suffix; different opportunities collide only if
SHA-256 truncated to 160 bits does.
"""

from __future__ import annotations

import hashlib
import re

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B36 = _B62[:36]
_HASH_CHARS = 27
"""62**27 > 2**160: every 160-bit value has its own 27-character form."""
LEGS = {"buy": "B", "sell": "S", "hedge": "H"}
MAX_ATTEMPT = 36 * 36 - 1
MAX_SLICE = 35
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")
"""What every venue accepts (OKX's rule is the strictest)."""


def _b62(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(_B62[r])
    return "".join(reversed(out))


def client_order_id(opportunity_id: str, leg: str, attempt: int = 0, slice_no: int = 0) -> str:
    """The client order id of `leg` (buy|sell|hedge) of an opportunity at `attempt` (0..1295).

    Slice k > 0 of a sliced leg (1..35) appends one base-36 character: 32 characters, so it
    never equals an unsliced id (31) and slices of one leg differ in that character.
    """
    if leg not in LEGS:
        raise ValueError(f"leg must be one of {sorted(LEGS)}, not {leg!r}")
    if not 0 <= attempt <= MAX_ATTEMPT:
        raise ValueError(f"attempt must be in 0..{MAX_ATTEMPT}, not {attempt}")
    if not 0 <= slice_no <= MAX_SLICE:
        raise ValueError(f"slice must be in 0..{MAX_SLICE}, not {slice_no}")
    digest = int.from_bytes(hashlib.sha256(opportunity_id.encode()).digest()[:20], "big")
    hi, lo = divmod(attempt, 36)
    tail = _B36[slice_no] if slice_no else ""
    return "S" + _b62(digest, _HASH_CHARS) + LEGS[leg] + _B36[hi] + _B36[lo] + tail
