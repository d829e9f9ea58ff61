"""The closed error set of solarb (STYLE.md §7): one root, six kinds.

Every error names where it came from (venue, market, field or account) so a user can act on it.
"""

from __future__ import annotations


class SolarbError(Exception):
    """Root of every error solarb raises on purpose."""


class FeedError(SolarbError):
    """A market-data frame or stream could not be used (bad frame, gap, checksum, transport)."""

    def __init__(self, message: str, *, venue: str = "", symbol: str = "") -> None:
        where = "/".join(p for p in (venue, symbol) if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.venue = venue
        self.symbol = symbol


class DecodeError(SolarbError):
    """Raw account bytes are not the account we expected (owner, size, discriminator, field)."""

    def __init__(self, message: str, *, account: str = "") -> None:
        super().__init__(f"account {account}: {message}" if account else message)
        self.account = account


class QuoteError(SolarbError):
    """A swap or ladder walk cannot be priced exactly with the data held."""


class InsufficientLiquidity(QuoteError):
    """The supplied tick arrays, ladder levels or liquidity run out before the size is filled."""


class RiskRejected(SolarbError):
    """A risk rail refused an intent; `rail` names which one."""

    def __init__(self, message: str, *, rail: str) -> None:
        super().__init__(f"{rail}: {message}")
        self.rail = rail


class ExecutionError(SolarbError):
    """An order or transaction failed; `retryable` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool, venue: str = "", code: str = "",
                 action: str = "") -> None:
        super().__init__(f"{venue}: {message}" if venue else message)
        self.retryable = retryable
        self.venue = venue
        self.code = code
        """The venue's error code (or `filter`, `timeout`, `http`), when there is one."""
        self.action = action
        """What helps before a retry: `resync_time`, `backoff`, `query` (state unknown) or ""."""


class ConfigError(SolarbError):
    """A configuration file or override is invalid; the message names file, key and reason."""
