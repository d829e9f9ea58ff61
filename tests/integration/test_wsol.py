"""wSOL kept funded: topped up by policy through the real SPL Token program in LiteSVM, spent by
swaps with no wrap or unwrap in the swap transaction."""

from __future__ import annotations

import pytest
from solders.transaction import VersionedTransaction

from connectors import venues
from connectors.keypair import Signer
from connectors.solana.programs import TOKEN_PROGRAM_ID, associated_token_address
from connectors.solana.rpc import SolanaRpc
from connectors.solana.sender import DexLeg, DexSender, SendSettings
from connectors.solana.transactions import build_swap_transaction
from connectors.solana.wsol import (
    NATIVE_MINT,
    WsolPolicy,
    build_top_up_transaction,
    sync_native_instruction,
    wsol_account,
)
from operators.clmm import quote_swap
from operators.errors import ConfigError
from sim.dex_exec import token_amount
from sim.standin import SolanaStandIn
from tests.integration.dex_support import (
    CU_LIMIT,
    CU_PRICE,
    OWNER,
    PAYER,
    POOL,
    RENT,
    USDC_ATA,
    orca_leg,
    whirlpool,
)
from tests.unit.orca_helpers import SOL_MINT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

WSOL = str(wsol_account(OWNER))
POLICY = WsolPolicy(floor_lamports=10**8, target_lamports=2 * 10**9)


def test_policy_tops_up_to_target_above_the_next_spend_only_below_the_floor() -> None:
    assert POLICY.top_up_lamports(0, 5 * 10**7) == 2 * 10**9 + 5 * 10**7
    assert POLICY.top_up_lamports(10**9, 5 * 10**7) == 0
    assert POLICY.top_up_lamports(15 * 10**7, 5 * 10**7) == 0  # exactly the floor left
    assert POLICY.top_up_lamports(15 * 10**7 - 1, 5 * 10**7) == 2 * 10**9 - 10**8 + 1
    with pytest.raises(ConfigError):
        WsolPolicy(floor_lamports=10, target_lamports=10)


def test_sync_native_is_token_instruction_17_on_the_writable_account() -> None:
    ix = sync_native_instruction(wsol_account(OWNER))
    assert (ix.program_id, bytes(ix.data)) == (TOKEN_PROGRAM_ID, b"\x11")
    assert [(str(a.pubkey), a.is_signer, a.is_writable) for a in ix.accounts] == [
        (WSOL, False, True)
    ]
    # the swap builders' SOL account is this same wSOL account: swaps spend it directly
    assert str(associated_token_address(OWNER, SOL_MINT)) == WSOL


async def _wsol(rpc: SolanaRpc) -> tuple[int, int, bool]:
    (acc,) = await rpc.get_multiple_accounts([WSOL])
    assert acc is not None
    return token_amount(acc.data), acc.lamports, acc.data[109:113] == b"\x01\x00\x00\x00"


async def test_topped_up_wsol_pays_for_swaps_without_a_wrap_per_trade(
    wsol_node: tuple[SolanaStandIn, SolanaRpc],
) -> None:
    assert NATIVE_MINT == SOL_MINT
    node, rpc = wsol_node
    spend = 5 * 10**7
    first = POLICY.top_up_lamports(0, spend)
    blockhash, last_valid = await rpc.get_latest_blockhash()
    top_up = build_top_up_transaction(PAYER, first, recent_blockhash=blockhash, create=True)
    assert await rpc.send_transaction(top_up.tx_bytes) == top_up.signature
    assert await _wsol(rpc) == (first, RENT + first, True)

    pool, arrays = whirlpool()
    quote = quote_swap(pool, arrays, spend, a_to_b=True)
    signed = build_swap_transaction(
        venues.dex("orca"), orca_leg(pool, spend), payer=PAYER, recent_blockhash=blockhash,
        cu_limit=CU_LIMIT, cu_price_micro_lamports=CU_PRICE,
        missing_token_accounts={USDC_ATA},
    )  # fmt: skip
    message = VersionedTransaction.from_bytes(signed.tx_bytes).message
    token_calls = [
        bytes(ix.data)[:1]
        for ix in message.instructions
        if message.account_keys[ix.program_id_index] == TOKEN_PROGRAM_ID
    ]
    assert token_calls == []  # no SyncNative, no CloseAccount: the swap only spends
    leg = DexLeg("i", "o", 0, "orca", POOL, "sell", OWNER)
    _, record = await DexSender(rpc, SendSettings(rebroadcast_ms=100)).execute(
        leg, signed, last_valid
    )
    assert (record.status, record.realised_in) == ("landed", quote.amount_in)
    left = first - quote.amount_in
    assert await _wsol(rpc) == (left, RENT + left, True)
    assert POLICY.top_up_lamports(left, spend) == 0

    # a large spend coming: top up the existing account (no creation) to target above it
    big = 3 * 10**9
    more = POLICY.top_up_lamports(left, big)
    assert more == 2 * 10**9 + big - left
    node.expire_blockhash()
    blockhash, _ = await rpc.get_latest_blockhash()
    again = build_top_up_transaction(
        Signer(PAYER), more, recent_blockhash=blockhash, create=False
    )
    await rpc.send_transaction(again.tx_bytes)
    assert await _wsol(rpc) == (left + more, RENT + left + more, True)
    assert str(PAYER) not in repr(again)
