"""Risk from fills (operators/fill_risk.py): each kill cause, exact integers, explicit re-arm."""

from __future__ import annotations

import pickle

from hypothesis import given
from hypothesis import strategies as st

from operators.events import ExecutionReport, OrderIntent, Side
from operators.fill_risk import DAY_NS, FillRisk, FillRiskParams, p95, slippage_ppb
from operators.risk import KillRecord

SOL = 10**9
S = 1_000_000_000
CEX, DEX = "binance:SOLUSDC", "orca:POOL"
USDC_MICRO = (1, 1)  # one micro-USDC is one micro-USD


def _params(**kw: int) -> FillRiskParams:
    base = {
        "max_daily_loss_usd_micro": 10_000_000,  # 10 USD
        "max_slippage_p95_ppb": 2_000_000,  # 20 bps
        "slippage_window": 5,
        "slippage_min_fills": 3,
        "max_dex_failures": 3,
        "dex_failure_window_ns": 60 * S,
        "max_exposure_usd_micro": 1_000_000_000,  # 1000 USD
    }
    base.update(kw)
    return FillRiskParams(**base, quote_usd_micro={"SOL/USDC": USDC_MICRO})


def _risk(**kw: int) -> FillRisk:
    return FillRisk(_params(**kw), frozenset({DEX}), scope="SOL/USDC")


def _intent(oid: str, venue: str, side: Side, predicted: int, size: int = SOL) -> OrderIntent:
    return OrderIntent(f"{oid}/{side}", oid, venue, venue, side, size, 0, 0, 0, 0, "SOL/USDC",
                       predicted_quote=predicted)  # fmt: skip


def _report(
    i: OrderIntent, quote: int, ts: int, *, status: str = "filled", fee: int = 0, base: int = -1
) -> ExecutionReport:
    filled = i.size_base if base < 0 else base
    got = filled if status != "rejected" else 0
    return ExecutionReport(
        i.intent_id, i.opportunity_id, i.venue, i.side, status,  # type: ignore[arg-type]
        got, quote, fee, "", ts, ts, ts,
    )  # fmt: skip


def _trade(r: FillRisk, oid: str, buy_at: int, sell_at: int, ts: int) -> list[KillRecord]:
    """One opportunity, both legs filled (1 SOL), predictions equal to the fills."""
    b, s = _intent(oid, CEX, "buy", buy_at), _intent(oid, DEX, "sell", sell_at)
    r.on_intent(b)
    r.on_intent(s)
    return r.on_report(_report(b, buy_at, ts)) + r.on_report(_report(s, sell_at, ts))


def test_realised_daily_loss_kills_once_past_the_limit_and_resets_on_the_utc_day() -> None:
    r = _risk()
    day = 20_000 * DAY_NS
    assert _trade(r, "a", 100_000_000, 94_000_000, day + 1) == []  # -6 USD
    assert r.daily_pnl_usd_micro == -6_000_000
    assert _trade(r, "b", 100_000_000, 100_500_000, DAY_NS + day) == []  # next day: +0.5
    assert r.daily_pnl_usd_micro == 500_000
    assert _trade(r, "c", 100_000_000, 94_000_000, DAY_NS + day + 2) == []  # -5.5 today
    [k] = _trade(r, "d", 100_000_000, 94_999_999, DAY_NS + day + 3)  # -10.500001 today
    assert (k.cause, k.tripped_ns, k.scope) == ("daily_loss", DAY_NS + day + 3, "SOL/USDC")
    assert k.reason == "realised loss today 10500001 micro-USD > 10000000 (last d)"
    assert r.refuses(_intent("e", CEX, "buy", 1)) == f"fill risk kill (daily_loss): {k.reason}"
    # nothing is held for an order or opportunity that is done: state stays bounded
    assert (r.opps, r.intents, r.open_orders) == ({}, {}, set())
    nothing = _intent("f", DEX, "sell", 100)
    r.on_intent(nothing)
    r.on_report(_report(nothing, 0, DAY_NS + day + 4, status="rejected"))
    assert (r.opps, r.intents, r.open_orders) == ({}, {}, set())


