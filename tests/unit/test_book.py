"""L2Book: exact levels, best-first order, window refills, bad input, and merge invariants."""

from __future__ import annotations

import pickle
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.book import L2Book, fixed_levels, to_fixed, to_levels
from operators.errors import FeedError

D = Decimal


def test_levels_are_read_best_first_as_exact_decimals() -> None:
    book = L2Book()
    book.apply_levels("bid", [["100.10", "1.5"], ["100.30", "2"], ["99.00", "7"]])
    book.apply_levels("ask", [["101.00", "3"], ["100.50", "0.25"]])
    assert book.top(2) == (
        [(D("100.30"), D("2")), (D("100.10"), D("1.5"))],
        [(D("100.50"), D("0.25")), (D("101.00"), D("3"))],
    )
    assert book.best_bid() == (D("100.30"), D("2"))
    assert book.best_ask() == (D("100.50"), D("0.25"))
    assert len(book) == 5
    assert (book.bid_count, book.ask_count) == (3, 2)


def test_zero_size_removes_the_level_and_unknown_removal_is_a_no_op() -> None:
    book = L2Book()
    book.apply("bid", "10", "1")
    book.apply("bid", "10", "0.000")
    book.apply("bid", "11", "0")
    assert len(book) == 0
    assert book.best_bid() is None
    assert book.top(5) == ([], [])


def test_two_spellings_of_one_price_are_one_level_keeping_the_latest_strings() -> None:
    book = L2Book()
    book.apply("ask", "5.16", "1")
    book.apply("ask", "5.160", "2.0")
    assert book.ask_count == 1
    assert book.top_raw(1) == ([], [("5.160", "2.0")])


def test_decimal_arguments_are_accepted() -> None:
    book = L2Book()
    book.apply("bid", D("61837.63"), D("3.78826"))
    assert book.best_bid() == (D("61837.63"), D("3.78826"))


def test_crossed_book_is_reported_only_when_bid_reaches_ask() -> None:
    book = L2Book()
    book.apply("bid", "100", "1")
    book.apply("ask", "100.01", "1")
    assert book.is_crossed() is False
    book.apply("bid", "100.01", "1")
    assert book.is_crossed() is True


def test_clear_empties_both_sides() -> None:
    book = L2Book()
    book.replace([["1", "1"]], [["2", "1"]])
    book.clear()
    assert (len(book), book.best_bid(), book.best_ask()) == (0, None, None)


@pytest.mark.parametrize(
    "level",
    [["abc", "1"], ["1", "x"], ["nan", "1"], ["1", "inf"], ["0", "1"], ["-1", "1"], ["1", "-2"]],
)
def test_bad_level_raises_feed_error_naming_the_level(level: list[str]) -> None:
    book = L2Book()
    with pytest.raises(FeedError, match="bad bid level"):
        book.apply_levels("bid", [level])


def test_price_with_more_than_15_significant_digits_is_rejected() -> None:
    book = L2Book()
    with pytest.raises(FeedError, match="16 significant digits"):
        book.apply("ask", "1234567890.123456", "1")
    book.apply("ask", "000001234.500000000000", "1")  # long string, few significant digits
    assert book.best_ask() == (D("1234.5"), D("1"))


def test_unknown_side_is_rejected() -> None:
    with pytest.raises(FeedError, match="unknown book side"):
        L2Book().apply_levels("buy", [["1", "1"]])  # type: ignore[arg-type]


def test_top_refills_from_deep_levels_after_the_window_empties() -> None:
    book = L2Book()
    n = 5 * L2Book.WINDOW
    book.replace([[str(1000 - i), "1"] for i in range(n)], [[str(2000 + i), "1"] for i in range(n)])
    # Remove the whole sorted window and more; the best must come from the deep dict.
    book.apply_levels("bid", [[str(1000 - i), "0"] for i in range(3 * L2Book.WINDOW)])
    assert book.best_bid() == (D(1000 - 3 * L2Book.WINDOW), D(1))
    bids, asks = book.top(3)
    assert [p for p, _ in bids] == [D(1000 - 3 * L2Book.WINDOW - i) for i in range(3)]
    assert [p for p, _ in asks] == [D(2000), D(2001), D(2002)]
    assert len(book.levels("bid")) == 2 * L2Book.WINDOW


