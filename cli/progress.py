"""Replay progress for a person: a rich progress bar on a terminal, plain lines otherwise.

The replay source only bumps a counter (`replay.source.ReplayProgress`); a ticker thread here
reads it a few times a second, so the display costs the hot path nothing but an addition.
Off a terminal (CI logs, a pipe) a bar would be a mess of carriage returns, so it prints one
line every `every_s` seconds and one at the end.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO


class FrameCounter(Protocol):
    """What the display reads: frames done so far and the total."""

    @property
    def done(self) -> int: ...

    total: int


def _clock_hms(seconds: float) -> str:
    s = max(0, round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def progress_line(label: str, done: int, total: int, elapsed_s: float) -> str:
    """One plain progress line: frames done / total, share, rate (frames/s) and ETA."""
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    share = f" ({done / total:.1%})" if total else ""
    eta = _clock_hms((total - done) / rate) if rate > 0 and total >= done else "?"
    return f"solarb {label}: {done:,} / {total:,} frames{share}, {rate:,.0f} frames/s, ETA {eta}"


def _plain(
    counter: FrameCounter,
    label: str,
    out: TextIO,
    every_s: float,
    stop: threading.Event,
    clock: Callable[[], float],
) -> None:
    t0 = clock()
    while not stop.wait(every_s):
        print(progress_line(label, counter.done, counter.total, clock() - t0), file=out, flush=True)
    print(progress_line(label, counter.done, counter.total, clock() - t0), file=out, flush=True)


def _bar(counter: FrameCounter, label: str, out: TextIO, stop: threading.Event) -> None:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    class _Rate(TextColumn):
        def __init__(self) -> None:
            super().__init__("")

        def render(self, task):  # type: ignore[no-untyped-def]
            from rich.text import Text

            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} frames/s" if speed else "- frames/s")

    with Progress(
        TextColumn(f"solarb {label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        _Rate(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(file=out),
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=counter.total or None)
        while not stop.wait(0.2):
            bar.update(task, completed=counter.done)
        bar.update(task, completed=counter.done)


@contextmanager
def replay_progress(
    counter: FrameCounter | None,
    label: str = "replay",
    *,
    out: TextIO | None = None,
    every_s: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[None]:
    """Show `counter`'s progress while the block runs: a bar on a TTY, plain lines otherwise."""
    if counter is None:
        yield
        return
    stream = out or sys.stdout  # beside the run's other progress lines (`solarb paper: ...`)
    stop = threading.Event()
    if stream.isatty():
        target: Callable[[], None] = lambda: _bar(counter, label, stream, stop)  # noqa: E731
    else:
        target = lambda: _plain(counter, label, stream, every_s, stop, clock)  # noqa: E731
    ticker = threading.Thread(target=target, name="replay-progress", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join(5.0)
