"""What the pair engine's estimators learn from live execution reports (issue 12 item 4).

The pair step (engine/steps.PairStep) remembers, for every signal its engine emitted, what it
predicted at decision time: each leg's market and quote for the size, and the priority fee it
priced (`Opportunity.cu_price_micro_lamports`, at `[gas] cu_limit`). Live, the venues' reports
come back into that step (engine/graph.py), and `FillLearner.on_report` turns each into what
the estimators take:

- a fill of a leg (`<opportunity>/buy` or `/sell`, `filled_base > 0`): its realised slippage
  against the prediction, ppb of the predicted price, positive = worse (the fill-risk kill's
  measure, operators/fill_risk.py), for `PairEngine.observe_fill(market_id, bps)`;
- the final report of a DEX leg's transaction (`extra["outcome"]` landed / failed / expired):
  whether it was included in a block, at which CU price, for `PairEngine.observe_landing`.
  `failed` with a slot is an on-chain failure (e.g. the swap's threshold): the fee got it
  included, so it counts as landed for the priority-fee estimator; `failed` without a slot
  (refused before any node took it) says nothing about the fee and is not observed. The CU
  price is the one the transaction carried (`extra["cu_price_micro_lamports"]` at
  `extra["cu_limit"]`), re-expressed at `[gas] cu_limit` — the scale the engine prices and
  whose floor `LandingStats` raises; a report without them (older captures) is observed at
  the price the engine priced.

Hedges, unwinds and reports of opportunities this step never emitted carry no prediction and
teach nothing. A prediction is forgotten once both legs have a final report, or `keep_ns` after
its decision, or when more than `max_kept` are held (oldest first). Plain data: it pickles with
the step.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from operators.errors import ExecutionError
from operators.events import ExecutionReport, Opportunity
from operators.fx import quote_pair

PPB = 1_000_000_000
FINAL = frozenset({"filled", "rejected", "cancelled"})
LANDED_OUTCOMES = frozenset({"landed", "failed", "expired"})
KEEP_NS = 600_000_000_000
"""How long a prediction waits for its legs' reports (10 min: past any DEX send bound)."""
MAX_KEPT = 10_000


@dataclass(slots=True)
class Prediction:
    """One signal as the engine priced it (pair-quote base units, base units, ns)."""

    buy_market: str
    sell_market: str
    size_base: int
    buy_quote: int
    sell_quote: int
    cu_price_micro_lamports: int
    ts_ns: int
    final: set[str] = field(default_factory=set)
    """Legs (`buy` / `sell`) whose final report has come."""


@dataclass(frozen=True, slots=True)
class FillObservation:
    """A leg's fill: realised slippage vs the decision-time price (ppb, positive = worse)."""

    market_id: str
    slippage_ppb: int

    @property
    def slippage_bps(self) -> float:
        """The same in bps (the estimator's unit)."""
        return self.slippage_ppb / 1e5


@dataclass(frozen=True, slots=True)
class LandingObservation:
    """A DEX leg's transaction: included in a block or not, at this CU price (engine scale)."""

    market_id: str
    cu_price_micro_lamports: int
    landed: bool


def realised_slippage_ppb(
    side: str, predicted_quote: int, size_base: int, filled_base: int, quote_amount: int
) -> int:
    """Realised price of `filled_base` for `quote_amount` vs `predicted_quote` for `size_base`,
    ppb of the predicted price, positive = worse for us (floored); 0 without a prediction."""
    if predicted_quote <= 0 or size_base <= 0 or filled_base <= 0:
        return 0
    diff = quote_amount * size_base - predicted_quote * filled_base
    if side == "sell":
        diff = -diff
    return diff * PPB // (predicted_quote * filled_base)


