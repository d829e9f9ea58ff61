"""How the CLI runs a dataflow: one worker or several, with or without Bytewax recovery.

`--recovery-dir DIR` makes Bytewax snapshot every stateful step (books, pools, pair engines,
risk guard, paper venue) and the replay source's frame offset at the end of each epoch
(`--snapshot-interval` seconds of wall time) into SQLite partitions under DIR, creating them on
first use (what `python -m bytewax.recovery DIR N` does). A later run with the same DIR resumes
from the last completed epoch instead of starting over. `--workers N` runs N worker threads in
this process; pairs are keys, so they spread over the workers. Without `--recovery-dir` a run
is one Bytewax epoch (`NO_RECOVERY_EPOCH`): no snapshot is taken, and none stalls the worker,
before the end.

Every run (replay, paper, live) freezes the objects alive at start-up (settings, markets,
venue tables, modules, the built flow) out of Python's cyclic garbage collector before the graph
starts (`freeze_gc`; `--no-gc-freeze` turns it off). Why: the collector otherwise walks them
again on every older-generation pass; the frozen objects stay alive for the whole run anyway,
and everything created later is collected as before, so memory stays bounded. A replay also
runs with automatic collection off (`REPLAY_GC_AUTO`, `RunOptions.gc_auto`): it is finite and
leaves no cyclic garbage on the samples; paper and live keep the collector.
"""

from __future__ import annotations

import argparse
import gc
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from engine.state_version import STATE_VERSION
from operators.errors import ConfigError

PARTITION_GLOB = "part-*.sqlite3"
RUN_ID_FILE = "solarb-run-id"
STATE_VERSION_FILE = "solarb-state-version"
"""`engine.steps.STATE_VERSION` of the build that started the run (a resume must match it)."""
"""Written into the recovery folder: the journal run a resumed run continues."""
WORKERS_FILE = "solarb-workers"
"""A replay's worker count: its capture partitions are named for it (engine/placement.py), so a
resume with another count would not find their offsets and would replay frames again."""


@dataclass(frozen=True)
class RunOptions:
    """Workers per process, and where (and how often, in wall seconds) to snapshot state."""

    workers: int = 1
    recovery_dir: Path | None = None
    snapshot_interval_s: float = 10.0
    gc_freeze: bool = True
    """Freeze the start-up objects out of the cyclic collector before the run (`freeze_gc`)."""
    gc_auto: bool = True
    """Leave Python's automatic cyclic collection on during the run. A replay turns it off
    (`REPLAY_GC_AUTO`); paper and live keep it, so their memory and pauses stay bounded."""


def add_run_options(p: argparse.ArgumentParser, *, workers: bool = True) -> None:
    """Add `--recovery-dir`, `--snapshot-interval` (and `--workers`) to a subcommand."""
    p.add_argument(
        "--recovery-dir",
        help="Bytewax recovery folder: snapshot state there and resume from it on a rerun "
        "(its partitions are created when absent)",
    )
    p.add_argument(
        "--snapshot-interval",
        type=float,
        default=10.0,
        help="seconds of wall time between recovery snapshots (default 10)",
    )
    p.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="leave the objects alive at start-up in Python's cyclic garbage collector "
        "(by default they are frozen out of it before the run: less collector time)",
    )
    if workers:
        p.add_argument(
            "--workers", type=int, default=1, help="worker threads (pairs spread over them)"
        )


def run_options(args: argparse.Namespace) -> RunOptions:
    """The run options of parsed arguments, checked (ConfigError names the option)."""
    w = getattr(args, "workers", None)
    workers = 1 if w is None else int(w)
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    interval = float(getattr(args, "snapshot_interval", 10.0))
    if interval <= 0:
        raise ConfigError(f"--snapshot-interval must be > 0 seconds, got {interval}")
    rdir = getattr(args, "recovery_dir", None)
    freeze = not getattr(args, "no_gc_freeze", False)
    return RunOptions(workers, Path(rdir) if rdir else None, interval, freeze)


def is_resume(opts: RunOptions) -> bool:
    """True when the recovery folder already holds partitions (a rerun resumes from them)."""
    d = opts.recovery_dir
    return d is not None and d.is_dir() and any(d.glob(PARTITION_GLOB))


def journal_settings(opts: RunOptions, settings: Any) -> Any:
    """`settings` for a run with these options: with recovery, the journal writes every batch
    (`journal_flush_rows = 1`), so the rows of an epoch are on disk before Bytewax snapshots it
    and a crash can lose none of them (a resumed run re-emits only what came after)."""
    if opts.recovery_dir is None:
        return settings
    engine = settings.engine.model_copy(update={"journal_flush_rows": 1})
    return settings.model_copy(update={"engine": engine})


