"""The shared L2 order book: exact levels, fast updates, best-first reads.

Why this shape: a depth frame touches ~20-60 levels of a book that may hold 5,000, so the hot path
must avoid building a `Decimal` per level. Each level keeps the venue's own price and size strings
(exact, and what OKX's checksum needs) and is ordered by a float sort key. The float key is exact
for ordering and identity as long as the price has at most 15 significant digits: IEEE-754 doubles
round-trip every such decimal (DBL_DIG = 15) and rounding is monotone, so two distinct prices get
two distinct keys in the right order, and two spellings of one price ("5.16", "5.160") share a key.
Longer prices are checked digit by digit and rejected with `FeedError` rather than risk a merge.

Only plain decimal strings get in (ASCII digits and one dot, <= 40 characters, <= 18 decimals),
and a frame's levels are all checked, both sides, before any is written (`apply_sides`): a bad
level leaves the book as it was. The pricing path reads `top_fixed` (price and size times 10**18
as ints, exact); `Decimal`s are built only for human edges (`top`, `best_bid`, `levels`, the
events' levels). Both reads are memoised per level (`_fixed`, `_decimals`): a view of the top 50
levels per frame converts only the levels that frame changed. The CEX views read
`top_fixed_view`: each side's last top-n read is kept up to date by the writes at or before
its n-th key (`_TopRead`), so a read after a frame that wrote only deeper levels costs nothing
and one after a few in-window writes does not walk all n levels again.

The venue codecs hand a frame's levels over as its JSON text (`apply_json`): checking and
converting each level's strings in Python was most of a depth frame's cost, so `_plan_json` has
msgspec read a whole side in C, once as strings (what the book stores) and once as numbers (the
keys and sizes), and takes only texts whose every string the rule would accept with the same
value; anything else goes to the rule. Levels given as Python sequences (`apply_sides`, REST
bodies, tests) use per-string memos instead: a side remembers the key of each price string it
checked, the book the value of each size string (each cleared past 4,096; not pickled), so
levels seen before skip `float()` and their checks (`_plan` for (price, size) tuples,
`_plan_wide` for `[px, sz, ...]` lists). The rule itself, and every error, is `_plan_levels`.

Pure: no I/O, no clock, no globals. Picklable, so Bytewax recovery can snapshot it.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence
from decimal import Decimal
from itertools import chain
from operator import itemgetter
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from operators.errors import FeedError
from operators.events import FIXED_SCALE, FixedLevel, Level

BookSide = Literal["bid", "ask"]
RawLevel = tuple[str, str]
"""One level as the venue spelled it: (price string, size string)."""

_MAX_SHORT = 16
"""A price string of at most 16 characters cannot carry more than 15 significant digits."""
_MAX_SIG_DIGITS = 15
_FIXED_DECIMALS = len(str(FIXED_SCALE)) - 1
"""Decimals a level may carry (18): `to_fixed` is exact up to there."""
_POW10 = tuple(10 ** (_FIXED_DECIMALS - n) for n in range(_FIXED_DECIMALS + 1))
"""10**(18 - n): the scale of a decimal string with n decimals."""
_MAX_NUMBER_CHARS = 40
"""Longest price or size string accepted (venues send at most ~20 characters)."""
_INF = float("inf")
_ZERO = Decimal(0)
"""Size of a removed level in delta events (the venue's zero spelling carries no information)."""
_DEC_CACHE_MAX = 512
"""Decimal levels remembered per side; past this the memo is dropped (removed levels leave
entries behind, so the bound keeps it from growing with the book's history)."""
DecLevel = tuple[RawLevel, Level]
"""A memo entry: the exact raw level object a Decimal level was built from, and that level."""
FixLevel = tuple[RawLevel, FixedLevel]
"""A memo entry of `top_fixed`: the raw level object and its integer level."""
_Plan = tuple[Sequence[tuple[float, float]], Sequence[RawLevel]]
"""Checked levels ready to write: (key, size value) per level, and at the same index the
(price str, size str) level to store. A size value of 0.0 removes the level."""
_MEMO_MAX = 4096
"""Strings a book's key and size memos each hold; past this a memo is dropped and rebuilt."""
_MEMOS = frozenset({"_bid_keys", "_ask_keys", "_sizes", "_size_ints", "_bid_view", "_ask_view"})
"""`L2Book` slots that only cache (string checks, size integers, the last top reads): not part
of its state (see `__getstate__`)."""
_KEY = itemgetter(0)
FixedView = tuple[FixedLevel, ...]

JsonText = bytes | msgspec.Raw
"""One side's levels as a frame's JSON text, e.g. a decoder's `msgspec.Raw` field."""
JsonLevels = tuple[tuple[str, ...], ...]
"""A side's levels decoded from JSON text: string tuples, price and size first."""
_JSON_LEVEL_BYTES = b'0123456789.,[]"'
"""The only bytes `_plan_json`'s C path accepts in a side's JSON text."""
_PRICE_SIZE = itemgetter(0, 1)
_Short = Annotated[str, Meta(min_length=1, max_length=_MAX_SHORT)]
_Ask = Annotated[float, Meta(gt=0.0)]
_Bid = Annotated[float, Meta(lt=0.0)]


class _LevelShape:
    """The decoders `_plan_json` reads one level shape with (2 fields, or OKX's 4).

    `strings`: levels of 1..16-character strings (the C path); `asks` / `bids`: the same text
    as numbers (strict=False reads a JSON string as a number, in full, or fails), the price
    > 0 (asks) or < 0 (bids, once negated); `any`: the schema the venue allows, for the rule.
    """

    __slots__ = ("any", "asks", "bids", "strings")

    def __init__(self, fields: Literal[2, 4]) -> None:
        if fields == 2:
            self.strings: msgspec.json.Decoder[JsonLevels] = msgspec.json.Decoder(
                tuple[tuple[_Short, _Short], ...]
            )
            self.asks: msgspec.json.Decoder[list[tuple[float, ...]]] = msgspec.json.Decoder(
                list[tuple[_Ask, float]], strict=False
            )
            self.bids: msgspec.json.Decoder[list[tuple[float, ...]]] = msgspec.json.Decoder(
                list[tuple[_Bid, float]], strict=False
            )
            self.any: msgspec.json.Decoder[JsonLevels] = msgspec.json.Decoder(
                tuple[tuple[str, str], ...]
            )
        else:
            # OKX: [px, sz, liquidated orders, orders]; the counts are checked as numbers too
            self.strings = msgspec.json.Decoder(tuple[tuple[_Short, _Short, str, str], ...])
            self.asks = msgspec.json.Decoder(list[tuple[_Ask, float, float, float]], strict=False)
            self.bids = msgspec.json.Decoder(list[tuple[_Bid, float, float, float]], strict=False)
            self.any = msgspec.json.Decoder(
                tuple[Annotated[tuple[str, ...], Meta(min_length=2, max_length=8)], ...]
            )


_SHAPES = {2: _LevelShape(2), 4: _LevelShape(4)}
_NO_PLAN: _Plan = ((), ())


class _TopRead:
    """A side's last `top_fixed_view` read, kept equal to the book as writes arrive.

    Invariant: `keys` are exactly the side's keys <= `edge`, sorted (best first), and `levels`
    their integer levels; `edge` is the read's `n`-th key, +inf when the side held fewer than
    `n` levels, -inf for n = 0. `out` is `levels` as the tuple last handed out (None: rebuild).
    `L2Book._commit` keeps it as it writes the book (`_commit_top`).
    """

    __slots__ = ("edge", "keys", "levels", "n", "out")

    def __init__(self, n: int, keys: list[float], levels: list[FixedLevel], out: FixedView) -> None:
        self.n = n
        self.keys = keys
        self.levels = levels
        # n == 0: nothing can change an empty read; fewer than n levels: any write can
        self.edge = (keys[-1] if n else -_INF) if len(keys) == n else _INF
        self.out: FixedView | None = out


def _check_long(price: str, size: str) -> None:
    """The rare path of `_plan`: a price or size string longer than `_MAX_SHORT` characters.

    Only a string this long can carry more than 18 decimals (what `to_fixed` holds exactly).
    """
    if len(size) > _MAX_NUMBER_CHARS:
        raise ValueError(f"size longer than {_MAX_NUMBER_CHARS} characters")
    for text in (price, size):
        if len(text.partition(".")[2].rstrip("0")) > _FIXED_DECIMALS:
            raise ValueError(f"{text!r} has more than {_FIXED_DECIMALS} decimals")
    if len(price) > _MAX_SHORT:
        _check_wide_price(price)


def to_fixed(text: str) -> int:
    """A plain venue decimal string ("61837.63000000") -> its value times 10**18, exactly.

    The caller guarantees a checked string (digits, one dot, <= 18 decimals: `L2Book` only
    holds such strings).
    """
    whole, _, frac = text.partition(".")
    n = len(frac)
    digits = whole + frac
    if n <= _FIXED_DECIMALS and digits.isdigit():
        # the common case: one int() of the digits, scaled by a cached power of ten
        return int(digits) * _POW10[n]
    if n > _FIXED_DECIMALS:
        frac = frac.rstrip("0")
    return int(whole + frac.ljust(_FIXED_DECIMALS, "0"))


def fixed_levels(levels: Iterable[Sequence[str | Decimal]]) -> tuple[FixedLevel, ...]:
    """(price, size) pairs (venue strings or Decimals) -> (price_e18, size_e18) integers."""
    return tuple((to_fixed(_as_str(lv[0])), to_fixed(_as_str(lv[1]))) for lv in levels)


def _check_wide_price(price: str) -> None:
    """Reject a price whose significant digits exceed what a float key orders exactly."""
    if len(price) > _MAX_NUMBER_CHARS:
        raise ValueError(f"price longer than {_MAX_NUMBER_CHARS} characters")
    mantissa = price.lstrip("+-").split("e")[0].split("E")[0].replace(".", "")
    digits = mantissa.strip("0")
    if len(digits) > _MAX_SIG_DIGITS:
        raise FeedError(
            f"price {price!r} has {len(digits)} significant digits; at most "
            f"{_MAX_SIG_DIGITS} are supported exactly"
        )


def _as_str(value: str | Decimal) -> str:
    # Fixed-point, never "1E+2": venue strings have no exponent and the check refuses one.
    return value if isinstance(value, str) else format(value, "f")


_PLAIN = b"0123456789."


def first_not_plain(strings: Sequence[str]) -> str | None:
    """The first string that is not ASCII digits and dots only, or None when all are.

    Why: `float()` and `Decimal()` also accept "1e400", "1_0", " 5", "+5", "-0", "nan" and
    non-ASCII digits; the venues send none of these, and an exponent can make a later exact
    conversion allocate without bound. One pass over the joined strings keeps the common case
    cheap; the caller's `float()` has already refused "", "." and "1.2.3".
    """
    joined = "".join(strings)
    if joined.isascii() and not joined.encode().translate(None, _PLAIN):
        return None
    for s in strings:
        if not (s.isascii() and not s.encode().translate(None, _PLAIN)):
            return s
    return None  # unreachable: the joined string failed, so one part does


class L2Book:
    """Price-level book: per side a dict key -> (price str, size str) plus a sorted top window.

    Keys are float prices, negated for bids, so both sides sort ascending with the best first.
    Why a window rather than a fully sorted index: most diff levels land deep in the book, where
    only the dict needs to change (O(1)). Each side keeps `window` = every key <= `bound`, sorted;
    keys beyond `bound` live only in the dict. The window is refilled from the dict when reads
    need more levels than it holds (rare: the top must move by ~`WINDOW` levels first).
    """

    WINDOW = 128
    """Levels kept sorted per side after a refill; it may grow to 2x before being trimmed."""

    __slots__ = (
        "_ask_bound",
        "_ask_dec",
        "_ask_fix",
        "_ask_keys",
        "_ask_view",
        "_ask_win",
        "_asks",
        "_bid_bound",
        "_bid_dec",
        "_bid_fix",
        "_bid_keys",
        "_bid_view",
        "_bid_win",
        "_bids",
        "_size_ints",
        "_sizes",
    )

    def __init__(self) -> None:
        self._bids: dict[float, RawLevel] = {}
        self._asks: dict[float, RawLevel] = {}
        self._bid_win: list[float] = []
        self._ask_win: list[float] = []
        # inf: the window holds every key of the side.
        self._bid_bound = _INF
        self._ask_bound = _INF
        # key -> (raw level, its Decimal level); valid only while `raw` IS the level in the book.
        self._bid_dec: dict[float, DecLevel] = {}
        self._ask_dec: dict[float, DecLevel] = {}
        self._bid_fix: dict[float, FixLevel] = {}
        self._ask_fix: dict[float, FixLevel] = {}
        # Strings `_plan` checked before: price -> key per side, size -> its float value.
        self._bid_keys: dict[str, float] = {}
        self._ask_keys: dict[str, float] = {}
        self._sizes: dict[str, float] = {}
        # Level string (size, or a price entering the top) -> its `to_fixed` integer (reads:
        # `_fixed`, `top_fixed_view`; one value per string, whichever field it came from).
        self._size_ints: dict[str, int] = {}
        # The last `top_fixed_view` read per side, dropped by any write at or above its edge.
        self._bid_view: _TopRead | None = None
        self._ask_view: _TopRead | None = None

    def __getstate__(self) -> dict[str, object]:
        """The levels and views, without `_plan`'s string memos (a cache, rebuilt on use)."""
        return {name: getattr(self, name) for name in self.__slots__ if name not in _MEMOS}

    def __setstate__(self, state: dict[str, object]) -> None:
        for name, value in state.items():
            setattr(self, name, value)
        self._bid_keys = {}
        self._ask_keys = {}
        self._sizes = {}
        self._size_ints = {}
        self._bid_view = None
        self._ask_view = None

    # -- writes -------------------------------------------------------------------------------

    def clear(self) -> None:
        """Remove every level of both sides."""
        self._bids = {}
        self._asks = {}
        self._bid_win = []
        self._ask_win = []
        self._bid_bound = _INF
        self._ask_bound = _INF
        self._bid_dec = {}
        self._ask_dec = {}
        self._bid_fix = {}
        self._ask_fix = {}
        self._bid_view = None
        self._ask_view = None

    def apply(self, side: BookSide, price: str | Decimal, qty: str | Decimal) -> None:
        """Set one level (price, size in venue units); size 0 removes the level."""
        self.apply_levels(side, ((_as_str(price), _as_str(qty)),))

    def apply_levels(
        self, side: BookSide, levels: Sequence[Sequence[str]], out: list[Level] | None = None
    ) -> int:
        """Set many levels given as venue strings `[price, size, ...]`; returns how many were set.

        Extra fields after the size (OKX order counts) are ignored. When `out` is given, each
        level is also appended to it as (price, qty) Decimals. Every level is checked before any
        is applied: on a bad one (see `_plan`) `FeedError` leaves the book and `out` unchanged.
        """
        plan = self._plan(side, levels)
        self._commit(side, plan, out)
        return len(plan[0])

    def apply_sides(
        self,
        bids: Sequence[Sequence[str]],
        asks: Sequence[Sequence[str]],
        out_bids: list[Level] | None = None,
        out_asks: list[Level] | None = None,
    ) -> None:
        """Apply one frame's bid and ask levels; a bad level on either side changes nothing.

        Why both sides at once: a frame is one venue state change, so applying its bids and then
        failing on its asks would leave a book that matches no state the venue ever held.
        """
        bid_plan = self._plan("bid", bids)
        ask_plan = self._plan("ask", asks)
        self._commit("bid", bid_plan, out_bids)
        self._commit("ask", ask_plan, out_asks)

    def apply_json(
        self,
        bids: JsonText,
        asks: JsonText,
        out_bids: list[Level] | None = None,
        out_asks: list[Level] | None = None,
        *,
        fields: Literal[2, 4] = 2,
    ) -> tuple[JsonLevels, JsonLevels]:
        """`apply_sides` for levels still as the frame's JSON text: `[["price","size"], ...]`.

        `fields`: strings per level, 2 (Binance, Bybit) or 4 (OKX: price, size and two order
        counts, which are checked plain and ignored; other widths take the rule). Returns each
        side's levels as string tuples, in the frame's order (what a delta event keeps). The
        same rule and the same all-or-nothing as `apply_sides`; a text that is not an array of
        such string levels is a `FeedError` too. Why JSON text: checking and converting each
        level's strings in Python was most of a depth frame's cost; `_plan_json` has C do it
        for the whole side at once.
        """
        shape = _SHAPES[fields]
        bid_levels, bid_plan = self._plan_json("bid", bytes(bids), shape)
        ask_levels, ask_plan = self._plan_json("ask", bytes(asks), shape)
        self._commit("bid", bid_plan, out_bids)
        self._commit("ask", ask_plan, out_asks)
        return bid_levels, ask_levels

    def replace(self, bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]) -> None:
        """Reset the book to exactly these levels (a snapshot); a bad level changes nothing."""
        bid_plan = self._plan("bid", bids)
        ask_plan = self._plan("ask", asks)
        self.clear()
        self._commit("bid", bid_plan, None)
        self._commit("ask", ask_plan, None)

    def _plan_json(
        self, side: BookSide, text: bytes, shape: _LevelShape
    ) -> tuple[JsonLevels, _Plan]:
        """Check one side's JSON levels and compute their keys; nothing is written anywhere.

        The common case runs no Python per level. When the text holds only digits, dots,
        commas, brackets and quotes (no whitespace, sign, exponent, escape or non-ASCII byte),
        `shape.strings` reads it as levels of 1..16-character strings (`_MAX_SHORT`: the long-
        string checks cannot apply) and `shape.asks` / `shape.bids` read the same strings as
        numbers: msgspec parses each as a JSON number, in full, correctly rounded, so the value
        is the one `float()` gives. That accepts a subset of the rule of `_plan_levels`: digits
        with at most one dot and a digit on both sides of it, price > 0. Bids get a '-' before
        each price (`["` only opens a level in such a text; anywhere else the insertion breaks
        the JSON), so their keys come out negated, as the rule's. Anything else ("05", "5.",
        a long string, a bad level) takes the rule on the decoded strings, which accepts it
        or names the bad level; a text that is not levels of strings is a `FeedError`.
        """
        if text == b"[]":  # an untouched side (OKX updates: most frames move one side)
            return (), _NO_PLAN
        if not text.translate(None, _JSON_LEVEL_BYTES):
            try:
                levels = shape.strings.decode(text)
                values = (
                    shape.bids.decode(text.replace(b'["', b'["-'))
                    if side == "bid"
                    else shape.asks.decode(text)
                )
            except msgspec.MsgspecError:
                pass
            else:
                if len(values) == len(levels):  # the same text: always equal
                    if shape is _SHAPES[2]:
                        # (price, size) tuples: stored as decoded, no second tuple per level
                        return levels, (values, levels)  # type: ignore[return-value]
                    pairs = list(map(_PRICE_SIZE, values))
                    return levels, (pairs, list(map(_PRICE_SIZE, levels)))
        try:
            levels = shape.any.decode(text)
        except msgspec.MsgspecError as exc:
            raise FeedError(
                f"{side} levels are not arrays of price and size strings: {exc}; "
                f"text starts {text[:80]!r}"
            ) from exc
        return levels, self._plan_levels(side, levels)

    def _plan(self, side: BookSide, levels: Sequence[Sequence[str]]) -> _Plan:
        """Check every level of one side and compute its key; nothing is written anywhere.

        The rule is `_plan_levels`. Why memos: a level's key and checks are a pure function of
        its price string, its size's value and checks of its size string, and most strings of
        a frame were seen before (BTCUSDT capture: ~57 % of prices per side, ~82 % of sizes): a
        remembered string skips its `float()`, range and plain-string checks. Only the strings
        of a call that passed as a whole are remembered. A decoder's (price, size) tuples take
        this loop (Bybit, REST snapshots), other level shapes `_plan_wide`. Anything it does not
        accept outright (a failure, a string longer than 16 characters, another shape) goes to
        `_plan_levels`, which decides and names the bad level: this path never accepts what
        that one refuses.
        """
        if side == "bid":
            sign = -1.0
            prices = self._bid_keys
        elif side == "ask":
            sign = 1.0
            prices = self._ask_keys
        else:
            raise FeedError(f"unknown book side {side!r} (expected 'bid' or 'ask')")
        if not levels:
            return [], ()
        sizes = self._sizes
        if len(prices) > _MEMO_MAX:
            prices.clear()
        if len(sizes) > _MEMO_MAX:
            sizes.clear()
        if type(levels[0]) is not tuple:
            # Not a decoder's (price, size) tuples: OKX levels carry order counts, tests and
            # REST bodies give lists.
            return self._plan_wide(side, levels, sign, prices)
        price_key = prices.get
        size_of = sizes.get
        pairs: list[tuple[float, float]] = []
        add = pairs.append
        inf = _INF
        short = _MAX_SHORT
        new_keys: dict[str, float] = {}
        new_sizes: dict[str, float] = {}
        try:
            for level in levels:
                p, q = level  # anything but two fields raises (and takes the rule below)
                if type(level) is not tuple:
                    return self._plan_levels(side, levels)
                key = price_key(p)
                if key is None:
                    pf = float(p)
                    # False for nan too (chained comparisons)
                    if not 0.0 < pf < inf or len(p) > short:
                        return self._plan_levels(side, levels)
                    key = new_keys[p] = sign * pf
                qf = size_of(q)
                if qf is None:
                    qf = new_sizes[q] = float(q)
                    if not 0.0 <= qf < inf or len(q) > short:
                        return self._plan_levels(side, levels)
                add((key, qf))
            # Plain strings only: the memos hold only checked strings, so the rest are checked.
            if first_not_plain(("".join(chain(new_keys, new_sizes)),)):
                return self._plan_levels(side, levels)
        except (ValueError, TypeError, IndexError):
            return self._plan_levels(side, levels)
        prices.update(new_keys)
        sizes.update(new_sizes)
        # Every level is a (price, size) tuple (checked above): stored as is, no second tuple.
        return pairs, levels  # type: ignore[return-value]

    def _plan_wide(
        self, side: BookSide, levels: Sequence[Sequence[str]], sign: float, prices: dict[str, float]
    ) -> _Plan:
        """`_plan` for levels that are not (price, size) tuples (`[px, sz, ...]` lists).

        The same memos, but each level is stored as a new (price, size) tuple, and every field
        of the frame, extras included, is checked plain in one C-level join (as the rule does),
        so the memos only save the `float()` and range checks. Anything not accepted outright
        goes to `_plan_levels`.
        """
        sizes = self._sizes
        price_key = prices.get
        size_of = sizes.get
        pairs: list[tuple[float, float]] = []
        raws: list[RawLevel] = []
        add = pairs.append
        keep = raws.append
        inf = _INF
        short = _MAX_SHORT
        new_keys: dict[str, float] = {}
        new_sizes: dict[str, float] = {}
        try:
            if first_not_plain(("".join(chain.from_iterable(levels)),)):
                return self._plan_levels(side, levels)
            for level in levels:
                p = level[0]
                q = level[1]
                key = price_key(p)
                if key is None:
                    pf = float(p)
                    # False for nan too (chained comparisons)
                    if not 0.0 < pf < inf or len(p) > short:
                        return self._plan_levels(side, levels)
                    key = new_keys[p] = sign * pf
                qf = size_of(q)
                if qf is None:
                    qf = new_sizes[q] = float(q)
                    if not 0.0 <= qf < inf or len(q) > short:
                        return self._plan_levels(side, levels)
                add((key, qf))
                keep((p, q))
        except (ValueError, TypeError, IndexError, KeyError):
            return self._plan_levels(side, levels)
        prices.update(new_keys)
        sizes.update(new_sizes)
        return pairs, raws

    @staticmethod
    def _plan_levels(side: BookSide, levels: Sequence[Sequence[str]]) -> _Plan:
        """`_plan` one level at a time with no memo: the rule itself, naming the bad level.

        A level passes when it has a price and a size that are plain decimal strings (ASCII
        digits, one dot, at most 40 characters), the price > 0 with at most 15 significant
        digits (what the float key orders exactly), the size >= 0. Otherwise `FeedError`.
        """
        if side == "bid":
            sign = -1.0
        elif side == "ask":
            sign = 1.0
        else:
            raise FeedError(f"unknown book side {side!r} (expected 'bid' or 'ask')")
        pairs: list[tuple[float, float]] = []
        raws: list[RawLevel] = []
        add = pairs.append
        keep = raws.append
        inf = _INF
        short = _MAX_SHORT
        level: Sequence[str] | None = None
        try:
            for level in levels:
                p = level[0]
                q = level[1]
                pf = float(p)
                qf = float(q)
                # Chained comparisons are False for nan, so these also reject nan and inf.
                if not (0.0 < pf < inf and 0.0 <= qf < inf):
                    raise ValueError("price must be finite > 0 and size finite >= 0")
                if len(p) > short or len(q) > short:
                    _check_long(p, q)
                add((sign * pf, qf))
                # A decoder's (price, size) tuple is stored as is: no second tuple per level.
                keep(level if type(level) is tuple and len(level) == 2 else (p, q))
            # Every field of every level, extras included, in one C-level join.
            if pairs and (bad := first_not_plain(("".join(chain.from_iterable(levels)),))):
                level = next(lv for lv in levels if first_not_plain(lv) is not None)
                bad = first_not_plain(level)
                raise ValueError(f"{bad!r} is not a plain decimal (ASCII digits and one '.')")
        except (ValueError, TypeError, IndexError) as exc:
            raise FeedError(f"bad {side} level {level!r}: {exc}") from exc
        return pairs, raws

    def _commit(self, side: BookSide, plan: _Plan, out: list[Level] | None) -> None:
        """Write checked levels (see `_plan`): dict always, sorted window when inside its bound.

        `out` gets each level as (price, qty) Decimals, qty 0 for a removal.
        """
        pairs, raws = plan
        if not pairs:
            return
        if out is not None:
            dec = Decimal
            zero = _ZERO
            emit = out.append
            for (_, value), (p, q) in zip(pairs, raws):
                emit((dec(p), dec(q) if value else zero))
        if side == "bid":
            book, win, bound = self._bids, self._bid_win, self._bid_bound
            view = self._bid_view
        else:
            book, win, bound = self._asks, self._ask_win, self._ask_bound
            view = self._ask_view
        if view is not None and min(map(_KEY, pairs)) <= view.edge:
            self._commit_top(plan, book, win, bound, view)
        else:
            self._commit_book(plan, book, win, bound)
        if len(win) > 2 * self.WINDOW:
            self._trim(side)

    @staticmethod
    def _commit_book(
        plan: _Plan, book: dict[float, RawLevel], win: list[float], bound: float
    ) -> None:
        """`_commit`'s writes when none reaches the side's last top read."""
        pairs, raws = plan
        pop = book.pop
        for (k, value), raw in zip(pairs, raws):
            if value:
                if k <= bound and k not in book:
                    insort(win, k)
                # No Decimal memo here: a store per level costs the depth-frame path more
                # than `top` saves by finding the event's Decimals (measured, BTCUSDT).
                book[k] = raw
            elif pop(k, None) is not None and k <= bound:
                del win[bisect_left(win, k)]

    def _commit_top(
        self,
        plan: _Plan,
        book: dict[float, RawLevel],
        win: list[float],
        bound: float,
        view: _TopRead,
    ) -> None:
        """`_commit_book`, also keeping the side's last top read (`_TopRead`) equal to the book.

        A write at or before the read's `edge` is applied to the read in the same pass (one
        loop per level, not one for the book and one for the read): by the read's invariant a
        key <= `edge` is in the book iff it is in `view.keys`, so the read answers the book's
        membership test too. A removal deletes it, a new size replaces the level's size (same
        key, same price integer), a new key is inserted in order. The read may then hold more
        or fewer than `n` levels: the next `top_fixed_view` trims it or tops it up from the
        window. Writes beyond `edge` cannot reach the best `n` and only touch the book.
        """
        pairs, raws = plan
        edge = view.edge
        keys = view.keys
        levels = view.levels
        ints = self._size_ints
        if len(ints) > _MEMO_MAX:
            ints.clear()
        known = ints.get
        pop = book.pop
        for (k, value), raw in zip(pairs, raws):
            if k > edge:
                if value:
                    if k <= bound and k not in book:
                        insort(win, k)
                    book[k] = raw
                elif pop(k, None) is not None and k <= bound:
                    del win[bisect_left(win, k)]
                continue
            i = bisect_left(keys, k)
            present = i < len(keys) and keys[i] == k
            if value:
                q = raw[1]
                size = known(q)
                if size is None:
                    size = ints[q] = to_fixed(q)
                if present:
                    levels[i] = (levels[i][0], size)
                else:
                    # prices come back into the top too (a level removed, then quoted again)
                    p = raw[0]
                    price = known(p)
                    if price is None:
                        price = ints[p] = to_fixed(p)
                    keys.insert(i, k)
                    levels.insert(i, (price, size))
                    if k <= bound:
                        insort(win, k)
                book[k] = raw
            elif present:
                del keys[i]
                del levels[i]
                del book[k]
                if k <= bound:
                    del win[bisect_left(win, k)]
        view.out = None

    def _trim(self, side: BookSide) -> None:
        keep = self.WINDOW
        if side == "bid":
            del self._bid_win[keep:]
            self._bid_bound = self._bid_win[-1]
        else:
            del self._ask_win[keep:]
            self._ask_bound = self._ask_win[-1]

    def _window(self, side: BookSide, need: int) -> list[float]:
        """The sorted best keys of a side, refilled from the dict when it holds < `need`."""
        if side == "bid":
            win, book, bound = self._bid_win, self._bids, self._bid_bound
        else:
            win, book, bound = self._ask_win, self._asks, self._ask_bound
        if len(win) >= need or bound == _INF:
            return win
        size = max(need, self.WINDOW)
        win = heapq.nsmallest(size, book)
        bound = _INF if len(book) <= size else win[-1]
        if side == "bid":
            self._bid_win, self._bid_bound = win, bound
        else:
            self._ask_win, self._ask_bound = win, bound
        return win

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
        win = self._window("bid", 1)
        if not win:
            return None
        p, q = self._bids[win[0]]
        return Decimal(p), Decimal(q)

    def best_ask(self) -> Level | None:
        """Lowest ask as (price, qty) Decimals, or None when the side is empty."""
        win = self._window("ask", 1)
        if not win:
            return None
        p, q = self._asks[win[0]]
        return Decimal(p), Decimal(q)

    def is_crossed(self) -> bool:
        """True when best bid >= best ask (both sides non-empty)."""
        bids = self._bid_win
        asks = self._ask_win
        if bids and asks:
            return -bids[0] >= asks[0]
        bids = self._window("bid", 1)
        asks = self._window("ask", 1)
        if not bids or not asks:
            return False
        return -bids[0] >= asks[0]

    def top_raw(self, n: int) -> tuple[list[RawLevel], list[RawLevel]]:
        """Best `n` levels per side as the venue's own strings, best first."""
        bids, asks = self._bids, self._asks
        return (
            [bids[k] for k in self._window("bid", n)[:n]],
            [asks[k] for k in self._window("ask", n)[:n]],
        )

    def top(self, n: int) -> tuple[list[Level], list[Level]]:
        """Best `n` levels per side as (price, qty) Decimals, best first."""
        return (
            self._decimals(self._window("bid", n)[:n], self._bids, self._bid_dec),
            self._decimals(self._window("ask", n)[:n], self._asks, self._ask_dec),
        )

    @staticmethod
    def _decimals(
        keys: list[float], book: dict[float, RawLevel], memo: dict[float, DecLevel]
    ) -> list[Level]:
        """Decimal levels of `keys`, reusing a memo entry while its raw level is unchanged.

        Why identity, not equality: a write always stores a new raw tuple, and the memo holds
        the old one alive, so `is` proves the level was not written since (no id reuse).
        """
        if len(keys) > _DEC_CACHE_MAX:  # a whole-side read: do not flood the memo
            return [(Decimal(p), Decimal(q)) for p, q in (book[k] for k in keys)]
        if len(memo) > _DEC_CACHE_MAX:
            memo.clear()
        get = memo.get

        def build(k: float) -> Level:
            raw = book[k]
            old = get(k)
            # A rewritten level usually keeps its price spelling: reuse that Decimal.
            price = old[1][0] if old is not None and old[0][0] == raw[0] else Decimal(raw[0])
            lv = (price, Decimal(raw[1]))
            memo[k] = (raw, lv)
            return lv

        return [
            hit[1] if (hit := get(k)) is not None and hit[0] is book[k] else build(k) for k in keys
        ]

    def top_fixed(self, n: int) -> tuple[list[FixedLevel], list[FixedLevel]]:
        """Best `n` levels per side as (price_e18, size_e18) integers, best first."""
        return (
            self._fixed(self._window("bid", n)[:n], self._bids, self._bid_fix, self._size_ints),
            self._fixed(self._window("ask", n)[:n], self._asks, self._ask_fix, self._size_ints),
        )

    def top_fixed_view(self, n: int) -> tuple[FixedView, FixedView]:
        """`top_fixed` as tuples, kept from the last read as far as no write changed them.

        Why: a view is read after every frame, and most frames only touch levels below the
        top `n` or a few inside it; a full read walks all `n` levels per side. Each side keeps
        its last read (`_TopRead`): `_commit` applies the writes at or before the read's edge
        to it (those beyond cannot change the best `n`), and this read trims it to `n` or tops
        it up from the book's window. The same tuple comes back while nothing reached it.
        `clear`, `replace`, unpickling and another `n` start afresh. Always equal to
        `top_fixed` (tests/unit/test_book_top_view.py compares them over random writes).
        """
        return (
            self._side_view(n, self._bid_view, "bid", self._bids, self._bid_fix),
            self._side_view(n, self._ask_view, "ask", self._asks, self._ask_fix),
        )

    def _side_view(
        self,
        n: int,
        view: _TopRead | None,
        side: BookSide,
        book: dict[float, RawLevel],
        memo: dict[float, FixLevel],
    ) -> FixedView:
        if view is not None and view.n == n:
            out = view.out
            if out is not None:
                return out
            keys, levels = view.keys, view.levels
            m = len(keys)
            if m > n:
                del keys[n:]
                del levels[n:]
                view.edge = keys[-1]  # n > 0 here: a read of 0 levels takes no writes
            elif m < n and view.edge != _INF:
                # removals left fewer than n keys <= edge: the next ones come from the window
                tail = self._window(side, n)[m:n]
                levels += self._fixed(tail, book, memo, self._size_ints)
                keys += tail
                view.edge = keys[-1] if len(keys) == n else _INF
            out = view.out = tuple(levels)
            return out
        keys = self._window(side, n)[:n]
        levels = self._fixed(keys, book, memo, self._size_ints)
        out = tuple(levels)
        fresh = _TopRead(n, keys, levels, out)
        if side == "bid":
            self._bid_view = fresh
        else:
            self._ask_view = fresh
        return out

    @staticmethod
    def _fixed(
        keys: list[float],
        book: dict[float, RawLevel],
        memo: dict[float, FixLevel],
        ints: dict[str, int],
    ) -> list[FixedLevel]:
        """Integer levels of `keys`, reusing a memo entry while its raw level is unchanged
        (the same identity rule as `_decimals`), and a string's integer (`ints`, the book's
        `_size_ints`: sizes and prices repeat, a dict hit is cheaper than `to_fixed`)."""
        if len(memo) > _DEC_CACHE_MAX:
            memo.clear()
        if len(ints) > _MEMO_MAX:
            ints.clear()
        get = memo.get
        out: list[FixedLevel] = []
        add = out.append
        for k in keys:
            raw = book[k]
            hit = get(k)
            if hit is not None and hit[0] is raw:
                add(hit[1])
                continue
            # A key is one exact price value (module doc), so a rewritten level keeps its
            # price integer whatever the spelling: only the size is converted again.
            q = raw[1]
            size = ints.get(q)
            if size is None:
                size = ints[q] = to_fixed(q)
            if hit is not None:
                price = hit[1][0]
            else:
                p = raw[0]
                known = ints.get(p)
                price = ints[p] = to_fixed(p) if known is None else known
            lv = (price, size)
            memo[k] = (raw, lv)
            add(lv)
        return out

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
