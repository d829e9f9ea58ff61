"""A recent-blockhash cache: refreshed in the background, never handed out too old to land.

A transaction is valid while the cluster's block height is at most its blockhash's
`lastValidBlockHeight` (~150 blocks after it was produced). Fetching a blockhash per trade costs
a round trip on the hot path, so `BlockhashCache` holds the latest one and `BlockhashRefresher`
refreshes it every `refresh_ms`. Between refreshes the cache estimates the block height from
its injected clock (one block per `slot_ms`, re-anchored on every `getBlockHeight`), and hands a
blockhash out only while at least `min_remaining_blocks` remain: enough for the sender's
re-broadcasts to matter. Past that it raises `ExecutionError(retryable=True)` rather than
sign a transaction that would expire unseen.

`BlockhashCache` is sans-I/O (values and a clock in, decisions out); the refresher is the thin
async loop around an RPC, a `connectors.solana.service.BackgroundService` (start/stop, bounded
retries, health).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from config import DexExecutionSettings
from connectors.solana.service import BackgroundService, RetryPolicy
from operators.errors import ConfigError, ExecutionError, FeedError
from operators.events import HealthEvent

__all__ = ["BlockhashCache", "BlockhashRefresher", "BlockhashSettings", "RecentBlockhash"]


@dataclass(frozen=True, slots=True)
class BlockhashSettings:
    """Refresh period, block time estimate and the margin a blockhash must keep to be used."""

    refresh_ms: int = 2_000
    slot_ms: int = 400
    min_remaining_blocks: int = 40
    """~16 s at 400 ms: the sender re-broadcasts for at least this long."""

    @classmethod
    def from_config(cls, cfg: DexExecutionSettings) -> BlockhashSettings:
        """From the `[dex_execution]` config section."""
        return cls(
            refresh_ms=cfg.blockhash_refresh_ms,
            min_remaining_blocks=cfg.blockhash_min_remaining_blocks,
        )

    def __post_init__(self) -> None:
        if self.refresh_ms <= 0 or self.slot_ms <= 0 or self.min_remaining_blocks < 1:
            raise ConfigError("blockhash: refresh_ms, slot_ms > 0 and min_remaining_blocks >= 1")
        # a refresh must come before the margin is used up, or the cache runs dry between them
        if self.refresh_ms >= self.min_remaining_blocks * self.slot_ms:
            raise ConfigError(
                f"blockhash: refresh_ms {self.refresh_ms} must be shorter than "
                f"min_remaining_blocks x slot_ms = {self.min_remaining_blocks * self.slot_ms}"
            )


@dataclass(frozen=True, slots=True)
class RecentBlockhash:
    """A blockhash (base58) and the last block height at which it is valid."""

    blockhash: str
    last_valid_block_height: int


class BlockhashCache:
    """The held blockhash and when to refresh it (sans-I/O; `now_ns` from an injected clock)."""

    def __init__(self, settings: BlockhashSettings | None = None) -> None:
        self.settings = settings or BlockhashSettings()
        self._held: RecentBlockhash | None = None
        self._anchor_height = 0
        self._anchor_ns = 0
        self._fetched_ns = 0

    def update(self, recent: RecentBlockhash, block_height: int, now_ns: int) -> None:
        """Hold a freshly fetched blockhash and the block height read with it."""
        self._held = recent
        self._anchor_height = block_height
        self._anchor_ns = now_ns
        self._fetched_ns = now_ns

    def observe_height(self, block_height: int, now_ns: int) -> None:
        """Re-anchor the height estimate (never backwards: a lagging node must not extend it)."""
        if block_height >= self.estimated_height(now_ns):
            self._anchor_height = block_height
            self._anchor_ns = now_ns

    def estimated_height(self, now_ns: int) -> int:
        """The block height now, from the last one read plus elapsed block times."""
        elapsed = max(0, now_ns - self._anchor_ns) // (self.settings.slot_ms * 1_000_000)
        return self._anchor_height + elapsed

    def remaining_blocks(self, now_ns: int) -> int:
        """Blocks left before the held blockhash expires (negative once past; 0 if none held)."""
        if self._held is None:
            return 0
        return self._held.last_valid_block_height - self.estimated_height(now_ns)

    def usable(self, now_ns: int) -> bool:
        """Whether the held blockhash keeps at least `min_remaining_blocks` of validity."""
        return self.remaining_blocks(now_ns) >= self.settings.min_remaining_blocks

    def refresh_due(self, now_ns: int) -> bool:
        """Whether to fetch now: nothing held, the period elapsed, or the margin is near."""
        if self._held is None:
            return True
        period_ns = self.settings.refresh_ms * 1_000_000
        return now_ns - self._fetched_ns >= period_ns or not self.usable(now_ns)

    def next_refresh_ns(self, now_ns: int) -> int:
        """Nanoseconds until a refresh is due."""
        if self.refresh_due(now_ns):
            return 0
        return self._fetched_ns + self.settings.refresh_ms * 1_000_000 - now_ns

    def get(self, now_ns: int) -> RecentBlockhash:
        """The blockhash to sign with; `ExecutionError(retryable=True)` if none is fresh enough."""
        if self._held is None or not self.usable(now_ns):
            left = self.remaining_blocks(now_ns)
            raise ExecutionError(
                f"no recent blockhash with >= {self.settings.min_remaining_blocks} blocks of "
                f"validity left (held: {left})",
                retryable=True,
                venue="solana",
                code="blockhash_stale",
                action="backoff",
            )
        return self._held


class BlockhashRefresher(BackgroundService):
    """Keeps a `BlockhashCache` fresh from `getLatestBlockhash` + `getBlockHeight`.

    A `BackgroundService` (`start` / `stop`, bounded retries, `health()`): a cycle is one
    refresh, due when the period has elapsed or the held blockhash nears its margin. A failed
    cycle keeps the held blockhash; `current()` refuses it on its own once its margin is gone.
    """

    def __init__(
        self,
        fetch_blockhash: Callable[[], Awaitable[tuple[str, int]]],
        fetch_height: Callable[[], Awaitable[int]],
        cache: BlockhashCache | None = None,
        *,
        clock: Callable[[], int] = time.monotonic_ns,
        retry: RetryPolicy | None = None,
        on_health: Callable[[HealthEvent], None] | None = None,
    ) -> None:
        self.cache = cache or BlockhashCache()
        slot_ms = self.cache.settings.slot_ms
        # retry within about a block time; never wait past the refresh period between cycles
        default_retry = RetryPolicy(
            attempts=3,
            backoff_ms=slot_ms // 4,
            backoff_max_ms=max(slot_ms // 4, min(self.cache.settings.refresh_ms, 2 * slot_ms)),
        )
        super().__init__("blockhash", retry or default_retry, on_health=on_health, clock=clock)
        self._fetch_blockhash = fetch_blockhash
        self._fetch_height = fetch_height
        self.refreshes = 0
        self.failures = 0
        """Failed refresh attempts since creation."""

    def current(self) -> RecentBlockhash:
        """The blockhash to sign with now (see `BlockhashCache.get`)."""
        return self.cache.get(self._clock())

    async def refresh(self) -> RecentBlockhash:
        """Fetch once and hold the result."""
        # the height is read after the blockhash: the estimate errs towards older, never newer
        try:
            blockhash, last_valid = await self._fetch_blockhash()
            height = await self._fetch_height()
        except (ExecutionError, FeedError):
            self.failures += 1
            raise
        recent = RecentBlockhash(blockhash, last_valid)
        self.cache.update(recent, height, self._clock())
        self.refreshes += 1
        return recent

    async def cycle(self) -> None:
        """One refresh."""
        await self.refresh()

    def next_wait_ns(self) -> int:
        """Until the cache says a refresh is due."""
        return self.cache.next_refresh_ns(self._clock())
