"""A long-lived background service: one asyncio task, start/stop, bounded retries, health.

The DEX run-time services (`BlockhashRefresher`, `WsolKeeper`) each repeat one unit of work
(`cycle`) on their own schedule (`next_wait_ns`). `BackgroundService` holds what they share:

- `start()` runs a first cycle in the caller's task, so a service that cannot work at all
  (bad endpoint, unfunded wallet) fails the start-up with its error rather than later;
- a cycle is tried at most `RetryPolicy.attempts` times, `backoff_ms` doubling between tries up
  to `backoff_max_ms`; the expected failures are `ExecutionError` and `FeedError` (a
  non-retryable `ExecutionError` ends the cycle's attempts at once); after a failed cycle the
  loop waits at least `backoff_max_ms` before the next one, so a dead RPC is never hammered;
- health: `health()` says `up` / `down` / `stopped` with the consecutive failures and the last
  error (redacted: messages may quote an endpoint URL), and each change of status goes to the
  optional `on_health` callback as a `HealthEvent` (`source` = `svc:<name>`);
- any other exception is a bug: it ends the task, health turns `down` with the exception named,
  and `stop()` raises it, so it is never lost in a background task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from config import DexExecutionSettings
from connectors.redact import redact_text
from operators.errors import ConfigError, ExecutionError, FeedError
from operators.events import HealthEvent

__all__ = ["BackgroundService", "RetryPolicy", "ServiceHealth"]

log = logging.getLogger(__name__)

Status = Literal["starting", "up", "down", "stopped"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Attempts per cycle and the waits between them, milliseconds."""

    attempts: int = 3
    backoff_ms: int = 100
    backoff_max_ms: int = 2_000

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.backoff_ms < 0 or self.backoff_max_ms < self.backoff_ms:
            raise ConfigError(
                f"service retry: need attempts >= 1 and 0 <= backoff_ms <= backoff_max_ms "
                f"(got {self.attempts}, {self.backoff_ms}, {self.backoff_max_ms})"
            )

    @classmethod
    def from_config(cls, cfg: DexExecutionSettings) -> RetryPolicy:
        """From the `[dex_execution]` config section (`service_*` keys)."""
        return cls(cfg.service_attempts, cfg.service_backoff_ms, cfg.service_backoff_max_ms)

    def wait_ms(self, retry: int) -> int:
        """The wait before retry number `retry` (1-based): backoff_ms x 2^(retry-1), capped."""
        return min(self.backoff_max_ms, self.backoff_ms << (retry - 1))


@dataclass(frozen=True, slots=True)
class ServiceHealth:
    """A service's state now; `last_ok_ns` on the service's clock (0: never)."""

    name: str
    status: Status
    consecutive_failures: int
    cycles: int
    last_error: str
    last_ok_ns: int


class BackgroundService:
    """Base of a periodic service; subclasses define `cycle` and `next_wait_ns`."""

    def __init__(
        self,
        name: str,
        retry: RetryPolicy | None = None,
        *,
        on_health: Callable[[HealthEvent], None] | None = None,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.name = name
        self.retry = retry or RetryPolicy()
        self._on_health = on_health
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._status: Status = "stopped"
        self._failures = 0
        self._cycles = 0
        self._last_error = ""
        self._last_ok_ns = 0
        self._crash: BaseException | None = None
        self._noted: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ to override
    async def cycle(self) -> None:
        """One unit of work; raises `ExecutionError` / `FeedError` when it fails."""
        raise NotImplementedError

    def next_wait_ns(self) -> int:
        """Nanoseconds until the next cycle is due (0: now)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        """Whether the background task is alive."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Run a first cycle (its error propagates), then keep cycling in the background."""
        if self.running:
            raise ExecutionError(f"{self.name} already running", retryable=False)
        self._crash = None
        self._set_status("starting")
        if not await self.run_cycle():
            self._set_status("stopped")
            raise ExecutionError(
                f"{self.name}: first cycle failed after {self.retry.attempts} attempts: "
                f"{self._last_error}",
                retryable=True,
                code="service_start",
            )
        self._task = asyncio.create_task(self._loop(), name=f"svc:{self.name}")
        self._task.add_done_callback(self._note_crash)

    async def stop(self) -> None:
        """Stop the background task; re-raise what crashed it, if anything did."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if task is not None:
            self._note_crash(task)
        if self._crash is None:
            self._set_status("stopped")
            return
        crash, self._crash = self._crash, None
        raise crash

    async def close(self) -> None:
        """`stop()` (the name the sender's callers use)."""
        await self.stop()

    def health(self) -> ServiceHealth:
        """The service's status, failures in a row, cycles done and the last error."""
        if self._task is not None and self._task.done():
            self._note_crash(self._task)
        return ServiceHealth(
            self.name,
            self._status,
            self._failures,
            self._cycles,
            self._last_error,
            self._last_ok_ns,
        )

    # ------------------------------------------------------------------ the loop
    async def run_cycle(self) -> bool:
        """One cycle with bounded retries; True when it succeeded (health follows)."""
        for attempt in range(1, self.retry.attempts + 1):
            if attempt > 1:
                await asyncio.sleep(self.retry.wait_ms(attempt - 1) / 1000)
            try:
                await self.cycle()
            except (ExecutionError, FeedError) as exc:
                self._last_error = redact_text(f"{type(exc).__name__}: {exc}")
                log.info("svc:%s attempt %d failed: %s", self.name, attempt, self._last_error)
                if isinstance(exc, ExecutionError) and not exc.retryable:
                    break
                continue
            self._cycles += 1
            self._failures = 0
            self._last_ok_ns = self._clock()
            self._set_status("up")
            return True
        self._failures += 1
        self._set_status("down")
        return False

    async def _loop(self) -> None:
        ok = True
        while True:
            wait_ns = self.next_wait_ns()
            if not ok:
                wait_ns = max(wait_ns, self.retry.backoff_max_ms * 1_000_000)
            await asyncio.sleep(wait_ns / 1e9)
            ok = await self.run_cycle()

    def _note_crash(self, task: asyncio.Task[None]) -> None:
        # from the done callback or whoever looks first: the first look records it, once
        if not task.done() or task is self._noted:
            return
        self._noted = task
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            self._crash = exc
            self._last_error = redact_text(f"crashed: {type(exc).__name__}: {exc}")
            self._set_status("down")

    def _set_status(self, status: Status) -> None:
        if status == self._status:
            return
        self._status = status
        if self._on_health is None or status not in ("up", "down"):
            return
        now = time.time_ns()
        detail = self._last_error if status == "down" else ""
        self._on_health(
            HealthEvent(f"svc:{self.name}", status, detail, now, now, float(self._failures))
        )
