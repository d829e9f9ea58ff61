"""Thin REST client for CEX market data: request-weight budget, 429/418/5xx backoff, server time.

No business logic here: it fetches bytes. Rules it enforces, per venue:
- a rolling request-weight budget (Binance spot 6000/min, USD-M 2400/min, OKX books 40 per 2 s,
  Bybit 600 per 5 s), refreshed from Binance's `X-MBX-USED-WEIGHT-1M` header when present;
- on 429 (rate limited), 418 (IP banned) and 5xx it waits `Retry-After` seconds when the venue
  sends that header, else a jittered exponential backoff, and blocks every request of the venue
  until then (a ban is per IP, not per call);
- the server-time offset (venue clock minus local clock, ns) from the venue's time endpoint,
  measured at the midpoint of the round trip.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from connectors import venues
from connectors.redact import redact_text
from operators.errors import FeedError


@dataclass(frozen=True, slots=True)
class RestConfig:
    """REST retry and budget settings (seconds, request weights)."""

    timeout_s: float = 5.0
    max_attempts: int = 6
    backoff_initial_s: float = 0.25
    backoff_max_s: float = 30.0
    backoff_jitter: float = 0.5
    weight_limit: int | None = None
    """Weight per window; None = the venue's default (its adapter's `rest_budget`)."""


def backoff_s(attempt: int, initial_s: float, max_s: float, jitter: float,
              rng: random.Random) -> float:
    """Exponential backoff for `attempt` (0-based), capped, minus up to `jitter` share at random."""
    base = min(max_s, initial_s * (2.0**attempt))
    return base * (1.0 - jitter * rng.random())


class RateBudget:
    """Rolling-window weight budget; `acquire` waits until the weight fits (monotonic seconds)."""

    def __init__(self, limit: int, window_s: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._mono = monotonic
        self._spent: deque[tuple[float, int]] = deque()
        self._header_used = 0
        self._header_at = 0.0

    def used(self) -> int:
        """Weight spent in the current window (the larger of our count and the venue's header)."""
        now = self._mono()
        while self._spent and now - self._spent[0][0] >= self.window_s:
            self._spent.popleft()
        ours = sum(w for _, w in self._spent)
        theirs = self._header_used if now - self._header_at < self.window_s else 0
        return max(ours, theirs)

    def wait_s(self, weight: int) -> float:
        """Seconds until `weight` fits in the window (0 when it fits now)."""
        if weight > self.limit:
            raise FeedError(f"request weight {weight} exceeds the whole budget {self.limit}")
        if self.used() + weight <= self.limit:
            return 0.0
        if not self._spent:
            return max(0.0, self._header_at + self.window_s - self._mono())
        return max(0.0, self._spent[0][0] + self.window_s - self._mono())

    async def acquire(self, weight: int) -> float:
        """Wait until `weight` fits, then spend it; returns the seconds waited."""
        waited = 0.0
        while (w := self.wait_s(weight)) > 0.0:
            await asyncio.sleep(w)
            waited += w
        self._spent.append((self._mono(), weight))
        return waited

    def observe_header(self, used: int) -> None:
        """Take the venue's own count of weight used this window (e.g. X-MBX-USED-WEIGHT-1M)."""
        self._header_used = used
        self._header_at = self._mono()


@dataclass
class RestStats:
    """What the REST client did (for health, tests and benches)."""

    requests: int = 0
    retries: int = 0
    throttled: list[tuple[int, float]] = field(default_factory=list)
    """(HTTP status, seconds waited before the next attempt) for each 429/418/5xx."""
    budget_wait_s: float = 0.0


class RestClient:
    """GET market-data endpoints of one venue with budget, retries and Retry-After."""

    def __init__(self, venue: str, base_url: str, session: aiohttp.ClientSession, *,
                 config: RestConfig | None = None, rng: random.Random | None = None,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.venue = venue
        self.adapter = venues.cex(venue)
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.config = config or RestConfig()
        limit, window = self.adapter.rest_budget
        self.budget = RateBudget(self.config.weight_limit or limit, window)
        self.rng = rng or random.Random()
        self.clock_ns = clock_ns
        self.stats = RestStats()
        self._blocked_until = 0.0
        # One request at a time per venue: a 429 on one request must hold back the next one,
        # which a concurrent request already in flight would otherwise jump past.
        self._one_at_a_time = asyncio.Lock()
        self.clock_offset_ns = 0
        """Venue clock minus local clock, ns (0 until `sync_time` ran)."""

    async def get(self, path: str, *, weight: int = 1) -> tuple[bytes, int]:
        """GET `path`; returns (body bytes, local receive ns). FeedError after `max_attempts`."""
        async with self._one_at_a_time:
            return await self._get(path, weight)

    async def _get(self, path: str, weight: int) -> tuple[bytes, int]:
        cfg = self.config
        url = self.base_url + path
        last = ""
        for attempt in range(cfg.max_attempts):
            ban_left = self._blocked_until - time.monotonic()
            if ban_left > 0:
                await asyncio.sleep(ban_left)
            self.stats.budget_wait_s += await self.budget.acquire(weight)
            self.stats.requests += 1
            try:
                async with self.session.get(
                    url, timeout=aiohttp.ClientTimeout(total=cfg.timeout_s)
                ) as resp:
                    body = await resp.read()
                    ts = self.clock_ns()
                    header = self.adapter.used_weight_header
                    used = resp.headers.get(header) if header else None
                    if used is not None and used.isdigit():
                        self.budget.observe_header(int(used))
                    if resp.status == 200:
                        return body, ts
                    last = f"HTTP {resp.status}: {body[:120]!r}"
                    if resp.status not in (418, 429) and resp.status < 500:
                        raise FeedError(f"GET {path} failed: {last}", venue=self.venue)
                    wait = self._retry_wait(resp.headers.get("Retry-After"), attempt)
                    self.stats.throttled.append((resp.status, wait))
            except (TimeoutError, aiohttp.ClientError) as exc:
                last = redact_text(f"{type(exc).__name__}: {exc}")  # aiohttp quotes the URL
                wait = backoff_s(attempt, cfg.backoff_initial_s, cfg.backoff_max_s,
                                 cfg.backoff_jitter, self.rng)
            self.stats.retries += 1
            self._blocked_until = max(self._blocked_until, time.monotonic() + wait)
        raise FeedError(f"GET {path} gave up after {cfg.max_attempts} attempts ({last})",
                        venue=self.venue)

    def _retry_wait(self, retry_after: str | None, attempt: int) -> float:
        """Seconds to wait: the venue's Retry-After when given, else jittered backoff."""
        cfg = self.config
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                pass  # an HTTP-date form: fall back to our own backoff
        return backoff_s(attempt, cfg.backoff_initial_s, cfg.backoff_max_s, cfg.backoff_jitter,
                         self.rng)

    async def sync_time(self) -> int:
        """Measure the venue clock offset (venue minus local, ns) from its time endpoint."""
        t0 = self.clock_ns()
        body, t1 = await self.get(self.adapter.server_time_path)
        server_ms = self.adapter.parse_server_time_ms(body)
        self.clock_offset_ns = server_ms * 1_000_000 - (t0 + t1) // 2
        return self.clock_offset_ns
