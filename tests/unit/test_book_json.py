"""L2Book.apply_json (levels as a frame's JSON text) is apply_sides on the decoded strings.

The C path (`_plan_json`) reads a side's JSON text with msgspec; everything it does not accept
outright goes to the rule (`_plan_levels`) on the decoded strings. These tests hold the two
entry points to the same books, the same errors and the same unchanged book on a bad frame,
over strings the venues send, other spellings of the same values, strings only the rule takes
("05", "5.", ".5", long ones) and strings the rule refuses.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.book import L2Book
from operators.errors import FeedError

D = Decimal

ticks = st.integers(min_value=1, max_value=400)
venue_prices = ticks.map(lambda t: f"{60000 + t / 100:.8f}")  # Binance: "60000.01000000"
json_prices = st.one_of(
    venue_prices,
    ticks.map(lambda t: f"{60000 + t / 100:.2f}"),  # another spelling of the same value
    ticks.map(lambda t: f"{60000 + t / 100:.2f}".rstrip("0").rstrip(".")),
    ticks.map(lambda t: f"{t / 100:.2f}"),  # "0.05": the one leading zero JSON allows
    st.floats(min_value=1e-6, max_value=1e9).map(lambda x: repr(x)[:16]),  # hard roundings
    st.from_regex(r"[1-9][0-9]{0,5}\.[0-9]{1,9}", fullmatch=True),
)
rule_prices = st.one_of(
    ticks.map(lambda t: f"0{60000 + t / 100:.2f}"),  # "060000.01": not JSON, the rule's
    ticks.map(lambda t: f"{60000 + t}."),  # "60001.": not JSON, the rule's
    ticks.map(lambda t: f".{t}"),  # ".5"
    ticks.map(lambda t: f"{60000 + t / 100:.12f}"),  # 18 characters: the long-string checks
)
json_sizes = st.sampled_from(
    ["0.00000000", "0", "0.0", "1.00000000", "0.05030000", "12.5", "0.00017000", "7"]
)
rule_sizes = st.sampled_from([".5", "5.", "00", "0.000000000000000001"])
BAD = [
    "1e2", "-1", " 1", "1 ", "", ".", "nan", "inf", "١", "1.2.3", "1,2", "1[", "[1", "1]",
    '1"', "1\\", "+1", "1" * 41, "0", "0.000", "1234567890.123456",
]  # fmt: skip
"""Strings the rule refuses somewhere (zero only as a price; a 41-digit size; 16 digits)."""

json_level = st.tuples(st.one_of(venue_prices, venue_prices, json_prices), json_sizes)
rule_level = st.tuples(st.one_of(json_prices, rule_prices), st.one_of(json_sizes, rule_sizes))
bad_level = st.one_of(
    st.tuples(st.sampled_from(BAD), json_sizes),
    st.tuples(venue_prices, st.sampled_from([b for b in BAD if b not in ("0", "0.000")])),
)
side_levels = st.one_of(
    st.lists(json_level, max_size=40),  # what venues send: the C path
    st.lists(st.one_of(*[json_level] * 6, rule_level, bad_level), max_size=40),
)


def _state(book: L2Book) -> tuple[Any, ...]:
    return (book._bids, book._asks, book._bid_win, book._ask_win, book.top_fixed_view(20))


def _text(levels: list[tuple[str, ...]], compact: bool) -> bytes:
    # Compact is how venues send frames (the C path); spaces send every call to the rule.
    return json.dumps(levels, separators=(",", ":") if compact else (", ", ": ")).encode()


@settings(max_examples=200, deadline=None)
@given(frames=st.lists(st.tuples(side_levels, side_levels, st.booleans()), max_size=12))
def test_json_text_gives_the_book_and_errors_of_apply_sides_on_the_same_strings(
    frames: list[tuple[list[tuple[str, str]], list[tuple[str, str]], bool]],
) -> None:
    ours, rule = L2Book(), L2Book()
    for bids, asks, compact in frames:
        before = _state(ours)
        try:
            rule.apply_sides(bids, asks)
        except FeedError as exc:
            with pytest.raises(FeedError) as got:
                ours.apply_json(_text(bids, compact), _text(asks, compact))
            assert str(got.value) == str(exc)  # the same level named, the same reason
            assert _state(ours) == before
            continue
        assert ours.apply_json(_text(bids, compact), _text(asks, compact)) == (
            tuple(bids),
            tuple(asks),
        )
        # Same float keys (msgspec's and float()'s roundings agree), same strings, same order.
        assert _state(ours) == _state(rule)
        assert ours.top(50) == rule.top(50)


okx_level = st.tuples(
    json_prices, json_sizes, st.sampled_from(["0", "3", "0", "12", "", "1.5.1", "x", "05"])
).map(lambda t: (t[0], t[1], "0", t[2]))


@settings(max_examples=100, deadline=None)
@given(frames=st.lists(st.tuples(*[st.lists(okx_level, max_size=25)] * 2), max_size=8))
def test_four_field_levels_store_price_and_size_and_check_the_counts_like_the_rule(
    frames: list[tuple[list[tuple[str, ...]], list[tuple[str, ...]]]],
) -> None:
    ours, rule = L2Book(), L2Book()
    for bids, asks in frames:
        before = _state(ours)
        try:
            rule.apply_sides(bids, asks)
        except FeedError as exc:
            with pytest.raises(FeedError) as got:
                ours.apply_json(_text(bids, True), _text(asks, True), fields=4)
            assert str(got.value) == str(exc)
            assert _state(ours) == before
            continue
        assert ours.apply_json(_text(bids, True), _text(asks, True), fields=4) == (
            tuple(bids),
            tuple(asks),
        )
        assert _state(ours) == _state(rule)
        assert all(len(raw) == 2 for raw in (*ours._bids.values(), *ours._asks.values()))


def test_text_that_is_not_levels_of_strings_is_a_feed_error_naming_the_side_and_path() -> None:
    book = L2Book()
    book.apply_json(b'[["100.5","1"]]', b'[["101.5","2"]]')
    before = _state(book)
    cases = [
        (b'"100.2"', b"[]", r"bid levels are not arrays .* got `str`"),
        (b"[]", b'[["100.9",1]]', r"ask levels are not arrays .* at `\$\[0\]\[1\]`"),
        (b'[["100.9","1","2"]]', b"[]", r"bid levels .* at `\$\[0\]`"),
        (b"[", b"[]", "bid levels are not arrays"),
        (b'[["100.1","0"]]', b'[{"p":"1"}]', r"ask levels .* at `\$\[0\]`"),
    ]
    for bids, asks, reason in cases:
        with pytest.raises(FeedError, match=reason):
            book.apply_json(bids, asks)
        assert _state(book) == before


def test_a_bad_level_on_either_side_leaves_the_other_sides_valid_levels_unwritten() -> None:
    book = L2Book()
    book.apply_json(b'[["100.5","1"]]', b'[["101.5","2"]]')
    before = _state(book)
    with pytest.raises(FeedError, match=r"bad ask level \('101.7', '1e2'\)"):
        book.apply_json(b'[["100.6","3"],["100.5","0"]]', b'[["101.6","1"],["101.7","1e2"]]')
    assert _state(book) == before
    # '-' goes before each bid price in the C path: a '[' closing a value is refused, not read
    with pytest.raises(FeedError, match=r"bad bid level \('100\[', '1'\)"):
        book.apply_json(b'[["100.6","3"],["100[","1"]]', b"[]")
    assert _state(book) == before


def test_removals_and_spellings_land_as_with_apply_sides() -> None:
    book = L2Book()
    book.apply_json(b'[["100.50","1"],["100.4","2"]]', b'[["101.5","2"],["101.6","4"]]')
    bids, asks = book.apply_json(b'[["100.5","3"],["100.4","0.000"]]', b'[["101.60","0"]]')
    assert (bids, asks) == ((("100.5", "3"), ("100.4", "0.000")), (("101.60", "0"),))
    assert book.top(5) == ([(D("100.5"), D("3"))], [(D("101.5"), D("2"))])
    assert book.top_raw(5) == ([("100.5", "3")], [("101.5", "2")])


def test_out_lists_get_the_levels_as_decimals_with_zero_for_removals() -> None:
    book = L2Book()
    out_bids: list[tuple[Decimal, Decimal]] = []
    out_asks: list[tuple[Decimal, Decimal]] = []
    book.apply_json(
        b'[["100.5","1","0","2"],["100.4","0.00","0","0"]]', b"[]", out_bids, out_asks, fields=4
    )
    assert out_bids == [(D("100.5"), D("1")), (D("100.4"), D(0))]
    assert out_asks == []
