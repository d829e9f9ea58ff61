"""`solarb` command line: replay, paper, live, record, check, quote, report, sample."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from operators.errors import ConfigError, SolarbError


def _settings(args: argparse.Namespace, sample: bool = False):  # type: ignore[no-untyped-def]
    from config import load_settings
    from sim.simulate import sample_markets

    all_venues = bool(getattr(args, "all_venues", False))
    multi_pair = bool(getattr(args, "multi_pair", False))
    markets = args.markets or (sample_markets(all_venues, multi_pair) if sample else None)
    return load_settings(args.config, markets)


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay captures (or the bundled sample) through the graph; print summary, write report."""
    from cli.runner import is_resume, run_flow, run_options
    from connectors.journal import clear_journal
    from flows.replay import build_flow
    from replay.report import summarize, summary_lines, write_report
    from sim.simulate import ensure_sample

    sample = args.sample or not args.capture
    settings = _settings(args, sample=sample)
    if sample:
        print("solarb: generating/using the bundled sample session (deterministic simulator)")
        captures = [
            ensure_sample(progress=print, all_venues=args.all_venues, multi_pair=args.multi_pair)
        ]
    else:
        captures = [Path(c) for c in args.capture]
        for c in captures:
            if not c.is_file():
                print(f"solarb: capture not found: {c}", file=sys.stderr)
                return 2
    journal = Path(args.journal or settings.engine.journal_dir)
    report = Path(args.report or settings.engine.report_path)
    opts = run_options(args)
    if is_resume(opts):
        # The interrupted run's rows stay: the resumed run adds the rest (from its last snapshot)
        print(f"solarb: resuming from the recovery snapshots in {opts.recovery_dir}")
    else:
        clear_journal(journal)
    flow = build_flow(settings, captures, journal, batch_size=args.batch_size)
    print(f"solarb: replaying {', '.join(str(c) for c in captures)} ...")
    t0 = time.perf_counter()
    run_flow(flow, opts)
    wall = time.perf_counter() - t0
    markets = [m.market_id for p in settings.pairs for m in p.markets]
    qd = settings.pairs[0].quote_decimals if settings.pairs else 6
    s = summarize(journal, markets, qd)
    print("")
    print("== solarb replay summary")
    for line in summary_lines(s):
        print(line)
    batch = args.batch_size or settings.engine.replay_batch_size
    if batch > 1:
        print(
            f"               (frames enter Bytewax {batch} at a time in replay, so latency here "
            "includes the batch span; --batch-size 1 gives live-like figures)"
        )
    print(f"wall time      {wall:.2f} s ({s.frames / wall:,.0f} frames/s)" if wall > 0 else "")
    path = write_report(s, report, journal, title=", ".join(str(c) for c in captures))
    print(f"journal        {journal}/")
    print(f"report         {path}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    """Generate the bundled sample capture with the deterministic simulator."""
    from sim.simulate import (
        ALL_VENUES,
        SimConfig,
        ensure_sample,
        sample_markets,
        write_capture,
        write_multi_pair_capture,
    )

    if args.all_venues and args.multi_pair:
        raise ConfigError("--all-venues and --multi-pair are two different samples: pick one")
    if args.out and args.multi_pair:
        # each pair keeps its own seed (the SOL/USDC one is --seed's default)
        n = write_multi_pair_capture(Path(args.out), duration_s=args.duration)
        print(f"solarb: wrote {n} frames to {args.out}")
        return 0
    if args.out:
        venues = ALL_VENUES if args.all_venues else SimConfig().venues
        cfg = SimConfig(seed=args.seed, duration_s=args.duration, venues=venues)
        n = write_capture(Path(args.out), cfg)
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
    from replay.report import summarize, summary_lines, write_report

    settings = _settings(args)
    journal = Path(args.journal or settings.engine.journal_dir)
    if not journal.is_dir():
        print(f"solarb: no journal at {journal}", file=sys.stderr)
        return 2
    markets = [m.market_id for p in settings.pairs for m in p.markets]
    s = summarize(journal, markets)
    for line in summary_lines(s):
        print(line)
    path = write_report(s, args.report or settings.engine.report_path, journal, str(journal))
    print(f"report         {path}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Daily checklist (offline part): config valid, caps loaded, thresholds sane, keychain."""
    settings = _settings(args)
    ok = True
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
    from connectors.secrets import keychain_status, resolve_secret

    print(f"keychain       backend {keychain_status()}")
    for name, venue in sorted(settings.venues.items()):
        for field in ("api_key", "api_secret"):
            ref = getattr(venue, field)
            if ref is None:
                continue
            try:
                resolve_secret(ref)
                print(f"  {name}.{field:<10} present ({ref})")
            except SolarbError as exc:
                ok = False
                print(f"  {name}.{field:<10} MISSING: {exc}")
    print(f"clock          local UTC {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
    print(
        "feeds/rpc      not probed by this offline check; "
        "`solarb paper --duration 10` shows feed health"
    )
    return 0 if ok else 1


def _account_bytes(path: str) -> bytes:
    import base64
    import json

    raw = Path(path).read_bytes()
    if raw[:1] in (b"{", b"["):
        doc = json.loads(raw)
        if isinstance(doc, dict) and "data_b64" in doc:
            return base64.b64decode(doc["data_b64"])
        if isinstance(doc, dict) and "account" in doc:  # solana-cli `account --output json`
            return base64.b64decode(doc["account"]["data"][0])
        raise SolarbError(f"{path}: JSON account without 'data_b64' or 'account.data'")
    return raw


def cmd_quote(args: argparse.Namespace) -> int:
    """Exact CLMM quote from account files (raw bytes, solana-cli JSON or fixture JSON)."""
    from connectors import venues
    from operators.clmm import quote_swap

    adapter = venues.dex(args.venue)
    if adapter.kind != "clmm":
        raise SolarbError(f"quote: {args.venue} is a {adapter.kind} venue; quotes are for CLMMs")

    def decode(path: str, role: str) -> object:
        raw = _account_bytes(path)
        entry = adapter.decoder_for(raw)
        if entry is None or entry.role != role:
            got = "an unknown account" if entry is None else f"a {entry.role} account"
            raise SolarbError(f"{path}: expected a {args.venue} {role} account, got {got}")
        return entry.decode(raw)

    pool = decode(args.pool, "pool")
    arrays = [decode(p, "tick_array") for p in args.tick_array]
    if args.bitmap_extension:
        arrays.append(decode(args.bitmap_extension, "bitmap_extension"))
    roles = {d.role for d in adapter.decoders.values()}
    if "amm_config" in roles and not args.amm_config:
        raise SolarbError(f"{args.venue} quotes need --amm-config (the trade fee lives there)")
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
    r.add_argument("--journal", help="journal folder (default: engine.journal_dir)")
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
    s.add_argument("--seed", type=int, default=7)
    s.add_argument("--duration", type=int, default=180, help="seconds of market time")
    s.set_defaults(func=cmd_sample)

    rep = sub.add_parser("report", help="summarize an existing journal")
    rep.add_argument("--journal")
    rep.add_argument("--report")
    rep.set_defaults(func=cmd_report)

    c = sub.add_parser("check", help="daily checklist")
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

    from cli.live import add_live_parsers

    add_live_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `solarb` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SolarbError as exc:
        print(f"solarb: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
