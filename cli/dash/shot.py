"""Render the dashboard over a replay of the bundled sample to an SVG (the README's picture).

    python -m cli.dash.shot [--out docs/dash.svg] [--all-venues]      (or `just dash-shot`)

The replay goes to a temporary journal, so `out/journal` is left alone. Latency figures come
from wall-clock stamps, so two shots differ in those digits only.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from cli.dash.app import DashApp
from cli.runner import RunOptions, run_flow
from config import load_settings
from flows.replay import build_flow
from replay.report import pair_units
from sim.simulate import ensure_sample, sample_markets

SIZE = (150, 48)
"""Terminal columns x rows of the shot."""


async def _shoot(app: DashApp, out: Path) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.save_screenshot(filename=out.name, path=str(out.parent))


def shoot(out: Path, all_venues: bool = False, capture: Path | None = None) -> Path:
    """Replay the sample (or `capture`, of the sample's markets) into a temporary journal and
    save the dashboard over it to `out`."""
    settings = load_settings(markets_path=sample_markets(all_venues))
    capture = capture or ensure_sample(all_venues=all_venues)
    with tempfile.TemporaryDirectory(prefix="solarb-dash-") as tmp:
        journal = Path(tmp) / "journal"
        run_flow(build_flow(settings, [capture], journal, run_id="sample-replay"), RunOptions())
        app = DashApp(journal, pair_units(settings), wall_clock=False)
        out.parent.mkdir(parents=True, exist_ok=True)
        asyncio.run(_shoot(app, out))
    return out


def main() -> None:
    """Command line of the shot."""
    p = argparse.ArgumentParser(prog="python -m cli.dash.shot", description=__doc__)
    p.add_argument("--out", default="docs/dash.svg", help="SVG to write")
    p.add_argument("--all-venues", action="store_true", help="the 7-venue sample")
    args = p.parse_args()
    print(f"solarb: dashboard screenshot at {shoot(Path(args.out), args.all_venues)}")


if __name__ == "__main__":
    main()
