"""SIGINT / SIGTERM as a clean stop for `solarb replay`, `paper`, `record` and `live`.

The first signal asks the run to stop: sources end as if their input were over, so Bytewax
closes every sink (the journal flushes its last batch, a capture gets its footer) and the
command still prints its summary and writes its report. A second signal aborts at once.
The command then exits 128 + the signal number (130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class GracefulStop:
    """While entered (main thread only), the first SIGINT/SIGTERM calls `on_stop` once.

    Enter it before a command's start-up, and `bind` the stop of the run once it exists: a
    signal during start-up then stops the run as soon as it is bound.
    """

    def __init__(self, on_stop: Callable[[], None] | None, label: str) -> None:
        self.on_stop = on_stop
        self.label = label
        self.signum: int | None = None
        """The signal that stopped the run, or None."""
        self._old: dict[int, Any] = {}

    @property
    def exit_code(self) -> int:
        """0 if no signal stopped the run, else 128 + the signal number (130, 143)."""
        return 0 if self.signum is None else 128 + self.signum

    @property
    def interrupted(self) -> bool:
        """Whether a signal stopped the run early."""
        return self.signum is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt  # second signal: the user wants out now
        self.signum = signum
        name = signal.Signals(signum).name
        print(f"solarb {self.label}: {name}, stopping cleanly (again to abort)", flush=True)
        if self.on_stop is not None:
            self.on_stop()

    def bind(self, on_stop: Callable[[], None]) -> None:
        """Stop the run with `on_stop`; called at once if a signal already came."""
        self.on_stop = on_stop
        if self.signum is not None:
            on_stop()

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)
        self._old = {}
