"""Order rate limits, sans-I/O: what a venue's answer headers say, and when to hold back.

Each venue codec declares its documented limits here as data; the transport
(connectors/cex/order_transport.py) asks `hold_ms` after every answer and `window_wait_ms`
before every request, and holds every request of the venue back for that long. Holding back
*before* the limit is reached is the point: a 429 costs a round trip and, repeated, a ban (418).

- Binance reports usage in headers: `X-MBX-USED-WEIGHT-1M` (request weight this minute),
  `X-MBX-ORDER-COUNT-10S` and `-1D` (spot) / `-1M` (USD-M) (new orders in the interval).
  Binance counts in fixed intervals (the minute, the 10 s block, the UTC day), so once usage
  is within `reserve` of the limit we wait for the interval's end on the venue clock.
- Bybit reports `X-Bapi-Limit` (the endpoint's limit), `X-Bapi-Limit-Status` (requests left)
  and `X-Bapi-Limit-Reset-Timestamp` (venue ms when the count resets): with `reserve` or fewer
  left we wait until the reset.
- OKX sends no usage header; its per-endpoint limits (e.g. place order: 60 requests per 2 s)
  are counted locally over a sliding window (`RequestLimit`), and 50011 backs off.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HeaderLimit:
    """A limit whose usage the venue reports in a response header (fixed-interval count)."""

    header: str
    limit: int
    window_ms: int
    reserve: int = 1
    """Hold back once usage reaches `limit - reserve` (room for a query or a cancel)."""


@dataclass(frozen=True, slots=True)
class RequestLimit:
    """A documented per-endpoint limit with no usage header: `limit` requests per `window_ms`."""

    method: str
    path: str
    limit: int
    window_ms: int


def _int(headers: Mapping[str, str], name: str) -> int | None:
    text = headers.get(name)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None  # an unreadable header says nothing; the venue's own 429 still protects


def used_count_hold_ms(headers: Mapping[str, str], limits: tuple[HeaderLimit, ...],
                       now_ms: int) -> int:
    """ms to wait (venue clock) before the next request, from fixed-interval usage headers."""
    wait = 0
    for lim in limits:
        used = _int(headers, lim.header)
        if used is not None and used >= lim.limit - lim.reserve:
            wait = max(wait, lim.window_ms - now_ms % lim.window_ms)
    return wait


def remaining_hold_ms(headers: Mapping[str, str], remaining_header: str, reset_header: str,
                      reserve: int, now_ms: int) -> int:
    """ms to wait until the venue's reset time once `reserve` or fewer requests are left."""
    left, reset_ms = _int(headers, remaining_header), _int(headers, reset_header)
    if left is None or reset_ms is None or left > reserve:
        return 0
    return max(0, reset_ms - now_ms)


@dataclass
class SlidingWindows:
    """Local counts of requests per documented endpoint limit (monotonic seconds)."""

    limits: tuple[RequestLimit, ...]
    sent: dict[tuple[str, str], deque[float]]

    @classmethod
    def of(cls, limits: tuple[RequestLimit, ...]) -> SlidingWindows:
        """Empty windows for `limits`."""
        return cls(limits, {(lim.method, lim.path): deque() for lim in limits})

    def _limit(self, method: str, path: str) -> RequestLimit | None:
        return next((lim for lim in self.limits if (lim.method, lim.path) == (method, path)),
                    None)

    def wait_s(self, method: str, path: str, now_s: float) -> float:
        """Seconds until one more request to `method path` stays within its limit."""
        lim = self._limit(method, path)
        if lim is None:
            return 0.0
        q = self.sent[(method, path)]
        window_s = lim.window_ms / 1000
        while q and now_s - q[0] >= window_s:
            q.popleft()
        if len(q) < lim.limit:
            return 0.0
        return q[0] + window_s - now_s

    def note(self, method: str, path: str, now_s: float) -> None:
        """Count one request sent."""
        q = self.sent.get((method, path))
        if q is not None:
            q.append(now_s)
