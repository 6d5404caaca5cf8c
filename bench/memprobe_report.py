"""What grew over the day, by where it was allocated: ``python -m bench.memprobe_report DIR``.

``DIR`` is a ``bench.memory --probe DIR`` run: ``DIR/n<N>/{ready,day}.{snap,json}`` per number
of followers N. For each N: the growth from ready to after the day, grouped by the allocating
line (``--key lineno``), file (``filename``) or stack (``traceback``); and, with two or more N,
each group's growth per follower (the least-squares slope over N), largest first. Then the
parts of VmRSS from the probe's readings (Python objects, allocator free space, SQLite, thread
stacks, what ``malloc_trim`` gave back), per N and per follower.
"""

from __future__ import annotations

import argparse
import json
import sys
import tracemalloc
from pathlib import Path
from typing import Any

from bench.memory import slope_mb


def _growth(directory: Path, key: str, frames: int) -> dict[str, int]:
    ready = tracemalloc.Snapshot.load(str(directory / "ready.snap"))
    day = tracemalloc.Snapshot.load(str(directory / "day.snap"))
    out: dict[str, int] = {}
    for stat in day.compare_to(ready, key, cumulative=key == "filename"):
        frames_text = stat.traceback.format(limit=frames if key == "traceback" else 1)
        where = " <- ".join(line.strip() for line in frames_text if not line.startswith("    "))
        out[where] = out.get(where, 0) + stat.size_diff
    return out


def _parts(reading: dict[str, Any]) -> dict[str, float]:
    """The parts of VmRSS in one probe reading (MB)."""
    mb = 1024 * 1024
    mall = reading["mallinfo"]
    anon = reading["anon"]
    return {
        "rss": reading["rss_kb"] / 1024,
        "python_objects": reading["tracemalloc_current"] / mb,
        "tracemalloc_own": reading["tracemalloc_overhead"] / mb,
        "malloc_in_use": mall["uordblks"] / mb,
        "malloc_free": mall["fordblks"] / mb,
        "malloc_mmapped": mall["hblkhd"] / mb,
        "sqlite": reading["sqlite_memory_used"] / mb,
        "stacks": anon["stack_8m"] / 1024,
        "threads": float(reading["threads"]),
        "trimmed": (reading["rss_kb"] - reading.get("rss_after_trim_kb", reading["rss_kb"])) / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.memprobe_report", description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--key", default="lineno", choices=("lineno", "filename", "traceback"))
    parser.add_argument("--frames", type=int, default=4, help="frames shown per traceback")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    runs = sorted(
        (int(d.name[1:]), d)
        for d in args.directory.iterdir()
        if d.name.startswith("n") and (d / "day.json").exists()
    )
    if not runs:
        print(f"no probe readings under {args.directory}", file=sys.stderr)
        return 2
    growth: dict[int, dict[str, int]] = {}
    for n, d in runs:
        if (d / "day.snap").exists():
            growth[n] = _growth(d, args.key, args.frames)
            total = sum(growth[n].values())
            print(f"\n== N = {n}: Python objects grew {total / 1e6:.2f} MB over the day ==")
            for where, size in sorted(growth[n].items(), key=lambda kv: -abs(kv[1]))[: args.top]:
                print(f"{size / 1e3:10.1f} kB  {where}")
    if len(growth) >= 2:
        print("\n== growth per follower (slope over N), kB ==")
        keys = set().union(*growth.values())
        slopes = {
            k: slope_mb([(n, growth[n].get(k, 0) / 1e3) for n in growth]) or 0.0 for k in keys
        }
        total_kb = slope_mb([(n, sum(g.values()) / 1e3) for n, g in growth.items()]) or 0.0
        print(f"{total_kb:10.1f} kB  (all Python objects)")
        for where, kb in sorted(slopes.items(), key=lambda kv: -abs(kv[1]))[: args.top]:
            print(f"{kb:10.1f} kB  {where}")
    print("\n== parts of VmRSS (MB): ready -> day ==")
    table: dict[int, dict[str, dict[str, float]]] = {}
    for n, d in runs:
        table[n] = {
            label: _parts(json.loads((d / f"{label}.json").read_text()))
            for label in ("ready", "day")
        }
        row = "  ".join(
            f"{k} {table[n]['ready'][k]:.1f}->{table[n]['day'][k]:.1f}" for k in table[n]["day"]
        )
        print(f"N={n}: {row}")
    if len(table) >= 2:
        names = next(iter(table.values()))["day"]
        for label in ("ready", "day"):
            per = {k: slope_mb([(n, table[n][label][k]) for n in table]) or 0.0 for k in names}
            print(f"per follower at {label}: " + "  ".join(f"{k} {v:.3f}" for k, v in per.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
