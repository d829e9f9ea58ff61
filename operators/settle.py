"""When a live execution report takes effect upstream of execution (issue 12 items 3 and 4).

Live, the venues' reports enter the pair step and the risk guard through an input of their own
(the execution source), merged with the market inputs. Where a report lands between two market
inputs depends on how the graph's merges interleaved them, which a replay of the recorded
session need not repeat. So a report does not take effect on arrival: it waits here until the
step's event clock (the market inputs' receive times: frames, feed health, opportunities)
reaches its own receive time plus `delay_ns` (`risk.reports_settle_ms`), and takes effect just
before that input. As long as a report reaches the step within the delay, live and replay apply
it before the same input, so both decide the same. Reports themselves never move the clock
(their position is what may differ). Plain data: it pickles with its step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class SettleQueue:
    """Items waiting for the event clock to pass their receive time + `delay_ns`."""

    delay_ns: int
    clock_ns: int = 0
    """The newest market-input time seen (ns)."""
    waiting: list[tuple[int, Any]] = field(default_factory=list)
    """(due ns, item), in arrival order."""

    def push(self, ts_recv_ns: int, item: Any) -> None:
        """Hold `item` (received at `ts_recv_ns`) until the clock reaches it plus the delay."""
        self.waiting.append((ts_recv_ns + self.delay_ns, item))

    def due(self, now_ns: int) -> list[Any]:
        """Advance the clock to `now_ns` (never back); the items now due, in arrival order."""
        if now_ns > self.clock_ns:
            self.clock_ns = now_ns
        if not self.waiting:
            return []
        clock = self.clock_ns
        out = [item for due, item in self.waiting if due <= clock]
        if out:
            self.waiting = [(due, item) for due, item in self.waiting if due > clock]
        return out

    def drain(self) -> list[Any]:
        """Everything still waiting (end of input), in arrival order."""
        out = [item for _, item in self.waiting]
        self.waiting = []
        return out
