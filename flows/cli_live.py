"""`solarb paper`, `solarb record`, `solarb live` and the `--loopback` harness they share.

`--loopback` needs no network: it starts the loopback CEX venue simulators
(connectors/sim/cex_venues.py: Binance, Binance USD-M, OKX, Bybit on 127.0.0.1, every book
centred on 150.00) and a Solana RPC stand-in (connectors/solana/standin.py) holding the
simulated SOL/USDC Whirlpool of replay/simulate.py (`SimPool`: pool + tick arrays at 150) at
each configured Orca pool address, then points the config's venue URLs and RPC endpoints at
them (markets default to replay/sample/markets.toml). A small scenario thread then moves the
pool `--loopback-jump-bps` below the CEX books every few seconds and back, so a paper run shows
opportunities and fills. It is a SOL/USDC-shaped world: every CEX symbol is served at 150.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from config import Settings, load_settings
from connectors.sim.cex_venues import ThreadedVenues, start_venues_in_thread
from connectors.solana.standin import SolanaStandIn
from flows.live_sources import Bounds, LiveHandles, market_ids
from flows.paper import LiveFlow
from flows.stopping import GracefulStop
from operators.errors import ConfigError, ExecutionError

ORCA_PROGRAM = "whirLbMiicVdio4qvUfM5KAg6Ct8VwpYzGff3uctyCc"
POOL_LAMPORTS = 5_435_760
"""Rent-exempt-looking balance for the simulated accounts (the stand-in only stores it)."""
CEX_VENUES = ("binance", "binance-usdm", "okx", "bybit")


class Loopback:
    """Loopback CEX venues + a Solana stand-in with the simulated pool(s); stop() in finally."""

    def __init__(
        self,
        pools: list[str],
        *,
        seed: int = 0,
        frame_interval_s: float = 0.01,
        slot_interval_s: float = 0.4,
    ) -> None:
        from replay.simulate import SimConfig, SimPool

        self.seed = seed
        self.frame_interval_s = frame_interval_s
        self.slot_interval_s = slot_interval_s
        self.sim_pools = {addr: SimPool(SimConfig(), addr) for addr in pools}
        self.venues: ThreadedVenues | None = None
        self.standin: SolanaStandIn | None = None
        self._scenario: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> Loopback:
        """Start the venue simulators and the stand-in (loaded with every pool's accounts)."""
        try:
            self.venues = start_venues_in_thread(
                seed=self.seed, frame_interval_s=self.frame_interval_s
            )
            self.standin = SolanaStandIn(name="loopback")
            for addr, pool in self.sim_pools.items():
                for key, data in pool.tick_arrays():
                    self.standin.set_account(key, data, ORCA_PROGRAM, POOL_LAMPORTS)
                self.standin.set_account(addr, pool.account_bytes(), ORCA_PROGRAM, POOL_LAMPORTS)
            self.standin.start_in_thread(auto_advance_s=self.slot_interval_s)
        except BaseException:
            self.stop()
            raise
        return self

    def cex_mid(self) -> Decimal:
        """The price every simulated CEX book is centred on (quote per base)."""
        if self.venues is None:
            raise ConfigError("loopback not started")
        feed = self.venues.venues.feed("binance", "SOLUSDC")  # every feed shares the centre
        return Decimal(feed.book.mid_ticks).scaleb(-feed.px_dec)

    def env(self) -> dict[str, str]:
        """`SOLARB__...` overrides pointing every CEX venue and the RPC at the loopback."""
        if self.venues is None or self.standin is None:
            raise ConfigError("loopback not started")
        v = self.venues.venues
        out = {}
        for venue in CEX_VENUES:
            key = f"SOLARB__VENUES__{venue.upper()}"
            out[f"{key}__WS_URL"] = json.dumps(v.ws_url(venue, "spot"))
            out[f"{key}__REST_URL"] = json.dumps(v.rest_url(venue))
        out["SOLARB__RPC__HTTP"] = json.dumps([self.standin.http_url])
        out["SOLARB__RPC__WS"] = json.dumps([self.standin.ws_url])
        out["SOLARB__RPC__FAILOVER_HTTP"] = '""'  # no public failover: 127.0.0.1 only
        out["SOLARB__RPC__FAILOVER_WS"] = '""'
        return out

    def settings(
        self, config: str | Path | None = None, markets: str | Path | None = None
    ) -> Settings:
        """The config at `config`/`markets` with every venue URL and RPC endpoint on loopback."""
        return load_settings(config, markets, env={**os.environ, **self.env()})

    def move_pool(self, price: float, address: str | None = None) -> int:
        """Write the pool account at `price` (quote per base) as a new slot; returns the slot."""
        if self.standin is None:
            raise ConfigError("loopback not started")
        addr = address or next(iter(self.sim_pools))
        pool = self.sim_pools[addr]
        pool.move_to(price)
        return self.standin.set_account(addr, pool.account_bytes(), ORCA_PROGRAM, POOL_LAMPORTS)

    def start_scenario(
        self, jump_bps: float, every_s: float = 4.0, first_after_s: float = 2.0, hold_s: float = 1.5
    ) -> None:
        """Every `every_s`: move the pools `jump_bps` off the CEX mid, rewrite, then move back."""
        mid = float(self.cex_mid())

        def run() -> None:
            wait = first_after_s
            while not self._stop.wait(wait):
                for addr in self.sim_pools:
                    self.move_pool(mid * (1.0 - jump_bps / 1e4), addr)
                if self._stop.wait(hold_s):
                    return
                for addr in self.sim_pools:  # a later write, so DEX paper legs can fill
                    self.move_pool(mid * (1.0 - jump_bps / 1e4), addr)
                if self._stop.wait(hold_s):
                    return
                for addr in self.sim_pools:
                    self.move_pool(mid, addr)
                wait = max(0.0, every_s - 2 * hold_s)

        self._scenario = threading.Thread(target=run, name="loopback-scenario", daemon=True)
        self._scenario.start()

    def stop(self) -> None:
        """Stop the scenario, the stand-in and the venue simulators (idempotent)."""
        self._stop.set()
        if self._scenario is not None:
            self._scenario.join(5.0)
            self._scenario = None
        if self.standin is not None:
            self.standin.stop_thread()
            self.standin = None
        if self.venues is not None:
            self.venues.stop()
            self.venues = None

    def __enter__(self) -> Loopback:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def loopback_pools(config: str | Path | None, markets: str | Path | None) -> list[str]:
    """Orca pool addresses of the markets config (the loopback serves each); others refused."""
    settings = load_settings(config, markets)
    pools = []
    for pair in settings.pairs:
        for m in pair.markets:
            if m.venue == "orca":
                pools.append(m.address)
            elif settings.venues[m.venue].kind != "cex":
                raise ConfigError(f"--loopback serves Orca pools only, not {m.market_id}")
    return pools


@contextlib.contextmanager
def prepared(args: argparse.Namespace) -> Iterator[tuple[Settings, Loopback | None]]:
    """Settings for a live command, with the loopback started (and stopped after) if asked."""
    if not getattr(args, "loopback", False):
        yield load_settings(args.config, args.markets), None
        return
    from replay.simulate import SAMPLE_MARKETS

    markets = args.markets or SAMPLE_MARKETS
    loop = Loopback(loopback_pools(args.config, markets))
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
    lf: LiveFlow, label: str, progress_every_s: float = 2.0, stop: GracefulStop | None = None
) -> tuple[float, int]:
    """Run a live flow to its end with progress lines; (wall seconds, exit code).

    SIGINT/SIGTERM stop the feeds cleanly (sinks close, the journal flushes, the summary is
    printed) and the exit code is 130/143; a second signal aborts.
    """
    from bytewax.testing import run_main

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
                run_main(lf.flow)  # type: ignore[no-untyped-call]
        else:
            run_main(lf.flow)  # type: ignore[no-untyped-call]
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
    from replay.report import summarize, summary_lines, write_report

    qd = settings.pairs[0].quote_decimals if settings.pairs else 6
    s = summarize(journal, market_ids(settings), qd)
    print("")
    print(f"== solarb {label} summary" + (" (interrupted)" if interrupted else ""))
    for line in summary_lines(s):
        print(line)
    print(f"wall time      {wall_s:.2f} s")
    path = write_report(s, report, journal, title=title)
    print(f"journal        {journal}/")
    print(f"report         {path}")


