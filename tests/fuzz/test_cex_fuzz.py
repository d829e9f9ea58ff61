"""Mutated venue frames against every CEX codec, and Hypothesis properties of the book.

Each venue's `BookSync` is driven into sync over real recorded frames (Binance spot, USD-M, OKX
`books` and `books-l2-tbt`; Bybit from the simulator, whose frames follow the v5 format of the
recorded samples, because no recorded Bybit stream exists). At sample points the next frame is
mutated `MUTATIONS_PER_CASE` times (seeded, so a failure replays) and fed to a copy of the sync:

- structural mutations, malformed by construction (a required key dropped or of the wrong JSON
  type, a level sent as a string / object / one-element list / numbers, nested garbage, an
  exponent, NaN or over-long number in a level, the frame truncated): the book must stay
  byte-identical (pickled), be flagged out of sync, and a `ResyncRequired` must come out;
- digit mutations (digits changed inside numbers, ids shifted) and random byte flips: anything
  may happen except an exception outside `SolarbError`, and a book still in sync must hold its
  invariants (best-first order, no zero size, not crossed).

Every frame must return within `HANG_S` (a hang detector, three orders of magnitude above the
~30 us a frame takes, not a speed assertion) and every event must carry int timestamps and
bounded Decimals (no 256 MB allocations behind a 393-byte frame). The issue measured 20,000
mutations per venue; `MUTATIONS_PER_CASE` is 2,000 per case (5 cases) so the module stays
within about a minute on two cores.
"""

from __future__ import annotations

import pickle
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.cex import binance, bybit, okx
from operators.book import L2Book
from operators.errors import FeedError, SolarbError
from operators.events import BookDelta, BookSnapshot, ResyncRequired
from sim.cex_frames import SimFeed
from tests.conftest import iter_cex_lines

MUTATIONS_PER_CASE = 2_000
"""Mutated frames per case (the issue's survey used 20,000 per venue)."""
SAMPLE_POINTS = 40
"""Recorded positions whose next book frame is mutated (mutations spread evenly over them)."""
HANG_S = 0.25
"""Longest a single frame may take before it counts as a hang."""
SEED = 20261205

STRUCTURAL = (
    "drop_key",
    "wrong_type",
    "level_as_string",
    "level_as_object",
    "level_short",
    "level_numbers",
    "nested_garbage",
    "exponent",
    "not_finite",
    "huge_digits",
    "truncate",
)
LOOSE = ("digits", "ids", "byte_flip")


@dataclass(frozen=True)
class Case:
    """One codec and where its book frames keep their data (`path` from the frame's root)."""

    name: str
    make: Callable[[], Any]
    book_path: tuple[str | int, ...]
    """Keys from the frame's root to the object holding the levels."""
    required: tuple[str, ...]
    """Keys of that object the venue always sends (dropping one is malformed)."""
    sides: tuple[str, str]


CASES = {
    "binance-spot": Case(
        "binance-spot",
        lambda: binance.BookSync("BTCUSDT", "spot"),
        ("data",),
        ("e", "E", "s", "U", "u", "b", "a"),
        ("b", "a"),
    ),
    "binance-usdm": Case(
        "binance-usdm",
        lambda: binance.BookSync("ETHUSDT", "perp"),
        ("data",),
        ("e", "E", "s", "U", "u", "pu", "b", "a"),
        ("b", "a"),
    ),
    "okx-books": Case(
        "okx-books",
        lambda: okx.BookSync("BTC-USDT", "spot"),
        ("data", 0),
        ("asks", "bids", "ts"),
        ("bids", "asks"),
    ),
    "okx-tbt": Case(
        "okx-tbt",
        lambda: okx.BookSync("ELON-USDT", "spot"),
        ("data", 0),
        ("asks", "bids", "ts"),
        ("bids", "asks"),
    ),
    "bybit": Case(
        "bybit",
        lambda: bybit.BookSync("BTCUSDT", "perp"),
        ("data",),
        ("s", "b", "a", "u"),
        ("b", "a"),
    ),
}


# -- frame sources ---------------------------------------------------------------------------------


