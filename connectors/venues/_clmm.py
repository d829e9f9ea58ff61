"""What the CLMM adapters share: the tick arrays a pool's state will want around its price."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from operators.events import PoolUpdate
from operators.pool_state import ClmmPoolState


def tick_arrays_around(
    venue: str, address: str, decoded_pool: Any, address_of: Callable[[str, int], str]
) -> list[str]:
    """Addresses of the tick arrays the graph's `ClmmPoolState` keeps around the pool's tick.

    Same class, same defaults as the graph's pool state, so the live feed subscribes exactly
    the arrays the engine will use.
    """
    state = ClmmPoolState(venue, f"{venue}:{address}", "", "", True, stale_after_ns=1)
    state.on_account(PoolUpdate(venue, state.market_id, address, "pool", decoded_pool, 0, 0, 0))
    return [address_of(address, start) for start in state.wanted_tick_array_starts()]
