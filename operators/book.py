"""The shared L2 order book: exact levels, fast updates, best-first reads.

Why this shape: a depth frame touches ~20-60 levels of a book that may hold 5,000, so the hot path
must avoid building a `Decimal` per level. Each level keeps the venue's own price and size strings
(exact, and what OKX's checksum needs) and is ordered by a float sort key. The float key is exact
for ordering and identity as long as the price has at most 15 significant digits: IEEE-754 doubles
round-trip every such decimal (DBL_DIG = 15) and rounding is monotone, so two distinct prices get
two distinct keys in the right order, and two spellings of one price ("5.16", "5.160") share a key.
Longer prices are checked digit by digit and rejected with `FeedError` rather than risk a merge.
`Decimal`s are built only when a caller reads levels (`top`, `best_bid`, `levels`).

Pure: no I/O, no clock, no globals. Picklable, so Bytewax recovery can snapshot it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from itertools import islice
from typing import Literal

from sortedcontainers import SortedList

from operators.errors import FeedError
from operators.events import Level

BookSide = Literal["bid", "ask"]
RawLevel = tuple[str, str]
"""One level as the venue spelled it: (price string, size string)."""

_MAX_SHORT = 16
"""A price string of at most 16 characters cannot carry more than 15 significant digits."""
_MAX_SIG_DIGITS = 15


def _check_wide_price(price: str) -> None:
    """Reject a price whose significant digits exceed what a float key orders exactly."""
    mantissa = price.lstrip("+-").split("e")[0].split("E")[0].replace(".", "")
    digits = mantissa.strip("0")
    if len(digits) > _MAX_SIG_DIGITS:
        raise FeedError(
            f"price {price!r} has {len(digits)} significant digits; at most "
            f"{_MAX_SIG_DIGITS} are supported exactly"
        )


def _as_str(value: str | Decimal) -> str:
    return value if isinstance(value, str) else str(value)


class L2Book:
    """Price-level book: per side a dict key -> (price str, size str) and a sorted key list.

    Bid keys are the negated price so both sides sort ascending with the best level first.
    """

    __slots__ = ("_ask_keys", "_asks", "_bid_keys", "_bids")

    def __init__(self) -> None:
        self._bids: dict[float, RawLevel] = {}
        self._asks: dict[float, RawLevel] = {}
        self._bid_keys: SortedList = SortedList()
        self._ask_keys: SortedList = SortedList()

    # -- writes -------------------------------------------------------------------------------

    def clear(self) -> None:
        """Remove every level of both sides."""
        self._bids = {}
        self._asks = {}
        self._bid_keys = SortedList()
        self._ask_keys = SortedList()

    def apply(self, side: BookSide, price: str | Decimal, qty: str | Decimal) -> None:
        """Set one level (price, size in venue units); size 0 removes the level."""
        self.apply_levels(side, ((_as_str(price), _as_str(qty)),))

    def apply_levels(self, side: BookSide, levels: Iterable[Sequence[str]]) -> int:
        """Set many levels given as venue strings `[price, size, ...]`; returns how many were set.

        Extra fields after the size (OKX order counts) are ignored. Raises `FeedError` on a price
        or size that is not a finite non-negative decimal; levels before it are already applied.
        """
        if side == "bid":
            book, keys, sign = self._bids, self._bid_keys, -1.0
        elif side == "ask":
            book, keys, sign = self._asks, self._ask_keys, 1.0
        else:
            raise FeedError(f"unknown book side {side!r} (expected 'bid' or 'ask')")
        n = 0
        level: Sequence[str] | None = None
        try:
            for level in levels:
                p = level[0]
                q = level[1]
                k = sign * float(p)
                if len(p) > _MAX_SHORT:
                    _check_wide_price(p)
                qf = float(q)
                # `x - x != 0` is true exactly for nan and +-inf.
                if qf < 0.0 or qf - qf != 0.0 or k - k != 0.0:
                    raise ValueError("not a finite non-negative number")
                if qf == 0.0:
                    if book.pop(k, None) is not None:
                        keys.remove(k)
                else:
                    if k not in book:
                        keys.add(k)
                    book[k] = (p, q)
                n += 1
        except (ValueError, TypeError, IndexError) as exc:
            raise FeedError(f"bad {side} level {level!r}: {exc}") from exc
        return n

    def replace(self, bids: Iterable[Sequence[str]], asks: Iterable[Sequence[str]]) -> None:
        """Reset the book to exactly these levels (a snapshot), venue strings `[price, size]`."""
        self.clear()
        self.apply_levels("bid", bids)
        self.apply_levels("ask", asks)

    # -- reads --------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Number of levels on both sides."""
        return len(self._bids) + len(self._asks)

    @property
    def bid_count(self) -> int:
        """Number of bid levels."""
        return len(self._bids)

    @property
    def ask_count(self) -> int:
        """Number of ask levels."""
        return len(self._asks)

    def best_bid(self) -> Level | None:
        """Highest bid as (price, qty) Decimals, or None when the side is empty."""
        if not self._bid_keys:
            return None
        p, q = self._bids[self._bid_keys[0]]
        return Decimal(p), Decimal(q)

    def best_ask(self) -> Level | None:
        """Lowest ask as (price, qty) Decimals, or None when the side is empty."""
        if not self._ask_keys:
            return None
        p, q = self._asks[self._ask_keys[0]]
        return Decimal(p), Decimal(q)

    def is_crossed(self) -> bool:
        """True when best bid >= best ask (both sides non-empty)."""
        if not self._bid_keys or not self._ask_keys:
            return False
        return bool(-self._bid_keys[0] >= self._ask_keys[0])

    def top_raw(self, n: int) -> tuple[list[RawLevel], list[RawLevel]]:
        """Best `n` levels per side as the venue's own strings, best first."""
        bids, asks = self._bids, self._asks
        return (
            [bids[k] for k in islice(self._bid_keys, n)],
            [asks[k] for k in islice(self._ask_keys, n)],
        )

    def top(self, n: int) -> tuple[list[Level], list[Level]]:
        """Best `n` levels per side as (price, qty) Decimals, best first."""
        raw_bids, raw_asks = self.top_raw(n)
        return (
            [(Decimal(p), Decimal(q)) for p, q in raw_bids],
            [(Decimal(p), Decimal(q)) for p, q in raw_asks],
        )

    def levels(self, side: BookSide) -> list[Level]:
        """Every level of one side as (price, qty) Decimals, best first."""
        if side == "bid":
            return self.top(len(self._bids))[0]
        if side == "ask":
            return self.top(len(self._asks))[1]
        raise FeedError(f"unknown book side {side!r} (expected 'bid' or 'ask')")


def to_levels(raw: Iterable[Sequence[str]]) -> tuple[Level, ...]:
    """Venue strings `[price, size, ...]` -> (price, qty) Decimal levels, in the given order."""
    return tuple((Decimal(lv[0]), Decimal(lv[1])) for lv in raw)
