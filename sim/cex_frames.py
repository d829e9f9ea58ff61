"""Sans-I/O venue frame generators for the loopback CEX simulators (no sockets, no clock).

A `SimFeed` owns one seeded random L2 book of one symbol on one venue and renders it in that
venue's own wire format: Binance spot / USD-M `depthUpdate` (`U`/`u`, `pu` on USD-M) and REST
`lastUpdateId` bodies, OKX v5 `books` snapshot/update frames (`seqId`/`prevSeqId` and the real
CRC32 `checksum`), Bybit v5 `orderbook.N` snapshot/delta (`u`/`seq`). Every published book state
is recorded as truth (top 25 levels per side, keyed by the venue's update id) so a test can check
any client book against what the venue really held at that id.

Faults are injected per symbol on the *outgoing* frame sequence (`drop`, `reorder`, `corrupt`);
the true book always advances, exactly as a lossy network or a buggy venue would behave.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import orjson

from connectors.cex.okx import checksum as okx_checksum
from operators.errors import FeedError

VENUES = ("binance", "binance-usdm", "okx", "bybit")
TRUTH_DEPTH = 25
"""Levels per side kept as truth per update id (the OKX checksum depth)."""
SIDE_MAX_LEVELS = 40
"""The simulated book never holds more levels per side, so depth-limited venue views
(Bybit orderbook.50, Binance REST limit>=50) always carry the whole book."""
SIDE_MIN_LEVELS = 10
BAND_TICKS = 80
"""Bids live in [mid-BAND, mid-1] and asks in [mid+1, mid+BAND] ticks: the book never crosses."""


def _fmt_fixed(units: int, decimals: int) -> str:
    """Integer units of 10**-decimals rendered with exactly `decimals` places."""
    if decimals == 0:
        return str(units)
    scale = 10**decimals
    return f"{units // scale}.{units % scale:0{decimals}d}"


def _fmt_trim(units: int, decimals: int) -> str:
    """Same value with trailing zeros removed (OKX style: "150.2", "3")."""
    s = _fmt_fixed(units, decimals)
    return s.rstrip("0").rstrip(".") if "." in s else s


@dataclass
class SimBook:
    """A seeded random L2 book in integer ticks and quantity units (never crossed)."""

    mid_ticks: int
    rng: random.Random
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)

    def seed_levels(self, per_side: int) -> None:
        """Fill each side with `per_side` random levels."""
        for side, sign in ((self.bids, -1), (self.asks, 1)):
            while len(side) < per_side:
                side[self.mid_ticks + sign * self.rng.randint(1, BAND_TICKS)] = self._qty()

    def _qty(self) -> int:
        return self.rng.randint(1, 50_000)

    def step(self, n_changes: int) -> tuple[dict[int, int], dict[int, int]]:
        """Apply `n_changes` random level changes: {price_ticks: qty_units} per side, 0 = gone."""
        changed_b: dict[int, int] = {}
        changed_a: dict[int, int] = {}
        for _ in range(n_changes):
            is_bid = self.rng.random() < 0.5
            side, changed, sign = (
                (self.bids, changed_b, -1) if is_bid else (self.asks, changed_a, 1)
            )
            r = self.rng.random()
            if r < 0.25 and len(side) > SIDE_MIN_LEVELS:
                px = self.rng.choice(list(side))
                del side[px]
                changed[px] = 0
            elif r < 0.5 and len(side) < SIDE_MAX_LEVELS:
                px = self.mid_ticks + sign * self.rng.randint(1, BAND_TICKS)
                side[px] = self._qty()
                changed[px] = side[px]
            elif side:
                px = self.rng.choice(list(side))
                side[px] = self._qty()
                changed[px] = side[px]
        return changed_b, changed_a

    def ladder_qty(self, i: int) -> int:
        """Size of the `i`-th level from the touch of a requoted ladder, in 0.001 base units
        (2 + 1.5 i base, times a uniform factor in [0.5, 1.5), rounded to the lot)."""
        base = 2 + i * 1.5
        return int(Decimal(str(round(base * (0.5 + self.rng.random()), 3))) * 1000)

    def requote(
        self, best_bid_ticks: int, levels: int, refresh_prob: float = 0.15
    ) -> tuple[dict[int, int], dict[int, int]]:
        """Move the book to a ladder of `levels` one-tick levels per side, touch at
        `best_bid_ticks` / +1 (a market maker following the price): a level that survives keeps
        its size unless refreshed (probability `refresh_prob`); the changed levels (0 = gone)."""
        new_b: dict[int, int | None] = {
            best_bid_ticks - i: self.bids.get(best_bid_ticks - i) for i in range(levels)
        }
        new_a: dict[int, int | None] = {
            best_bid_ticks + 1 + i: self.asks.get(best_bid_ticks + 1 + i) for i in range(levels)
        }
        for side in (new_b, new_a):
            for i, px in enumerate(sorted(side, reverse=side is new_b)):
                if side[px] is None or self.rng.random() < refresh_prob:
                    side[px] = self.ladder_qty(i)
        bids = {p: q for p, q in new_b.items() if q is not None}
        asks = {p: q for p, q in new_a.items() if q is not None}
        changed = (_changes(self.bids, bids), _changes(self.asks, asks))
        self.bids, self.asks, self.mid_ticks = bids, asks, best_bid_ticks
        return changed

    def take(self, bids: bool, qty_units: int) -> set[int]:
        """A market order of `qty_units` walks one side from the touch (`bids`: a sell);
        the prices of the levels it hit."""
        side = self.bids if bids else self.asks
        hit: set[int] = set()
        for px in sorted(side, reverse=bids):
            if qty_units <= 0:
                break
            took = min(side[px], qty_units)
            qty_units -= took
            hit.add(px)
            if side[px] > took:
                side[px] -= took
            else:
                del side[px]
        return hit

    def top(self, n: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Best-first (price_ticks, qty_units) lists of at most `n` levels per side."""
        bids = sorted(self.bids.items(), key=lambda kv: -kv[0])[:n]
        asks = sorted(self.asks.items())[:n]
        return bids, asks


