"""`solarb calibrate`: sweep thresholds and sizes over captures, walk-forward (replay/calibrate)."""

from __future__ import annotations

import argparse
from pathlib import Path

from operators.errors import ConfigError


def _captures(args: argparse.Namespace) -> list[object]:
    from replay.calibrate import Capture

    if args.capture:
        if not args.markets:
            raise ConfigError("calibrate: pass the captures' markets file with --markets")
        return [Capture(Path(c), Path(args.markets)) for c in args.capture]
    from sim.simulate import ensure_sample, sample_markets

    print("solarb: no capture given: calibrating on the bundled samples")
    out: list[object] = []
    for all_venues, multi_pair in ((False, False), (True, False), (False, True)):
        path = ensure_sample(progress=print, all_venues=all_venues, multi_pair=multi_pair)
        out.append(Capture(path, sample_markets(all_venues, multi_pair)))
    return out


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Replay every grid setting over the captures; write report, HTML and config snippet."""
    from replay.calibrate import Capture, calibrate, parse_grid
    from replay.calibrate_report import write_outputs

    grid = parse_grid(args.grid or [])
    captures = [c for c in _captures(args) if isinstance(c, Capture)]
    out = Path(args.out)
    cal = calibrate(
        captures,
        grid,
        out,
        config=Path(args.config) if args.config else None,
        overrides=[Path(p) for p in (args.override or [])],
        windows=args.windows,
        processes=args.processes,
        progress=lambda m: print(m, flush=True),
    )
    paths = write_outputs(cal, out)
    print(f"chosen         {cal.chosen.sid}")
    print(f"report         {paths['report']} (+ {paths['html'].name})")
    print(f"config snippet {paths['snippet']} (load: solarb --override {paths['snippet']} ...)")
    return 0


def add_calibrate_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The `calibrate` subcommand."""
    c = sub.add_parser(
        "calibrate",
        help="sweep thresholds and sizes over captures (walk-forward), write a config snippet",
    )
    c.add_argument(
        "capture",
        nargs="*",
        help="Parquet capture(s) (default: the bundled samples); "
        "one markets file for all (--markets)",
    )
    c.add_argument("--out", default="out/calibrate", help="folder for the report and snippet")
    c.add_argument(
        "--grid",
        action="append",
        metavar="SPEC",
        help="`wide`, or NAME=V1,V2,... (repeat; names: safety_margin_bps, min_net_bps, "
        "max_notional_usd, priority_share_of_edge, slippage_mult); default a small grid",
    )
    c.add_argument(
        "--windows",
        type=int,
        default=3,
        help="windows of market time per capture: in-sample, out-of-sample ..., test (default 3)",
    )
    c.add_argument("--processes", type=int, default=None, help="worker processes (default: cores)")
    c.set_defaults(func=cmd_calibrate)
