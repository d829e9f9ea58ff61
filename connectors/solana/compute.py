"""Compute budget of a DEX swap transaction: its compute unit limit and its price per unit.

Two numbers go into every swap transaction's ComputeBudget instructions:

- the limit, `cu_limit_for(venue, settings, measured)`: the `[dex_compute.cu_limits]` entry of the
  venue, or, when start-up measurement ran (`measure_cu_units`: `simulateTransaction` of one
  sample swap per venue), the units that sample consumed plus `measure_margin_bps`, rounded up
  and capped at the runtime's 1,400,000;
- the price, `cu_price_micro_lamports(priority_fee_lamports, cu_limit)`: the engine decides how
  many lamports of priority fee an opportunity is worth; the runtime charges
  `ceil(cu_limit * price / 10^6)` lamports for it, so the price is that fee spread over the
  limit, rounded down. Rounding down means the charge never exceeds the fee decided; it equals
  the fee exactly while `cu_limit <= 10^6` and falls short by at most one lamport above.

The priority fee is charged on the limit, not on the units used: a limit sized per venue (rather
than one for all) is what keeps the fee the engine priced equal to the fee paid. The engine
prices gas at `[gas] cu_limit` (`operators.costs.choose_cu_price` gives micro-lamports per CU
for that limit): its fee in lamports is `ceil(gas.cu_limit * price / 10^6)`, and this module
re-spreads that fee over the venue's own limit.

Pure functions except `measure_cu_units`, which takes the RPC's `simulate_transaction`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from config import DexComputeSettings, Settings
from connectors.solana.transactions import MAX_CU_LIMIT
from connectors.solana.tx_outcome import decode_error
from operators.errors import ConfigError, ExecutionError

__all__ = [
    "MAX_CU_LIMIT",
    "MICRO_LAMPORTS_PER_LAMPORT",
    "cu_limit_for",
    "cu_price_micro_lamports",
    "measure_cu_units",
    "measured_limit",
]

MICRO_LAMPORTS_PER_LAMPORT = 1_000_000
_U64_MAX = (1 << 64) - 1
_BPS = 10_000

Simulate = Callable[[bytes], Awaitable[Mapping[str, Any]]]
"""`SolanaRpc.simulate_transaction`: signed bytes -> the RPC's `value` (`err`, `unitsConsumed`)."""


def measured_limit(units_consumed: int, margin_bps: int) -> int:
    """A limit from simulated units: `ceil(units * (1 + margin_bps / 10^4))`, at most 1.4M CU."""
    if units_consumed < 1 or margin_bps < 0:
        raise ConfigError(
            f"dex_compute: measured units {units_consumed} (>= 1) and margin {margin_bps} bps "
            "(>= 0) needed"
        )
    with_margin = -(-units_consumed * (_BPS + margin_bps) // _BPS)
    return min(with_margin, MAX_CU_LIMIT)


def cu_limit_for(
    venue: str,
    settings: DexComputeSettings | Settings,
    measured: Mapping[str, int] | None = None,
) -> int:
    """The compute unit limit of one swap transaction on `venue`, CU.

    `settings`: the `[dex_compute]` section, or the whole `Settings` holding it.
    `measured` maps venue ids to the units their sample swap consumed at start-up
    (`measure_cu_units`); a venue measured gets `measured_limit(units, measure_margin_bps)`,
    any other its `[dex_compute.cu_limits]` entry. `ConfigError` names the key to set when the
    venue has neither.
    """
    if isinstance(settings, Settings):
        settings = settings.dex_compute
    if measured is not None and venue in measured:
        return measured_limit(measured[venue], settings.measure_margin_bps)
    try:
        return settings.cu_limits[venue]
    except KeyError:
        raise ConfigError(
            f"dex_compute: no compute unit limit for venue {venue!r}: "
            f"set [dex_compute.cu_limits] {venue} = <units> "
            f"(known: {sorted(settings.cu_limits)})"
        ) from None


def cu_price_micro_lamports(priority_fee_lamports: int, cu_limit: int) -> int:
    """The ComputeBudget price (micro-lamports per CU) that spends `priority_fee_lamports`
    over `cu_limit` CUs: `floor(fee * 10^6 / cu_limit)`, capped at u64.

    Rounded down, so the runtime's charge `ceil(cu_limit * price / 10^6)` never exceeds the fee:
    it is the fee exactly for `cu_limit <= 10^6`, at most one lamport under it above that.
    """
    if not 1 <= cu_limit <= MAX_CU_LIMIT:
        raise ExecutionError(
            f"compute unit limit {cu_limit} outside [1, {MAX_CU_LIMIT}]",
            retryable=False,
            venue="solana",
        )
    if priority_fee_lamports < 0:
        raise ExecutionError(
            f"negative priority fee {priority_fee_lamports} lamports",
            retryable=False,
            venue="solana",
        )
    price = priority_fee_lamports * MICRO_LAMPORTS_PER_LAMPORT // cu_limit
    return min(price, _U64_MAX)


async def measure_cu_units(simulate: Simulate, samples: Mapping[str, bytes]) -> dict[str, int]:
    """Units consumed by one signed sample swap per venue (`simulateTransaction`), CU.

    Build each sample with `cu_limit=MAX_CU_LIMIT` so the limit does not cut the measurement.
    A sample that fails, or an answer without `unitsConsumed`, raises `ExecutionError` naming
    the venue and the program's error: a start-up measurement must not silently fall back.
    """
    units: dict[str, int] = {}
    for venue, tx_bytes in samples.items():
        value = await simulate(tx_bytes)
        err = value.get("err")
        if err is not None:
            raise ExecutionError(
                "sample swap simulation failed: "
                + decode_error(err, tx_bytes, value.get("logs") or ()),
                retryable=False,
                venue=venue,
                code="cu_measure",
            )
        consumed = value.get("unitsConsumed")
        if not isinstance(consumed, int) or consumed < 1:
            raise ExecutionError(
                f"simulateTransaction reported no unitsConsumed ({consumed!r})",
                retryable=False,
                venue=venue,
                code="cu_measure",
            )
        units[venue] = consumed
    return units