def test_book_survives_pickling_for_recovery_snapshots() -> None:
    book = L2Book()
    book.replace([["1.5", "2"]], [["1.6", "3"]])
    clone = pickle.loads(pickle.dumps(book))
    assert clone.top(1) == book.top(1)


def test_to_levels_keeps_order_and_exact_values() -> None:
    assert to_levels([["2.50", "1", "0", "3"], ["2.4", "0"]]) == (
        (D("2.50"), D(1)),
        (D("2.4"), D(0)),
    )


def test_apply_levels_reports_levels_in_out_with_zero_for_removals() -> None:
    book = L2Book()
    out: list[tuple[Decimal, Decimal]] = []
    assert book.apply_levels("ask", [["3.0", "1.0"], ["3.1", "0.000"]], out) == 2
    assert out == [(D("3.0"), D("1.0")), (D("3.1"), D(0))]


# -- property tests ----------------------------------------------------------------------------

prices = st.integers(min_value=1, max_value=3_000).map(lambda t: f"{t / 100:.2f}")
sizes = st.sampled_from(["0", "0.000", "1", "2.5", "0.001", "10"])
level_lists = st.lists(st.tuples(prices, sizes), max_size=60)


def _model_apply(model: dict[Decimal, Decimal], levels: list[tuple[str, str]]) -> None:
    for p, q in levels:
        if D(q) == 0:
            model.pop(D(p), None)
        else:
            model[D(p)] = D(q)


@settings(max_examples=150, deadline=None)
@given(
    snap_bids=level_lists,
    snap_asks=level_lists,
    diffs=st.lists(st.tuples(st.sampled_from(["bid", "ask"]), level_lists), max_size=8),
)
def test_snapshot_then_diffs_equals_applying_the_merged_levels(
    snap_bids: list[tuple[str, str]],
    snap_asks: list[tuple[str, str]],
    diffs: list[tuple[str, list[tuple[str, str]]]],
) -> None:
    book = L2Book()
    book.replace(
        [lv for lv in snap_bids if D(lv[1]) != 0], [lv for lv in snap_asks if D(lv[1]) != 0]
    )
    model = {"bid": {}, "ask": {}}  # type: dict[str, dict[Decimal, Decimal]]
    _model_apply(model["bid"], [lv for lv in snap_bids if D(lv[1]) != 0])
    _model_apply(model["ask"], [lv for lv in snap_asks if D(lv[1]) != 0])
    for side, levels in diffs:
        book.apply_levels(side, levels)  # type: ignore[arg-type]
        _model_apply(model[side], levels)
    assert book.levels("bid") == sorted(model["bid"].items(), reverse=True)
    assert book.levels("ask") == sorted(model["ask"].items())
    assert len(book) == len(model["bid"]) + len(model["ask"])


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(st.tuples(st.integers(1, 2_000), st.sampled_from(["0", "1"])), max_size=900))
def test_top_matches_a_full_sort_through_window_trims_and_refills(
    ops: list[tuple[int, str]],
) -> None:
    book = L2Book()
    model: dict[Decimal, Decimal] = {}
    for tick, q in ops:
        book.apply("ask", str(tick), q)
        _model_apply(model, [(str(tick), q)])
        if tick % 7 == 0:  # interleave reads so refills happen mid-stream
            assert book.best_ask() == (min(model.items()) if model else None)
    assert book.top(300)[1] == sorted(model.items())[:300]


