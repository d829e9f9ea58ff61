# solarb recipes. `just --list` shows them all.
set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"
py := venv + "/bin/python"

default:
    @just --list

# Install and replay the bundled sample session (README command 1).
demo:
    python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/solarb replay --sample

# Install and run the whole test suite (README command 2, the one .ci/run runs).
test:
    python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]' && .venv/bin/python -m pytest

# Everything CI runs: tests, ruff, mypy, layering.
ci:
    bash .ci/run

# Lint, types and layering only.
lint:
    {{venv}}/bin/ruff check .
    {{venv}}/bin/mypy
    {{venv}}/bin/lint-imports

# Regenerate the bundled sample capture with the deterministic simulator.
sample:
    {{venv}}/bin/solarb sample --force

# Replay a capture (default: the bundled sample).
replay *ARGS:
    {{venv}}/bin/solarb replay {{ARGS}}

# Sweep thresholds and sizes over captures (default: the samples), walk-forward -> out/calibrate/.
calibrate *ARGS:
    {{venv}}/bin/solarb calibrate {{ARGS}}

# Paper trading: live market data, simulated fills.
paper *ARGS:
    {{venv}}/bin/solarb paper {{ARGS}}

# Live trading on loopback (no network): loopback venues + two Solana stand-ins, in-memory keys.
live-loopback *ARGS:
    {{venv}}/bin/solarb live --loopback --duration 20 {{ARGS}}

# Terminal dashboard over the journal (beside `just paper`, or after a replay).
dash *ARGS:
    {{venv}}/bin/solarb dash {{ARGS}}

# Regenerate docs/dash.svg: the dashboard over a replay of the bundled sample.
dash-shot *ARGS:
    {{py}} -m cli.dash.shot {{ARGS}}

# Record live feeds to a Parquet capture.
record *ARGS:
    {{venv}}/bin/solarb record {{ARGS}}

# Daily checklist: clock, RPC, feeds, caps, thresholds, keychain.
check *ARGS:
    {{venv}}/bin/solarb check {{ARGS}}

# Benchmarks: write bench/results/latest-*.json and print them beside baseline and targets.
bench *ARGS:
    {{venv}}/bin/pip install -q -e '.[dev,bench]'
    {{py}} -m bench {{ARGS}}

# Install the venues' own published quote/decode code (npm) used as exactness oracles by tests.
oracles:
    bash tests/oracles/install.sh
