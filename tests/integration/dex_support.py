"""The Orca stand-in world the DEX execution tests share: a payer, a synthetic Whirlpool with
its tick arrays and vaults seeded on a `SolanaStandIn`, an RPC client for one or more nodes,
and the swap leg / signed transaction over that pool. Fixtures built on it live in conftest."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from solders.keypair import Keypair

from connectors import venues
from connectors.solana import orca
from connectors.solana.programs import TOKEN_PROGRAM_ID, associated_token_address
from connectors.solana.rpc import SolanaRpc
from connectors.solana.swap_plan import SwapRequest
from connectors.solana.transactions import SignedSwap, build_swap_transaction
from operators.clmm import quote_swap
from operators.clmm.accounts import TickArray, Whirlpool
from operators.clmm.math import sqrt_price_from_tick_index
from operators.slippage import min_out_after_give_up
from sim.dex_exec import encode_token_account
from sim.standin import SolanaStandIn
from tests.unit.orca_helpers import SOL_MINT, USDC_MINT, synth_arrays

PAYER = Keypair.from_seed(bytes([42]) * 32)
OWNER = str(PAYER.pubkey())
POOL = str(Keypair.from_seed(bytes([1]) * 32).pubkey())
VAULT_A = str(Keypair.from_seed(bytes([2]) * 32).pubkey())
VAULT_B = str(Keypair.from_seed(bytes([3]) * 32).pubkey())
TOKEN = str(TOKEN_PROGRAM_ID)
SOL_ATA = str(associated_token_address(OWNER, SOL_MINT))
USDC_ATA = str(associated_token_address(OWNER, USDC_MINT))
RENT = 2_039_280
CU_LIMIT, CU_PRICE = 200_000, 50_000
FEE = 5_000 + CU_LIMIT * CU_PRICE // 1_000_000


def whirlpool() -> tuple[Whirlpool, list[TickArray]]:
    """The synthetic SOL/USDC Whirlpool at tick 100 and its four tick arrays."""
    pool = Whirlpool.simulated(
        whirlpools_config=str(Keypair.from_seed(bytes([4]) * 32).pubkey()),
        tick_spacing=8,
        fee_rate=3000,
        liquidity=10**12,
        sqrt_price=sqrt_price_from_tick_index(100),
        tick_current_index=100,
        token_mint_a=SOL_MINT,
        token_mint_b=USDC_MINT,
        token_vault_a=VAULT_A,
        token_vault_b=VAULT_B,
        address=POOL,
    )
    arrays = synth_arrays({-704: 10**11, 704: -(10**11)}, [-1408, -704, 0, 704], pool=POOL)
    return pool, arrays


def seed_orca(
    node: SolanaStandIn, sol_balance: int | None = 10**12, *, payer_lamports: int = 10**9
) -> None:
    """Pool, tick arrays and vaults on `node`; the payer's SOL token account holds
    `sol_balance` (None: no such account, e.g. for wSOL the keeper creates) and the payer
    `payer_lamports`."""
    pool, arrays = whirlpool()
    node.set_account(POOL, orca.encode_whirlpool(pool), orca.WHIRLPOOL_PROGRAM_ID, 10**7)
    for ta in arrays:
        address = orca.tick_array_address(POOL, ta.start_tick_index)
        node.set_account(address, orca.encode_tick_array(ta), orca.WHIRLPOOL_PROGRAM_ID, 10**8)
    node.set_account(VAULT_A, encode_token_account(SOL_MINT, POOL, 10**13), TOKEN, RENT)
    node.set_account(VAULT_B, encode_token_account(USDC_MINT, POOL, 10**13), TOKEN, RENT)
    if sol_balance is not None:
        node.set_account(SOL_ATA, encode_token_account(SOL_MINT, OWNER, sol_balance), TOKEN, RENT)
    node.svm.airdrop(PAYER.pubkey(), payer_lamports)


def rpc_for(*nodes: SolanaStandIn, timeout_ms: int = 2000, **kw: Any) -> SolanaRpc:
    """A `SolanaRpc` whose endpoints are `nodes` (no failover); `kw` go to `SolanaRpc`."""
    settings = SimpleNamespace(
        http=[n.http_url for n in nodes],
        ws=[n.ws_url for n in nodes],
        failover_http="",
        failover_ws="",
        commitment="confirmed",
        timeout_ms=timeout_ms,
    )
    return SolanaRpc(settings, **{"heartbeat_timeout_s": 5.0, **kw})


async def read_data(rpc: SolanaRpc, keys: list[str]) -> list[bytes]:
    """The data of accounts that must all exist."""
    got = await rpc.get_multiple_accounts(keys)
    assert all(g is not None for g in got)
    return [bytes(g.data) for g in got if g is not None]


def orca_leg(pool: Whirlpool, amount: int, limit: int | None = None) -> SwapRequest:
    """Sell `amount` SOL on the pool as quoted now; `limit` defaults to the quote less a
    0.2 % give-up of a 50 % edge share."""
    _, arrays = whirlpool()
    q = quote_swap(pool, arrays, amount, a_to_b=True)
    return SwapRequest(
        venue="orca",
        market_address=POOL,
        market=pool,
        owner=OWNER,
        input_mint=SOL_MINT,
        exact_in=True,
        amount=amount,
        limit=min_out_after_give_up(q.amount_out, 2_000, 500_000) if limit is None else limit,
        quoted_in=q.amount_in,
        quoted_out=q.amount_out,
        tick_after=q.tick_after,
    )


def sign_orca(
    blockhash: str,
    amount: int,
    *,
    pool: Whirlpool | None = None,
    limit: int | None = None,
    cu_limit: int = CU_LIMIT,
    cu_price: int = CU_PRICE,
    create_usdc: bool = True,
) -> SignedSwap:
    """The signed Orca leg (`orca_leg`) over `pool` (default: the seeded one)."""
    return build_swap_transaction(
        venues.dex("orca"),
        orca_leg(pool or whirlpool()[0], amount, limit),
        payer=PAYER,
        recent_blockhash=blockhash,
        cu_limit=cu_limit,
        cu_price_micro_lamports=cu_price,
        missing_token_accounts={USDC_ATA} if create_usdc else (),
    )