def _recorded(fixtures: Path, case: str) -> list[tuple[str, bytes]]:
    """(kind, payload) of one recorded capture, in order, kind `rest` or `ws`."""
    files = {
        "binance-spot": ("binance/btcusdt_spot_2024-08-08T2354Z_10min.jsonl.gz", None),
        "binance-usdm": ("binance-usdm/ethusdt_usdm_2024-08-08T2354Z_6min.jsonl.gz", None),
        "okx-books": ("okx/okx_books_2022-05-13.jsonl.gz", "BTC-USDT"),
        "okx-tbt": ("okx/okx_books-l2-tbt_2022-02-27.jsonl.gz", "ELON-USDT"),
    }
    name, inst = files[case]
    out: list[tuple[str, bytes]] = []
    for line in iter_cex_lines(fixtures / "cex" / name):
        stream = line["stream"]
        if inst is not None and not (stream.startswith("books") and stream.endswith(f":{inst}")):
            continue
        if inst is None and "@depth" not in stream and line["kind"] != "rest":
            continue
        out.append((line["kind"], line["payload"].encode()))
        if len(out) >= 1_500:  # enough to sync and to sample from
            break
    return out


def _simulated_bybit() -> list[tuple[str, bytes]]:
    feed = SimFeed("bybit", "BTCUSDT", seed=SEED)
    frames = [("ws", feed.ws_snapshot(1_700_000_000_000))]
    for i in range(600):
        frames += [("ws", f) for f in feed.next_frames(1_700_000_000_005 + 5 * i)]
    return frames


def _frames(case: str) -> list[tuple[str, bytes]]:
    if case == "bybit":
        return _simulated_bybit()
    from tests.conftest import fixtures_dir

    return _recorded(fixtures_dir(), case)


# -- mutations -------------------------------------------------------------------------------------


def _book_obj(msg: Any, path: tuple[str | int, ...]) -> dict[str, Any] | None:
    node = msg
    for key in path:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return None
    return node if isinstance(node, dict) else None


def _levels(obj: dict[str, Any], sides: tuple[str, str]) -> list[list[Any]]:
    return [lv for s in sides for lv in obj.get(s, [])]


def _wrong_type(value: Any, rng: random.Random) -> Any:
    """A value of another JSON type than `value`."""
    if isinstance(value, bool) or value is None:
        return rng.choice([0, "x", []])
    if isinstance(value, int):
        return rng.choice([str(value), [value], None, {"v": value}, float(value) + 0.5])
    if isinstance(value, str):
        return rng.choice([123, [value], None, {"v": value}, True])
    if isinstance(value, list):
        return rng.choice(["".join(map(str, value))[:40] or "x", 7, None, {"0": value}])
    return rng.choice([[value], "x", 1])


def structural(payload: bytes, kind: str, case: Case, rng: random.Random) -> bytes | None:
    """A malformed-by-construction copy of a book frame, or None when `kind` does not fit it."""
    if kind == "truncate":
        return payload[: rng.randrange(1, len(payload))]
    msg = orjson.loads(payload)
    obj = _book_obj(msg, case.book_path)
    if obj is None:
        return None
    if kind == "drop_key":
        key = rng.choice([k for k in case.required if k in obj])
        del obj[key]
    elif kind == "wrong_type":
        key = rng.choice([k for k in case.required if k in obj])
        obj[key] = _wrong_type(obj[key], rng)
    elif kind == "nested_garbage":
        key = rng.choice([k for k in case.required if k in obj])
        obj[key] = [[[{"x": [[[]], {"y": None}]}]]]
    else:
        levels = _levels(obj, case.sides)
        if not levels:
            return None
        lv = rng.choice(levels)
        if kind == "level_as_string":  # "2683.19" where [price, qty] belongs
            _replace_level(obj, case.sides, lv, str(lv[0]))
        elif kind == "level_as_object":
            _replace_level(obj, case.sides, lv, {"p": lv[0], "q": lv[1]})
        elif kind == "level_short":
            del lv[1:]
        elif kind == "level_numbers":
            lv[rng.randrange(2)] = rng.choice([1, 2.5, None, True])
        elif kind == "exponent":
            i = rng.randrange(2)
            lv[i] = rng.choice([f"{lv[i]}e5", "1e999999", "1E-400", "5e0"])
        elif kind == "not_finite":
            lv[rng.randrange(2)] = rng.choice(["NaN", "inf", "-1", "-0", "Infinity", ""])
        elif kind == "huge_digits":
            lv[rng.randrange(2)] = "9" * rng.choice([41, 5_000, 100_000])
    return orjson.dumps(msg)


