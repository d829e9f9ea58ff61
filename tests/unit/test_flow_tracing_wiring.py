"""Every flow adds the `traces` output only when tracing is on, scoped as documented."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import flows.tracing
from config import load_settings
from flows import live, paper
from flows.replay import build_flow as build_replay
from sim.simulate import SAMPLE_MARKETS, SimConfig, write_capture

ON = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}


@pytest.fixture
def scopes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = flows.tracing.TracingSink

    def spy(cfg: Any, scope: str) -> Any:
        seen.append(scope)
        return real(cfg, scope)

    monkeypatch.setattr(flows.tracing, "TracingSink", spy)
    # the machine's own OTEL_* variables must not decide what these tests see
    for k in ("OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    return seen


def test_paper_and_live_trace_scopes_are_their_run_ids(
    scopes: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    paper.build_flow(settings, tmp_path / "p", run_id="off-run").handles.close()
    assert scopes == []  # off by default: no traces output at all
    for k, v in ON.items():
        monkeypatch.setenv(k, v)
    paper.build_flow(settings, tmp_path / "p", run_id="paper-run").handles.close()
    live.build_flow(settings, tmp_path / "l", signals_only=True, run_id="live-run").handles.close()
    assert scopes == ["run:paper-run", "run:live-run"]


def test_replay_trace_scope_is_the_capture_name_and_size(
    scopes: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cap = tmp_path / "session.parquet"
    write_capture(cap, SimConfig(duration_s=5))
    settings = load_settings(markets_path=SAMPLE_MARKETS, env={})
    for k, v in ON.items():
        monkeypatch.setenv(k, v)
    build_replay(settings, [cap], tmp_path / "j")
    assert scopes == [f"replay:session.parquet:{cap.stat().st_size}"]
