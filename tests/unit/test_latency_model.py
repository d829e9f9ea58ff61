"""The paper venue's latency model: seeded per-venue distributions, drawn per intent id."""

from __future__ import annotations

import pytest

from config import load_settings
from engine.steps import paper_latency_model
from operators.errors import ConfigError
from operators.latency import DelayDist, LatencyModel, VenueDelays, uniform
from operators.paper import PaperVenue
from sim.simulate import SAMPLE_MARKETS
from tests.unit.test_paper import LADDER, MS, _intent, _view

ORCA_ACK = DelayDist(median_ns=400 * MS, p99_ns=1600 * MS)


def test_delay_at_the_median_and_p99_quantiles_is_the_configured_figure() -> None:
    assert ORCA_ACK.at(0.5) == 400 * MS
    assert abs(ORCA_ACK.at(0.99) - 1600 * MS) <= 1
    assert DelayDist(20 * MS, 20 * MS).at(0.999) == 20 * MS  # median = p99: a fixed delay


def test_draw_depends_only_on_seed_intent_venue_and_component() -> None:
    u = uniform(7, "opp|1/buy", "orca", "ack")
    assert u == uniform(7, "opp|1/buy", "orca", "ack")  # no shared stream: order-free
    others = {
        uniform(8, "opp|1/buy", "orca", "ack"),
        uniform(7, "opp|2/buy", "orca", "ack"),
        uniform(7, "opp|1/buy", "binance", "ack"),
        uniform(7, "opp|1/buy", "orca", "feed"),
    }
    assert u not in others and len(others) == 4
    assert all(0.0 < x < 1.0 for x in others)


def test_venue_without_a_distribution_keeps_the_fixed_latency() -> None:
    model = LatencyModel(1, {"orca": VenueDelays(ack=ORCA_ACK)})
    assert model.leg_delays_ns("i1/buy", "binance", 20 * MS) == (20 * MS, 0)
    execute, confirm = model.leg_delays_ns("i1/buy", "orca", 400 * MS)
    assert confirm == 0 and execute == ORCA_ACK.at(uniform(1, "i1/buy", "orca", "ack"))


def test_feed_and_ack_delay_the_execution_and_confirm_only_the_report() -> None:
    fixed = DelayDist(30 * MS, 30 * MS)
    model = LatencyModel(0, {"binance": VenueDelays(feed=fixed, ack=fixed, confirm=fixed)})
    v = PaperVenue(9, 6, cex_latency_ns=20 * MS, dex_latency_ns=400 * MS, latency=model)
    v.on_view(_view(0, LADDER))
    v.on_intent(_intent(1, 0))
    assert v.on_view(_view(50, (("100.5", "3"),))) == []  # the book at 60 ms: not known yet
    [r] = v.on_view(_view(70, (("200", "3"),)))  # the fixed 20 ms would have taken 100
    assert (r.status, r.quote_amount) == ("filled", 100_500_000)
    assert r.ts_fill_ns == 90 * MS  # executed at 60 ms, reported 30 ms later


def test_no_paper_latency_config_means_no_model() -> None:
    assert paper_latency_model(load_settings(markets_path=SAMPLE_MARKETS, env={})) is None


def test_paper_latency_config_becomes_the_model_in_ns() -> None:
    env = {
        "SOLARB__PAPER__SEED": "5",
        "SOLARB__PAPER__LATENCY__ORCA__ACK": "{median_ms = 400, p99_ms = 1600}",
        "SOLARB__PAPER__LATENCY__ORCA__CONFIRM": "{median_ms = 0.5, p99_ms = 2.5}",
    }
    model = paper_latency_model(load_settings(markets_path=SAMPLE_MARKETS, env=env))
    assert model == LatencyModel(
        5, {"orca": VenueDelays(ack=ORCA_ACK, confirm=DelayDist(500_000, 2_500_000))}
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("LATENCY__ORCA__ACK", "{median_ms = 500, p99_ms = 100}", "paper.latency.orca.ack"),
        ("LATENCY__KRAKEN__ACK", "{median_ms = 5, p99_ms = 10}", "not in \\[venues\\]"),
        ("LATENCY__ORCA__ACK", "{median_ms = 5}", "paper.latency.orca.ack.p99_ms"),
    ],
)
def test_bad_paper_latency_config_is_a_config_error(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(markets_path=SAMPLE_MARKETS, env={f"SOLARB__PAPER__{key}": value})


def test_paper_venue_with_a_model_resumes_from_a_pickle_with_the_same_draws() -> None:
    import pickle

    model = LatencyModel(3, {"binance": VenueDelays(ack=DelayDist(20 * MS, 200 * MS))})
    v = PaperVenue(9, 6, cex_latency_ns=20 * MS, dex_latency_ns=400 * MS, latency=model)
    v.on_view(_view(0, LADDER))
    v.on_intent(_intent(1, 0))
    resumed = pickle.loads(pickle.dumps(v))
    later = _view(1000, (("200", "3"),))
    reports = v.on_view(later)
    assert resumed.on_view(later) == reports
    [r] = reports
    assert r.ts_fill_ns == DelayDist(20 * MS, 200 * MS).at(uniform(3, "i1/buy", "binance", "ack"))
    assert r.ts_fill_ns != 20 * MS  # drawn, not the fixed latency
