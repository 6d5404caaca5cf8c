"""The engine under a memory probe: ``python -m bench.memprobe --config X run``.

Runs ``copytrader``'s command line with ``tracemalloc`` on (``MEMPROBE_FRAMES`` frames per
trace, default 8; 0 = off) and a daemon thread that answers requests in ``MEMPROBE_DIR``: for
each file ``<label>.req`` it collects garbage, then writes ``<label>.snap`` (a ``tracemalloc``
snapshot) and ``<label>.json``: VmRSS, what the Python objects hold (``tracemalloc``), what
glibc's allocator holds in use and free (``mallinfo2``, every arena), SQLite's own
allocations, the threads and the resident memory of their stacks, and VmRSS again after
``malloc_trim(0)`` (what the allocator gives back when asked: its retention).
``bench.memory --probe`` drives it; ``bench.memprobe_report`` compares the snapshots.

A benchmark tool only: tracemalloc costs time and memory (its own traces count in VmRSS), so a
probed run's VmRSS is not the product's; read the parts, not the total.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

_MALLINFO_FIELDS = (
    "arena",  # bytes obtained from the system by brk/heaps (non-mmapped), every arena
    "ordblks",
    "smblks",
    "hblks",
    "hblkhd",  # bytes in mmapped chunks
    "usmblks",
    "fsmblks",
    "uordblks",  # bytes in use (allocated) in the arenas
    "fordblks",  # bytes free in the arenas (retained by the allocator)
    "keepcost",
)


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO_FIELDS]


def _libc() -> Any:
    return ctypes.CDLL("libc.so.6")


def mallinfo() -> dict[str, int]:
    """glibc's ``mallinfo2()``: summed over every arena."""
    fn = _libc().mallinfo2
    fn.restype = _MallInfo2
    info = fn()
    return {name: int(getattr(info, name)) for name in _MALLINFO_FIELDS}


def sqlite_memory_used() -> int:
    lib = ctypes.CDLL("libsqlite3.so.0")  # the one _sqlite3 loaded (dlopen shares it)
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    return int(lib.sqlite3_memory_used())


def status_kb(pid: int | str, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def anon_mappings(pid: int | str = "self") -> dict[str, int]:
    """Resident kB of this process's anonymous memory by kind, from ``/proc/<pid>/smaps``:
    ``heap`` (the main arena's brk heap), ``stack_8m`` (8 MiB mappings: thread stacks),
    ``arena_heaps`` (the rest of the mappings inside glibc's 64 MiB arena reservations),
    ``other_anon`` (mmapped blocks, the interpreter's arenas, ...)."""
    out = {"heap": 0, "stack_8m": 0, "stack_8m_count": 0, "other_anon": 0, "arena_heaps": 0}
    text = Path(f"/proc/{pid}/smaps").read_text()
    entry: dict[str, Any] | None = None
    entries: list[dict[str, Any]] = []
    for line in text.splitlines():
        head = line.split()
        if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            start, end = (int(x, 16) for x in head[0].split("-"))
            entry = {
                "start": start,
                "size": end - start,
                "perms": head[1],
                "name": head[5] if len(head) > 5 else "",
                "rss": 0,
            }
            entries.append(entry)
        elif entry is not None and head[0] == "Rss:":
            entry["rss"] = int(head[1])
    heap_span = 64 << 20
    for e in entries:
        if e["name"] == "[heap]":
            out["heap"] += e["rss"]
        elif e["name"]:
            continue
        elif e["size"] == 8 << 20 and "rw" in e["perms"]:
            out["stack_8m"] += e["rss"]
            out["stack_8m_count"] += 1
        elif e["start"] % heap_span == 0 and "rw" in e["perms"]:
            out["arena_heaps"] += e["rss"]  # a non-main arena's heap starts 64 MiB-aligned
        else:
            out["other_anon"] += e["rss"]
    return out


def measure(label: str) -> dict[str, Any]:
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()  # (0, 0) when not tracing
    before = {
        "label": label,
        "t": time.time(),
        "rss_kb": status_kb("self", "VmRSS"),
        "threads": status_kb("self", "Threads"),
        "tracemalloc_current": current,
        "tracemalloc_peak": peak,
        "tracemalloc_overhead": tracemalloc.get_tracemalloc_memory(),
        "mallinfo": mallinfo(),
        "sqlite_memory_used": sqlite_memory_used(),
        "anon": anon_mappings(),
    }
    return before


def _write(path: Path, payload: dict[str, Any]) -> None:
    """Whole or not at all: a reader that sees the file sees all of it."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, path)


def _serve(directory: Path) -> None:
    while True:
        for req in sorted(directory.glob("*.req")):
            label = req.stem
            try:
                stats = measure(label)
                started = time.perf_counter()
                _libc().malloc_trim(0)  # before the snapshot, which allocates much itself
                stats["trim_ms"] = (time.perf_counter() - started) * 1000
                stats["rss_after_trim_kb"] = status_kb("self", "VmRSS")
                stats["mallinfo_after_trim"] = mallinfo()
                if tracemalloc.is_tracing():
                    tracemalloc.take_snapshot().dump(str(directory / f"{label}.snap"))
                _write(directory / f"{label}.json", stats)
            except Exception as exc:  # the probe must never take the engine down
                _write(directory / f"{label}.json", {"error": repr(exc)})
            req.unlink()
        time.sleep(0.2)  # a polling interval for a benchmark's request file


def main() -> int:
    directory = Path(os.environ["MEMPROBE_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    frames = int(os.environ.get("MEMPROBE_FRAMES", "8"))
    if frames > 0:  # 0: no tracemalloc (VmRSS then is the product's, plus this thread)
        tracemalloc.start(frames)
    threading.Thread(target=_serve, args=(directory,), name="memprobe", daemon=True).start()
    from copytrader.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