def test_a_bad_level_anywhere_in_a_call_leaves_the_book_unchanged() -> None:
    book = L2Book()
    book.replace([["100", "1"]], [["101", "1"]])
    with pytest.raises(FeedError, match=r"bad bid level \['99', 'x'\]"):
        book.apply_levels("bid", [["100", "0"], ["99.5", "2"], ["99", "x"]])
    with pytest.raises(FeedError, match=r"bad ask level \['1e2', '1'\]"):
        book.apply_sides([["100", "0"]], [["1e2", "1"]])
    with pytest.raises(FeedError, match="bad ask level"):
        book.replace([["1", "1"]], [["2", "-1"]])
    assert book.top_raw(10) == ([("100", "1")], [("101", "1")])


@pytest.mark.parametrize("text", ["1e2", "1E2", "1_0", " 1", "1 ", "+1", "-0", "nan", "inf", "١"])
def test_strings_float_accepts_but_venues_never_send_are_refused(text: str) -> None:
    with pytest.raises(FeedError, match="bad bid level"):
        L2Book().apply_levels("bid", [["1", text]] if text not in ("nan", "inf") else [[text, "1"]])


def test_apply_sides_reports_both_sides_only_when_every_level_passed() -> None:
    book = L2Book()
    bids: list[tuple[Decimal, Decimal]] = []
    asks: list[tuple[Decimal, Decimal]] = []
    with pytest.raises(FeedError):
        book.apply_sides([["1", "1"]], [["2", "x"]], bids, asks)
    assert (bids, asks, len(book)) == ([], [], 0)
    book.apply_sides([["1", "1"]], [["2", "0"]], bids, asks)
    assert (bids, asks) == ([(D(1), D(1))], [(D(2), D(0))])


def test_to_fixed_is_the_exact_value_times_10_to_the_18() -> None:
    assert [to_fixed(s) for s in ("61837.63000000", "0.00000074528", "5", "7.", ".5")] == [
        61_837_630_000_000_000_000_000,
        745_280_000_000,
        5 * 10**18,
        7 * 10**18,
        5 * 10**17,
    ]
    assert fixed_levels([(D("99.90"), D(10)), ("1.5", "0")]) == (
        (99_900_000_000_000_000_000, 10 * 10**18),
        (1_500_000_000_000_000_000, 0),
    )


def test_level_with_more_than_18_decimals_is_refused_by_the_book() -> None:
    book = L2Book()
    with pytest.raises(FeedError, match=r"'1.0000000000000000001' has more than 18 decimals"):
        book.apply("ask", "1.0000000000000000001", "1")
    book.apply("ask", "1.000000000000000000000", "1")  # trailing zeros carry no value
    assert book.top_fixed(1) == ([], [(10**18, 10**18)])


def test_remembered_strings_are_checked_again_in_every_frame_they_come_back_in() -> None:
    # Decoder tuples take the memo path. "1e2" passes float() and the range check but never
    # the plain-string check, so it is never remembered and is refused every time; strings of
    # a refused call are not remembered either, and remembered sizes are still read exactly.
    book = L2Book()
    for _ in range(2):
        with pytest.raises(FeedError, match=r"bad bid level \('1e2', '1'\)"):
            book.apply_levels("bid", [("99", "2"), ("1e2", "1")])
        assert (len(book), book._bid_keys, book._sizes) == (0, {}, {})
    book.apply_levels("bid", [("99", "2"), ("98", "2")])
    assert book._bid_keys == {"99": -99.0, "98": -98.0} and book._sizes == {"2": 2.0}
    book.apply_levels("bid", [("99", "0"), ("97", "2"), ("98", "2.0")])
    assert book.top(5)[0] == [(D("98"), D("2.0")), (D("97"), D("2"))]
    with pytest.raises(FeedError, match="bad ask level"):  # a remembered bid price, not an ask
        book.apply_levels("ask", [("98", "x")])
    assert book.top_raw(5) == ([("98", "2.0"), ("97", "2")], [])


def test_memos_are_bounded_and_never_pickled() -> None:
    book = L2Book()
    n = 3 * 4096
    for i in range(0, n, 512):
        book.apply_levels("ask", [(f"{1000 + j}.5", f"{j}.25") for j in range(i, i + 512)])
    assert book.ask_count == n
    assert 0 < len(book._ask_keys) <= 4096 + 512 and 0 < len(book._sizes) <= 4096 + 512
    clone = pickle.loads(pickle.dumps(book))
    assert (clone._ask_keys, clone._sizes) == ({}, {})
    assert clone.top(3) == book.top(3) and clone.ask_count == n
    clone.apply_levels("ask", [("1000.5", "0")])
    assert clone.top(1)[1] == [(D("1001.5"), D("1.25"))]