def cmd_paper(args: argparse.Namespace) -> int:
    """Paper trading on live (or loopback) feeds: simulated fills, journal, summary."""
    from connectors.journal import new_run_id
    from flows.paper import build_flow

    with GracefulStop(None, "paper") as stop, prepared(args) as (settings, loop):
        if loop is not None and args.loopback_jump_bps:
            loop.start_scenario(args.loopback_jump_bps)
        root = Path(args.journal or settings.engine.journal_dir)
        report = Path(args.report or settings.engine.report_path)
        run_id = new_run_id()
        bounds = _bounds(args)
        lf = build_flow(settings, root, bounds=bounds, run_id=run_id)
        print(
            f"solarb paper: {', '.join(market_ids(settings))}; "
            + (f"stops after {bounds}" if bounds.bounded else "until Ctrl-C")
            + f"; journal {root / run_id}/",
            flush=True,
        )
        wall, code = run_live(lf, "paper", stop=stop)
    _print_summary(settings, root / run_id, report, "paper session", wall, "paper", code != 0)
    return code


def cmd_live(args: argparse.Namespace) -> int:
    """Live flow: refuses unless --signals-only (no execution is built); then journals signals."""
    from connectors.journal import new_run_id
    from flows.live import REFUSAL, build_flow

    if not args.signals_only:
        raise ExecutionError(REFUSAL, retryable=False)  # before any socket or thread starts
    with GracefulStop(None, "live") as stop, prepared(args) as (settings, loop):
        if loop is not None and args.loopback_jump_bps:
            loop.start_scenario(args.loopback_jump_bps)
        root = Path(args.journal or settings.engine.journal_dir)
        report = Path(args.report or settings.engine.report_path)
        run_id = new_run_id()
        lf = build_flow(settings, root, signals_only=True, bounds=_bounds(args), run_id=run_id)
        print("solarb live: SIGNALS ONLY - nothing is sent to any venue")
        wall, code = run_live(lf, "live", stop=stop)
    journal = root / run_id
    _print_summary(settings, journal, report, "live signals session", wall, "live", code != 0)
    return code


def cmd_record(args: argparse.Namespace) -> int:
    """Record live (or loopback) feeds to a Parquet capture; default bound 60 s."""
    from connectors.capture import read_capture
    from flows.record import DEFAULT_OUT, build_flow
    from replay.simulate import sample_markets

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
        ("live", "live signals only (order execution is not built)", cmd_live),
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
        if name == "live":
            q.add_argument(
                "--signals-only",
                action="store_true",
                help="required: journal signals and intents, send nothing",
            )
        q.set_defaults(func=func)
    r = subparsers.add_parser("record", help="record live feeds to a Parquet capture")
    _common(r)
    r.add_argument("--out", help="capture path (default: out/capture.parquet)")
    r.set_defaults(func=cmd_record)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (until `solarb` hooks these in): `python -m flows.cli_live paper ...`."""

    p = argparse.ArgumentParser(prog="solarb")
    p.add_argument("--config")
    p.add_argument("--markets")
    add_live_parsers(p.add_subparsers(dest="cmd", required=True))
    args = p.parse_args(argv)
    from flows.cli import run_command

    return run_command(args.func, args)


if __name__ == "__main__":
    raise SystemExit(main())
