"""No signal storms: hysteresis and debounce per (pair, direction, buy market, sell market).

A persistent dislocation is ONE signal (`update_seq` 0). While it persists, updates (`update_seq`
1, 2, ...) go out at most once per `debounce_ns` and only when the net edge moved by at least
`update_min_edge_change_bps` or the optimal size by at least `update_min_size_change_pct` %.
The key re-arms (the next trigger is a new signal with a new id) only once the net edge has
fallen below `trigger_net_bps - rearm_below_bps`. Time is the caller's `now_ns`: no clock here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Debouncer", "HysteresisParams", "SignalDecision", "SignalState"]

SignalDecision = Literal["signal", "update", "suppress", "none"]


@dataclass(frozen=True, slots=True)
class HysteresisParams:
    """Debounce and re-arm settings (ns, bps, percent)."""

    debounce_ns: int = 1_000_000_000
    rearm_below_bps: float = 2.0
    update_min_edge_change_bps: float = 1.0
    update_min_size_change_pct: float = 10.0


@dataclass(slots=True)
class SignalState:
    """Plain state of one key: armed flag, signal count and what was last emitted."""

    armed: bool = True
    signals: int = 0
    update_seq: int = 0
    last_emit_ns: int = 0
    last_net_bps: float = 0.0
    last_size_base: int = 0


@dataclass(slots=True)
class Debouncer:
    """Hysteresis state for every key, plus the counters the journal reads."""

    params: HysteresisParams
    states: dict[str, SignalState] = field(default_factory=dict)
    counters: dict[str, int] = field(
        default_factory=lambda: {"signals": 0, "updates": 0, "suppressed": 0, "rearms": 0}
    )

    def decide(
        self,
        key: str,
        *,
        triggered: bool,
        net_bps: float,
        trigger_net_bps: float,
        size_base: int,
        now_ns: int,
    ) -> tuple[SignalDecision, SignalState]:
        """What to do with one evaluation of `key`; the state is updated when something is emitted.

        `net_bps` is the best net edge found (-inf when nothing could be priced) and
        `trigger_net_bps` the net edge the trigger needs.
        """
        st = self.states.get(key)
        if st is None:
            st = self.states[key] = SignalState()
        p = self.params
        if not triggered:
            if not st.armed and net_bps < trigger_net_bps - p.rearm_below_bps:
                st.armed = True
                self.counters["rearms"] += 1
            return "none", st
        if st.armed:
            st.armed = False
            st.signals += 1
            st.update_seq = 0
            st.last_emit_ns = now_ns
            st.last_net_bps = net_bps
            st.last_size_base = size_base
            self.counters["signals"] += 1
            return "signal", st
        if now_ns - st.last_emit_ns >= p.debounce_ns and self._material(st, net_bps, size_base):
            st.update_seq += 1
            st.last_emit_ns = now_ns
            st.last_net_bps = net_bps
            st.last_size_base = size_base
            self.counters["updates"] += 1
            return "update", st
        self.counters["suppressed"] += 1
        return "suppress", st

    def _material(self, st: SignalState, net_bps: float, size_base: int) -> bool:
        p = self.params
        if abs(net_bps - st.last_net_bps) >= p.update_min_edge_change_bps:
            return True
        base = max(st.last_size_base, 1)
        return abs(size_base - st.last_size_base) * 100 >= p.update_min_size_change_pct * base
