"""One process of the scale-out benchmark (bench_scale.py): replay a capture through the whole
graph as one process of a Bytewax cluster, then print what it measured as one JSON line.

    python -m bench.scale_run CAPTURE MARKETS JOURNAL --processes N --process-id I \\
        --addresses "host:port;..." --workers-per-process W

Printed: the monotonic times (ns, one clock for every process of the machine) of this
process's start, of its flow being built, of its first and latest frame emitted and of its run's
end; the CPU seconds of the run (Bytewax running the flow) and of the whole process (imports and
building included); the frames each replay partition read in this process.
"""

from __future__ import annotations

import time

T_START_NS = time.monotonic_ns()  # before the heavy imports: start-up is part of the story

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
from pathlib import Path  # noqa: E402


def main() -> None:
    """Run one process of the cluster, print its figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("capture")
    ap.add_argument("markets")
    ap.add_argument("journal")
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--process-id", type=int, default=0)
    ap.add_argument("--addresses", default="")
    ap.add_argument("--workers-per-process", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--partition", default="")
    args = ap.parse_args()

    from bytewax.run import cli_main

    from cli.runner import NO_RECOVERY_EPOCH, freeze_gc
    from config import load_settings
    from flows.replay import build_flow
    from replay.source import progress_of

    workers = args.processes * args.workers_per_process
    settings = load_settings(markets_path=Path(args.markets), env={})
    flow = build_flow(
        settings,
        [Path(args.capture)],
        Path(args.journal),
        batch_size=args.batch_size,
        partition=args.partition or ("pair" if workers > 1 else "all"),
        run_id="bench",
        progress=True,
        workers=workers,
    )
    progress = progress_of(flow)
    assert progress is not None
    freeze_gc()  # as every solarb run does before its graph starts (cli/runner.py)
    built_ns = time.monotonic_ns()
    cpu0 = time.process_time()
    if args.processes > 1:
        cli_main(
            flow,
            workers_per_process=args.workers_per_process,
            process_id=args.process_id,
            addresses=args.addresses.split(";"),
            epoch_interval=NO_RECOVERY_EPOCH,  # as a solarb run without recovery
        )  # type: ignore[no-untyped-call]
    else:
        cli_main(
            flow, workers_per_process=args.workers_per_process, epoch_interval=NO_RECOVERY_EPOCH
        )  # type: ignore[no-untyped-call]
    cpu_run = time.process_time() - cpu0
    end_ns = time.monotonic_ns()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "process_id": args.process_id,
                "start_ns": T_START_NS,
                "built_ns": built_ns,
                "first_frame_ns": progress.first_ns,
                "last_frame_ns": progress.last_ns,
                "end_ns": end_ns,
                "cpu_run_s": cpu_run,
                "cpu_process_s": ru.ru_utime + ru.ru_stime,
                "frames_by_part": progress.by_part(),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
