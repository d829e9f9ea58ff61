"""`L2Book.top` reuses Decimal levels between reads yet always equals a fresh conversion."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from operators.book import L2Book

PRICES = st.sampled_from(["40.1", "40.10", "40.100000", "40.2", "40.25", "40.3", "39.99", "41"])
SIZES = st.sampled_from(["0", "0.000", "1", "1.0", "2.5", "0.001", "7"])
OPS = st.lists(
    st.tuples(st.sampled_from(["bid", "ask", "top"]), PRICES, SIZES, st.integers(1, 6)),
    max_size=60,
)


def _fresh(book: L2Book, n: int) -> tuple[list[tuple[Decimal, Decimal]], ...]:
    raw_bids, raw_asks = book.top_raw(n)
    return (
        [(Decimal(p), Decimal(q)) for p, q in raw_bids],
        [(Decimal(p), Decimal(q)) for p, q in raw_asks],
    )


def _same(a: list[tuple[Decimal, Decimal]], b: list[tuple[Decimal, Decimal]]) -> bool:
    # Equal values AND the same spelling (exponent): "40.10" must not come back as "40.1".
    return [(str(p), str(q)) for p, q in a] == [(str(p), str(q)) for p, q in b]


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_top_after_any_writes_equals_fresh_decimals_of_the_raw_levels(ops: list) -> None:
    book = L2Book()
    for kind, price, size, n in ops:
        if kind == "top":
            bids, asks = book.top(n)
            fresh_bids, fresh_asks = _fresh(book, n)
            assert _same(bids, fresh_bids) and _same(asks, fresh_asks)
        else:
            book.apply(kind, price, size)
    bids, asks = book.top(10)
    fresh_bids, fresh_asks = _fresh(book, 10)
    assert _same(bids, fresh_bids) and _same(asks, fresh_asks)


def test_respelled_price_comes_back_with_the_new_spelling() -> None:
    book = L2Book()
    book.apply("bid", "40.1", "1")
    assert [(str(p), str(q)) for p, q in book.top(1)[0]] == [("40.1", "1")]
    book.apply("bid", "40.100", "2")  # same key, new spelling and size
    assert [(str(p), str(q)) for p, q in book.top(1)[0]] == [("40.100", "2")]
    book.apply("bid", "40.100", "3")  # same spelling: the price Decimal is reused
    assert [(str(p), str(q)) for p, q in book.top(1)[0]] == [("40.100", "3")]


def test_memo_is_bounded_when_the_top_keeps_moving() -> None:
    book = L2Book()
    for i in range(3000):
        book.apply("ask", f"{100 + i / 100:.2f}", "1")
        if i:
            book.apply("ask", f"{100 + (i - 1) / 100:.2f}", "0")
        assert book.top(2)[1][0] == (Decimal(f"{100 + i / 100:.2f}"), Decimal(1))
    assert len(book._ask_dec) <= 513


@settings(max_examples=150, deadline=None)
@given(ops=OPS)
def test_top_fixed_after_any_writes_equals_exact_integers_of_the_raw_levels(ops: list) -> None:
    book = L2Book()
    for side, price, size, n in ops:
        if side == "top":
            raw_bids, raw_asks = book.top_raw(n)
            want = tuple(
                [(int(Decimal(p) * 10**18), int(Decimal(q) * 10**18)) for p, q in raw]
                for raw in (raw_bids, raw_asks)
            )
            assert book.top_fixed(n) == want
        else:
            book.apply(side, price, size)
    assert book.top_fixed(10)[1] == [
        (int(Decimal(p) * 10**18), int(Decimal(q) * 10**18)) for p, q in book.top_raw(10)[1]
    ]
