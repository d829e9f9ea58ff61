"""Shared helpers for the Orca CLMM tests: load a fixture pool, build synthetic pools."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from connectors.solana import orca
from operators.clmm.accounts import Tick, TickArray, Whirlpool
from operators.clmm.math import sqrt_price_from_tick_index
from tests.conftest import load_account

SOL_USDC = "solana/orca_whirlpool/sol_usdc_ts64_2022-11"
SAMO_USDC = "solana/orca_whirlpool/samo_usdc_ts64_2022-11"
SYNTH_POOL = "XbZJ25spXckFsU7xYD2Sr3FkXsiw991yHPshExYSpD9"
SOL_MINT = "So11111111111111111111111111111111111111112"
USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


def load_pool(folder: Path) -> tuple[Whirlpool, list[TickArray], dict[str, int]]:
    """(pool, tick arrays sorted by start, vault token balances by vault address)."""
    pool = None
    arrays = []
    balances: dict[str, int] = {}
    for path in sorted(folder.glob("*.json")):
        if path.name == "expected.json":
            continue
        meta, data = load_account(path)
        if meta["owner"] == orca.WHIRLPOOL_PROGRAM_ID and data[:8] == orca.DISC_WHIRLPOOL:
            pool = orca.decode_whirlpool(data, meta["pubkey"])
        elif meta["owner"] == orca.WHIRLPOOL_PROGRAM_ID and data[:8] == orca.DISC_TICK_ARRAY:
            arrays.append(orca.decode_tick_array(data, meta["pubkey"]))
        elif len(data) == 165:  # SPL token account: amount u64 at offset 64
            balances[meta["pubkey"]] = int.from_bytes(data[64:72], "little")
    assert pool is not None
    arrays.sort(key=lambda a: a.start_tick_index)
    return pool, arrays, balances


def synth_pool(
    tick_current: int,
    liquidity: int,
    *,
    tick_spacing: int = 8,
    fee_rate: int = 3000,
    sqrt_price: int | None = None,
    fee_tier_index: int | None = None,
) -> Whirlpool:
    """A synthetic pool at a tick (sqrt price defaults to the tick's own price)."""
    w = Whirlpool.simulated(
        whirlpools_config=SYNTH_POOL,
        tick_spacing=tick_spacing,
        fee_rate=fee_rate,
        liquidity=liquidity,
        sqrt_price=sqrt_price
        if sqrt_price is not None
        else sqrt_price_from_tick_index(tick_current),
        tick_current_index=tick_current,
        token_mint_a=SOL_MINT,
        token_mint_b=USDC_MINT,
        token_vault_a=SOL_MINT,
        token_vault_b=USDC_MINT,
        address=SYNTH_POOL,
    )
    if fee_tier_index is None:
        return w
    return replace(w, fee_tier_index_seed=fee_tier_index)


def synth_arrays(
    nets: dict[int, int], starts: list[int], *, tick_spacing: int = 8, pool: str = SYNTH_POOL
) -> list[TickArray]:
    """Fixed tick arrays at `starts` with initialized ticks {tick index: liquidity_net}."""
    out = []
    for start in starts:
        ticks = []
        for i in range(88):
            net = nets.get(start + i * tick_spacing)
            ticks.append(Tick.empty() if net is None else Tick.initialized_with(net, abs(net)))
        out.append(TickArray(start, tuple(ticks), pool))
    return out