def recovery_run_id(
    opts: RunOptions, run_id: str, *, explicit: bool, pin_workers: bool = False
) -> str:
    """The journal run id of this run: a resumed run continues the interrupted run's folder
    (the id stored in the recovery folder); a fresh run stores its own there.

    `pin_workers` (replay): the run's worker count is stored too, and a resume with another
    count is refused (`WORKERS_FILE`)."""
    d = opts.recovery_dir
    if d is None:
        return run_id
    stored_file = d / RUN_ID_FILE
    version_file = d / STATE_VERSION_FILE
    if is_resume(opts) and stored_file.is_file():
        stored = stored_file.read_text(encoding="utf-8").strip()
        written = (
            version_file.read_text(encoding="utf-8").strip() if version_file.is_file() else "none"
        )
        if written != str(STATE_VERSION):
            raise ConfigError(
                f"--recovery-dir {d}: its snapshots are of state version {written}, this build "
                f"reads {STATE_VERSION}; resume with the build that wrote them, or start with a "
                "fresh --recovery-dir (then check the venues for orders of the interrupted run)"
            )
        workers_file = d / WORKERS_FILE
        if pin_workers and not workers_file.is_file() and opts.workers > 1:
            # written before partitions were placed per worker count: its partition names
            # are not this build's for several workers
            raise ConfigError(
                f"--recovery-dir {d}: written by a build that did not pin the worker count "
                f"(no {WORKERS_FILE}), and this one names the capture partitions per worker "
                "count: resume it with the build that wrote it, or start with a fresh "
                "--recovery-dir"
            )
        if pin_workers and workers_file.is_file():
            held = workers_file.read_text(encoding="utf-8").strip()
            if held != str(opts.workers):
                raise ConfigError(
                    f"--recovery-dir {d}: the interrupted replay ran with --workers {held}, "
                    f"this one asks for {opts.workers}; its capture partitions are placed per "
                    f"worker count, so resume with --workers {held} (or a fresh --recovery-dir)"
                )
        if explicit and stored != run_id:
            raise ConfigError(
                f"--run-id {run_id}: the recovery folder {d} resumes run {stored}; "
                "drop --run-id or use a fresh --recovery-dir"
            )
        print(f"solarb: resuming run {stored} from the recovery snapshots in {d}")
        return stored
    if d.exists() and not d.is_dir():
        raise ConfigError(f"--recovery-dir {d} exists and is not a folder")
    d.mkdir(parents=True, exist_ok=True)
    stored_file.write_text(run_id + "\n", encoding="utf-8")
    version_file.write_text(f"{STATE_VERSION}\n", encoding="utf-8")
    if pin_workers:
        (d / WORKERS_FILE).write_text(f"{opts.workers}\n", encoding="utf-8")
    return run_id


def ensure_recovery_dir(path: Path, partitions: int) -> None:
    """Create `partitions` empty recovery partitions under `path` unless it already has some."""
    from bytewax.recovery import init_db_dir

    if path.exists() and not path.is_dir():
        raise ConfigError(f"--recovery-dir {path} exists and is not a folder")
    if path.is_dir() and any(path.glob(PARTITION_GLOB)):
        return
    path.mkdir(parents=True, exist_ok=True)
    init_db_dir(path, partitions)  # type: ignore[no-untyped-call]


def freeze_gc() -> None:
    """Collect once, then move every object alive into the collector's permanent generation.

    Only the cyclic collector skips them (they are still freed by reference counting when
    released); objects created afterwards are collected as usual. Measured on the 7-venue
    replay graph (README, figures): the collector's passes over start-up objects cost CPU.
    """
    gc.collect()
    gc.freeze()


NO_RECOVERY_EPOCH = timedelta(days=3650)
"""Bytewax epoch of a run without a recovery folder: none ends before the run does.

Bytewax asks every stateful step for a snapshot at each epoch's end even when no recovery
store keeps it, and the worker does nothing else meanwhile: the paper step's pickle grows with
the run (~6 MB, ~160 ms at the end of a 5-min 7-venue session), and a tick due then waits (a
70-100 ms outlier of the paced tick -> opportunity at Bytewax's default 10 s epoch,
`bench/bench_graph.py`). Without recovery those snapshots are thrown away, so such a run has
one epoch and snapshots once, at its end."""


REPLAY_GC_AUTO = False
"""`solarb replay` runs with automatic cyclic collection off (`RunOptions.gc_auto`). Why: on
the 7-venue sample (15 simulated minutes, 34k frames) the collector ran ~540 times during the
run, found no cyclic garbage at all (the graph's objects die by reference counting) and cost
~6 % of the run's CPU: the run's state grows (views, histories), so every young pass walks
survivors. A replay's input is finite, reference counting still frees everything else, and the
collector is back on (with one full pass) when the run ends. Not for paper or live: an
unbounded run keeps the collector, whatever cycles an error path may leave."""


def epoch_interval(opts: RunOptions) -> timedelta:
    """The Bytewax epoch of a run: `--snapshot-interval` with recovery, else one epoch."""
    if opts.recovery_dir is None:
        return NO_RECOVERY_EPOCH
    return timedelta(seconds=opts.snapshot_interval_s)


def run_flow(flow: Any, opts: RunOptions) -> None:
    """Run `flow` to its end as `opts` say (blocks)."""
    if opts.gc_freeze:
        freeze_gc()
    if not opts.gc_auto and gc.isenabled():
        gc.disable()
        try:
            _run(flow, opts)
        finally:
            gc.enable()
            gc.collect()
        return
    _run(flow, opts)


def _run(flow: Any, opts: RunOptions) -> None:
    """`run_flow` once the collector is set up: one worker in this thread, or several."""
    from bytewax.recovery import RecoveryConfig
    from bytewax.run import cli_main
    from bytewax.testing import run_main

    recovery = None
    epoch = epoch_interval(opts)
    if opts.recovery_dir is not None:
        ensure_recovery_dir(opts.recovery_dir, max(1, opts.workers))
        recovery = RecoveryConfig(str(opts.recovery_dir))  # type: ignore[no-untyped-call]
    if opts.workers == 1:
        run_main(flow, epoch_interval=epoch, recovery_config=recovery)  # type: ignore[no-untyped-call]
    else:
        cli_main(
            flow,
            workers_per_process=opts.workers,
            epoch_interval=epoch,
            recovery_config=recovery,
        )  # type: ignore[no-untyped-call]