def engine_cu_price(cu_price_micro_lamports: int, cu_limit: int, engine_cu_limit: int) -> int:
    """A transaction's CU price at its own limit, as the engine's price at `engine_cu_limit`
    for the same priority fee (micro-lamports per CU, floored)."""
    if cu_limit <= 0 or engine_cu_limit <= 0:
        return cu_price_micro_lamports
    fee_lamports = -(-cu_limit * cu_price_micro_lamports // 1_000_000)
    return fee_lamports * 1_000_000 // engine_cu_limit


class FillLearner:
    """Predictions of one pair's signals, and what their reports teach (see module doc)."""

    def __init__(
        self,
        dex_markets: frozenset[str],
        engine_cu_limit: int,
        keep_ns: int = KEEP_NS,
        max_kept: int = MAX_KEPT,
    ) -> None:
        self.dex_markets = dex_markets
        self.engine_cu_limit = engine_cu_limit
        self.keep_ns = keep_ns
        self.max_kept = max_kept
        self.predictions: OrderedDict[str, Prediction] = OrderedDict()
        self.fills_observed = 0
        self.landings_observed = 0
        self.reports = 0
        """Reports seen, whether or not they taught anything."""

    def on_signal(self, opp: Opportunity) -> None:
        """Remember a signal's prediction (its updates repeat it: the first one is kept)."""
        if opp.update_seq != 0 or opp.opportunity_id in self.predictions:
            return
        self.predictions[opp.opportunity_id] = Prediction(
            opp.buy_venue, opp.sell_venue, opp.size_base, opp.buy_quote, opp.sell_quote,
            opp.cu_price_micro_lamports, opp.ts_detect_ns,
        )  # fmt: skip
        self.prune(opp.ts_detect_ns)

    def prune(self, now_ns: int) -> None:
        """Forget predictions older than `keep_ns`, and the oldest past `max_kept`."""
        preds = self.predictions
        while preds:
            oldest = next(iter(preds.values()))
            if len(preds) <= self.max_kept and now_ns - oldest.ts_ns <= self.keep_ns:
                break
            preds.popitem(last=False)

    def on_report(self, r: ExecutionReport) -> list[FillObservation | LandingObservation]:
        """What one report teaches the estimators (nothing for hedges, unwinds, the unknown)."""
        self.reports += 1
        oid, _, leg = r.intent_id.rpartition("/")
        pred = self.predictions.get(r.opportunity_id)
        if pred is None or oid != r.opportunity_id or leg not in ("buy", "sell"):
            return []
        buy = leg == "buy"
        market = pred.buy_market if buy else pred.sell_market
        out: list[FillObservation | LandingObservation] = []
        if r.filled_base > 0:
            predicted = pred.buy_quote if buy else pred.sell_quote
            # the fill in the pair's quote at its own ratio: the prediction's currency
            slip = realised_slippage_ppb(
                leg, predicted, pred.size_base, r.filled_base, quote_pair(r)
            )
            out.append(FillObservation(market, slip))
            self.fills_observed += 1
        outcome = r.extra.get("outcome", "")
        if market in self.dex_markets and outcome in LANDED_OUTCOMES:
            landing = self._landing(market, pred, r, outcome)
            if landing is not None:
                out.append(landing)
                self.landings_observed += 1
        if r.status in FINAL:
            pred.final.add(leg)
            if len(pred.final) == 2:
                del self.predictions[r.opportunity_id]
        return out

    def _landing(
        self, market: str, pred: Prediction, r: ExecutionReport, outcome: str
    ) -> LandingObservation | None:
        if outcome == "failed" and _int(r, "slot") <= 0:
            return None  # refused before any block: nothing to say about the fee
        price = _int(r, "cu_price_micro_lamports")
        limit = _int(r, "cu_limit")
        if price > 0 and limit > 0:
            price = engine_cu_price(price, limit, self.engine_cu_limit)
        else:
            price = pred.cu_price_micro_lamports
        return LandingObservation(market, price, outcome != "expired")


def _int(r: ExecutionReport, name: str) -> int:
    """An integer `extra` field of a report (0 when absent; ExecutionError when not an int)."""
    text = r.extra.get(name)
    if text is None:
        return 0
    try:
        return int(text)
    except ValueError:
        raise ExecutionError(
            f"report {r.intent_id}: extra[{name!r}] = {text!r} is not an integer",
            retryable=False,
            venue=r.venue,
        ) from None
