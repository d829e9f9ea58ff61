"""`solarb paper`, `solarb record`, `solarb live`, and the `--loopback` switch they share.

`--loopback` needs no network: it runs the command against the loopback world of
`sim/loopback.py` (simulated CEX venues + a Solana RPC stand-in; markets default to
sim/sample/markets.toml). `sim` is dev tooling: it is imported only when `--loopback` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.runner import (
    RunOptions,
    add_run_options,
    journal_settings,
    recovery_run_id,
    run_flow,
    run_options,
)
from config import Settings, load_settings
from engine.live_inputs import Bounds, LiveHandles, market_ids
from flows.paper import LiveFlow
from flows.stopping import GracefulStop
from operators.errors import ConfigError

if TYPE_CHECKING:
    from sim.loopback import Loopback


@contextlib.contextmanager
def prepared(
    args: argparse.Namespace, rpcs: int = 1
) -> Iterator[tuple[Settings, Loopback | None]]:
    """Settings for a live command, with the loopback started (and stopped after) if asked."""
    if not getattr(args, "loopback", False):
        yield load_settings(args.config, args.markets), None
        return
    from sim.loopback import Loopback, loopback_pools
    from sim.simulate import SAMPLE_MARKETS

    markets = args.markets or SAMPLE_MARKETS
    loop = Loopback(loopback_pools(args.config, markets), rpcs=rpcs)
    try:
        loop.start()
        print(
            f"solarb: loopback venues and Solana stand-in on 127.0.0.1 (markets {markets})",
            flush=True,
        )
        yield loop.settings(args.config, markets), loop
    finally:
        loop.stop()


def _bounds(args: argparse.Namespace, default_s: float | None = None) -> Bounds:
    for name in ("duration", "max_frames"):
        v = getattr(args, name, None)
        if v is not None and v <= 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be > 0, got {v}")
    if args.duration is None and args.max_frames is None and default_s is not None:
        return Bounds(seconds=default_s)
    return Bounds(max_frames=args.max_frames, seconds=args.duration)


def run_live(
    lf: LiveFlow,
    label: str,
    progress_every_s: float = 2.0,
    stop: GracefulStop | None = None,
    opts: RunOptions | None = None,
) -> tuple[float, int]:
    """Run a live flow to its end with progress lines; (wall seconds, exit code).

    SIGINT/SIGTERM stop the feeds cleanly (sinks close, the journal flushes, the summary is
    printed) and the exit code is 130/143; a second signal aborts. `opts`: recovery snapshots.
    """
    handles: LiveHandles = lf.handles
    done = threading.Event()

    def progress() -> None:
        while not done.wait(progress_every_s):
            frames = ", ".join(f"{k} {v}" for k, v in sorted(handles.frames().items()))
            print(f"solarb {label}: {frames or 'connecting ...'}", flush=True)

    ticker = threading.Thread(target=progress, name="live-progress", daemon=True)
    ticker.start()
    t0 = time.perf_counter()
    own = stop is None
    interrupt = GracefulStop(None, label) if stop is None else stop
    interrupt.bind(handles.request_stop)
    try:
        if own:
            with interrupt:
                run_flow(lf.flow, opts or RunOptions())
        else:
            run_flow(lf.flow, opts or RunOptions())
    finally:
        done.set()
        ticker.join(5.0)
        handles.close()
    return time.perf_counter() - t0, interrupt.exit_code


def _print_summary(
    settings: Settings,
    journal: Path,
    report: Path,
    title: str,
    wall_s: float,
    label: str,
    interrupted: bool = False,
) -> None:
    from replay.html_report import html_path
    from replay.report import summarize, summary_lines, write_report

    s = summarize(journal, settings)
    if label == "live":
        s = replace(s, mode="live")  # the venues' fills, not the paper venue's
    print("")
    print(f"== solarb {label} summary" + (" (interrupted)" if interrupted else ""))
    for line in summary_lines(s):
        print(line)
    print(f"wall time      {wall_s:.2f} s")
    path = write_report(s, report, journal, title=title)
    print(f"journal        {journal}/")
    print(f"report         {path} (+ {html_path(path)})")


def verify_markets(settings: Settings, args: argparse.Namespace) -> None:
    """Check every DEX market of the markets file against the chain before any feed starts
    (`--skip-market-check` skips it, loudly); `ConfigError` on a mismatch."""
    from engine.verify import rpc_fetch, verify_dex_markets

    if getattr(args, "skip_market_check", False):
        print("solarb: WARNING: markets NOT verified against the chain (--skip-market-check)")
        return
    n = verify_dex_markets(settings, rpc_fetch(settings))
    print(f"solarb: {n} DEX market(s) verified against the chain", flush=True)


def cmd_paper(args: argparse.Namespace) -> int:
    """Paper trading on live (or loopback) feeds: simulated fills, journal, summary."""
    from connectors.journal import new_run_id
    from flows.paper import build_flow

    with GracefulStop(None, "paper") as stop, prepared(args) as (settings, loop):
        verify_markets(settings, args)
        if loop is not None and args.loopback_jump_bps:
            loop.start_scenario(args.loopback_jump_bps)
        root = Path(args.journal or settings.engine.journal_dir)
        report = Path(args.report or settings.engine.report_path)
        # Live feeds cannot rewind: a resumed paper session keeps its state (books, exposure,
        # open paper orders) and its journal run, and carries on with what the feeds send now.
        opts = run_options(args)
        settings = journal_settings(opts, settings)
        run_id = recovery_run_id(opts, new_run_id(), explicit=False)
        bounds = _bounds(args)
        record = _record_path(args)
        lf = build_flow(
            settings, root, bounds=bounds, run_id=run_id, control_signal=True, record=record
        )
        print(
            f"solarb paper: {', '.join(market_ids(settings))}; "
            + (f"stops after {bounds}" if bounds.bounded else "until Ctrl-C")
            + f"; journal {root / run_id}/",
            flush=True,
        )
        wall, code = run_live(lf, "paper", stop=stop, opts=opts)
    _print_summary(settings, root / run_id, report, "paper session", wall, "paper", code != 0)
    _print_record_hint(args, record)
    return code


def cmd_live(args: argparse.Namespace) -> int:
    """Live flow: trades (after the `solarb check --online` preflight), or with --signals-only
    journals signals and intents and sends nothing. `--loopback` trades against the loopback
    venues and two Solana stand-ins with a fresh in-memory wallet and API keys."""
    from connectors.execution import ExecutionGateway
    from connectors.journal import new_run_id
    from flows.live import build_flow

    trading = not args.signals_only
    if args.faults and not args.loopback:
        raise ConfigError("--faults needs --loopback (it drives the loopback venues' faults)")
    gateway: ExecutionGateway | None = None
    with (
        GracefulStop(None, "live") as stop,
        prepared(args, rpcs=2 if trading else 1) as (settings, loop),
    ):
        try:
            if trading and loop is not None:
                # the loopback's own keys and wallet, in memory: the keychain is not involved,
                # so the keychain preflight does not apply (a real run always has it)
                keys = loop.trading(settings)
                gateway = ExecutionGateway(settings, credentials=keys.credentials,
                                           signer=keys.signer)  # fmt: skip
                print("solarb live: loopback keys and wallet in memory; preflight not needed")
            elif args.skip_check:
                print("solarb live: WARNING: preflight `solarb check --online` SKIPPED "
                      "(--skip-check)")  # fmt: skip
            else:
                from cli.check_online import register_loopback_keys, run_online_checks

                if loop is not None:
                    register_loopback_keys(loop, settings)
                if not run_online_checks(settings):
                    print("solarb live: refusing to start: the preflight is red (see FAIL lines)")
                    return 1
            verify_markets(settings, args)
            if loop is not None and args.loopback_jump_bps:
                loop.start_scenario(args.loopback_jump_bps)
            if loop is not None and args.faults:
                loop.start_faults()
            root = Path(args.journal or settings.engine.journal_dir)
            report = Path(args.report or settings.engine.report_path)
            opts = run_options(args)
            settings = journal_settings(opts, settings)
            run_id = recovery_run_id(opts, new_run_id(), explicit=False)
            if trading:
                gateway = (gateway or ExecutionGateway(settings)).start()
            lf = build_flow(
                settings,
                root,
                signals_only=not trading,
                bounds=_bounds(args),
                run_id=run_id,
                control_signal=True,
                gateway=gateway,
                record=_record_path(args),
            )
            if trading:
                print(f"solarb live: TRADING on {', '.join(market_ids(settings))}; "
                      f"journal {root / run_id}/", flush=True)  # fmt: skip
            else:
                print("solarb live: SIGNALS ONLY - nothing is sent to any venue")
            wall, code = run_live(lf, "live", stop=stop, opts=opts)
        finally:
            if gateway is not None:
                gateway.close()
    journal = root / run_id
    title = "live trading session" if trading else "live signals session"
    _print_summary(settings, journal, report, title, wall, "live", code != 0)
    _print_record_hint(args, _record_path(args))
    return code


def _record_path(args: argparse.Namespace) -> Path | None:
    return Path(args.record) if getattr(args, "record", None) else None


def _print_record_hint(args: argparse.Namespace, record: Path | None) -> None:
    if record is None:
        return
    from connectors.capture import capture_frames

    markets = args.markets
    if markets is None and args.loopback:
        from sim.simulate import sample_markets

        markets = str(sample_markets())
    hint = f"--markets {markets} " if markets else ""
    print(f"recording      {record} ({capture_frames(record)} rows)")
    print(f"replay it with `solarb {hint}replay {record}`")


def cmd_record(args: argparse.Namespace) -> int:
    """Record live (or loopback) feeds to a Parquet capture; default bound 60 s."""
    from connectors.capture import read_capture
    from flows.record import DEFAULT_OUT, build_flow
    from sim.simulate import sample_markets

    out = Path(args.out or DEFAULT_OUT)
    with GracefulStop(None, "record") as stop, prepared(args) as (settings, _loop):
        bounds = _bounds(args, default_s=60.0)
        lf = build_flow(settings, out, bounds=bounds)
        print(f"solarb record: {', '.join(market_ids(settings))} -> {out} ({bounds})")
        wall, code = run_live(lf, "record", stop=stop)
    counts = Counter((f.source, f.kind) for f in read_capture(out))
    print("")
    print("== solarb record summary" + (" (interrupted)" if code else ""))
    for (source, kind), n in sorted(counts.items()):
        print(f"{source:<14} {kind:<8} {n} frames")
    print(f"total          {sum(counts.values())} frames in {wall:.2f} s -> {out}")
    markets = args.markets or (str(sample_markets()) if args.loopback else None)
    hint = f"--markets {markets} " if markets else ""
    print(f"replay it with `solarb {hint}replay {out}`")
    return code


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument(
        "--max-frames", type=int, default=None, help="stop each feed after this many frames"
    )
    p.add_argument(
        "--loopback",
        action="store_true",
        help="no network: loopback CEX venues + Solana stand-in with a simulated pool",
    )


def add_live_parsers(subparsers: Any) -> None:
    """Add the `paper`, `live` and `record` subcommands to `solarb`'s subparsers."""
    for name, text, func in (
        ("paper", "live market data, simulated fills", cmd_paper),
        ("live", "live trading (or --signals-only: journal signals, send nothing)", cmd_live),
    ):
        q = subparsers.add_parser(name, help=text)
        _common(q)
        q.add_argument("--journal", help="journal folder (default: engine.journal_dir)")
        q.add_argument("--report", help="report path (default: engine.report_path)")
        q.add_argument(
            "--loopback-jump-bps",
            type=float,
            default=80.0,
            help="with --loopback: move the pool this far off the CEX every 4 s (0 = never)",
        )
        q.add_argument(
            "--skip-market-check",
            action="store_true",
            help="do not check the markets file against the chain at start (not advised)",
        )
        q.add_argument(
            "--record",
            metavar="CAPTURE.parquet",
            help="record what the graph sees (frames, health and control events"
            + (", the venues' reports" if name == "live" else "")
            + ") to this capture; `solarb replay` of it reproduces the session",
        )
        # One worker: the live feeds are single-partition sources (one socket per venue).
        add_run_options(q, workers=False)
        if name == "live":
            q.add_argument(
                "--skip-check",
                action="store_true",
                help="do not run the `solarb check --online` preflight (tests/dev only)",
            )
            q.add_argument(
                "--signals-only",
                action="store_true",
                help="journal signals and intents, send nothing",
            )
            q.add_argument(
                "--faults",
                action="store_true",
                help="with --loopback: inject venue faults (rejects, timeouts after accept, "
                "dropped/failed transactions, user-stream drops)",
            )
        q.set_defaults(func=func)
    r = subparsers.add_parser("record", help="record live feeds to a Parquet capture")
    _common(r)
    r.add_argument("--out", help="capture path (default: out/capture.parquet)")
    r.set_defaults(func=cmd_record)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (until `solarb` hooks these in): `python -m cli.live paper ...`."""

    p = argparse.ArgumentParser(prog="solarb")
    p.add_argument("--config")
    p.add_argument("--markets")
    add_live_parsers(p.add_subparsers(dest="cmd", required=True))
    args = p.parse_args(argv)
    from cli.main import run_command

    return run_command(args.func, args)


if __name__ == "__main__":
    raise SystemExit(main())
