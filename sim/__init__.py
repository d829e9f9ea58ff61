"""Simulation tooling, never imported by production code: simulated CEX venues (loopback),
the Solana RPC stand-in (`solders.litesvm`), the sample generator and the loopback world.

Only the CLI's `--loopback` / `--sample` entry points, tests and benchmarks import it; an
import-linter contract in pyproject.toml enforces that.
"""