def _replace_level(obj: dict[str, Any], sides: tuple[str, str], old: Any, new: Any) -> None:
    for s in sides:
        for i, lv in enumerate(obj.get(s, [])):
            if lv is old:
                obj[s][i] = new
                return


def loose(payload: bytes, kind: str, rng: random.Random) -> bytes:
    """A copy with digits changed, ids shifted or one byte flipped (may still be valid)."""
    data = bytearray(payload)
    if kind == "byte_flip":
        i = rng.randrange(len(data))
        data[i] = rng.randrange(256)
        return bytes(data)
    digits = [i for i, b in enumerate(data) if 0x30 <= b <= 0x39]
    if not digits:
        return payload
    if kind == "digits":
        for i in rng.sample(digits, min(len(digits), rng.randint(1, 3))):
            data[i] = rng.randrange(0x30, 0x3A)
        return bytes(data)
    # ids: splice a huge, negative or shifted number over a digit run
    i = rng.choice(digits)
    return bytes(data[:i]) + rng.choice([b"9" * 30, b"-", b"0", b"1e3"]) + bytes(data[i:])


# -- the sync under test ---------------------------------------------------------------------------


def _feed(sync: Any, kind: str, payload: bytes) -> list[Any]:
    return sync.on_snapshot(payload, 1) if kind == "rest" else sync.on_frame(payload, 1)


