"""Live: the risk guard's exposure, open orders and daily PnL from execution reports
(operators/risk.py `from_reports`, operators/guard_book.py, operators/settle.py)."""

from __future__ import annotations

from operators.events import ExecutionReport, HealthEvent, Opportunity
from operators.risk import RiskGuard
from tests.unit.test_risk import SEC, _opp, _params

MS = 1_000_000
VENUE_OF = {"orca:P": "orca", "binance:SOLUSDC": "binance"}


def _live(**kw: object) -> RiskGuard:
    base: dict[str, object] = dict(
        from_reports=True,
        venue_of=VENUE_OF,
        dex_markets=frozenset({"orca:P"}),
        reports_settle_ns=500 * MS,
        unreported_leg_ns=10 * SEC,
        dex_unreported_leg_ns=100 * SEC,
    )
    base.update(kw)
    return RiskGuard(_params(**base))


def _report(
    opp: Opportunity,
    leg: str,
    status: str,
    filled: int,
    quote: int,
    ts: int,
    fee: int = 0,
    suffix: str = "",
) -> ExecutionReport:
    side = leg if leg in ("buy", "sell") else ("sell" if suffix == "/unwind" else "buy")
    venue = "orca" if (leg == "buy") != (suffix == "/unwind") else "binance"
    return ExecutionReport(
        intent_id=opp.opportunity_id + (suffix or f"/{leg}"),
        opportunity_id=opp.opportunity_id,
        venue=venue,
        side=side,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        filled_base=filled,
        quote_amount=quote,
        fee_quote=fee,
        reason="",
        ts_event_ns=ts,
        ts_recv_ns=ts,
        ts_fill_ns=ts,
    )


def _tick(g: RiskGuard, ts: int) -> None:
    """A control tick: the guard's event clock moves (reports waiting may take effect)."""
    g.on_health(HealthEvent("control:tick", "tick", "", ts, ts))


def test_an_accepted_opportunity_reserves_its_quoted_legs_and_two_slots() -> None:
    g = _live()
    opp = _opp(ts=10 * SEC)
    assert g.on_opportunity(opp)[0].accepted
    book = g.s.book
    assert book.open_legs() == 2
    assert book.exposure_usd_micro == {"orca": 3_000_000_000, "binance": -3_015_000_000}
    assert book.filled_usd_micro == {}
    # intent booking is not used live
    assert g.s.exposure_usd_micro == {} and not g.s.open_orders


def test_fills_settle_the_reservation_to_the_filled_amounts_and_release_the_slots() -> None:
    g = _live()
    opp = _opp(ts=10 * SEC)
    g.on_opportunity(opp)
    g.on_report("SOL/USDC", _report(opp, "buy", "filled", 20_000_000_000, 3_001_000_000, 10 * SEC))
    g.on_report(
        "SOL/USDC", _report(opp, "sell", "filled", 20_000_000_000, 3_014_000_000, 10 * SEC, 3_014)
    )
    _tick(g, 11 * SEC)
    book = g.s.book
    assert book.open_legs() == 0
    assert book.exposure_usd_micro == {"orca": 3_001_000_000, "binance": -3_014_000_000}
    assert book.filled_usd_micro == book.exposure_usd_micro
    assert book.net_base == {"SOL/USDC": 0}
    # flat: the cash of both legs, fee out, is the day's realised PnL
    assert book.daily_pnl_usd_micro == 3_014_000_000 - 3_014 - 3_001_000_000


def test_a_report_takes_effect_only_once_the_event_clock_passes_its_settle_delay() -> None:
    g = _live()
    opp = _opp(ts=10 * SEC)
    g.on_opportunity(opp)
    g.on_report("SOL/USDC", _report(opp, "sell", "rejected", 0, 0, 10 * SEC + 100 * MS))
    _tick(g, 10 * SEC + 599 * MS)
    assert g.s.book.open_legs() == 2  # due at 10.6 s
    _tick(g, 10 * SEC + 600 * MS)
    assert g.s.book.open_legs() == 1


def test_a_rejected_leg_releases_its_reservation_and_the_filled_twin_is_one_legged_exposure() -> (
    None
):
    g = _live(max_exposure_usd_micro=5_000_000_000, max_open_orders=100)
    opp = _opp(ts=10 * SEC)
    g.on_opportunity(opp)
    g.on_report("SOL/USDC", _report(opp, "buy", "filled", 20_000_000_000, 3_002_000_000, 10 * SEC))
    g.on_report("SOL/USDC", _report(opp, "sell", "rejected", 0, 0, 10 * SEC))
    _tick(g, 11 * SEC)
    book = g.s.book
    assert book.exposure_usd_micro == {"orca": 3_002_000_000, "binance": 0}
    assert book.net_base == {"SOL/USDC": 20_000_000_000}
    assert book.open_legs() == 0
    # the one-legged 3,002 USD on orca counts: another 3,000 USD buy there breaks the 5,000 cap
    d, _ = g.on_opportunity(_opp(ts=12 * SEC))
    assert (d.rail, d.reason) == ("max_exposure", "orca exposure cap")
    # the unwind sells it back: flat again, and the day realised the round trip's cash
    g.on_report(
        "SOL/USDC",
        _report(opp, "unwind", "filled", 20_000_000_000, 2_990_000_000, 13 * SEC, suffix="/unwind"),
    )
    _tick(g, 14 * SEC)
    assert book.exposure_usd_micro["orca"] == 12_000_000
    assert book.daily_pnl_usd_micro == 2_990_000_000 - 3_002_000_000
    assert g.on_opportunity(_opp(ts=15 * SEC))[0].accepted