def test_an_opportunity_realises_only_when_its_base_is_flat_fees_included() -> None:
    r = _risk()
    b, s = _intent("a", CEX, "buy", 100_000_000), _intent("a", DEX, "sell", 99_000_000)
    r.on_intent(b)
    r.on_intent(s)
    r.on_report(_report(b, 100_000_000, 1, fee=100_000))
    assert (r.daily_pnl_usd_micro, r.exposure_base[(CEX, "SOL")]) == (0, SOL)  # open: unrealised
    r.on_report(_report(s, 99_000_000, 2, status="partial", base=SOL // 2))
    assert r.daily_pnl_usd_micro == 0
    unwind = OrderIntent("a/unwind", "a", CEX, CEX, "sell", SOL // 2, 0, 2, 2, 2, "SOL/USDC")
    r.on_intent(unwind)
    r.on_report(_report(unwind, 49_000_000, 3, fee=49_000))
    # -100 - 0.1 + 99 (the partial's quote) + 49 - 0.049
    assert r.daily_pnl_usd_micro == -100_100_000 + 99_000_000 + 48_951_000
    assert r.open_orders == {"a/sell"}  # the partial leg waits for its final report


def test_n_dex_failures_within_the_window_kill_and_older_ones_drop_out() -> None:
    r = _risk()
    legs = [_intent(f"o{n}", DEX, "sell", 100) for n in range(4)]
    for i in legs:
        r.on_intent(i)
    assert r.on_report(_report(legs[0], 0, 0, status="rejected")) == []
    assert r.on_report(_report(legs[1], 0, 10 * S, status="rejected")) == []
    # the first failure is 61 s old: two in the window
    assert r.on_report(_report(legs[2], 0, 61 * S, status="rejected")) == []
    [k] = r.on_report(_report(legs[3], 0, 62 * S, status="rejected"))
    assert (k.cause, k.detected_ns, k.tripped_ns) == ("dex_failures", 10 * S, 62 * S)
    assert k.reason.startswith("3 DEX failures within 60 s (last orca:POOL")
    # a rejected CEX leg is not a failed DEX transaction
    cex = _intent("c", CEX, "buy", 100)
    r2 = _risk(max_dex_failures=1)
    r2.on_intent(cex)
    assert r2.on_report(_report(cex, 0, 0, status="rejected")) == []


@given(st.lists(st.integers(-(10**7), 10**7), min_size=1, max_size=300))
def test_p95_is_the_nearest_rank_element(values: list[int]) -> None:
    got = p95(values)
    ordered = sorted(values)
    rank = -(-95 * len(values) // 100)  # ceil(0.95 n), 1-based
    assert got == ordered[rank - 1]
    assert sum(v <= got for v in values) * 100 >= 95 * len(values)


def test_rolling_p95_slippage_per_venue_kills_above_the_threshold() -> None:
    r = _risk()
    # slippage vs the prediction, ppb: buy 100.00 predicted, paid 100.01 = 1 bps worse
    b = _intent("s", CEX, "buy", 100_000_000)
    assert slippage_ppb(b, SOL, 100_010_000) == 100_000
    assert slippage_ppb(_intent("s", CEX, "sell", 100_000_000), SOL, 100_010_000) == -100_000
    kills: list[KillRecord] = []
    for n, paid in enumerate([100_010_000, 100_010_000, 100_300_000, 100_010_000]):
        i = _intent(f"s{n}", CEX, "buy", 100_000_000)
        r.on_intent(i)
        kills += r.on_report(_report(i, paid, n))
    # window of 4 (min 3): p95 = the worst, 30 bps > 20 bps, at the third fill
    [k] = kills
    assert (k.cause, k.tripped_ns) == ("slippage", 2)
    assert k.reason == "p95 slippage on binance 30.00 bps over 3 fills > 20.00 bps"
    # the DEX venue's own window is untouched
    assert "orca" not in r.slippage


def test_a_kill_holds_through_pickle_until_the_explicit_arm() -> None:
    r = _risk(max_dex_failures=1)
    i = _intent("x", DEX, "sell", 100)
    r.on_intent(i)
    [k] = r.on_report(_report(i, 0, 5, status="rejected"))
    again = _intent("y", DEX, "sell", 100)
    r.on_intent(again)
    assert r.on_report(_report(again, 0, 6, status="rejected")) == []  # one kill, held
    restored: FillRisk = pickle.loads(pickle.dumps(r))
    assert restored.killed and restored.refuses(_intent("z", CEX, "buy", 1)) is not None
    assert restored.on_arm(7) is True and restored.on_arm(8) is False
    assert restored.refuses(_intent("z", CEX, "buy", 1)) is None
    assert restored.dex_failures == type(restored.dex_failures)()  # the old failure is gone
    assert k.cause == "dex_failures"


def test_residual_exposure_from_fills_refuses_new_opportunities_of_the_asset() -> None:
    r = _risk(max_exposure_usd_micro=150_000_000)  # 150 USD
    b = _intent("a", CEX, "buy", 100_000_000, size=2 * SOL)
    r.on_intent(b)
    r.on_report(_report(b, 200_000_000, 1))  # 2 SOL long, its twin never filled
    why = r.refuses(_intent("b", CEX, "buy", 100_000_000))
    assert (
        why == "fill exposure: 2000000000 base units of SOL open (200000000 > 150000000 micro-USD)"
    )
    s = _intent("a", CEX, "sell", 100_000_000, size=2 * SOL)
    r.on_intent(s)
    r.on_report(_report(s, 199_000_000, 2))
    assert r.refuses(_intent("b", CEX, "buy", 100_000_000)) is None
