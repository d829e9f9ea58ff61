"""The full cost model of one CEX x DEX candidate, every term in bps of the quote notional.

The notional is the buying leg's gross quote amount (before any venue fee) in the pair quote
currency's base units; `spread_bps` and every cost term are relative to it, so
`net_bps = spread_bps - costs.total_bps` and the PnL in quote units agree.

Terms:
- fees_cex / fees_dex: the legs' venue fees (CEX taker tier, CLOB taker fee, CLMM pool fee);
- gas: `signatures * base_fee_lamports + ceil(cu_limit * cu_price_micro_lamports / 10^6)`
  lamports, valued at `sol_price_quote` and rounded up to quote base units;
- slippage: per leg, the venue's realised p95 slippage once it has `slippage_min_fills` fills in
  its rolling window, else `slippage_default_bps`; the two legs add up;
- hedge: only for a PERP CEX leg. The perp position is closed later at another taker fee
  (`hedge_fee_bps`) and pays funding while held: `funding_bps_per_hour * expected_hold_s / 3600`
  (charged whichever way the position points: conservative). Spot legs leave no position: 0;
- safety margin: a flat buffer, counted as a cost so the expected PnL is conservative.

Every decision is made on integers (operators/fixedpoint.py): the bps terms are held as ppb
of the notional (converted once, when `CostParams` is built), the net edge as an exact ppb
ratio (`CandidateCost.net`); the float bps of `CostBreakdown` are the report view.

Priority fee rule (documented in `choose_cu_price`): spend `priority_share_of_edge` of the edge
left before gas on priority, converted to micro-lamports per CU, clamped to [floor, cap], where
the floor is raised by `LandingStats` when recent transactions at that price stopped landing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from operators.errors import QuoteError
from operators.events import CostBreakdown
from operators.fixedpoint import PPB, Ratio, bps_to_ppb, ppb_of, ppb_to_bps, to_ppb

__all__ = [
    "LAMPORTS_PER_SOL",
    "CandidateCost",
    "CostModel",
    "CostParams",
    "GasParams",
    "LandingStats",
    "SlippageEstimator",
    "bps_of",
    "candidate_pnl",
    "choose_cu_price",
    "evaluate_candidate",
    "gas_lamports",
    "gas_quote_units",
    "hedge_bps",
    "hedge_ppb",
    "lamports_to_quote_units",
]

LAMPORTS_PER_SOL = 1_000_000_000
MICRO_LAMPORTS_PER_LAMPORT = 1_000_000


@dataclass(frozen=True, slots=True)
class GasParams:
    """Solana transaction cost inputs (lamports, compute units, micro-lamports per CU)."""

    signatures: int = 1
    base_fee_lamports: int = 5000
    cu_limit: int = 200_000
    cu_price_floor_micro_lamports: int = 1_000
    cu_price_cap_micro_lamports: int = 2_000_000
    priority_share_of_edge: float = 0.1
    landing_target_rate: float = 0.8
    landing_min_samples: int = 20
    landing_window: int = 200


@dataclass(frozen=True, slots=True)
class CostParams:
    """Every tunable cost input of the spread engine (bps unless the name says otherwise)."""

    cex_taker_fee_bps: Mapping[str, float]
    dex_taker_fee_bps: Mapping[str, float]
    gas: GasParams
    sol_price_quote: Decimal
    """Pair quote currency per SOL (human units), for gas."""
    slippage_default_bps: float = 2.0
    slippage_min_fills: int = 20
    slippage_window_fills: int = 200
    hedge_fee_bps: float = 0.0
    funding_bps_per_hour: float = 0.0
    expected_hold_s: float = 5.0
    safety_margin_bps: float = 5.0
    cex_taker_fee_ppb: Mapping[str, int] = field(init=False, repr=False, compare=False)
    dex_taker_fee_ppb: Mapping[str, int] = field(init=False, repr=False, compare=False)
    slippage_default_ppb: int = field(init=False, repr=False, compare=False)
    safety_margin_ppb: int = field(init=False, repr=False, compare=False)
    hedge_perp_ppb: int = field(init=False, repr=False, compare=False)
    """Hedge cost of a perp CEX leg (`hedge_ppb`)."""

    def __post_init__(self) -> None:
        # The decision values, converted once (operators/fixedpoint.py); floats stay as given.
        put = object.__setattr__
        put(
            self, "cex_taker_fee_ppb", {k: bps_to_ppb(f) for k, f in self.cex_taker_fee_bps.items()}
        )
        put(
            self, "dex_taker_fee_ppb", {k: bps_to_ppb(f) for k, f in self.dex_taker_fee_bps.items()}
        )
        put(self, "slippage_default_ppb", bps_to_ppb(self.slippage_default_bps))
        put(self, "safety_margin_ppb", bps_to_ppb(self.safety_margin_bps))
        put(self, "hedge_perp_ppb", _hedge_perp_ppb(self))


def _hedge_perp_ppb(params: CostParams) -> int:
    # fee + |funding per hour| x hold / 3600 s, on the configured decimals, rounded to the
    # nearest ppb (ties to even): the one term that is not a whole number of ppb.
    fee = Decimal(bps_to_ppb(params.hedge_fee_bps))
    funding = abs(Decimal(repr(params.funding_bps_per_hour))) * 100_000
    hold_s = Decimal(repr(params.expected_hold_s))
    return round(fee + funding * hold_s / 3600)


def hedge_ppb(params: CostParams, cex_is_perp: bool) -> int:
    """Hedge cost of a candidate, ppb of the notional (0 for a spot CEX leg)."""
    return params.hedge_perp_ppb if cex_is_perp else 0


def hedge_bps(params: CostParams, cex_is_perp: bool) -> float:
    """Hedge cost of a candidate, bps: closing fee + funding over the hold, perp legs only."""
    if not cex_is_perp:
        return 0.0
    return params.hedge_fee_bps + abs(params.funding_bps_per_hour) * params.expected_hold_s / 3600.0


def gas_lamports(gas: GasParams, cu_price_micro_lamports: int) -> int:
    """Lamports of one transaction: signature fees + priority fee (rounded up, as charged)."""
    priority = -(-gas.cu_limit * cu_price_micro_lamports // MICRO_LAMPORTS_PER_LAMPORT)
    return gas.signatures * gas.base_fee_lamports + priority


def lamports_to_quote_units(lamports: int, sol_price_quote: Decimal, quote_decimals: int) -> int:
    """Value `lamports` in pair-quote base units at `sol_price_quote`, rounded up (a cost)."""
    n, d = sol_price_quote.as_integer_ratio()
    num = lamports * n * 10**quote_decimals
    return -(-num // (d * LAMPORTS_PER_SOL))


def gas_quote_units(params: CostParams, cu_price_micro_lamports: int, quote_decimals: int) -> int:
    """Gas of the DEX transaction in pair-quote base units (rounded up)."""
    return lamports_to_quote_units(
        gas_lamports(params.gas, cu_price_micro_lamports), params.sol_price_quote, quote_decimals
    )


# ----------------------------------------------------------------------------------- estimators


@dataclass(slots=True)
class SlippageEstimator:
    """Rolling realised slippage per venue (bps, positive = worse than quoted), fed by fills."""

    window: int = 200
    min_fills: int = 20
    samples: dict[str, deque[float]] = field(default_factory=dict)
    _p95: dict[str, tuple[int, float]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """venue -> (fills seen, p95): the sort is redone only after a new fill (hot path)."""

    def observe(self, venue: str, slippage_bps: float) -> None:
        """Record one fill's realised slippage on `venue`, bps."""
        q = self.samples.get(venue)
        if q is None:
            q = self.samples[venue] = deque(maxlen=self.window)
        q.append(slippage_bps)
        self._p95.pop(venue, None)

    def p95_bps(self, venue: str) -> float | None:
        """Realised p95 slippage of `venue` (bps, nearest-rank), None below `min_fills` fills."""
        q = self.samples.get(venue)
        if q is None or len(q) < self.min_fills:
            return None
        hit = self._p95.get(venue)
        # `samples` is a public field: a deque appended to directly is caught by its length
        # only while the window is not full, so the memo is trusted only for full windows
        # fed through `observe` (which drops the entry) and for unchanged lengths.
        if hit is not None and hit[0] == len(q):
            return hit[1]
        ordered = sorted(q)
        rank = -(-95 * len(ordered) // 100)  # nearest-rank percentile, 1-based
        p95 = max(0.0, ordered[rank - 1])
        self._p95[venue] = (len(q), p95)
        return p95

    def expected_bps(self, venue: str, default_bps: float) -> float:
        """Slippage to expect on `venue`: realised p95 when known, else the default, bps."""
        p95 = self.p95_bps(venue)
        return default_bps if p95 is None else p95

    def expected_ppb(self, venue: str, default_ppb: int) -> int:
        """`expected_bps` as integer ppb of the notional (the realised p95 converted once)."""
        if venue not in self.samples:
            return default_ppb  # no fill seen (the usual case: asked per candidate per view)
        p95 = self.p95_bps(venue)
        return default_ppb if p95 is None else bps_to_ppb(p95)


def cu_price_bucket(cu_price_micro_lamports: int) -> int:
    """Lower bound of the power-of-two bucket holding a CU price (0 for 0)."""
    return 0 if cu_price_micro_lamports <= 0 else 1 << (cu_price_micro_lamports.bit_length() - 1)


@dataclass(slots=True)
class LandingStats:
    """Recent landing outcomes of our transactions, by power-of-two CU price bucket.

    Rule: starting at the configured floor's bucket and walking up, while a bucket holds at least
    `min_samples` outcomes and its landing rate is below `target_rate`, the effective floor moves
    to the next bucket's lower bound. Buckets without enough samples stop the walk (no evidence
    the price is too low). Outcomes older than the last `window` per bucket are forgotten, so a
    floor raised in congestion comes back down once cheaper transactions land again.
    """

    window: int = 200
    min_samples: int = 20
    target_rate: float = 0.8
    outcomes: dict[int, deque[bool]] = field(default_factory=dict)
    _floors: dict[tuple[int, int], int] = field(default_factory=dict)

    def observe(self, cu_price_micro_lamports: int, landed: bool) -> None:
        """Record whether a transaction sent at this CU price landed."""
        self._floors.clear()
        b = cu_price_bucket(cu_price_micro_lamports)
        q = self.outcomes.get(b)
        if q is None:
            q = self.outcomes[b] = deque(maxlen=self.window)
        q.append(landed)

    def landing_rate(self, bucket: int) -> float | None:
        """Landing rate of a bucket, None below `min_samples` outcomes."""
        q = self.outcomes.get(bucket)
        if q is None or len(q) < self.min_samples:
            return None
        return sum(q) / len(q)

    def effective_floor(self, floor_micro_lamports: int, cap_micro_lamports: int) -> int:
        """The floor raised past buckets that fail to land, never above the cap."""
        key = (floor_micro_lamports, cap_micro_lamports)
        hit = self._floors.get(key)
        if hit is not None:
            return hit
        eff = floor_micro_lamports
        bucket = cu_price_bucket(eff)
        target_ppb = to_ppb(self.target_rate)
        while eff < cap_micro_lamports:
            q = self.outcomes.get(bucket)
            # landing rate >= target, exact: landed x 10^9 >= target ppb x outcomes
            if q is None or len(q) < self.min_samples or sum(q) * PPB >= target_ppb * len(q):
                break
            bucket = max(1, bucket * 2)
            eff = max(eff, bucket)
        eff = self._floors[key] = min(eff, cap_micro_lamports)
        return eff


def choose_cu_price(
    params: CostParams,
    edge_before_gas_quote: int,
    quote_decimals: int,
    landing: LandingStats | None = None,
) -> int:
    """CU price (micro-lamports per CU) worth `priority_share_of_edge` of the pre-gas edge.

    `edge_before_gas_quote` (pair-quote base units) is the expected PnL after fees, slippage,
    hedge and safety but before gas: what is left to pay for landing. Its share is converted to
    lamports at `sol_price_quote`, spread over `cu_limit` CUs, floored to whole micro-lamports
    and clamped to [floor raised by landing stats, cap]. A non-positive edge pays the floor.
    """
    gas = params.gas
    floor = gas.cu_price_floor_micro_lamports
    if landing is not None:
        floor = landing.effective_floor(floor, gas.cu_price_cap_micro_lamports)
    if edge_before_gas_quote <= 0 or gas.priority_share_of_edge <= 0:
        return floor
    n, d = params.sol_price_quote.as_integer_ratio()
    if n <= 0:
        raise QuoteError(f"sol_price_quote must be positive, got {params.sol_price_quote}")
    share_ppm = to_ppb(gas.priority_share_of_edge, 1_000_000)
    # micro-lamports/CU = share * edge / 10^qd [quote] / price [quote/SOL] * 10^9 [lamports/SOL]
    #                     * 10^6 [micro/lamport] / cu_limit; share in ppm cancels the 10^6.
    micro = share_ppm * edge_before_gas_quote * LAMPORTS_PER_SOL * d // (
        n * 10**quote_decimals * gas.cu_limit
    )
    return max(floor, min(gas.cu_price_cap_micro_lamports, micro))