def test_open_legs_hold_their_slots_until_their_final_reports_not_for_a_ttl() -> None:
    g = _live(max_open_orders=2)
    opp = _opp(ts=10 * SEC)
    assert g.on_opportunity(opp)[0].accepted
    # in paper the slots last `open_order_ttl_ns` (1 s); live they last until the reports
    assert g.on_opportunity(_opp(ts=12 * SEC))[0].rail == "max_open_orders"
    g.on_report("SOL/USDC", _report(opp, "buy", "partial", 5_000_000_000, 750_000_000, 12 * SEC))
    g.on_report("SOL/USDC", _report(opp, "buy", "cancelled", 0, 0, 12 * SEC))
    g.on_report("SOL/USDC", _report(opp, "sell", "filled", 5_000_000_000, 755_000_000, 12 * SEC))
    _tick(g, 13 * SEC)
    assert g.s.book.open_legs() == 0
    assert g.s.book.exposure_usd_micro == {"orca": 750_000_000, "binance": -755_000_000}
    assert g.on_opportunity(_opp(ts=13 * SEC))[0].accepted


def test_a_leg_no_report_ever_answers_is_released_after_its_ttl_dex_legs_later() -> None:
    g = _live(max_open_orders=100)
    g.on_opportunity(_opp(ts=10 * SEC))
    g.on_opportunity(_opp(ts=20 * SEC + 1))  # the clock passes the CEX leg's 10 s TTL
    book = g.s.book
    assert book.open_legs() == 3  # the first opportunity's DEX leg waits longer
    assert book.released_unreported == 1
    assert book.exposure_usd_micro == {"orca": 6_000_000_000, "binance": -3_015_000_000}
    g.on_opportunity(_opp(ts=111 * SEC))
    assert book.released_unreported == 3  # the first DEX leg and the second opportunity's CEX leg


def test_dex_first_releases_the_cex_twin_of_a_dex_leg_that_filled_nothing() -> None:
    g = _live(dex_first=True)
    opp = _opp(ts=10 * SEC)
    g.on_opportunity(opp)
    g.on_report("SOL/USDC", _report(opp, "buy", "rejected", 0, 0, 10 * SEC))
    _tick(g, 11 * SEC)
    assert g.s.book.open_legs() == 0
    assert g.s.book.exposure_usd_micro == {"orca": 0, "binance": 0}


def test_the_daily_loss_from_fills_refuses_new_opportunities_until_the_utc_day_ends() -> None:
    g = _live(max_daily_loss_usd_micro=10_000_000)
    opp = _opp(ts=10 * SEC)
    g.on_opportunity(opp)
    g.on_report("SOL/USDC", _report(opp, "buy", "filled", 20_000_000_000, 3_010_000_000, 10 * SEC))
    g.on_report("SOL/USDC", _report(opp, "sell", "filled", 20_000_000_000, 2_990_000_000, 10 * SEC))
    d, _ = g.on_opportunity(_opp(ts=12 * SEC))
    assert (d.rail, d.reason) == (
        "daily_loss",
        "realised loss today 20000000 micro-USD > 10000000 (from fills)",
    )
    next_day = 86_400 * SEC + 1
    assert g.on_opportunity(_opp(ts=next_day))[0].accepted


def test_without_a_report_stream_the_guard_books_its_intents_and_ignores_reports() -> None:
    g = RiskGuard(_params())
    opp = _opp(ts=10 * SEC)
    g.on_opportunity(opp)
    g.on_report("SOL/USDC", _report(opp, "sell", "rejected", 0, 0, 10 * SEC))
    _tick(g, 20 * SEC)
    assert g.s.exposure_usd_micro == {"orca:P": 3_000_000_000, "binance:SOLUSDC": -3_015_000_000}
    assert g.s.book.reports == 0 and g.s.settling is None


def test_the_live_book_and_its_waiting_reports_pickle_and_continue_identically() -> None:
    import pickle

    g = _live()
    opp = _opp(ts=10 * SEC)
    g.on_opportunity(opp)
    g.on_report("SOL/USDC", _report(opp, "buy", "filled", 20_000_000_000, 3_001_000_000, 10 * SEC))
    copy = pickle.loads(pickle.dumps(g))
    for guard in (g, copy):
        guard.on_report("SOL/USDC", _report(opp, "sell", "rejected", 0, 0, 10 * SEC + 1))
        _tick(guard, 11 * SEC)
    assert copy.s.book == g.s.book
    assert copy.s.book.exposure_usd_micro == {"orca": 3_001_000_000, "binance": 0}
    assert copy.on_opportunity(_opp(ts=12 * SEC)) == g.on_opportunity(_opp(ts=12 * SEC))