def _sample_points(sync: Any, frames: list[tuple[str, bytes]]) -> Iterator[tuple[bytes, bytes]]:
    """(pickled sync, next book frame) at evenly spaced positions where the sync is in sync."""
    positions = []
    for i, (kind, payload) in enumerate(frames):
        if sync.in_sync and kind == "ws" and i > 0:
            positions.append((i, pickle.dumps(sync), payload))
        _feed(sync, kind, payload)
    assert positions, "the recorded frames never brought the book into sync"
    step = max(1, len(positions) // SAMPLE_POINTS)
    for _, blob, payload in positions[::step][:SAMPLE_POINTS]:
        yield blob, payload


def _check_events(events: list[Any]) -> None:
    for e in events:
        assert type(e.ts_event_ns) is int and 0 <= e.ts_event_ns < 2**63
        for side in (getattr(e, "bids", ()), getattr(e, "asks", ())):
            for p, q in side:
                assert isinstance(p, Decimal) and len(p.as_tuple().digits) <= 40
                assert isinstance(q, Decimal) and len(q.as_tuple().digits) <= 40


def _check_book(book: L2Book) -> None:
    """Invariants of any book a sync calls in sync."""
    bids, asks = book.levels("bid"), book.levels("ask")
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert [p for p, _ in asks] == sorted(p for p, _ in asks)
    assert all(q > 0 for _, q in bids + asks)
    assert not (bids and asks and bids[0][0] >= asks[0][0])


@dataclass
class Tally:
    expected: int = 0
    structural: int = 0
    loose: int = 0
    resyncs: int = 0
    typed_errors: int = 0
    applied: int = 0


def _run_case(case: Case) -> Tally:
    rng = random.Random(f"{SEED}:{case.name}")
    frames = _frames(case.name)
    points = list(_sample_points(case.make(), frames))
    per_point = MUTATIONS_PER_CASE // len(points)
    tally = Tally(expected=per_point * len(points))
    for blob, payload in points:
        reference_book = pickle.dumps(pickle.loads(blob).book)
        for _ in range(per_point):
            sync = pickle.loads(blob)
            kind = rng.choice(STRUCTURAL + LOOSE)
            mutated: bytes | None
            if kind in STRUCTURAL:
                mutated = structural(payload, kind, case, rng)
                if mutated is None:
                    kind = "truncate"
                    mutated = structural(payload, kind, case, rng)
            else:
                mutated = loose(payload, kind, rng)
            assert mutated is not None
            start = time.perf_counter()
            try:
                events = sync.on_frame(mutated, 1)
            except SolarbError as exc:
                # Only the raising kinds may raise: a routing or venue-error mistake.
                assert isinstance(exc, FeedError)
                tally.typed_errors += 1
                events = None
            elapsed = time.perf_counter() - start
            assert elapsed < HANG_S, f"{case.name} {kind}: {elapsed:.3f} s on {mutated[:120]!r}"
            if events is not None:
                _check_events(events)
                tally.resyncs += any(isinstance(e, ResyncRequired) for e in events)
                tally.applied += any(isinstance(e, BookDelta | BookSnapshot) for e in events)
            if kind in STRUCTURAL:
                tally.structural += 1
                where = f"{case.name} {kind}: {mutated[:160]!r}"
                assert events is not None and any(isinstance(e, ResyncRequired) for e in events), (
                    where
                )
                assert not any(isinstance(e, BookDelta | BookSnapshot) for e in events), where
                assert (sync.in_sync, sync.needs_snapshot) == (False, True), where
                assert pickle.dumps(sync.book) == reference_book, where
            else:
                tally.loose += 1
                if events is None:
                    assert pickle.dumps(sync.book) == reference_book
                if sync.in_sync:
                    _check_book(sync.book)
    return tally


@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", sorted(CASES))
def test_mutated_frames_raise_only_typed_errors_and_malformed_ones_are_never_applied(
    name: str,
) -> None:
    tally = _run_case(CASES[name])  # the per-frame assertions are inside
    assert tally.structural + tally.loose == tally.expected >= MUTATIONS_PER_CASE * 0.9
    assert tally.structural > 0 and tally.loose > 0
    assert tally.applied > 0  # some loose mutations were still valid frames and were applied


def test_structural_mutations_cover_every_kind() -> None:
    case = CASES["bybit"]
    payload = _simulated_bybit()[1][1]
    rng = random.Random(SEED)
    made = {k: structural(payload, k, case, rng) for k in STRUCTURAL}
    assert [k for k, v in made.items() if v is None or v == payload] == []


# -- properties of the book through a venue codec --------------------------------------------------

bid_ticks = st.integers(min_value=1, max_value=999)
ask_ticks = st.integers(min_value=1_001, max_value=2_000)
sizes = st.sampled_from(["0", "0.000", "1", "2.50", "0.001", "10"])


def _px(ticks: int) -> str:
    return f"{ticks / 100:.2f}"


def _side(ticks: st.SearchStrategy[int]) -> st.SearchStrategy[list[tuple[str, str]]]:
    return st.lists(st.tuples(ticks.map(_px), sizes), max_size=30)


def _model(model: dict[Decimal, Decimal], levels: list[tuple[str, str]]) -> None:
    for p, q in levels:
        if Decimal(q) == 0:
            model.pop(Decimal(p), None)
        else:
            model[Decimal(p)] = Decimal(q)


@settings(max_examples=120, deadline=None)
@given(
    snap_bids=_side(bid_ticks),
    snap_asks=_side(ask_ticks),
    diffs=st.lists(st.tuples(_side(bid_ticks), _side(ask_ticks)), max_size=10),
    poison=st.integers(min_value=-1, max_value=9),
)
def test_snapshot_then_diffs_keep_the_book_sorted_unzeroed_uncrossed_and_equal_to_a_model(
    snap_bids: list[tuple[str, str]],
    snap_asks: list[tuple[str, str]],
    diffs: list[tuple[list[tuple[str, str]], list[tuple[str, str]]]],
    poison: int,
) -> None:
    snap_bids = [lv for lv in snap_bids if Decimal(lv[1]) != 0]
    snap_asks = [lv for lv in snap_asks if Decimal(lv[1]) != 0]
    sync = binance.BookSync("BTCUSDT", "spot")
    sync.on_snapshot(orjson.dumps({"lastUpdateId": 100, "bids": snap_bids, "asks": snap_asks}), 1)
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    _model(bids, snap_bids)
    _model(asks, snap_asks)
    for i, (b, a) in enumerate(diffs):
        frame = {"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": 101 + i, "u": 101 + i}
        poisoned = i == poison and bool(b or a)
        if poisoned:  # one level no venue sends, after valid ones: nothing of the frame lands
            a, b = ([*a, ("1e2", "1")], b) if a else (a, [*b, ("nan", "1")])
        events = sync.on_frame(orjson.dumps({**frame, "b": b, "a": a}), 2)
        if poisoned:
            assert [type(e).__name__ for e in events] == ["ResyncRequired"]
            break
        assert [type(e).__name__ for e in events] == ["BookDelta"]
        _model(bids, b)
        _model(asks, a)
    book = sync.book
    assert book.levels("bid") == sorted(bids.items(), reverse=True)
    assert book.levels("ask") == sorted(asks.items())
    _check_book(book)
