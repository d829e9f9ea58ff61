"""`L2Book.top_fixed_view` (the reused top-n read) always equals the plain `top_fixed` read."""

from __future__ import annotations

import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from operators.book import L2Book

# A small price grid so writes often land on, inside and just past the read's edge.
_PRICE = st.integers(min_value=1, max_value=40).map(lambda i: f"{100 + i}.5")
_SIZE = st.sampled_from(["0", "0.000", "1", "2.5", "3", "10.125", "1.0"])
_LEVELS = st.lists(st.tuples(_PRICE, _SIZE), max_size=8)
_OP = st.one_of(
    st.tuples(st.just("sides"), _LEVELS, _LEVELS),
    st.tuples(st.just("bid"), _LEVELS, st.just([])),
    st.tuples(st.just("ask"), _LEVELS, st.just([])),
    st.tuples(st.just("replace"), _LEVELS, _LEVELS),
    st.tuples(st.just("clear"), st.just([]), st.just([])),
    st.tuples(st.just("pickle"), st.just([]), st.just([])),
)


def _plain(book: L2Book, n: int) -> tuple[tuple[object, ...], tuple[object, ...]]:
    bids, asks = book.top_fixed(n)
    return tuple(bids), tuple(asks)


@settings(max_examples=400, deadline=None)
@given(
    ops=st.lists(st.tuples(_OP, st.booleans()), min_size=1, max_size=40),
    n=st.integers(min_value=0, max_value=12),
    window=st.integers(min_value=1, max_value=6),
)
def test_view_equals_plain_read_over_random_writes(
    ops: list[tuple[tuple[str, list[tuple[str, str]], list[tuple[str, str]]], bool]],
    n: int,
    window: int,
) -> None:
    # a tiny window so trims and refills happen between reads too (restored below)
    saved = L2Book.WINDOW
    L2Book.WINDOW = window
    try:
        _replay(ops, n)
    finally:
        L2Book.WINDOW = saved


def _replay(
    ops: list[tuple[tuple[str, list[tuple[str, str]], list[tuple[str, str]]], bool]], n: int
) -> None:
    book = L2Book()
    for (kind, a, b), read in ops:
        if kind == "sides":
            book.apply_sides(a, b)
        elif kind in ("bid", "ask"):
            book.apply_levels(kind, a)  # type: ignore[arg-type]
        elif kind == "replace":
            book.replace(a, b)
        elif kind == "clear":
            book.clear()
        else:
            book = pickle.loads(pickle.dumps(book))
        if read:
            assert book.top_fixed_view(n) == _plain(book, n)
    assert book.top_fixed_view(n) == _plain(book, n)
    # another depth on the same book is read afresh, not from the other depth's read
    assert book.top_fixed_view(n + 1) == _plain(book, n + 1)


def test_untouched_top_is_the_same_objects_and_a_size_write_is_patched_in() -> None:
    book = L2Book()
    book.apply_sides([("100", "1"), ("99", "2"), ("98", "3")], [("101", "1"), ("102", "2")])
    bids, asks = book.top_fixed_view(2)
    # a write past both edges (bid 98 is the third level, ask 103 is new beyond 102)
    book.apply_sides([("98", "5")], [("103", "1")])
    assert book.top_fixed_view(2) == (bids, asks)
    assert book.top_fixed_view(2)[0] is bids
    # a new size inside the top: patched, price integers unchanged
    book.apply_levels("bid", [("99", "4.5")])
    got = book.top_fixed_view(2)
    assert got == _plain(book, 2)
    assert got[0][1] == (99 * 10**18, 45 * 10**17)
    assert got[1] is asks
    # an insert and a removal inside the top: the read is updated in place, then trimmed
    book.apply_levels("ask", [("100.5", "1"), ("102", "0")])
    assert (
        book.top_fixed_view(2)
        == _plain(book, 2)
        == (
            ((100 * 10**18, 10**18), (99 * 10**18, 45 * 10**17)),
            ((1005 * 10**17, 10**18), (101 * 10**18, 10**18)),
        )
    )
