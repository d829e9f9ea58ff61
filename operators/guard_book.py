"""The risk guard's book from execution reports, live (issue 12 item 3): reserve, then settle.

Live, the venues' reports reach the guard (engine/graph.py; applied on the event clock,
operators/settle.py), so its exposure, open orders and daily PnL follow what really happened:

- an accepted opportunity **reserves** each leg: its quoted amount in micro-USD on the venue
  the leg's reports name (signed, bought positive) and one open-order slot;
- each fill of a reserved leg **settles** that much: the reservation shrinks pro rata to the
  base filled and the fill's own amount is booked instead; a final report (`filled`,
  `rejected`, `cancelled`) releases what is left and the slot. A rejected leg thus stops
  counting at once, and its filled twin stays as the one-legged exposure it is;
- fills of orders the guard never reserved (hedges, unwinds, a leg's late fill after its
  reservation was released) are booked as they come, on the venue the report names;
- a reservation no report ever answers is released after `unreported_leg_ns` (DEX legs: after
  `dex_unreported_leg_ns`, past the DEX send bound): a leg refused or dropped downstream (a
  fill-risk kill, a guard kill racing the intent) never reports, and with `dex_first` the CEX
  twin of a DEX leg that filled nothing is never sent (released with that DEX leg's report);
- realised PnL of the UTC day (event time), in micro-USD: an opportunity's cash (every fill of
  its legs, hedges and unwinds, fees in quote taken out; DEX gas is paid in SOL and is not in
  the reports' quote fees) is realised when its base is flat again, at the pair's [fx] rate.
  A fill on a market quoted in another currency is valued in the pair's quote at its own ratio
  first (operators/fx.py `quote_pair`, `cash_pair`).

Amounts are integers end to end; plain data (pickles with the guard's state).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from operators.events import ExecutionReport
from operators.fx import cash_pair, quote_pair

DAY_NS = 86_400_000_000_000
FINAL = frozenset({"filled", "rejected", "cancelled"})
MAX_OPEN_CASH = 10_000
"""Opportunities whose cash is followed until flat (oldest dropped first past this)."""


@dataclass(slots=True)
class Reservation:
    """One leg the guard let through, until its final report (amounts signed, micro-USD)."""

    opportunity_id: str
    venue: str
    """The id the leg's reports name (`ExecutionReport.venue`): the exposure key."""
    reserved_usd_micro: int
    """The quoted amount of the whole leg (bought positive)."""
    size_base: int
    ts_ns: int
    ttl_ns: int
    dex: bool
    filled_base: int = 0
    reported: bool = False

    def outstanding(self) -> int:
        """What is still reserved: the quoted amount of the base not filled yet."""
        left = max(self.size_base - self.filled_base, 0)
        if self.size_base <= 0 or left == 0:
            return 0
        part = abs(self.reserved_usd_micro) * left // self.size_base
        return part if self.reserved_usd_micro >= 0 else -part


@dataclass(slots=True)
class _Cash:
    net_base: int = 0
    cash_quote: int = 0


