"""`BookSide.levels` answers from the ladder derived at decode while no fixed order has expired,
and is the same ladder, order for order, as aggregating the live orders at that time."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from operators.clob import BookSide, OpenBookLeaf


def _leaf(price_lots: int, qty: int, ts: int = 0, tif: int = 0) -> OpenBookLeaf:
    return OpenBookLeaf(key=price_lots << 64, quantity=qty, timestamp=ts, time_in_force=tif)


def _brute_force(side: BookSide, now_ts: int | None) -> list[tuple[int, int]]:
    by_price: dict[int, int] = {}
    for leaf in side.fixed:
        if now_ts is not None and leaf.is_expired(now_ts):
            continue
        by_price[leaf.price_data] = by_price.get(leaf.price_data, 0) + leaf.quantity
    return sorted(by_price.items(), reverse=side.side == "bids")


def test_the_derived_ladder_holds_until_the_first_expiry_then_levels_drop_the_expired() -> None:
    side = BookSide("bids", (_leaf(150, 3, 1_000, 60), _leaf(150, 2), _leaf(149, 4, 900, 200)), ())
    assert side.fixed_ladder == ((150, 5), (149, 4))
    assert side.fixed_live_until_ts == 1_060
    assert side.levels(1_059) == [(150, 5), (149, 4)]
    assert side.levels(1_060) == [(150, 2), (149, 4)]
    assert side.levels(1_100) == [(150, 2)]
    assert side.levels() == [(150, 5), (149, 4)]


def test_a_side_without_expiring_orders_never_recomputes_and_an_empty_side_is_empty() -> None:
    side = BookSide("asks", (_leaf(101, 1), _leaf(100, 2)), ())
    assert side.fixed_live_until_ts is None
    assert side.levels(10**12) == [(100, 2), (101, 1)]
    empty = BookSide("asks", (), ())
    assert (empty.fixed_ladder, empty.fixed_live_until_ts, empty.levels(5)) == ((), None, [])


def test_the_derived_fields_stay_out_of_equality() -> None:
    a = BookSide("asks", (_leaf(100, 2),), ())
    assert a == BookSide("asks", (_leaf(100, 2),), ())


@given(
    st.sampled_from(["bids", "asks"]),
    st.lists(
        st.tuples(
            st.integers(1, 20),
            st.integers(1, 1_000),
            st.integers(0, 2_000),
            st.sampled_from([0, 0, 1, 30, 600]),
        ),
        max_size=12,
    ),
    st.one_of(st.none(), st.integers(0, 3_000)),
)
def test_levels_equal_aggregating_the_orders_live_at_now(
    kind: str, orders: list[tuple[int, int, int, int]], now_ts: int | None
) -> None:
    side = BookSide(kind, tuple(_leaf(p, q, ts, tif) for p, q, ts, tif in orders), ())  # type: ignore[arg-type]
    assert side.levels(now_ts) == _brute_force(side, now_ts)
