"""`solarb` command line: replay, paper, live, record, check, quote, report, sample."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from operators.errors import ConfigError, DecodeError, SolarbError


def _settings(args: argparse.Namespace, sample: bool = False):  # type: ignore[no-untyped-def]
    from config import load_settings
    from sim.simulate import sample_markets

    all_venues = bool(getattr(args, "all_venues", False))
    multi_pair = bool(getattr(args, "multi_pair", False))
    markets = args.markets or (sample_markets(all_venues, multi_pair) if sample else None)
    return load_settings(args.config, markets, overrides=getattr(args, "override", None) or ())


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay captures (or the bundled sample) through the graph; print summary, write report.

    Captures are validated before the journal is touched; the run writes its own folder
    `<journal>/<run id>/`. SIGINT/SIGTERM stop it cleanly: the summary and report of what was
    replayed are still written, and the exit code is 130/143.
    """
    import threading

    from cli.progress import replay_progress
    from cli.runner import (
        REPLAY_GC_AUTO,
        journal_settings,
        recovery_run_id,
        run_flow,
        run_options,
    )
    from connectors.journal import check_run_id, new_run_id
    from flows.replay import build_flow
    from flows.stopping import GracefulStop
    from replay.html_report import html_path
    from replay.report import summarize, summary_lines, write_report
    from replay.source import progress_of as flow_progress
    from sim.simulate import ensure_sample

    stop = threading.Event()
    # entered before start-up: a signal while the sample is generated or the capture checked
    # still ends in an (empty) summary and report rather than a traceback
    with GracefulStop(stop.set, "replay") as interrupt:
        sample = args.sample or not args.capture
        settings = _settings(args, sample=sample)
        if sample:
            print("solarb: generating/using the bundled sample session (deterministic simulator)")
            captures = [
                ensure_sample(
                    progress=print, all_venues=args.all_venues, multi_pair=args.multi_pair
                )
            ]
        else:
            captures = [Path(c) for c in args.capture]
        root = Path(args.journal or settings.engine.journal_dir)
        # a replay is finite: automatic cyclic collection off for its run (cli/runner.py)
        opts = replace(run_options(args), gc_auto=REPLAY_GC_AUTO)
        settings = journal_settings(opts, settings)
        run_id = check_run_id(args.run_id) if args.run_id else new_run_id()
        # a run resumed from recovery snapshots continues the interrupted run's journal folder
        run_id = recovery_run_id(opts, run_id, explicit=bool(args.run_id), pin_workers=True)
        report = Path(args.report or settings.engine.report_path)
        # several workers: one replay partition per pair, so each worker reads its own pairs
        partition = "pair" if opts.workers > 1 else "all"
        flow = build_flow(
            settings,
            captures,
            root,
            batch_size=args.batch_size,
            run_id=run_id,
            stop=stop,
            progress=True,
            partition=partition,
            snapshots=opts.recovery_dir is not None,  # no recovery: nothing reads a snapshot
            workers=opts.workers,
        )
        journal = root / run_id
        print(f"solarb: replaying {', '.join(str(c) for c in captures)} ...", flush=True)
        t0 = time.perf_counter()
        with replay_progress(flow_progress(flow)):
            run_flow(flow, opts)
        wall = time.perf_counter() - t0
    s = summarize(journal, settings)
    print("")
    print("== solarb replay summary" + (" (interrupted)" if interrupt.interrupted else ""))
    for line in summary_lines(s):
        print(line)
    batch = args.batch_size or settings.engine.replay_batch_size
    if batch > 1:
        print(
            f"               (frames enter Bytewax {batch} at a time in replay, so latency here "
            "includes the batch span; --batch-size 1 gives live-like figures)"
        )
    print(f"wall time      {wall:.2f} s ({s.frames / wall:,.0f} frames/s)" if wall > 0 else "")
    title = ", ".join(str(c) for c in captures)
    title += " (interrupted)" if interrupt.interrupted else ""
    path = write_report(s, report, journal, title=title)
    print(f"journal        {journal}/")
    print(f"report         {path} (+ {html_path(path)})")
    if s.unrouted_warning:
        print(f"warning: {s.unrouted_warning}", file=sys.stderr)
    return interrupt.exit_code