@dataclass(slots=True)
class GuardBook:
    """Reservations, settled fills and the day's realised PnL (see module doc)."""

    reservations: dict[str, Reservation] = field(default_factory=dict)
    """Intent id -> its leg's reservation, until released."""
    exposure_usd_micro: dict[str, int] = field(default_factory=dict)
    """Venue -> settled fills plus outstanding reservations (what the exposure rail reads)."""
    filled_usd_micro: dict[str, int] = field(default_factory=dict)
    """Venue -> settled fills only (signed, bought positive)."""
    net_base: dict[str, int] = field(default_factory=dict)
    """Pair -> net base filled across its venues (the one-legged residue, base units)."""
    cash: OrderedDict[str, _Cash] = field(default_factory=OrderedDict)
    day: int = -1
    daily_pnl_usd_micro: int = 0
    reports: int = 0
    released_unreported: int = 0

    def open_legs(self) -> int:
        """Legs reserved and not released yet (the open-order count)."""
        return len(self.reservations)

    def reserve(self, intent_id: str, r: Reservation) -> None:
        """Reserve one accepted leg's quoted exposure and an open-order slot."""
        self.reservations[intent_id] = r
        self._add(self.exposure_usd_micro, r.venue, r.outstanding())

    def expire(self, now_ns: int) -> None:
        """Release the reservations no report has answered within their TTL."""
        late = [
            iid for iid, r in self.reservations.items()
            if not r.reported and now_ns - r.ts_ns > r.ttl_ns
        ]  # fmt: skip
        for iid in late:
            self._release(iid)
            self.released_unreported += 1

    def on_report(
        self,
        pair: str,
        r: ExecutionReport,
        usd_ratio: tuple[int, int] | None,
        now_ns: int,
        dex_first: bool = False,
    ) -> None:
        """Settle one report of `pair` (`usd_ratio`: its quote units -> micro-USD)."""
        self.reports += 1
        res = self.reservations.get(r.intent_id)
        venue = res.venue if res is not None else r.venue
        if r.filled_base > 0:
            num, den = usd_ratio if usd_ratio is not None else (0, 1)
            value = quote_pair(r) * num // den  # the fill in the pair's quote, then USD
            signed = value if r.side == "buy" else -value
            before = res.outstanding() if res is not None else 0
            if res is not None:
                res.filled_base += r.filled_base
            after = res.outstanding() if res is not None else 0
            self._add(self.exposure_usd_micro, venue, signed + after - before)
            self._add(self.filled_usd_micro, venue, signed)
            sign = 1 if r.side == "buy" else -1
            self._add(self.net_base, pair, sign * r.filled_base)
            self._cash(r, sign, usd_ratio, now_ns)
        if res is not None:
            res.reported = True
            if r.status in FINAL:
                self._release(r.intent_id)
                if dex_first and res.dex and res.filled_base == 0:
                    self._release_unsent_twin(r.intent_id, res.opportunity_id)

    def _release_unsent_twin(self, intent_id: str, opportunity_id: str) -> None:
        # dex_first: the CEX twin goes out only on the DEX leg's fill; none came, none will
        for iid, twin in list(self.reservations.items()):
            if twin.opportunity_id == opportunity_id and iid != intent_id and not twin.reported:
                self._release(iid)

    def _release(self, intent_id: str) -> None:
        res = self.reservations.pop(intent_id)
        self._add(self.exposure_usd_micro, res.venue, -res.outstanding())

    def _cash(
        self, r: ExecutionReport, sign: int, usd_ratio: tuple[int, int] | None, now_ns: int
    ) -> None:
        c = self.cash.get(r.opportunity_id)
        if c is None:
            c = self.cash[r.opportunity_id] = _Cash()
            while len(self.cash) > MAX_OPEN_CASH:
                self.cash.popitem(last=False)
        c.net_base += sign * r.filled_base
        c.cash_quote += cash_pair(r)
        if c.net_base != 0:
            return
        del self.cash[r.opportunity_id]
        if usd_ratio is None:
            return
        day = now_ns // DAY_NS
        if day != self.day:
            self.day, self.daily_pnl_usd_micro = day, 0
        # floor division rounds a loss further down: the rail never flatters the day
        self.daily_pnl_usd_micro += c.cash_quote * usd_ratio[0] // usd_ratio[1]

    def daily_loss_usd_micro(self, now_ns: int) -> int:
        """The day's realised loss at `now_ns` (0 when the day made money or has just begun)."""
        if now_ns // DAY_NS != self.day:
            return 0
        return max(-self.daily_pnl_usd_micro, 0)

    @staticmethod
    def _add(book: dict[str, int], key: str, delta: int) -> None:
        if delta:
            book[key] = book.get(key, 0) + delta


def venue_key(venue_of: Mapping[str, str] | None, market_id: str) -> str:
    """The id a market's reports name (`ExecutionReport.venue`); the market id without a map."""
    return market_id if venue_of is None else venue_of.get(market_id, market_id)
