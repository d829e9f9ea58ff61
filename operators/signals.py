"""No signal storms: hysteresis and debounce per (pair, direction, buy market, sell market).

A persistent dislocation is ONE signal (`update_seq` 0). While it persists, updates (`update_seq`
1, 2, ...) go out at most once per `debounce_ns` and only when the net edge moved by at least
`update_min_edge_change_bps` or the optimal size by at least `update_min_size_change_pct` %.
The key re-arms (the next trigger is a new signal with a new id) only once the net edge has
fallen below `trigger_net_bps - rearm_below_bps`. Time is the caller's `now_ns`: no clock here.

Every comparison is exact (operators/fixedpoint.py): the net edge arrives as an exact ppb ratio,
the thresholds as integer ppb converted once from the configured bps and percent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from operators.errors import QuoteError
from operators.fixedpoint import PPB, Ratio, bps_to_ppb, ratio_lt, to_ppb

__all__ = ["Debouncer", "HysteresisParams", "SignalDecision", "SignalState"]

SignalDecision = Literal["signal", "update", "suppress", "none"]


@dataclass(frozen=True, slots=True)
class HysteresisParams:
    """Debounce and re-arm settings (ns, bps, percent)."""

    debounce_ns: int = 1_000_000_000
    rearm_below_bps: float = 2.0
    update_min_edge_change_bps: float = 1.0
    update_min_size_change_pct: float = 10.0
    rearm_below_ppb: int = field(init=False, repr=False, compare=False)
    update_min_edge_change_ppb: int = field(init=False, repr=False, compare=False)
    update_min_size_change_ppb: int = field(init=False, repr=False, compare=False)
    """The size change as ppb of the last size (10 % = 10^8)."""

    def __post_init__(self) -> None:
        # The decision values, converted once (operators/fixedpoint.py); floats stay as given.
        object.__setattr__(self, "rearm_below_ppb", bps_to_ppb(self.rearm_below_bps))
        object.__setattr__(
            self, "update_min_edge_change_ppb", bps_to_ppb(self.update_min_edge_change_bps)
        )
        object.__setattr__(
            self, "update_min_size_change_ppb", to_ppb(self.update_min_size_change_pct, PPB // 100)
        )


@dataclass(slots=True)
class SignalState:
    """Plain state of one key: armed flag, signal count and what was last emitted."""

    armed: bool = True
    signals: int = 0
    update_seq: int = 0
    last_emit_ns: int = 0
    last_net: Ratio = (0, 1)
    """Net edge last emitted, exact ppb ratio."""
    last_size_base: int = 0
    epoch: str = ""
    """The engine's id epoch when the current signal fired (`PairEngine.id_epoch`): its
    opportunity id and every update's carry it, so ids never repeat across live processes."""


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
        net: Ratio | None,
        trigger_net_ppb: int,
        size_base: int,
        now_ns: int,
    ) -> tuple[SignalDecision, SignalState]:
        """What to do with one evaluation of `key`; the state is updated when something is emitted.

        `net` is the best net edge found as an exact ppb ratio (None: nothing could be priced,
        minus infinity) and `trigger_net_ppb` the net edge the trigger needs, ppb.
        """
        st = self.states.get(key)
        if st is None:
            st = self.states[key] = SignalState()
        p = self.params
        if not triggered:
            if not st.armed and ratio_lt(net, trigger_net_ppb - p.rearm_below_ppb):
                st.armed = True
                self.counters["rearms"] += 1
            return "none", st
        if net is None:
            raise QuoteError(f"{key}: a triggered evaluation must carry its net edge")
        if st.armed:
            st.armed = False
            st.signals += 1
            st.update_seq = 0
            st.last_emit_ns = now_ns
            st.last_net = net
            st.last_size_base = size_base
            self.counters["signals"] += 1
            return "signal", st
        if now_ns - st.last_emit_ns >= p.debounce_ns and self._material(st, net, size_base):
            st.update_seq += 1
            st.last_emit_ns = now_ns
            st.last_net = net
            st.last_size_base = size_base
            self.counters["updates"] += 1
            return "update", st
        self.counters["suppressed"] += 1
        return "suppress", st

    def _material(self, st: SignalState, net: Ratio, size_base: int) -> bool:
        p = self.params
        (n, d), (ln, ld) = net, st.last_net
        # |n/d - ln/ld| >= change, both denominators positive: cross-multiplied, exact.
        if abs(n * ld - ln * d) >= p.update_min_edge_change_ppb * d * ld:
            return True
        base = max(st.last_size_base, 1)
        return abs(size_base - st.last_size_base) * PPB >= p.update_min_size_change_ppb * base
