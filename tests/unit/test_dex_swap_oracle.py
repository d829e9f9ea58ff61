"""Our swap instructions equal the venues' official SDK builders, account by account, byte by byte.

Oracles (npm, installed outside the repo by tests/oracles/install.sh; tests never install and
skip with the reason where a package is absent; SOLARB_SKIP_NPM_ORACLE=1 skips on purpose):
- Orca: `@orca-so/whirlpools-client` `getSwapV2Instruction`, its `getTickArrayAddress` /
  `getOracleAddress` PDAs, ATAs from `@solana/spl-token`;
- Raydium CLMM: `@raydium-io/raydium-sdk-v2` `ClmmInstrument.swapV2Instruction` and its PDAs;
- Phoenix: `@ellipsis-labs/phoenix-sdk` `MarketState.createSwapInstruction` on our market bytes
  with `getImmediateOrCancelOrderPacket`;
- OpenBook v2: `@openbook-dex/openbook-v2` `OpenBookV2Client.placeTakeOrderIx` on our market
  bytes decoded by the SDK's own Anchor coder;
- ComputeBudget and ATA `CreateIdempotent`: `@solana/web3.js` `ComputeBudgetProgram` and
  `@solana/spl-token` `createAssociatedTokenAccountIdempotentInstruction`.
Each case is seeded-random; the comparison is program id, every (pubkey, signer, writable) in
order, and the data bytes.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.instruction import Instruction
from solders.keypair import Keypair

from connectors.solana import openbook as ob_codec
from connectors.solana import phoenix as ph_codec
from connectors.solana.openbook_take import (
    OpenBookTake,
    TakeOrderType,
    place_take_order_instruction,
)
from connectors.solana.orca_swap import (
    OrcaSwapAccounts,
    swap_tick_array_starts,
    swap_v2_instruction,
)
from connectors.solana.phoenix_swap import PhoenixIoc, SelfTradeBehavior, swap_instruction
from connectors.solana.programs import (
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    create_ata_idempotent,
)
from connectors.solana.raydium_swap import RaydiumSwapAccounts
from connectors.solana.raydium_swap import swap_v2_instruction as raydium_swap_v2
from operators.clmm.accounts import Whirlpool
from tests.unit.raydium_pools import make_pool

CACHE = Path(os.environ.get("SOLARB_ORACLE_CACHE", Path.home() / ".cache" / "solarb"))
CASES = 40


def _modules(*parts: tuple[str, str]) -> str:
    """NODE_PATH for the (folder, package) pairs, or skip the test with the reason."""
    if os.environ.get("SOLARB_SKIP_NPM_ORACLE"):
        pytest.skip("SOLARB_SKIP_NPM_ORACLE is set")
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the venues' SDK oracles cannot run")
    paths = []
    for folder, package in parts:
        modules = CACHE / folder / "node_modules"
        if not (modules / package / "package.json").is_file():
            pytest.skip(
                f"{package} not installed under {modules} (tests/oracles/install.sh installs "
                "it from the npm registry; tests never download)"
            )
        paths.append(str(modules))
    return os.pathsep.join(paths)


def _run(script: str, node_path: str, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    run = subprocess.run(
        ["node", "-e", script],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        env={**os.environ, "NODE_PATH": node_path},
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out: list[dict[str, Any]] = json.loads(run.stdout)
    return out


def _ours(ix: Instruction) -> dict[str, Any]:
    return {
        "program": str(ix.program_id),
        "accounts": [[str(a.pubkey), a.is_signer, a.is_writable] for a in ix.accounts],
        "data": bytes(ix.data).hex(),
    }


def _assert_same(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> None:
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a["program"] == b["program"], f"case {i}"
        assert len(a["accounts"]) == len(b["accounts"]), f"case {i}"
        for k, (x, y) in enumerate(zip(a["accounts"], b["accounts"], strict=True)):
            assert x == y, f"case {i} account {k}"
        assert a["data"] == b["data"], f"case {i}"


def _key(rng: random.Random) -> str:
    return str(Keypair.from_seed(bytes(rng.getrandbits(8) for _ in range(32))).pubkey())


# ----------------------------------------------------------------------------------- Orca

_ORCA_JS = r"""
const oc = require('@orca-so/whirlpools-client');
const kit = require('@solana/kit');
const { getAssociatedTokenAddressSync } = require('@solana/spl-token');
const { PublicKey } = require('@solana/web3.js');
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const ata = (owner, mint, prog) => getAssociatedTokenAddressSync(
  new PublicKey(mint), new PublicKey(owner), true, new PublicKey(prog)).toBase58();