def cmd_sample(args: argparse.Namespace) -> int:
    """Generate the bundled sample capture with the deterministic simulator."""
    from sim.market import (
        ALL_VENUES_MARKET,
        MarketConfig,
        write_market_capture,
        write_multi_pair_capture,
    )
    from sim.simulate import ensure_sample, sample_markets

    if args.all_venues and args.multi_pair:
        raise ConfigError("--all-venues and --multi-pair are two different samples: pick one")
    if args.out and args.multi_pair:
        # each pair keeps its own seed
        n = write_multi_pair_capture(Path(args.out), duration_s=args.duration)
        print(f"solarb: wrote {n} frames to {args.out}")
        return 0
    if args.out:
        mc = ALL_VENUES_MARKET if args.all_venues else MarketConfig()
        mc = replace(
            mc,
            seed=mc.seed if args.seed is None else args.seed,
            duration_s=args.duration or mc.duration_s,
        )
        n = write_market_capture(Path(args.out), mc)
        print(f"solarb: wrote {n} frames to {args.out}")
        return 0
    path = ensure_sample(
        force=args.force, progress=print, all_venues=args.all_venues, multi_pair=args.multi_pair
    )
    print(f"solarb: sample capture at {path}")
    print(f"solarb: its markets file is {sample_markets(args.all_venues, args.multi_pair)}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Print the summary of an existing journal and (re)write its report."""
    from connectors.journal import run_dir
    from replay.html_report import html_path
    from replay.report import summarize, summary_lines, write_report

    settings = _settings(args)
    root = Path(args.journal or settings.engine.journal_dir)
    if not root.is_dir():
        raise ConfigError(f"no journal at {root}")
    journal = run_dir(root)
    s = summarize(journal, settings)
    for line in summary_lines(s):
        print(line)
    path = write_report(s, args.report or settings.engine.report_path, journal, str(journal))
    print(f"report         {path} (+ {html_path(path)})")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Daily checklist: offline (config, caps, thresholds, keychain), or with `--online` the
    preflight against venues and chain (cli/check_online.py); exit 1 on any red line."""
    if args.online or args.loopback:
        from cli.check_online import run_online_checks
        from cli.live import prepared

        with prepared(args) as (online, loop):
            if loop is not None:
                from cli.check_online import register_loopback_keys

                register_loopback_keys(loop, online)
            return 0 if run_online_checks(online, within_s=args.within) else 1
    settings = _settings(args)
    print(f"config         OK ({len(settings.pairs)} pairs, {len(settings.venues)} venues)")
    r = settings.risk
    print(
        f"risk caps      max {r.max_notional_usd} USD/trade, "
        f"{r.max_notional_per_minute_usd} USD/min, "
        f"kill_switch={'ON' if r.kill_switch else 'off'}"
    )
    t = settings.thresholds
    if t.safety_margin_bps <= 0:
        print("thresholds     WARN: safety margin is 0 bps")
    print(f"thresholds     safety {t.safety_margin_bps} bps, slippage {t.slippage_default_bps} bps")
    from cli.keys import keychain_report

    lines, ok = keychain_report(settings)
    for line in lines:
        print(line)
    print(f"clock          local UTC {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
    print(
        "feeds/rpc      not probed by this offline check; "
        "`solarb paper --duration 10` shows feed health"
    )
    return 0 if ok else 1


def _account_bytes(path: str) -> bytes:
    """Account data from a file: raw bytes, solana-cli JSON or fixture JSON (`data_b64`)."""
    import base64
    import binascii
    import json

    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read account file: {exc.strerror or exc}") from None
    if raw[:1] not in (b"{", b"["):
        return raw
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DecodeError(f"not valid JSON: {exc}", account=path) from None
    if isinstance(doc, dict) and "data_b64" in doc:
        data, where = doc["data_b64"], "data_b64"
    elif (  # solana-cli `account --output json`
        isinstance(doc, dict)
        and isinstance(doc.get("account"), dict)
        and isinstance(doc["account"].get("data"), list)
        and doc["account"]["data"]
    ):
        data, where = doc["account"]["data"][0], "account.data[0]"
    else:
        raise DecodeError("JSON account without 'data_b64' or 'account.data'", account=path)
    if not isinstance(data, str):
        raise DecodeError(f"'{where}' is not a base64 string", account=path)
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"'{where}' is not valid base64: {exc}", account=path) from None


def cmd_quote(args: argparse.Namespace) -> int:
    """Exact CLMM quote from account files (raw bytes, solana-cli JSON or fixture JSON)."""
    from connectors import venues
    from operators.clmm import quote_swap

    adapter = venues.dex(args.venue)
    if adapter.kind != "clmm":
        raise ConfigError(f"quote: {args.venue} is a {adapter.kind} venue; quotes are for CLMMs")

    def decode(path: str, role: str) -> object:
        raw = _account_bytes(path)
        entry = adapter.decoder_for(raw)
        if entry is None or entry.role != role:
            got = "an unknown account" if entry is None else f"a {entry.role} account"
            raise ConfigError(f"{path}: expected a {args.venue} {role} account, got {got}")
        return entry.decode(raw)

    pool = decode(args.pool, "pool")
    arrays = [decode(p, "tick_array") for p in args.tick_array]
    if args.bitmap_extension:
        arrays.append(decode(args.bitmap_extension, "bitmap_extension"))
    roles = {d.role for d in adapter.decoders.values()}
    if "amm_config" in roles and not args.amm_config:
        raise ConfigError(f"{args.venue} quotes need --amm-config (the trade fee lives there)")
    config = decode(args.amm_config, "amm_config") if args.amm_config else None
    q = quote_swap(
        pool,
        arrays,
        args.amount,
        a_to_b=not args.b_to_a,
        exact_in=not args.exact_out,
        amm_config=config,
    )
    print(f"amount_in        {q.amount_in}")
    print(f"amount_out       {q.amount_out}")
    print(f"fee_amount       {q.fee_amount}")
    print(f"sqrt_price_after {q.sqrt_price_after}")
    print(f"tick_after       {q.tick_after}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    p = argparse.ArgumentParser(prog="solarb", description="CEX <-> DEX arbitrage on Solana")
    p.add_argument("--config", help="config TOML (default: config/default.toml or $SOLARB_CONFIG)")
    p.add_argument(
        "--markets", help="markets TOML (default: config/markets.toml or $SOLARB_MARKETS)"
    )
    p.add_argument(
        "--override",
        action="append",
        metavar="TOML",
        help="config snippet merged over --config (repeat; e.g. `solarb calibrate`'s "
        "calibrated.toml); also $SOLARB_OVERRIDES",
    )
    p.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log lines on stderr: text, or one JSON object per line (default text)",
    )
    p.add_argument(
        "--log-level",
        default=None,
        metavar="SPEC",
        help="levels per module, e.g. 'connectors.cex=DEBUG,engine=INFO', or a bare root level "
        "(default WARNING)",
    )
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("replay", help="replay a capture (default: the bundled sample session)")
    r.add_argument("capture", nargs="*", help="Parquet capture file(s)")
    r.add_argument("--sample", action="store_true", help="replay the bundled sample session")
    r.add_argument(
        "--all-venues",
        action="store_true",
        help="with --sample: the 7-venue sample (Binance, OKX, Bybit, Orca, Raydium, Phoenix, "
        "OpenBook)",
    )
    r.add_argument(
        "--multi-pair",
        action="store_true",
        help="with --sample: the two-pair sample (SOL/USDC and ETH/USDC on Binance + Orca)",
    )
    r.add_argument(
        "--journal", help="journal folder (default: engine.journal_dir); the run writes <run id>/"
    )
    r.add_argument("--run-id", help="run folder name (default: UTC start time + random suffix)")
    r.add_argument("--report", help="report path (default: engine.report_path)")
    r.add_argument("--batch-size", type=int, default=None, help="frames per Bytewax batch")
    from cli.runner import add_run_options

    add_run_options(r)
    r.set_defaults(func=cmd_replay)

    s = sub.add_parser("sample", help="generate the sample capture with the simulator")
    s.add_argument("--force", action="store_true", help="regenerate even if present")
    s.add_argument("--all-venues", action="store_true", help="all 7 venues, not Binance + Orca")
    s.add_argument("--multi-pair", action="store_true", help="two pairs: SOL/USDC and ETH/USDC")
    s.add_argument("--out", help="write a capture here instead of the bundled sample path")
    s.add_argument("--seed", type=int, help="default: the simulator's (docs/simulator.md)")
    s.add_argument("--duration", type=int, help="seconds of market time (default: the sample's)")
    s.set_defaults(func=cmd_sample)

    rep = sub.add_parser("report", help="summarize an existing journal")
    rep.add_argument("--journal", help="journal folder (its latest run) or a run folder")
    rep.add_argument("--report")
    rep.set_defaults(func=cmd_report)

    c = sub.add_parser("check", help="daily checklist")
    c.add_argument(
        "--online", action="store_true", help="probe venues, RPCs, feeds and markets (preflight)"
    )
    c.add_argument(
        "--loopback", action="store_true", help="--online against the loopback venues + stand-in"
    )
    c.add_argument("--within", type=float, default=10.0, help="feeds must be up within N s")
    c.set_defaults(func=cmd_check)

    qp = sub.add_parser("quote", help="exact CLMM quote from account files")
    from connectors import venues

    clmm = [v for v in venues.ids() if venues.adapter(v).kind == "clmm"]
    qp.add_argument("--venue", choices=clmm, default="orca")
    qp.add_argument("--pool", required=True, help="pool account file")
    qp.add_argument("--tick-array", action="append", default=[], help="tick array file (repeat)")
    qp.add_argument("--amm-config", help="Raydium AmmConfig account file")
    qp.add_argument("--bitmap-extension", help="Raydium tick array bitmap extension file")
    qp.add_argument("--amount", type=int, required=True, help="amount in token base units")
    qp.add_argument("--b-to-a", action="store_true", help="swap token B for token A")
    qp.add_argument("--exact-out", action="store_true", help="amount is the output amount")
    qp.set_defaults(func=cmd_quote)

    from cli.calibrate import add_calibrate_parser
    from cli.control import add_control_parsers
    from cli.dash import add_dash_parser
    from cli.journal_cmd import add_journal_parser
    from cli.keys import add_keys_parser
    from cli.live import add_live_parsers

    add_live_parsers(sub)
    add_keys_parser(sub)
    add_control_parsers(sub)
    add_journal_parser(sub)
    add_dash_parser(sub)
    add_calibrate_parser(sub)
    return p


def report_error(exc: SolarbError) -> int:
    """Print `error: <message>` (URLs redacted) for a SolarbError; the exit code, 2."""
    from connectors.redact import redact_text

    print(f"error: {redact_text(str(exc))}", file=sys.stderr)
    return 2


def solarb_cause(exc: BaseException) -> SolarbError | None:
    """The SolarbError behind `exc` (Bytewax wraps errors raised inside a dataflow), or None."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, SolarbError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def run_command(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a subcommand; any SolarbError, even from inside the dataflow, is one error line."""
    from bytewax.errors import BytewaxRuntimeError

    try:
        return int(func(args))
    except SolarbError as exc:
        return report_error(exc)
    except BytewaxRuntimeError as exc:
        cause = solarb_cause(exc)
        if cause is None:
            raise  # not ours: a bug, whose traceback is the useful output
        return report_error(cause)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `solarb` console script."""
    args = build_parser().parse_args(argv)
    from cli.logs import configure_logging

    try:
        configure_logging(args.log_format, args.log_level)
    except SolarbError as exc:
        return report_error(exc)
    return run_command(args.func, args)


if __name__ == "__main__":
    raise SystemExit(main())