# ----------------------------------------------------------------------------------- candidate


def bps_of(bps: float, notional_quote: int) -> int:
    """`bps` of a notional in quote base units, rounded up (bps held to 1e-5 bps)."""
    return ppb_of(bps_to_ppb(bps), notional_quote)


class CandidateCost(NamedTuple):
    """One candidate at one size, in pair-quote base units and bps of `notional_quote`."""

    notional_quote: int
    spread_bps: float
    costs: CostBreakdown
    cu_price_micro_lamports: int
    gas_quote: int
    pnl_quote: int
    net_bps: float
    """Float view of `net` (report only)."""
    net: Ratio
    """Net edge, exact ppb of the notional: what every decision compares."""
    flat_ppb: int
    """Slippage + hedge + safety, ppb of the notional."""


class CostModel:
    """`evaluate_candidate` / `candidate_pnl` for one `CostParams` and quote precision.

    Same integers and floats as those functions (they delegate here); what does not depend on
    the candidate (fx of the SOL price, powers of ten, hedge bps, gas per CU price) is worked
    out once, because the spread engine costs several candidates per tick.
    """

    __slots__ = (
        "_cap",
        "_d_lamports",
        "_floor",
        "_gas_memo",
        "_hedge_perp",
        "_hedge_perp_ppb",
        "_micro_den",
        "_micro_num",
        "_n_scale",
        "_safety",
        "_share_on",
        "_sol_n",
        "_sol_ok",
        "params",
        "quote_decimals",
    )

    _GAS_MEMO_MAX = 1024

    def __init__(self, params: CostParams, quote_decimals: int) -> None:
        self.params = params
        self.quote_decimals = quote_decimals
        gas = params.gas
        self._floor = gas.cu_price_floor_micro_lamports
        self._cap = gas.cu_price_cap_micro_lamports
        self._share_on = gas.priority_share_of_edge > 0
        self._hedge_perp = hedge_bps(params, True)
        self._hedge_perp_ppb = params.hedge_perp_ppb
        self._safety = params.safety_margin_bps
        self._gas_memo: dict[int, int] = {}
        try:
            n, d = params.sol_price_quote.as_integer_ratio()
        except (ValueError, OverflowError):  # nan / inf: the free functions raise as before
            self._sol_ok = False
            n, d = 0, 1
        else:
            self._sol_ok = True
        self._sol_n = n
        scale = 10**quote_decimals
        # choose_cu_price: share_ppm * edge * LAMPORTS_PER_SOL * d // (n * 10^qd * cu_limit)
        self._micro_num = to_ppb(gas.priority_share_of_edge, 1_000_000) * LAMPORTS_PER_SOL * d
        self._micro_den = n * scale * gas.cu_limit
        # lamports_to_quote_units: ceil(lamports * n * 10^qd / (d * LAMPORTS_PER_SOL))
        self._n_scale = n * scale
        self._d_lamports = d * LAMPORTS_PER_SOL

    def gas_quote(self, cu_price_micro_lamports: int) -> int:
        """`gas_quote_units` at this CU price (pair-quote base units, rounded up)."""
        memo = self._gas_memo
        hit = memo.get(cu_price_micro_lamports)
        if hit is not None:
            return hit
        if not self._sol_ok:
            return gas_quote_units(self.params, cu_price_micro_lamports, self.quote_decimals)
        lamports = gas_lamports(self.params.gas, cu_price_micro_lamports)
        value = -(-(lamports * self._n_scale) // self._d_lamports)
        if len(memo) >= self._GAS_MEMO_MAX:
            memo.clear()
        memo[cu_price_micro_lamports] = value
        return value

    def edge_and_gas(
        self,
        buy_gross_quote: int,
        buy_fee_quote: int,
        sell_gross_quote: int,
        sell_fee_quote: int,
        flat_ppb: int,
        landing: LandingStats | None,
    ) -> tuple[int, int, int]:
        """(edge before gas, CU price, gas): pair-quote base units / micro-lamports per CU."""
        edge = (sell_gross_quote - sell_fee_quote) - (buy_gross_quote + buy_fee_quote)
        edge -= ppb_of(flat_ppb, buy_gross_quote)
        if not self._sol_ok:
            cu_price = choose_cu_price(self.params, edge, self.quote_decimals, landing)
            return edge, cu_price, self.gas_quote(cu_price)
        floor = self._floor
        if landing is not None:
            floor = landing.effective_floor(floor, self._cap)
        if edge <= 0 or not self._share_on:
            cu_price = floor
        else:
            if self._sol_n <= 0:
                raise QuoteError(
                    f"sol_price_quote must be positive, got {self.params.sol_price_quote}"
                )
            micro = self._micro_num * edge // self._micro_den
            cu_price = max(floor, min(self._cap, micro))
        return edge, cu_price, self.gas_quote(cu_price)

    def evaluate(
        self,
        buy_gross_quote: int,
        buy_fee_quote: int,
        sell_gross_quote: int,
        sell_fee_quote: int,
        cex_buys: bool,
        cex_is_perp: bool,
        slippage_ppb: int,
        landing: LandingStats | None = None,
    ) -> CandidateCost:
        """`evaluate_candidate` with these params (amounts in pair-quote base units, ppb)."""
        notional = buy_gross_quote
        if notional <= 0:
            raise QuoteError(f"buy leg notional must be positive, got {notional}")
        hedge = self._hedge_perp if cex_is_perp else 0.0
        safety = self._safety
        flat_ppb = slippage_ppb + (self._hedge_perp_ppb if cex_is_perp else 0)
        flat_ppb += self.params.safety_margin_ppb
        edge, cu_price, gas_q = self.edge_and_gas(
            buy_gross_quote, buy_fee_quote, sell_gross_quote, sell_fee_quote, flat_ppb, landing
        )
        cex_fee, dex_fee = (buy_fee_quote, sell_fee_quote) if cex_buys else (
            sell_fee_quote,
            buy_fee_quote,
        )
        # int * 10_000 / int is one correctly rounded division: exact bps where they are exact.
        costs = CostBreakdown(
            cex_fee * 10_000 / notional,
            dex_fee * 10_000 / notional,
            gas_q * 10_000 / notional,
            ppb_to_bps(slippage_ppb),
            hedge,
            safety,
        )
        spread = (sell_gross_quote - buy_gross_quote) * 10_000 / notional
        # Exact net edge in ppb: (spread - fees - gas) x 10^9 / notional - flat.
        net_units = sell_gross_quote - buy_gross_quote - buy_fee_quote - sell_fee_quote - gas_q
        net = (net_units * PPB - flat_ppb * notional, notional)
        return CandidateCost(
            notional, spread, costs, cu_price, gas_q, edge - gas_q, spread - costs.total_bps,
            net, flat_ppb,
        )  # fmt: skip


def evaluate_candidate(
    params: CostParams,
    *,
    buy_gross_quote: int,
    buy_fee_quote: int,
    sell_gross_quote: int,
    sell_fee_quote: int,
    cex_buys: bool,
    cex_is_perp: bool,
    slippage_bps: float,
    quote_decimals: int,
    landing: LandingStats | None = None,
) -> CandidateCost:
    """Costs, net spread and expected PnL of buying on one leg and selling on the other.

    Amounts are pair-quote base units: `*_gross_quote` before venue fees, `*_fee_quote` the venue
    fee of that leg. The CEX leg is the buy leg when `cex_buys`. PnL = sell proceeds net of fee -
    buy cost incl. fee - gas - ceil(notional * (slippage + hedge + safety) bps).
    """
    return CostModel(params, quote_decimals).evaluate(
        buy_gross_quote,
        buy_fee_quote,
        sell_gross_quote,
        sell_fee_quote,
        cex_buys,
        cex_is_perp,
        bps_to_ppb(slippage_bps),
        landing,
    )


def candidate_pnl(
    params: CostParams,
    *,
    buy_gross_quote: int,
    buy_fee_quote: int,
    sell_gross_quote: int,
    sell_fee_quote: int,
    flat_bps: float,
    quote_decimals: int,
    landing: LandingStats | None = None,
) -> int:
    """Expected PnL (pair-quote base units) exactly as `evaluate_candidate` computes it.

    `flat_bps` = slippage + hedge + safety. Used where only the PnL is needed (marginal bps).
    """
    edge, _, gas_q = CostModel(params, quote_decimals).edge_and_gas(
        buy_gross_quote,
        buy_fee_quote,
        sell_gross_quote,
        sell_fee_quote,
        bps_to_ppb(flat_bps),
        landing,
    )
    return edge - gas_q
