"""Decoded Raydium CLMM accounts (program CAMMCzo5YL8w4VFF8KVHrK22GGUsp5VTaW7grrKgrWqK).

Field names copy the program's Rust spelling (states/pool.rs, config.rs, tick_array.rs,
tickarray_bitmap_extension.rs, classic layout). Pubkeys are base58 strings; amounts and Q64.64
values are Python ints. Newer program versions reuse some padding (fee_on, dynamic fee info,
limit orders in ticks); those are exposed as read-only properties so quotes can refuse what they
do not model instead of mispricing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TICK_ARRAY_SIZE = 60
REWARD_NUM = 3
EXTENSION_TICKARRAY_BITMAP_SIZE = 14

__all__ = [
    "EXTENSION_TICKARRAY_BITMAP_SIZE",
    "REWARD_NUM",
    "TICK_ARRAY_SIZE",
    "AmmConfig",
    "PoolState",
    "RaydiumTickArray",
    "RewardInfo",
    "TickArrayBitmapExtension",
    "TickArrayState",
    "TickState",
]


@dataclass(frozen=True, slots=True)
class RewardInfo:
    """One of the pool's three reward slots (times in unix s, growth in Q64.64)."""

    reward_state: int
    open_time: int
    end_time: int
    last_update_time: int
    emissions_per_second_x64: int
    reward_total_emissioned: int
    reward_claimed: int
    token_mint: str
    token_vault: str
    authority: str
    reward_growth_global_x64: int


@dataclass(frozen=True, slots=True)
class PoolState:
    """Raydium CLMM PoolState (1544 bytes with discriminator)."""

    bump: int
    amm_config: str
    owner: str
    token_mint_0: str
    token_mint_1: str
    token_vault_0: str
    token_vault_1: str
    observation_key: str
    mint_decimals_0: int
    mint_decimals_1: int
    tick_spacing: int
    liquidity: int
    sqrt_price_x64: int
    tick_current: int
    padding3: int
    padding4: int
    fee_growth_global_0_x64: int
    fee_growth_global_1_x64: int
    protocol_fees_token_0: int
    protocol_fees_token_1: int
    swap_in_amount_token_0: int
    swap_out_amount_token_1: int
    swap_in_amount_token_1: int
    swap_out_amount_token_0: int
    status: int
    padding: bytes
    reward_infos: tuple[RewardInfo, ...]
    tick_array_bitmap: tuple[int, ...]
    total_fees_token_0: int
    total_fees_claimed_token_0: int
    total_fees_token_1: int
    total_fees_claimed_token_1: int
    fund_fees_token_0: int
    fund_fees_token_1: int
    open_time: int
    recent_epoch: int
    padding1: tuple[int, ...]
    padding2: tuple[int, ...]
    # tick_array_bitmap's 16 u64 limbs as one 1024-bit int (limb 0 least significant); derived
    # once so every quote's bitmap search starts from a ready int.
    tick_array_bitmap_u1024: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        value = 0
        for i, limb in enumerate(self.tick_array_bitmap):
            value |= limb << (64 * i)
        object.__setattr__(self, "tick_array_bitmap_u1024", value)

    @property
    def fee_on(self) -> int:
        """Newer program: which token pays the fee (0 input, 1 token0 only, 2 token1 only)."""
        return self.padding[0]

    @property
    def dynamic_fee_enabled(self) -> bool:
        """Newer program: the 80-byte DynamicFeeInfo (first 10 words of padding1) is non-zero."""
        return any(self.padding1[:10])

    @property
    def swap_enabled(self) -> bool:
        """Status bit 4 clear: the program accepts swaps."""
        return not (self.status >> 4) & 1


@dataclass(frozen=True, slots=True)
class AmmConfig:
    """Raydium CLMM AmmConfig (117 bytes); fee rates are per 1e6 (hundredths of a bip)."""

    bump: int
    index: int
    owner: str
    protocol_fee_rate: int
    trade_fee_rate: int
    tick_spacing: int
    fund_fee_rate: int
    padding_u32: int
    fund_owner: str
    padding: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TickState:
    """One tick slot of a tick array (168 bytes); liquidity_net is i128."""

    tick: int
    liquidity_net: int
    liquidity_gross: int
    fee_growth_outside_0_x64: int
    fee_growth_outside_1_x64: int
    reward_growths_outside_x64: tuple[int, ...]
    padding: tuple[int, ...]

    @property
    def orders_amount(self) -> int:
        """Newer program: open limit-order amount at this tick (u64 in padding words 2..3)."""
        return self.padding[2] | (self.padding[3] << 32)

    @property
    def part_filled_orders_remaining(self) -> int:
        """Newer program: remaining amount of part-filled limit orders (padding words 4..5)."""
        return self.padding[4] | (self.padding[5] << 32)

    @property
    def has_limit_orders(self) -> bool:
        """Newer program: this tick holds limit orders the swap would have to fill."""
        return self.orders_amount > 0 or self.part_filled_orders_remaining > 0

    @property
    def is_initialized(self) -> bool:
        """The program stops at this tick: it has liquidity or limit orders."""
        return self.liquidity_gross != 0 or self.has_limit_orders


@dataclass(frozen=True, slots=True)
class RaydiumTickArray:
    """TickArrayState: 60 consecutive tick slots starting at start_tick_index (10240 bytes)."""

    pool_id: str
    start_tick_index: int
    ticks: tuple[TickState, ...]
    initialized_tick_count: int
    recent_epoch: int
    padding: bytes
    # Offsets of initialized slots, ascending; derived so the swap walk skips empty slots.
    initialized_offsets: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        offsets = tuple(i for i, t in enumerate(self.ticks) if t.is_initialized)
        object.__setattr__(self, "initialized_offsets", offsets)


TickArrayState = RaydiumTickArray


@dataclass(frozen=True, slots=True)
class TickArrayBitmapExtension:
    """Bitmaps of initialized tick arrays beyond the pool's own ±512-array bitmap (1832 bytes).

    Each of the 14 positive/negative bitmaps is 8 u64 limbs (512 bits, limb 0 least significant).
    """

    pool_id: str
    positive_tick_array_bitmap: tuple[tuple[int, ...], ...]
    negative_tick_array_bitmap: tuple[tuple[int, ...], ...]

    def bitmap_u512(self, negative: bool, offset: int) -> int:
        """One 512-bit bitmap (offset 0..13) as an int."""
        limbs = (self.negative_tick_array_bitmap if negative else self.positive_tick_array_bitmap)[
            offset
        ]
        value = 0
        for i, limb in enumerate(limbs):
            value |= limb << (64 * i)
        return value
