from __future__ import annotations

from operators.book import fixed_levels
from operators.events import OrderIntent
from operators.paper import PaperVenue
from operators.views import CexBookView

MS = 1_000_000
SOL = 1_000_000_000


def _view(ts_ms: int, asks: tuple[tuple[str, str], ...], in_sync: bool = True) -> CexBookView:
    return CexBookView(
        venue="binance",
        market_id="binance:SOLUSDC",
        pair="SOL/USDC",
        market="spot",
        quote_currency="USDC",
        bids=fixed_levels([("99", "10")]),
        asks=fixed_levels(asks),
        update_id=ts_ms,
        in_sync=in_sync,
        ts_event_ns=ts_ms * MS,
        ts_recv_ns=ts_ms * MS,
        taker_fee_bps=10.0,
    )


def _intent(n: int, ts_ms: int, size: int = SOL, limit: int = 10**12) -> OrderIntent:
    return OrderIntent(
        intent_id=f"i{n}/buy", opportunity_id=f"i{n}", venue="binance:SOLUSDC",
        market_id="binance:SOLUSDC", side="buy", size_base=size, limit_quote=limit,
        ts_event_ns=ts_ms * MS, ts_recv_ns=ts_ms * MS, ts_intent_ns=ts_ms * MS, pair="SOL/USDC",
    )  # fmt: skip


def _venue() -> PaperVenue:
    return PaperVenue(9, 6, cex_latency_ns=20 * MS, dex_latency_ns=400 * MS)


LADDER = (("100", "1"), ("101", "1"), ("102", "5"))


def test_intent_waits_for_the_book_as_it_was_after_the_latency() -> None:
    v = _venue()
    v.on_view(_view(0, LADDER))
    assert v.on_intent(_intent(1, 5)) == []  # fill time 25 ms: no view after it yet
    v.on_view(_view(10, (("100.5", "3"),)))  # the book at 10 ms is the one at 25 ms
    [report] = v.on_view(_view(30, (("200", "3"),)))
    assert (report.status, report.quote_amount, report.fee_quote) == (
        "filled", 100_500_000, 100_500
    )
    assert report.ts_fill_ns == 25 * MS


def test_second_fill_on_the_same_book_walks_on_from_the_levels_already_taken() -> None:
    v = _venue()
    v.on_view(_view(0, LADDER))
    v.on_intent(_intent(1, 0))
    v.on_intent(_intent(2, 0))
    first, second = v.on_view(_view(100, LADDER))
    assert (first.filled_base, first.quote_amount) == (SOL, 100_000_000)
    assert (second.filled_base, second.quote_amount) == (SOL, 101_000_000)
    assert second.fee_quote == 101_000


def test_price_worse_than_the_limit_rejects_the_leg() -> None:
    v = _venue()
    v.on_view(_view(0, LADDER))
    v.on_intent(_intent(1, 0, limit=99_999_999))
    [r] = v.on_view(_view(100, LADDER))
    assert (r.status, r.reason) == ("rejected", "price moved: cost 100000000 > limit 99999999")


def test_out_of_sync_rejects_and_a_too_thin_book_fills_what_it_holds_then_expires() -> None:
    v = _venue()
    v.on_view(_view(0, LADDER, in_sync=False))
    v.on_intent(_intent(1, 0))
    [r] = v.on_end()
    assert (r.status, r.reason) == ("rejected", "view out of sync")
    v = _venue()
    v.on_view(_view(0, LADDER))
    v.on_intent(_intent(2, 0, size=8 * SOL))  # 7 SOL on the ladder
    part, rest = v.on_end()  # IOC: what the book holds fills, the remainder expires
    assert (part.status, part.filled_base, part.quote_amount, part.fee_quote) == (
        "partial", 7 * SOL, 711_000_000, 711_000
    )
    assert (rest.status, rest.filled_base, rest.reason) == (
        "cancelled", 0, f"IOC: {SOL} base units past the limit expired"
    )