def test_wide_levels_use_the_memos_but_keep_a_copy_and_check_every_extra_field() -> None:
    # OKX-style [px, sz, liquidated, orders] lists: the memos fill as for decoder tuples, the
    # book holds its own (px, sz) tuple, and an extra field that is not plain refuses the call.
    book = L2Book()
    level = ["100.5", "2", "0", "3"]
    book.apply_levels("bid", [level, ["100.4", "0", "0", "0"]])
    level[1] = "999"  # the caller's list is not the book's level
    assert book.top_raw(5) == ([("100.5", "2")], [])
    assert book._bid_keys == {"100.5": -100.5, "100.4": -100.4}
    assert book._sizes == {"2": 2.0, "0": 0.0}
    with pytest.raises(FeedError, match=r"bad bid level \['100.5', '0', '0', '1e2'\]"):
        book.apply_levels("bid", [["100.5", "0", "0", "1e2"]])
    with pytest.raises(FeedError, match=r"bad bid level \['100.3'\]"):
        book.apply_levels("bid", [["100.3", "1"], ["100.3"]])
    assert book.top_raw(5) == ([("100.5", "2")], [])


long_or_short_prices = st.tuples(prices, st.booleans()).map(
    lambda t: t[0].zfill(18) if t[1] else t[0]  # > 16 characters: the checked two-pass path
)
frame_levels = st.lists(st.tuples(long_or_short_prices, sizes), max_size=100)
BAD_LEVELS = [("1e2", "1"), ("5.00", "x"), ("5.00", "-1"), ("nan", "1"), ("5", "1", "x")]
frames = st.lists(
    st.tuples(
        frame_levels,
        frame_levels,
        st.sampled_from([None, None, "bid", "ask"]),  # where to plant a bad level, if anywhere
        st.integers(0, 100),
        st.sampled_from(BAD_LEVELS),
    ),
    max_size=10,
)


@settings(max_examples=60, deadline=None)
@given(frames=frames, reads=st.lists(st.integers(1, 300), min_size=10, max_size=10))
def test_decoder_tuple_frames_equal_the_model_and_a_bad_frame_changes_nothing(
    frames: list[tuple[list[tuple[str, str]], list[tuple[str, str]], str | None, int, tuple]],
    reads: list[int],
) -> None:
    # apply_sides with (price, size) tuples writes in one pass with an undo log: a frame either
    # lands whole (as the model says) or, with a bad level anywhere, leaves the book as it was.
    book = L2Book()
    model = {"bid": {}, "ask": {}}  # type: dict[str, dict[Decimal, Decimal]]
    for (bids, asks, bad_side, at, bad), n in zip(frames, reads, strict=False):
        bids, asks = list(bids), list(asks)
        if bad_side is not None:
            target = bids if bad_side == "bid" else asks
            target.insert(min(at, len(target)), bad)
        before = (book.top_raw(400), book.top_fixed(n), book.top(n))
        try:
            book.apply_sides(bids, asks)
        except FeedError:
            assert bad_side is not None
            assert (book.top_raw(400), book.top_fixed(n), book.top(n)) == before
            continue
        assert bad_side is None
        _model_apply(model["bid"], bids)
        _model_apply(model["ask"], asks)
        assert book.top(n) == (
            sorted(model["bid"].items(), reverse=True)[:n],
            sorted(model["ask"].items())[:n],
        )
        assert book.is_crossed() == bool(
            model["bid"] and model["ask"] and max(model["bid"]) >= min(model["ask"])
        )
    assert book.levels("bid") == sorted(model["bid"].items(), reverse=True)
    assert book.levels("ask") == sorted(model["ask"].items())