def _changes(old: dict[int, int], new: dict[int, int]) -> dict[int, int]:
    """Levels that differ between two sides of a book (0 = removed), ascending price."""
    out: dict[int, int] = {}
    for px in sorted(set(old) | set(new)):
        if px not in new:
            out[px] = 0
        elif old.get(px) != new[px]:
            out[px] = new[px]
    return out


@dataclass(frozen=True, slots=True)
class Truth:
    """The venue's true top of book at one update id, as Decimal (price, qty) best first."""

    update_id: int
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]


class SimFeed:
    """One symbol's book on one venue, rendered as that venue's WS/REST frames, with faults."""

    def __init__(
        self,
        venue: str,
        symbol: str,
        *,
        seed: int,
        mid_ticks: int = 15_000,
        price_decimals: int = 2,
        qty_decimals: int = 3,
        bybit_depth: int = 50,
        stream: str | None = None,
        truth_keep: int = 10_000,
        book: SimBook | None = None,
    ) -> None:
        if venue not in VENUES:
            raise FeedError(f"simulator has no venue {venue!r} (known: {VENUES})", venue=venue)
        self.venue = venue
        self.symbol = symbol
        self.rng = random.Random(seed)
        if book is None:
            book = SimBook(mid_ticks=mid_ticks, rng=self.rng)
            book.seed_levels(SIDE_MIN_LEVELS + 10)
        self.book = book
        self.px_dec = price_decimals
        self.qty_dec = qty_decimals
        self.bybit_depth = bybit_depth
        self.stream = stream or self.default_stream()
        # Venue sequence state. Binance ids start high like the real ones; OKX seqIds jump.
        self.update_id = 1_000_000 + self.rng.randint(0, 10_000)
        self.seq = 7_000_000_000 + self.rng.randint(0, 1_000_000)
        self._truth: OrderedDict[int, tuple[tuple[int, ...], tuple[int, ...]]] = OrderedDict()
        self._truth_keep = truth_keep
        self._pending: list[bytes] = []
        self._faults: list[str] = []
        self.faults_applied: list[tuple[str, int]] = []
        self._record_truth()

    # -- naming ---------------------------------------------------------------------------

    def default_stream(self) -> str:
        """The venue stream/topic name this feed publishes on."""
        if self.venue == "binance":
            return f"{self.symbol.lower()}@depth@100ms"
        if self.venue == "binance-usdm":
            return f"{self.symbol.lower()}@depth@0ms"
        if self.venue == "okx":
            return f"books:{self.symbol}"
        return f"orderbook.{self.bybit_depth}.{self.symbol}"

    # -- truth ----------------------------------------------------------------------------

    def _record_truth(self) -> None:
        # Flat int tuples keep 20k states per feed cheap; Decimal only on lookup.
        bids, asks = self.book.top(TRUTH_DEPTH)
        self._truth[self.current_id()] = (
            tuple(x for lvl in bids for x in lvl), tuple(x for lvl in asks for x in lvl)
        )
        while len(self._truth) > self._truth_keep:
            self._truth.popitem(last=False)

    def current_id(self) -> int:
        """The venue's id of the latest book state (Binance u, OKX seqId, Bybit u)."""
        return self.seq if self.venue == "okx" else self.update_id

    def truth(self, update_id: int) -> Truth:
        """The true top-25 book the venue held at `update_id`; FeedError if not recorded."""
        try:
            flat_b, flat_a = self._truth[update_id]
        except KeyError:
            raise FeedError(
                f"no simulator truth at update id {update_id}", venue=self.venue, symbol=self.symbol
            ) from None
        return Truth(
            update_id,
            tuple((self._dec_px(flat_b[i]), self._dec_qty(flat_b[i + 1]))
                  for i in range(0, len(flat_b), 2)),
            tuple((self._dec_px(flat_a[i]), self._dec_qty(flat_a[i + 1]))
                  for i in range(0, len(flat_a), 2)),
        )

    def _dec_px(self, ticks: int) -> Decimal:
        return Decimal(ticks).scaleb(-self.px_dec)

    def _dec_qty(self, units: int) -> Decimal:
        return Decimal(units).scaleb(-self.qty_dec)

    # -- rendering ------------------------------------------------------------------------

    def _levels(self, items: Sequence[tuple[int, int]]) -> list[list[str]]:
        if self.venue == "binance":
            # Binance spot pads to 8 decimals; USD-M sends the tick precision ("61800.20").
            return [[_fmt_fixed(p * 10 ** (8 - self.px_dec), 8),
                     _fmt_fixed(q * 10 ** (8 - self.qty_dec), 8)] for p, q in items]
        if self.venue == "binance-usdm":
            return [[_fmt_fixed(p, self.px_dec), _fmt_fixed(q, self.qty_dec)] for p, q in items]
        if self.venue == "okx":
            # OKX levels: [price, size, liquidated orders (deprecated, "0"), order count].
            return [[_fmt_trim(p, self.px_dec), _fmt_trim(q, self.qty_dec), "0",
                     str(1 + (p + q) % 7 if q else 0)] for p, q in items]
        # Bybit: a removed level is sent as size "0".
        return [[_fmt_fixed(p, self.px_dec), _fmt_fixed(q, self.qty_dec) if q else "0"]
                for p, q in items]

    def _okx_book_strings(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        bids, asks = self.book.top(TRUTH_DEPTH)
        fb = [(_fmt_trim(p, self.px_dec), _fmt_trim(q, self.qty_dec)) for p, q in bids]
        fa = [(_fmt_trim(p, self.px_dec), _fmt_trim(q, self.qty_dec)) for p, q in asks]
        return fb, fa

    def rest_snapshot(self, limit: int, ts_ms: int) -> bytes:
        """REST depth body of the current book in the venue's format (Binance, OKX, Bybit)."""
        bids, asks = self.book.top(limit)
        if self.venue == "binance":
            body: object = {"lastUpdateId": self.update_id, "bids": self._levels(bids),
                            "asks": self._levels(asks)}
        elif self.venue == "binance-usdm":
            body = {"lastUpdateId": self.update_id, "E": ts_ms, "T": ts_ms - 1,
                    "bids": self._levels(bids), "asks": self._levels(asks)}
        elif self.venue == "okx":
            body = {"code": "0", "msg": "", "data": [{"asks": self._levels(asks),
                    "bids": self._levels(bids), "ts": str(ts_ms)}]}
        else:
            body = {"retCode": 0, "retMsg": "OK", "result": {
                "s": self.symbol, "b": self._levels(bids), "a": self._levels(asks),
                "ts": ts_ms, "u": self.update_id, "seq": self.seq, "cts": ts_ms - 1},
                "retExtInfo": {}, "time": ts_ms}
        return orjson.dumps(body)

    def ws_snapshot(self, ts_ms: int) -> bytes:
        """The WS snapshot frame a new OKX/Bybit subscriber receives first."""
        if self.venue == "okx":
            bids, asks = self.book.top(SIDE_MAX_LEVELS)
            fb, fa = self._okx_book_strings()
            inst = self.symbol
            return orjson.dumps({"arg": {"channel": "books", "instId": inst},
                                 "action": "snapshot",
                                 "data": [{"asks": self._levels(asks), "bids": self._levels(bids),
                                           "ts": str(ts_ms), "checksum": okx_checksum(fb, fa),
                                           "prevSeqId": -1, "seqId": self.seq}]})
        if self.venue == "bybit":
            bids, asks = self.book.top(self.bybit_depth)
            return orjson.dumps({"topic": self.stream, "type": "snapshot", "ts": ts_ms,
                                 "data": {"s": self.symbol, "b": self._levels(bids),
                                          "a": self._levels(asks), "u": self.update_id,
                                          "seq": self.seq},
                                 "cts": ts_ms - 1})
        raise FeedError("Binance diff streams carry no WS snapshot; use REST depth",
                        venue=self.venue, symbol=self.symbol)

    def render_update(self, changed_b: dict[int, int], changed_a: dict[int, int],
                      first_id: int, prev_id: int, ts_ms: int) -> bytes:
        """The venue's update frame for these changed levels (0 = removed), ids as given."""
        b = self._levels(sorted(changed_b.items(), key=lambda kv: -kv[0]))
        a = self._levels(sorted(changed_a.items()))
        if self.venue == "binance":
            data: dict[str, object] = {"e": "depthUpdate", "E": ts_ms, "s": self.symbol,
                                       "U": first_id, "u": self.update_id, "b": b, "a": a}
            return orjson.dumps({"stream": self.stream, "data": data})
        if self.venue == "binance-usdm":
            data = {"e": "depthUpdate", "E": ts_ms, "T": ts_ms - 1, "s": self.symbol,
                    "U": first_id, "u": self.update_id, "pu": prev_id, "b": b, "a": a}
            return orjson.dumps({"stream": self.stream, "data": data})
        if self.venue == "okx":
            fb, fa = self._okx_book_strings()
            return orjson.dumps({"arg": {"channel": "books", "instId": self.symbol},
                                 "action": "update",
                                 "data": [{"asks": a, "bids": b, "ts": str(ts_ms),
                                           "checksum": okx_checksum(fb, fa),
                                           "prevSeqId": prev_id, "seqId": self.seq}]})
        return orjson.dumps({"topic": self.stream, "type": "delta", "ts": ts_ms,
                             "data": {"s": self.symbol, "b": b, "a": a, "u": self.update_id,
                                      "seq": self.seq},
                             "cts": ts_ms - 1})

    # -- stepping and faults --------------------------------------------------------------

    def step(self, ts_ms: int) -> bytes:
        """Advance the true book by one venue update and return its frame (before faults)."""
        n_ids = self.rng.randint(1, 3) if self.venue.startswith("binance") else 1
        changed_b, changed_a = self.book.step(self.rng.randint(1, 4))
        prev_u = self.update_id
        prev_seq = self.seq
        first = self.update_id + 1
        self.update_id += n_ids
        self.seq += self.rng.randint(1, 5)
        self._record_truth()
        prev = prev_seq if self.venue == "okx" else prev_u
        return self.render_update(changed_b, changed_a, first, prev, ts_ms)

    def inject(self, kind: str) -> None:
        """Queue a frame fault for the next update(s): `drop`, `reorder` or `corrupt` (OKX)."""
        if kind not in ("drop", "reorder", "corrupt"):
            raise FeedError(f"unknown frame fault {kind!r}", venue=self.venue, symbol=self.symbol)
        if kind == "corrupt" and self.venue != "okx":
            raise FeedError("only OKX frames carry a checksum to corrupt",
                            venue=self.venue, symbol=self.symbol)
        self._faults.append(kind)

    def next_frames(self, ts_ms: int) -> list[bytes]:
        """Step once and return the frames to publish now, after any queued fault."""
        frame = self.step(ts_ms)
        if self._pending:
            # The second half of a reorder: the newer frame goes first, then the held one.
            held = self._pending
            self._pending = []
            return [frame, *held]
        if not self._faults:
            return [frame]
        kind = self._faults.pop(0)
        self.faults_applied.append((kind, self.current_id()))
        if kind == "drop":
            return []
        if kind == "reorder":
            self._pending = [frame]
            return []
        return [self._corrupt(frame)]

    def _corrupt(self, frame: bytes) -> bytes:
        msg = orjson.loads(frame)
        msg["data"][0]["checksum"] = (msg["data"][0]["checksum"] ^ 0x5A5A) or 1
        return orjson.dumps(msg)
