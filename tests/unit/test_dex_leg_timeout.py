"""A sent DEX leg waits out its blockhash before anyone calls it lost, and after a restart the
recovered legs resolve it by a query (its signature), never by sending again."""

from __future__ import annotations

import pickle
from pathlib import Path

from solders.keypair import Keypair

from config import load_settings
from connectors.execution import ExecClock, ExecOrder
from connectors.solana.sig_ledger import SignatureLedger
from connectors.solana.transactions import SignedSwap
from connectors.solana.tx_outcome import DexLeg
from engine.exec_step import LiveExecStep, dex_sent_timeout_ns
from operators.events import OrderIntent
from operators.legs import LegMachine, LegPolicy
from sim.simulate import SAMPLE_MARKETS, SAMPLE_POOL

PAIR = "SOL/USDC"
CEX = "binance:SOLUSDC"
DEX = f"orca:{SAMPLE_POOL}"
OPP = "SOL/USDC|buy_dex_sell_cex|x|1"
SIZE = 30 * 10**9
T0 = 1_000_000_000_000
S = 1_000_000_000


def _intents() -> tuple[OrderIntent, OrderIntent]:
    buy = OrderIntent(f"{OPP}/buy", OPP, DEX, DEX, "buy", SIZE, 4_474_470_000, T0, T0, T0, PAIR)
    sell = OrderIntent(f"{OPP}/sell", OPP, CEX, CEX, "sell", SIZE, 4_495_500_000, T0, T0,
                       T0, PAIR)  # fmt: skip
    return buy, sell


def test_the_dex_sent_timeout_is_the_senders_confirmation_bound_plus_its_read_back() -> None:
    s = load_settings(markets_path=SAMPLE_MARKETS)
    # confirm_timeout_ms 90,000 (past the ~60 s blockhash validity) + 5 x rebroadcast 400 ms
    assert dex_sent_timeout_ns(s) == 92 * S
    step = LiveExecStep(s, PAIR)
    assert (step.legs.p.sent_timeout_ns, step.legs.p.dex_sent_timeout_ns) == (5 * S, 92 * S)


def test_a_dex_leg_on_the_wire_is_not_queried_at_the_cex_timeout_but_after_its_own() -> None:
    m = LegMachine(LegPolicy(order="dex_first", dex_sent_timeout_ns=92 * S), {})
    m.on_intents(*_intents(), frozenset({DEX}), T0)
    assert m.on_tick(T0 + 6 * S) == ([], [])  # a slow landing is not a one-legged arb
    cmds, moves = m.on_tick(T0 + 93 * S)
    assert ([(c.kind, c.intent_id) for c in cmds], moves) == ([("query", f"{OPP}/buy")], [])


def test_a_step_restored_mid_dex_leg_queries_that_leg_and_sends_nothing() -> None:
    s = load_settings(markets_path=SAMPLE_MARKETS, env={"SOLARB__ENGINE__LEG_ORDER": '"dex_first"'})
    step = LiveExecStep(s, PAIR)
    buy, sell = _intents()
    sent = [x for i in (buy, sell) for x in step.on_item((PAIR, i)) if isinstance(x, ExecOrder)]
    assert [(o.kind, o.intent.intent_id) for o in sent] == [("send", buy.intent_id)]
    again: LiveExecStep = pickle.loads(pickle.dumps(step))  # the snapshot a restart resumes
    early = again.on_item((PAIR, ExecClock(T0 + 60 * S)))
    assert [x for x in early if isinstance(x, ExecOrder)] == []
    out = [x for x in again.on_item((PAIR, ExecClock(T0 + 93 * S))) if isinstance(x, ExecOrder)]
    assert [(o.kind, o.intent.intent_id, o.leg) for o in out] == [("query", buy.intent_id, "buy")]


def test_the_ledger_reads_back_what_it_wrote_and_skips_a_line_cut_by_a_crash(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dex_signatures.jsonl"
    leg = DexLeg(f"{OPP}/buy", OPP, 0, "orca", SAMPLE_POOL, "buy", str(Keypair().pubkey()))
    signed = SignedSwap(b"\x01\x02tx", "5ig", "bh", 300_000, 8_230,
                        {"other_amount_threshold": 7}, 9, 10, ("ata",))  # fmt: skip
    SignatureLedger(path).record(leg, signed, 1_234)
    with path.open("a") as f:
        f.write('{"intent_id": "cut')  # the crash came mid-write: never broadcast
    e = SignatureLedger(path).get(leg.intent_id)
    assert e is not None
    assert (e.leg, e.signed, e.last_valid_block_height) == (leg, signed, 1_234)
    assert SignatureLedger(path).get("cut") is None