(async () => {
  const out = [];
  for (const c of cases) {
    const ta = [];
    for (const s of c.starts) ta.push((await oc.getTickArrayAddress(c.whirlpool, s))[0]);
    const supp = [];
    for (const s of c.supplemental) supp.push((await oc.getTickArrayAddress(c.whirlpool, s))[0]);
    const ix = oc.getSwapV2Instruction({
      tokenProgramA: c.program_a, tokenProgramB: c.program_b,
      tokenAuthority: kit.createNoopSigner(c.authority), whirlpool: c.whirlpool,
      tokenMintA: c.mint_a, tokenMintB: c.mint_b,
      tokenOwnerAccountA: ata(c.authority, c.mint_a, c.program_a), tokenVaultA: c.vault_a,
      tokenOwnerAccountB: ata(c.authority, c.mint_b, c.program_b), tokenVaultB: c.vault_b,
      tickArray0: ta[0], tickArray1: ta[1], tickArray2: ta[2],
      oracle: (await oc.getOracleAddress(c.whirlpool))[0],
      amount: BigInt(c.amount), otherAmountThreshold: BigInt(c.threshold),
      sqrtPriceLimit: BigInt(c.limit), amountSpecifiedIsInput: c.exact_in, aToB: c.a_to_b,
      remainingAccountsInfo: supp.length ? { slices: [
        { accountsType: oc.AccountsType.SupplementalTickArrays, length: supp.length }] } : null,
    });
    // the client leaves remaining accounts to the caller; supplemental arrays are writable
    const accounts = ix.accounts.map((a) => [a.address, a.role >= 2, (a.role & 1) === 1])
      .concat(supp.map((s) => [s, false, true]));
    out.push({ program: ix.programAddress, accounts, data: Buffer.from(ix.data).toString('hex') });
  }
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def test_orca_swap_v2_equals_the_whirlpools_client_on_random_inputs() -> None:
    node_path = _modules(
        ("orca-whirlpools-client", "@orca-so/whirlpools-client"),
        ("clob-oracle", "@solana/spl-token"),
    )
    rng = random.Random(17)
    cases, ours = [], []
    for k in range(CASES):
        spacing = rng.choice([1, 2, 4, 8, 16, 64, 128, 256, 32896])
        span = 88 * spacing
        tick = rng.randint(-443636, 443635)
        if k % 5 == 0:  # the b->a shift: the next initializable tick is in the next array
            tick = tick // span * span + span - rng.randint(1, spacing)
        a_to_b = rng.random() < 0.5
        pool = Whirlpool.simulated(
            whirlpools_config=_key(rng),
            tick_spacing=spacing,
            fee_rate=3000,
            liquidity=1,
            sqrt_price=1 << 64,
            tick_current_index=tick,
            token_mint_a=_key(rng),
            token_mint_b=_key(rng),
            token_vault_a=_key(rng),
            token_vault_b=_key(rng),
            address=_key(rng),
        )
        trader = OrcaSwapAccounts(
            _key(rng),
            token_program_a=str(rng.choice([TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID])),
            token_program_b=str(rng.choice([TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID])),
        )
        starts = swap_tick_array_starts(tick, spacing, a_to_b)
        supplemental = [starts[0] + (span if a_to_b else -span) * (i + 1) for i in range(k % 4)]
        amount, threshold = rng.getrandbits(64), rng.getrandbits(64)
        limit = rng.choice([0, rng.getrandbits(128), 4295048016, 79226673515401279992447579055])
        exact_in = rng.random() < 0.5
        ix = swap_v2_instruction(
            pool,
            trader,
            amount=amount,
            other_amount_threshold=threshold,
            a_to_b=a_to_b,
            amount_specified_is_input=exact_in,
            sqrt_price_limit=limit,
            supplemental_tick_array_starts=supplemental,
        )
        ours.append(_ours(ix))
        padded = (starts + [starts[-1]] * 3)[:3]
        cases.append(
            {
                "whirlpool": pool.address,
                "authority": trader.token_authority,
                "program_a": trader.token_program_a,
                "program_b": trader.token_program_b,
                "mint_a": pool.token_mint_a,
                "mint_b": pool.token_mint_b,
                "vault_a": pool.token_vault_a,
                "vault_b": pool.token_vault_b,
                "starts": padded,
                "supplemental": supplemental,
                "amount": str(amount),
                "threshold": str(threshold),
                "limit": str(limit),
                "exact_in": exact_in,
                "a_to_b": a_to_b,
            }
        )
    _assert_same(ours, _run(_ORCA_JS, node_path, cases))


# -------------------------------------------------------------------------------- Raydium

_RAYDIUM_JS = r"""
const sdk = require('@raydium-io/raydium-sdk-v2');
const { PublicKey } = require('@solana/web3.js');
const { getAssociatedTokenAddressSync } = require('@solana/spl-token');
const BN = require('bn.js');
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const P = (s) => new PublicKey(s);
const program = P('CAMMCzo5YL8w4VFF8KVHrK22GGUsp5VTaW7grrKgrWqK');
const out = cases.map((c) => {
  const pool = P(c.pool);
  const ata = (mint) => getAssociatedTokenAddressSync(P(mint), P(c.payer), true);
  const [inI, outI] = c.zero_for_one ? [0, 1] : [1, 0];
  const ix = sdk.ClmmInstrument.swapV2Instruction(
    program, P(c.payer), pool, P(c.amm_config), ata(c.mints[inI]), ata(c.mints[outI]),
    P(c.vaults[inI]), P(c.vaults[outI]), P(c.mints[inI]), P(c.mints[outI]),
    c.starts.map((s) => sdk.getPdaTickArrayAddress(program, pool, s).publicKey),
    P(c.observation), new BN(c.amount), new BN(c.threshold), new BN(c.limit), c.base_input,
    c.with_ext ? sdk.getPdaExBitmapAccount(program, pool).publicKey : undefined);
  return { program: ix.programId.toBase58(),
    accounts: ix.keys.map((k) => [k.pubkey.toBase58(), k.isSigner, k.isWritable]),
    data: ix.data.toString('hex') };
});
process.stdout.write(JSON.stringify(out));
"""


def test_raydium_swap_v2_equals_the_raydium_sdk_on_random_inputs() -> None:
    node_path = _modules(("raydium-sdk-v2", "@raydium-io/raydium-sdk-v2"))
    rng = random.Random(18)
    base, _ = make_pool(10, 0, [(-600, 600, 10**12)])
    cases, ours = [], []
    for _ in range(CASES):
        pool = replace(
            base,
            amm_config=_key(rng),
            token_mint_0=_key(rng),
            token_mint_1=_key(rng),
            token_vault_0=_key(rng),
            token_vault_1=_key(rng),
            observation_key=_key(rng),
        )
        address, payer = _key(rng), _key(rng)
        spacing = rng.choice([1, 10, 60, 120])
        starts = [rng.randint(-7000, 7000) * 60 * spacing for _ in range(rng.randint(1, 5))]
        zfo, base_input, with_ext = (rng.random() < 0.5 for _ in range(3))
        amount, threshold, limit = rng.getrandbits(64), rng.getrandbits(64), rng.getrandbits(128)
        ix = raydium_swap_v2(
            pool,
            address,
            RaydiumSwapAccounts(payer),
            amount=amount,
            other_amount_threshold=threshold,
            zero_for_one=zfo,
            tick_array_starts=starts,
            is_base_input=base_input,
            sqrt_price_limit_x64=limit,
            with_bitmap_extension=with_ext,
        )
        ours.append(_ours(ix))
        cases.append(
            {
                "pool": address,
                "payer": payer,
                "amm_config": pool.amm_config,
                "mints": [pool.token_mint_0, pool.token_mint_1],
                "vaults": [pool.token_vault_0, pool.token_vault_1],
                "observation": pool.observation_key,
                "starts": starts,
                "zero_for_one": zfo,
                "base_input": base_input,
                "with_ext": with_ext,
                "amount": str(amount),
                "threshold": str(threshold),
                "limit": str(limit),
            }
        )
    _assert_same(ours, _run(_RAYDIUM_JS, node_path, cases))


# -------------------------------------------------------------------------------- Phoenix

_PHOENIX_JS = r"""
const ph = require('@ellipsis-labs/phoenix-sdk');
const { PublicKey } = require('@solana/web3.js');
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const opt = (v) => (v === null ? undefined : Number(v));
const out = cases.map((c) => {
  const data = ph.deserializeMarketData(Buffer.from(c.market, 'base64'));
  const market = new ph.MarketState({ address: new PublicKey(c.address), data });
  const packet = ph.getImmediateOrCancelOrderPacket({
    side: c.side === 'bid' ? ph.Side.Bid : ph.Side.Ask,
    priceInTicks: opt(c.price), numBaseLots: c.base_lots, numQuoteLots: c.quote_lots,
    minBaseLotsToFill: c.min_base, minQuoteLotsToFill: c.min_quote,
    selfTradeBehavior: c.stb, matchLimit: opt(c.match_limit), clientOrderId: c.client_id,
    useOnlyDepositedFunds: c.deposited, lastValidSlot: opt(c.slot),
    lastValidUnixTimestampInSeconds: opt(c.ts) });
  const ix = market.createSwapInstruction(packet, new PublicKey(c.trader));
  return { program: ix.programId.toBase58(),
    accounts: ix.keys.map((k) => [k.pubkey.toBase58(), k.isSigner, k.isWritable]),
    data: ix.data.toString('hex') };
});
process.stdout.write(JSON.stringify(out));
"""


def test_phoenix_swap_equals_the_phoenix_sdk_on_random_inputs() -> None:
    node_path = _modules(("clob-oracle", "@ellipsis-labs/phoenix-sdk"))
    rng = random.Random(19)
    small = 2**50  # the SDK's packet helper takes JS numbers: stay exact below 2^53
    cases, ours = [], []
    for _ in range(CASES):
        raw = ph_codec.encode_market(
            bids_size=8,
            asks_size=8,
            num_seats=2,
            base_mint=bytes(rng.getrandbits(8) for _ in range(32)),
            quote_mint=bytes(rng.getrandbits(8) for _ in range(32)),
        )
        market = ph_codec.decode_market(raw)
        address, trader = _key(rng), _key(rng)

        def maybe() -> int | None:
            return None if rng.random() < 0.4 else rng.randrange(small)

        order = PhoenixIoc(
            side=rng.choice(["bid", "ask"]),
            num_base_lots=rng.randrange(small),
            num_quote_lots=rng.randrange(small),
            min_base_lots_to_fill=rng.randrange(small),
            min_quote_lots_to_fill=rng.randrange(small),
            price_in_ticks=maybe(),
            self_trade_behavior=rng.choice(list(SelfTradeBehavior)),
            match_limit=maybe(),
            client_order_id=rng.randrange(small),
            use_only_deposited_funds=rng.random() < 0.3,
            last_valid_slot=maybe(),
            last_valid_unix_timestamp_in_seconds=maybe(),
        )
        ours.append(_ours(swap_instruction(address, market, trader, order)))
        cases.append(
            {
                "market": base64.b64encode(raw).decode(),
                "address": address,
                "trader": trader,
                "side": order.side,
                "price": order.price_in_ticks,
                "base_lots": order.num_base_lots,
                "quote_lots": order.num_quote_lots,
                "min_base": order.min_base_lots_to_fill,
                "min_quote": order.min_quote_lots_to_fill,
                "stb": int(order.self_trade_behavior),
                "match_limit": order.match_limit,
                "client_id": order.client_order_id,
                "deposited": order.use_only_deposited_funds,
                "slot": order.last_valid_slot,
                "ts": order.last_valid_unix_timestamp_in_seconds,
            }
        )
    _assert_same(ours, _run(_PHOENIX_JS, node_path, cases))


# ------------------------------------------------------------------------------- OpenBook

_OPENBOOK_JS = r"""
const ob = require('@openbook-dex/openbook-v2');
const anchor = require('@coral-xyz/anchor');
const { PublicKey, Connection, Keypair } = require('@solana/web3.js');
const BN = require('bn.js');
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
(async () => {
  const out = [];
  for (const c of cases) {
    const owner = new PublicKey(c.owner);
    const wallet = { publicKey: owner, signTransaction: async (t) => t,
      signAllTransactions: async (t) => t };
    // no request is ever made: the client only builds an instruction
    const provider = new anchor.AnchorProvider(new Connection('http://127.0.0.1:9'), wallet, {});
    const client = new ob.OpenBookV2Client(provider);
    const market = client.program.coder.accounts.decode('market', Buffer.from(c.market, 'base64'));
    const { getAssociatedTokenAddressSync } = require('@solana/spl-token');
    const base = getAssociatedTokenAddressSync(market.baseMint, owner, true);
    const quote = getAssociatedTokenAddressSync(market.quoteMint, owner, true);
    const args = { side: c.side === 'bid' ? { bid: {} } : { ask: {} },
      priceLots: new BN(c.price), maxBaseLots: new BN(c.max_base),
      maxQuoteLotsIncludingFees: new BN(c.max_quote),
      orderType: { [c.order_type]: {} }, limit: c.limit };
    const [ix] = await client.placeTakeOrderIx(new PublicKey(c.address), market, base, quote,
      c.admin ? new PublicKey(c.admin) : null, args, c.makers.map((m) => new PublicKey(m)));
    out.push({ program: ix.programId.toBase58(),
      accounts: ix.keys.map((k) => [k.pubkey.toBase58(), k.isSigner, k.isWritable]),
      data: ix.data.toString('hex') });
  }
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"""

_ORDER_TYPE_NAMES = {
    TakeOrderType.IMMEDIATE_OR_CANCEL: "immediateOrCancel",
    TakeOrderType.MARKET: "market",
    TakeOrderType.FILL_OR_KILL: "fillOrKill",
}


def test_openbook_place_take_order_equals_the_openbook_client_on_random_inputs() -> None:
    node_path = _modules(("clob-oracle", "@openbook-dex/openbook-v2"))
    rng = random.Random(20)
    cases, ours = [], []

    def raw_key() -> bytes:
        return bytes(rng.getrandbits(8) for _ in range(32))

    for _ in range(CASES):
        raw = ob_codec.encode_market(
            bids=raw_key(),
            asks=raw_key(),
            event_heap=raw_key(),
            base_mint=raw_key(),
            quote_mint=raw_key(),
            oracle_a=rng.choice([bytes(32), raw_key()]),
            oracle_b=rng.choice([bytes(32), raw_key()]),
        )
        market = ob_codec.decode_market(raw)
        address, owner = _key(rng), _key(rng)
        admin = rng.choice([None, _key(rng)])
        makers = [_key(rng) for _ in range(rng.randint(0, 4))]
        take = OpenBookTake(
            side=rng.choice(["bid", "ask"]),
            price_lots=rng.randint(1, 2**63 - 1),
            max_base_lots=rng.randint(1, 2**63 - 1),
            max_quote_lots_including_fees=rng.randint(1, 2**63 - 1),
            order_type=rng.choice(list(TakeOrderType)),
            limit=rng.randint(0, 255),
        )
        ix = place_take_order_instruction(
            address, market, owner, take, makers=makers, open_orders_admin=admin
        )
        ours.append(_ours(ix))
        cases.append(
            {
                "market": base64.b64encode(raw).decode(),
                "address": address,
                "owner": owner,
                "admin": admin,
                "makers": makers,
                "side": take.side,
                "price": str(take.price_lots),
                "max_base": str(take.max_base_lots),
                "max_quote": str(take.max_quote_lots_including_fees),
                "order_type": _ORDER_TYPE_NAMES[take.order_type],
                "limit": take.limit,
            }
        )
    _assert_same(ours, _run(_OPENBOOK_JS, node_path, cases))


# ------------------------------------------------------- ComputeBudget and ATA creation

_TX_PARTS_JS = r"""
const { ComputeBudgetProgram, PublicKey } = require('@solana/web3.js');
const spl = require('@solana/spl-token');
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const wire = (ix) => ({ program: ix.programId.toBase58(),
  accounts: ix.keys.map((k) => [k.pubkey.toBase58(), k.isSigner, k.isWritable]),
  data: Buffer.from(ix.data).toString('hex') });
const out = cases.map((c) => {
  const P = (s) => new PublicKey(s);
  const ata = spl.getAssociatedTokenAddressSync(P(c.mint), P(c.owner), true, P(c.program));
  return [
    wire(ComputeBudgetProgram.setComputeUnitLimit({ units: c.limit })),
    wire(ComputeBudgetProgram.setComputeUnitPrice({ microLamports: BigInt(c.price) })),
    wire(spl.createAssociatedTokenAccountIdempotentInstruction(
      P(c.payer), ata, P(c.owner), P(c.mint), P(c.program))),
  ];
}).flat();
process.stdout.write(JSON.stringify(out));
"""


def test_compute_budget_and_idempotent_ata_creation_equal_web3js_and_spl_token() -> None:
    node_path = _modules(("clob-oracle", "@solana/spl-token"))
    rng = random.Random(21)
    cases, ours = [], []
    for _ in range(CASES):
        payer, owner, mint = _key(rng), _key(rng), _key(rng)
        program = str(rng.choice([TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID]))
        limit, price = rng.randint(1, 1_400_000), rng.getrandbits(rng.choice([8, 32, 64]))
        ours += [
            _ours(set_compute_unit_limit(limit)),
            _ours(set_compute_unit_price(price)),
            _ours(create_ata_idempotent(payer, owner, mint, program)),
        ]
        cases.append(
            {
                "payer": payer,
                "owner": owner,
                "mint": mint,
                "program": program,
                "limit": limit,
                "price": str(price),
            }
        )
    _assert_same(ours, _run(_TX_PARTS_JS, node_path, cases))
