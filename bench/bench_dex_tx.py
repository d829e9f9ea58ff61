"""DEX execution benchmark: leg intent -> signed v0 transaction bytes, p50/p99 per venue.

Per leg: the minimum output from the exact quote and the edge share (`operators.slippage`),
the `SwapRequest`, the venue's `plan_swap` and `build_swap_transaction` (ComputeBudget, swap,
v0 compile, ed25519 signature). The pools and markets are synthetic (the connectors' encoders);
PDAs are cached per pool after the first trade, as on the live path. Target: <= 1 ms p99.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace

from solders.hash import Hash
from solders.keypair import Keypair

from bench import bench_raydium
from connectors import venues
from connectors.solana import openbook as ob_codec
from connectors.solana import phoenix as ph_codec
from connectors.solana.swap_plan import SwapRequest
from connectors.solana.transactions import build_swap_transaction
from operators.clmm import quote_swap
from operators.clmm.accounts import Tick, TickArray, Whirlpool
from operators.clmm.math import sqrt_price_from_tick_index
from operators.slippage import min_out_after_give_up

_PAYER = Keypair.from_seed(bytes(range(7, 39)))
_OWNER = str(_PAYER.pubkey())
_BLOCKHASH = str(Hash.new_unique())
_SOL = "So11111111111111111111111111111111111111112"
_USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


def _key(i: int) -> str:
    return str(Keypair.from_seed(bytes([i]) * 32).pubkey())


def _orca() -> tuple[SwapRequest, int]:
    address = _key(1)
    pool = Whirlpool.simulated(
        whirlpools_config=_key(2),
        tick_spacing=64,
        fee_rate=3000,
        liquidity=10**13,
        sqrt_price=sqrt_price_from_tick_index(-20_000),
        tick_current_index=-20_000,
        token_mint_a=_SOL,
        token_mint_b=_USDC,
        token_vault_a=_key(3),
        token_vault_b=_key(4),
        address=address,
    )
    arrays = []
    for start in (-28_160, -22_528, -16_896):
        ticks = tuple(
            Tick.initialized_with(10**11, 10**11) if i % 11 == 0 else Tick.empty()
            for i in range(88)
        )
        arrays.append(TickArray(start, ticks, address))
    q = quote_swap(pool, arrays, 1_000_000_000, a_to_b=True)
    req = SwapRequest(
        "orca",
        address,
        pool,
        _OWNER,
        _SOL,
        True,
        q.amount_in,
        0,
        q.amount_in,
        q.amount_out,
        tick_after=q.tick_after,
    )
    return req, q.amount_out


def _phoenix() -> tuple[SwapRequest, int]:
    market = ph_codec.decode_market(ph_codec.encode_market(bids_size=64, asks_size=64))
    req = SwapRequest(
        "phoenix", _key(5), market, _OWNER, market.base_mint, True, 2_000_000, 0, 2_000_000, 300_000
    )
    return req, 300_000


def _openbook() -> tuple[SwapRequest, int]:
    market = ob_codec.decode_market(ob_codec.encode_market())
    req = SwapRequest(
        "openbook",
        _key(6),
        market,
        _OWNER,
        market.base_mint,
        True,
        5_000_000_000,
        0,
        5_000_000_000,
        700_000_000,
    )
    return req, 700_000_000


def _leg(req: SwapRequest, quoted_out: int) -> Callable[[], object]:
    adapter = venues.dex(req.venue)

    def build() -> object:
        limit = min_out_after_give_up(quoted_out, quoted_out // 200, 300_000)
        request = SwapRequest(
            req.venue,
            req.market_address,
            req.market,
            req.owner,
            req.input_mint,
            True,
            req.amount,
            limit,
            req.quoted_in,
            quoted_out,
            tick_after=req.tick_after,
        )
        return build_swap_transaction(
            adapter,
            request,
            payer=_PAYER,
            recent_blockhash=_BLOCKHASH,
            cu_limit=200_000,
            cu_price_micro_lamports=50_000,
        )

    return build


def _raydium() -> tuple[SwapRequest, int]:
    pool, accounts = bench_raydium._pool()
    pool = replace(
        pool,
        token_mint_0=_SOL,
        token_mint_1=_USDC,
        amm_config=_key(8),
        token_vault_0=_key(9),
        token_vault_1=_key(10),
        observation_key=_key(11),
    )
    q = quote_swap(pool, accounts, 10**9, a_to_b=True, amm_config=bench_raydium.CONFIG)
    req = SwapRequest(
        "raydium_clmm",
        _key(12),
        pool,
        _OWNER,
        _SOL,
        True,
        q.amount_in,
        0,
        q.amount_in,
        q.amount_out,
        tick_after=q.tick_after,
        bitmap_extension=accounts[-1],
    )
    return req, q.amount_out


def _pct(samples: list[int], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1_000


def _samples(fn: Callable[[], object], repeat: int) -> tuple[list[int], list[int]]:
    """(wall ns, this thread's CPU ns) per call: on a loaded machine the wall tail is other
    processes' time slices, the CPU time is ours."""
    fn()  # first trade on a pool derives and caches its PDAs
    wall, cpu = [], []
    for _ in range(repeat):
        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
        fn()
        wall.append(time.perf_counter_ns() - t0)
        cpu.append(time.thread_time_ns() - c0)
    return wall, cpu


def run(quick: bool = False) -> list[dict[str, object]]:
    """Wall p50/p99 and CPU p99 (us) of intent -> signed bytes for each venue."""
    repeat = 50 if quick else 2_000
    out: list[dict[str, object]] = []
    for venue, make in (
        ("orca", _orca),
        ("raydium_clmm", _raydium),
        ("phoenix", _phoenix),
        ("openbook", _openbook),
    ):
        req, quoted_out = make()
        wall, cpu = _samples(_leg(req, quoted_out), repeat)
        stats = (("p50", _pct(wall, 0.5)), ("p99", _pct(wall, 0.99)), ("cpu_p99", _pct(cpu, 0.99)))
        for stat, value in stats:
            out.append(
                {
                    "name": f"dex_tx_{venue}_intent_to_signed_{stat}",
                    "value": value,
                    "unit": "us",
                    "target": "<= 1000 us",
                    "better": "lower",
                    "note": "slippage limit + SwapRequest + plan_swap + v0 compile + sign",
                }
            )
    return out + run_confirmed(quick)


# ------------------------------------------------------------------ sent and confirmed


async def _sent_confirmed_samples(repeat: int) -> dict[str, tuple[list[int], list[int]]]:
    """Per venue: (intent -> sent, intent -> confirmed) ns through `DexSender` on two
    stand-ins (the same bytes to both, confirmed by signatureSubscribe, read back)."""
    from types import SimpleNamespace

    from bench.dex_send_setup import legs
    from connectors.solana.rpc import SolanaRpc
    from connectors.solana.sender import DexLeg, DexSender, SendSettings
    from sim.standin import SolanaStandIn

    bench_legs = legs(_OWNER)
    nodes = [SolanaStandIn(start_slot=100, name=f"rpc{i}") for i in range(2)]
    for node in nodes:
        await node.start()
        for leg in bench_legs:
            for key, (data, owner, lamports) in leg.accounts.items():
                node.set_account(key, data, owner, lamports)
        node.svm.airdrop(_PAYER.pubkey(), 10**12)
    settings = SimpleNamespace(
        http=[n.http_url for n in nodes],
        ws=[n.ws_url for n in nodes],
        failover_http="",
        failover_ws="",
        commitment="confirmed",
        timeout_ms=2000,
    )
    rpc = SolanaRpc(settings, heartbeat_timeout_s=5.0)
    await rpc.start()
    # the sender's clocks on perf_counter: sent_ns / done_ns are comparable with t0
    sender = DexSender(
        rpc, SendSettings(rebroadcast_ms=200), clock=time.perf_counter_ns,
        wall_clock=time.perf_counter_ns,
    )  # fmt: skip
    out: dict[str, tuple[list[int], list[int]]] = {}
    try:
        blockhash, last_valid = await rpc.get_latest_blockhash()
        for leg in bench_legs:
            adapter = venues.dex(leg.venue)
            who = DexLeg("bench", "bench", 0, leg.venue, leg.request.market_address, "sell", _OWNER)
            sent, confirmed = [], []
            for i in range(repeat + 1):
                t0 = time.perf_counter_ns()
                # a fresh priority fee per trade: a fresh signature for the same swap
                signed = build_swap_transaction(
                    adapter, leg.request, payer=_PAYER, recent_blockhash=blockhash,
                    cu_limit=200_000, cu_price_micro_lamports=1 + i,
                )  # fmt: skip
                _, record = await sender.execute(who, signed, last_valid)
                if record.status != "landed":
                    raise RuntimeError(f"bench {leg.venue} swap: {record.status} {record.error}")
                if i:  # the first trade warms the subscription path and the PDA caches
                    sent.append(record.sent_ns - t0)
                    confirmed.append(record.done_ns - t0)
            out[leg.venue] = (sent, confirmed)
    finally:
        await rpc.close()
        for node in nodes:
            await node.stop()
    return out


def run_confirmed(quick: bool = False) -> list[dict[str, object]]:
    """Intent -> sent and intent -> confirmed (landed, read back) on two loopback stand-ins,
    per venue, p50/p99."""
    samples = asyncio.run(_sent_confirmed_samples(20 if quick else 200))
    out: list[dict[str, object]] = []
    for venue, (sent, confirmed) in samples.items():
        for what, series, note in (
            ("sent", sent, "build + sign until the first sendTransaction round leaves"),
            (
                "confirmed",
                confirmed,
                "build + sign + sendTransaction to 2 RPCs + signatureNotification + getTransaction",
            ),
        ):
            for stat, q in (("p50", 0.5), ("p99", 0.99)):
                out.append(
                    {
                        "name": f"dex_tx_{venue}_intent_to_{what}_standin_{stat}",
                        "value": _pct(series, q),
                        "unit": "us",
                        "target": "report only (loopback, one slot per send)",
                        "better": "lower",
                        "note": note,
                    }
                )
    return out
