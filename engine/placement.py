"""Where Bytewax 0.21 runs a keyed step's key and a source partition, so that a replay reads each
pair's frames on the worker that runs the pair (no frame crosses workers).

Two placements decide where work happens with several workers:
- a stateful step sends each item to worker `h(key) % worker_count`, `h` being Rust's
  `DefaultHasher` (SipHash-1-3, keys 0, 0) over the key as a Rust `str` hashes it (its UTF-8
  bytes, then one 0xFF byte);
- a `FixedPartitionedSource`'s partitions, when every worker lists all of them, go round-robin
  over the workers in sorted name order (the i-th name to worker i % worker_count: Bytewax
  gives each partition to the worker holding the fewest so far, lowest index first).
Neither is a documented contract, so `tests/unit/test_placement.py` checks both against the
installed Bytewax with worker threads, and the replay counts what crossed anyway
(bench/bench_scale.py).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

from operators.errors import ConfigError

_MASK = (1 << 64) - 1


def _rotl(x: int, bits: int) -> int:
    return ((x << bits) | (x >> (64 - bits))) & _MASK


def siphash13(data: bytes, k0: int = 0, k1: int = 0) -> int:
    """SipHash-1-3 of `data` (one compression round, three finalization rounds), 64 bits."""
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573

    def sip_round() -> None:
        nonlocal v0, v1, v2, v3
        v0 = (v0 + v1) & _MASK
        v1 = _rotl(v1, 13) ^ v0
        v0 = _rotl(v0, 32)
        v2 = (v2 + v3) & _MASK
        v3 = _rotl(v3, 16) ^ v2
        v0 = (v0 + v3) & _MASK
        v3 = _rotl(v3, 21) ^ v0
        v2 = (v2 + v1) & _MASK
        v1 = _rotl(v1, 17) ^ v2
        v2 = _rotl(v2, 32)

    n = len(data)
    whole = n - n % 8
    for i in range(0, whole, 8):
        m = int.from_bytes(data[i : i + 8], "little")
        v3 ^= m
        sip_round()
        v0 ^= m
    last = ((n & 0xFF) << 56) | int.from_bytes(data[whole:], "little")
    v3 ^= last
    sip_round()
    v0 ^= last
    v2 ^= 0xFF
    for _ in range(3):
        sip_round()
    return v0 ^ v1 ^ v2 ^ v3


def worker_of_key(key: str, worker_count: int) -> int:
    """Index of the worker (of `worker_count`) on which Bytewax runs stateful key `key`."""
    return siphash13(key.encode("utf-8") + b"\xff") % worker_count


def balanced_workers(costs: Mapping[str, int], worker_count: int) -> dict[str, int]:
    """Worker of each group (of `worker_count`), balanced by cost: the costliest group first
    (name order on ties), each to the worker with the least cost so far (lowest index on ties).

    A replay's pairs are spread this way rather than where Bytewax's hash of their names would
    put them, which could put every pair on one worker (`placed_keys` makes the keys follow)."""
    if worker_count < 1:
        raise ConfigError(f"worker count must be >= 1, got {worker_count}")
    load = [0] * worker_count
    out: dict[str, int] = {}
    for group in sorted(costs, key=lambda g: (-costs[g], g)):
        w = min(range(worker_count), key=lambda i: (load[i], i))
        out[group] = w
        load[w] += max(costs[group], 1)
    return out


def placed_key(key: str, worker: int, worker_count: int) -> str:
    """`key` itself when Bytewax runs it on `worker`, else the first `key~n` (n = 1, 2, ...)
    that it runs there: a routing key only (steps take their pair from the items)."""
    if worker_count == 1 or worker_of_key(key, worker_count) == worker:
        return key
    n = 1
    while worker_of_key(f"{key}~{n}", worker_count) != worker:
        n += 1
    return f"{key}~{n}"


def placed_part_names(
    worker_of: Mapping[str, int], worker_count: int
) -> tuple[dict[str, str], list[str]]:
    """Partition names that Bytewax hands to the wanted workers: `worker_of` maps a group to
    its worker; returns (group -> partition name, names of idle partitions).

    Names sort round by round, worker by worker (`"<round>.<worker>.<group>"`), so the i-th
    name is worker i % worker_count's. A worker with fewer groups than another gets an idle
    partition (reads nothing) in each round it has none, which keeps the round-robin aligned.
    """
    by_worker: list[list[str]] = [[] for _ in range(worker_count)]
    for group in sorted(worker_of):
        by_worker[worker_of[group]].append(group)
    rounds = max((len(g) for g in by_worker), default=0)
    names: dict[str, str] = {}
    idle: list[str] = []
    for r in range(rounds):
        for w, groups in enumerate(by_worker):
            if r < len(groups):
                names[groups[r]] = f"{r:03d}.{w:03d}.{groups[r]}"
            else:
                idle.append(f"{r:03d}.{w:03d}.idle")
    return names, idle


def bytewax_run_workers(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Workers of the whole cluster a `python -m bytewax.run` command line (`argv`, without the
    program) starts: `-w/--workers-per-process` times the processes of `-a/--addresses`, or
    their `BYTEWAX_*` variables, as bytewax.run reads them."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-w", "--workers-per-process", default=env.get("BYTEWAX_WORKERS_PER_PROCESS"))
    p.add_argument("-a", "--addresses", default=env.get("BYTEWAX_ADDRESSES"))
    known, _rest = p.parse_known_args(list(argv))
    try:
        per_process = int(known.workers_per_process or 1)
    except ValueError:
        raise ConfigError(
            f"bytewax.run -w must be an integer, got {known.workers_per_process!r}"
        ) from None
    if per_process < 1:
        raise ConfigError(f"bytewax.run -w must be >= 1, got {per_process}")
    addresses = known.addresses
    if addresses is None and env.get("BYTEWAX_HOSTFILE_PATH"):
        hosts = Path(env["BYTEWAX_HOSTFILE_PATH"]).read_text(encoding="utf-8").splitlines()
        addresses = ";".join(h.strip() for h in hosts if h.strip())
    processes = len([a for a in str(addresses).split(";") if a]) if addresses else 1
    return per_process * processes
