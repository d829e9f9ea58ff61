"""The account watcher of the live Solana feed: subscribe what a DEX market needs as it moves.

An `op.inspect` right after the inputs (so on the worker that owns the account partition)
decodes each main account (pool / market) as it arrives, asks the venue's adapter which other
accounts the market needs (CLMM tick arrays around the current tick, Raydium's AmmConfig and
bitmap extension, OpenBook's bids/asks), and calls `source.want(...)` for the ones not yet
watched. An account that does not exist on-chain simply never arrives.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors import venues
from connectors.solana.sources import AccountFeedSource
from operators.errors import DecodeError
from operators.events import HealthEvent, RawFrame

Item = RawFrame | HealthEvent


def wanted_pool_accounts(
    venue: str, pool_address: str, payload: bytes, with_tick_arrays: bool = True
) -> list[str]:
    """Accounts a DEX market needs besides itself, from its raw pool/market account bytes.

    The venue's adapter says which: CLMM tick arrays around the current tick (when derived),
    Raydium's AmmConfig and bitmap extension, OpenBook's `bids` and `asks` BookSides.
    """
    a = venues.dex(venue)
    return a.wanted_accounts(pool_address, a.decode_main(payload), with_tick_arrays)


@dataclass
class TickArrayWatcher:
    """`op.inspect` hook: when a pool account arrives, subscribe the accounts it needs."""

    source: AccountFeedSource
    pools: dict[str, tuple[str, bool]]
    """Pool address -> (venue, derive tick arrays?)."""
    watched: dict[str, set[str]]
    requests: int = 0
    decode_errors: int = 0
    """Pool accounts we could not decode; the graph's market state reports each one itself."""

    def __call__(self, step_id: str, item: Item) -> None:
        """Inspect one input item; only pool account frames matter."""
        if not isinstance(item, RawFrame) or item.kind != "account":
            return
        market, _, account = item.stream.partition(":")
        entry = self.pools.get(market)
        if entry is None or account != market:
            return
        venue, derive = entry
        try:
            wanted = wanted_pool_accounts(venue, market, item.payload, derive)
        except DecodeError:
            self.decode_errors += 1
            return
        held = self.watched[market]
        new = [a for a in wanted if a not in held]
        if new:
            held.update(new)
            self.requests += 1
            self.source.want(market, new)
