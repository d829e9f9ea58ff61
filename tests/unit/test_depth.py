"""Depth at a limit and its rolling quantile (the slice size of large CEX orders)."""

from __future__ import annotations

import pickle
from decimal import Decimal as D

import pytest

from operators.depth import RollingDepth, depth_at_limit

ASKS = ((D("150.10"), D("2")), (D("150.20"), D("3")), (D("150.40"), D("10")))
BIDS = ((D("150.00"), D("1")), (D("149.90"), D("4")), (D("149.50"), D("8")))


def test_a_buy_takes_asks_up_to_its_limit_and_a_sell_bids_down_to_it():
    assert depth_at_limit(ASKS, "buy", D("150.20")) == D("5")
    assert depth_at_limit(ASKS, "buy", D("150.05")) == D("0")
    assert depth_at_limit(BIDS, "sell", D("149.90")) == D("5")
    assert depth_at_limit(BIDS, "sell", D("149.00")) == D("13")


def test_rolling_quantile_is_nearest_rank_over_the_window():
    r = RollingDepth(window=20, quantile=0.95, min_samples=5)
    for k in range(1, 5):
        r.observe(D(k))
    assert r.value() is None  # too few observations to size slices
    for k in range(5, 31):
        r.observe(D(k))
    assert list(r.samples) == [D(k) for k in range(11, 31)]  # only the last 20 are kept
    assert r.value() == D(29)  # ceil(0.95 * 20) = 19th smallest of 11..30
    assert RollingDepth(window=20, quantile=1.0, min_samples=1, samples=r.samples).value() == 30


def test_state_pickles_for_bytewax_snapshots():
    r = RollingDepth(window=3, min_samples=1)
    r.observe(D("1.5"))
    back = pickle.loads(pickle.dumps(r))
    assert (list(back.samples), back.value()) == ([D("1.5")], D("1.5"))


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="quantile in"):
        RollingDepth(quantile=0.0)
