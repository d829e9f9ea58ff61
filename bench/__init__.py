"""Benchmarks. Each `bench/bench_*.py` module exposes `run(quick: bool) -> list[dict]`.

A result dict: {"name": str, "value": float, "unit": str, "target": str (optional),
"better": "lower"|"higher", "note": str (optional)}.
"""
