"""Decoded Orca Whirlpool accounts: `Whirlpool`, `Tick`, `TickArray` (frozen, slotted).

Field names copy the program's spelling. Pubkeys are base58 strings; Q64.64 values, liquidity
and fee growths are ints. The byte codecs live in `connectors.solana.orca` (operators never
import connectors); these types carry no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "NUM_REWARDS",
    "SYSTEM_PROGRAM_ID",
    "TICK_ARRAY_SIZE",
    "Tick",
    "TickArray",
    "Whirlpool",
    "WhirlpoolRewardInfo",
]

TICK_ARRAY_SIZE = 88
NUM_REWARDS = 3
SYSTEM_PROGRAM_ID = "11111111111111111111111111111111"
"""The all-zero pubkey in base58 (an unset reward mint/vault)."""


@dataclass(frozen=True, slots=True)
class WhirlpoolRewardInfo:
    """One reward slot of a Whirlpool.

    `authority` is the 32-byte field the program now calls `extension` (reward authority in
    slot 0, control flags in slot 1), kept as base58 so any 32 bytes round-trip.
    """

    mint: str
    vault: str
    authority: str
    emissions_per_second_x64: int
    growth_global_x64: int

    @classmethod
    def empty(cls, authority: str = SYSTEM_PROGRAM_ID) -> WhirlpoolRewardInfo:
        """An uninitialized reward slot."""
        return cls(SYSTEM_PROGRAM_ID, SYSTEM_PROGRAM_ID, authority, 0, 0)


@dataclass(frozen=True, slots=True)
class Whirlpool:
    """The Whirlpool pool account (653 bytes on chain).

    `fee_rate` is per 1e6 (hundredths of a bp); `protocol_fee_rate` is per 1e4 of the fee;
    `sqrt_price` is Q64.64; `fee_tier_index_seed` is the u16 read from the 2 seed bytes (equal
    to `tick_spacing` unless the pool was made from an adaptive-fee tier).
    """

    whirlpools_config: str
    whirlpool_bump: int
    tick_spacing: int
    fee_tier_index_seed: int
    fee_rate: int
    protocol_fee_rate: int
    liquidity: int
    sqrt_price: int
    tick_current_index: int
    protocol_fee_owed_a: int
    protocol_fee_owed_b: int
    token_mint_a: str
    token_vault_a: str
    fee_growth_global_a: int
    token_mint_b: str
    token_vault_b: str
    fee_growth_global_b: int
    reward_last_updated_timestamp: int
    reward_infos: tuple[WhirlpoolRewardInfo, ...]
    address: str = ""

    @property
    def is_adaptive_fee(self) -> bool:
        """True when the pool was initialized from an adaptive-fee tier (needs its Oracle)."""
        return self.fee_tier_index_seed != self.tick_spacing

    @classmethod
    def simulated(
        cls,
        *,
        whirlpools_config: str,
        tick_spacing: int,
        fee_rate: int,
        liquidity: int,
        sqrt_price: int,
        tick_current_index: int,
        token_mint_a: str,
        token_mint_b: str,
        token_vault_a: str,
        token_vault_b: str,
        protocol_fee_rate: int = 0,
        whirlpool_bump: int = 255,
        address: str = "",
    ) -> Whirlpool:
        """A plausible pool for simulations: no fees owed, no growth, no rewards."""
        return cls(
            whirlpools_config=whirlpools_config,
            whirlpool_bump=whirlpool_bump,
            tick_spacing=tick_spacing,
            fee_tier_index_seed=tick_spacing,
            fee_rate=fee_rate,
            protocol_fee_rate=protocol_fee_rate,
            liquidity=liquidity,
            sqrt_price=sqrt_price,
            tick_current_index=tick_current_index,
            protocol_fee_owed_a=0,
            protocol_fee_owed_b=0,
            token_mint_a=token_mint_a,
            token_vault_a=token_vault_a,
            fee_growth_global_a=0,
            token_mint_b=token_mint_b,
            token_vault_b=token_vault_b,
            fee_growth_global_b=0,
            reward_last_updated_timestamp=0,
            reward_infos=tuple(WhirlpoolRewardInfo.empty() for _ in range(NUM_REWARDS)),
            address=address,
        )


@dataclass(frozen=True, slots=True)
class Tick:
    """One tick slot of a tick array; `liquidity_net` is signed, growths are Q64.64."""

    initialized: bool
    liquidity_net: int
    liquidity_gross: int
    fee_growth_outside_a: int
    fee_growth_outside_b: int
    reward_growths_outside: tuple[int, int, int]

    @classmethod
    def empty(cls) -> Tick:
        """An uninitialized, all-zero tick."""
        return _EMPTY_TICK

    @classmethod
    def initialized_with(cls, liquidity_net: int, liquidity_gross: int) -> Tick:
        """An initialized tick with the given liquidity and zero growth."""
        return cls(True, liquidity_net, liquidity_gross, 0, 0, (0, 0, 0))


_EMPTY_TICK = Tick(False, 0, 0, 0, 0, (0, 0, 0))


@dataclass(frozen=True, slots=True)
class TickArray:
    """88 consecutive initializable ticks starting at `start_tick_index` (fixed or dynamic layout).

    `initialized_offsets` is derived (not compared): the slots holding an initialized tick, in
    ascending order, so the swap walk never scans empty slots.
    """

    start_tick_index: int
    ticks: tuple[Tick, ...]
    whirlpool: str
    is_dynamic: bool = False
    address: str = ""
    initialized_offsets: tuple[int, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        offsets = tuple(i for i, t in enumerate(self.ticks) if t.initialized)
        object.__setattr__(self, "initialized_offsets", offsets)

    def initialized_ticks(self, tick_spacing: int) -> list[tuple[int, int]]:
        """(tick index, liquidity_net) of the initialized ticks, ascending."""
        start = self.start_tick_index
        ticks = self.ticks
        return [
            (start + i * tick_spacing, ticks[i].liquidity_net) for i in self.initialized_offsets
        ]
