"""`just bench`: run every bench/bench_*.py, write JSON, print beside baseline and target.

python -m bench                 # all benchmarks
python -m bench graph clmm      # only modules whose name contains one of these words
python -m bench --quick         # small inputs (what the tests use to check the harness)
python -m bench --save-baseline # also overwrite bench/results/baseline.json with this run
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BASELINE = RESULTS / "baseline.json"


def discover(words: list[str]) -> list[str]:
    """Names of bench modules, filtered by words."""
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if words:
        names = [n for n in names if any(w in n for w in words)]
    return names


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"


def main(argv: list[str] | None = None) -> int:
    """Run, save, and print the comparison table."""
    ap = argparse.ArgumentParser(prog="python -m bench")
    ap.add_argument("words", nargs="*")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--save-baseline", action="store_true")
    ap.add_argument("--out", default=str(RESULTS / "latest.json"))
    args = ap.parse_args(argv)
    baseline = json.loads(BASELINE.read_text()) if BASELINE.is_file() else {"results": []}
    base = {r["name"]: r for r in baseline.get("results", [])}
    results: list[dict[str, object]] = []
    failed = []
    for name in discover(args.words):
        print(f"-- {name} ...", flush=True)
        t0 = time.perf_counter()
        try:
            mod = importlib.import_module(f"bench.{name}")
            rs = mod.run(quick=args.quick)
        except Exception:  # noqa: BLE001 - one broken bench must not hide the others
            traceback.print_exc()
            failed.append(name)
            continue
        for r in rs:
            r.setdefault("module", name)
            results.append(r)
        print(f"   {len(rs)} results in {time.perf_counter() - t0:.1f} s", flush=True)
    doc = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "quick": args.quick,
        "results": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1))
    if args.save_baseline:
        BASELINE.write_text(json.dumps(doc, indent=1))
    w = max([len(str(r["name"])) for r in results] + [10])
    print()
    print(f"{'benchmark':<{w}}  {'value':>12}  {'baseline':>12}  unit        target")
    for r in results:
        b = base.get(str(r["name"]), {}).get("value")
        print(
            f"{r['name']!s:<{w}}  {_fmt(r['value']):>12}  {_fmt(b):>12}  "  # type: ignore[arg-type]
            f"{r.get('unit', '')!s:<10}  {r.get('target', '')}"
        )
    print(f"\nresults: {out}" + (f"  (FAILED: {', '.join(failed)})" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
