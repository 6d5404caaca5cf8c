"""The yappi passes (cpu, wall): every engine thread profiled; functions put in buckets."""

from __future__ import annotations

import contextlib
import importlib
import re
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    SimProcess,
    table,
)
from bench.profile.engine_run import Run, drive, running_engine, thread_kind

# -- where a function belongs ------------------------------------------------------------------

#: (bucket, substrings of a yappi full name); the first bucket with a match wins.
BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("prometheus metrics", ("prometheus_client",)),
    ("logging", ("/logging/",)),
    ("JSON", ("/json/", "_json", "json.")),
    (
        "SQLite/SQLAlchemy/store",
        ("/sqlalchemy/", "sqlite3", "/store/", "_sqlite3"),
    ),
    (
        "HTTP client",
        (
            "/requests/",
            "/urllib3/",
            "/http/",
            "/email/",
            "socket.py",
            "ssl.py",
            "selectors.py",
            "_socket",
            "'socket",
            "select.",
            "/idna/",
            "/charset_normalizer/",
            "urllib/parse.py",
            "BufferedReader",
            "SocketIO",
            # requests 2.34 checks bodies against runtime-checkable Protocols; nothing else in
            # the engine does, so typing's protocol machinery is requests' cost
            "typing.py",
        ),
    ),
    ("websocket (leader feed)", ("/websocket/",)),
    (
        "pykka messaging/queues",
        ("/pykka/", "/queue.py", "/threading.py", "/supervision/", "_thread.", "_queue"),
    ),
    ("our code: dhan wire layer", ("/dhan/",)),
    ("our code: actors/engine", ("/actors/", "/copytrader/")),
)
OTHER = "other"
#: Functions whose inclusive wall time is mostly a thread idling (waiting for a message, a
#: frame, a timer): left out of the "top by inclusive time" tables.
_IDLE = re.compile(
    r"(_actor_loop|_bootstrap|Thread\.run|\.run$|Queue\.get|Inbox\.get|Condition\.wait"
    r"|Event\.wait|_wait_for_tstate_lock|lock\.acquire|acquire' of|sleep|selectors\.py"
    r"|select\.(?:select|poll|epoll)|recv|run_forever|read_frame|_sample$|_run$|WebSocketApp)"
)


def bucket_of(full_name: str) -> str:
    for name, needles in BUCKETS:
        if any(n in full_name for n in needles):
            return name
    return OTHER


#: this checkout's root, as yappi spells our files' paths
_CHECKOUT = str(Path(__file__).resolve().parents[2]) + "/"


def short_name(full_name: str) -> str:
    """``/long/path/site-packages/pkg/mod.py:12 Cls.fn`` -> ``pkg/mod.py:12 Cls.fn``."""
    for marker in ("site-packages/", "lib/python3.11/", _CHECKOUT):
        if marker in full_name:
            return full_name.split(marker, 1)[1]
    return full_name


# -- yappi passes ------------------------------------------------------------------------------


def load_yappi() -> Any:
    """yappi, or None: a measurement tool, deliberately not a project dependency."""
    try:
        return importlib.import_module("yappi")
    except ImportError:
        return None


@dataclass
class FuncRow:
    full_name: str
    ncall: int = 0
    ttot_s: float = 0.0  # inclusive, summed over engine threads
    tsub_s: float = 0.0  # self

    @property
    def bucket(self) -> str:
        return bucket_of(self.full_name)


@dataclass
class Profile:
    clock: str
    threads: dict[str, float]  # thread role -> yappi total s
    funcs: dict[str, FuncRow]

    @property
    def total_s(self) -> float:
        return sum(self.threads.values())

    def by_bucket(self) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for f in self.funcs.values():
            out[f.bucket] += f.tsub_s
        return dict(out)


def collect_profile(yappi: Any, clock: str) -> Profile:
    """Function stats merged over every thread except this bench's main thread."""
    names = {t.ident: t.name for t in threading.enumerate()}
    main = threading.main_thread().ident
    threads: dict[str, float] = defaultdict(float)
    funcs: dict[str, FuncRow] = {}
    for ts in yappi.get_thread_stats():
        if ts.tid == main:
            continue
        threads[thread_kind(names.get(ts.tid, ts.name))] += ts.ttot
        for s in yappi.get_func_stats(filter={"ctx_id": ts.id}):
            row = funcs.get(s.full_name)
            if row is None:
                row = funcs[s.full_name] = FuncRow(s.full_name)
            row.ncall += s.ncall
            row.ttot_s += s.ttot
            row.tsub_s += s.tsub
    return Profile(clock, dict(threads), funcs)


@contextlib.contextmanager
def yappi_running(yappi: Any, clock: str, builtins: bool) -> Iterator[None]:
    yappi.stop()
    yappi.clear_stats()
    yappi.set_clock_type(clock)
    yappi.start(builtins=builtins, profile_threads=True)
    try:
        yield
    finally:
        yappi.stop()


def profile_pass(
    sim: SimProcess, run: Run, yappi: Any, clock: str, builtins: bool
) -> tuple[Run, Profile]:
    with running_engine(sim, run) as (engine, leader):
        holder: list[Profile] = []

        @contextlib.contextmanager
        def during() -> Iterator[None]:
            with yappi_running(yappi, clock, builtins):
                yield
            holder.append(collect_profile(yappi, clock))  # threads still alive: names known

        drive(sim, engine, leader, run, during)
    return run, holder[0]


# -- printing ------------------------------------------------------------------------------------


def print_profile(prof: Profile, run: Run, top: int) -> dict[str, Any]:
    copies = run.copies
    total = prof.total_s
    per_copy = total / copies * 1000
    print(
        f"\nyappi {prof.clock} clock: engine threads {total:.2f} s over {copies} copies = "
        f"{per_copy:.2f} ms per copy (engine CPU from /proc in this profiled pass: "
        f"{run.engine_cpu_s / copies * 1000:.2f} ms; compare the timeline pass for the cost "
        "without a profiler)"
    )
    buckets = sorted(prof.by_bucket().items(), key=lambda kv: -kv[1])
    attributed = sum(v for _b, v in buckets)
    threads = sorted(prof.threads.items(), key=lambda kv: -kv[1])
    if prof.clock == "cpu":  # in wall time every idle thread would dominate these two
        print(
            f"attributed to functions: {attributed / copies * 1000:.2f} ms per copy (the rest "
            "is the profiler's own cost); % below are of the attributed time"
        )
        rows = [
            [b, round(v / copies * 1000, 3), round(100 * v / attributed, 1)] for b, v in buckets
        ]
        print(table(["bucket (self time)", "ms/copy (profiled)", "%"], rows))
        print(
            table(
                ["thread role", "ms/copy (profiled)", "%"],
                [[k, round(v / copies * 1000, 3), round(100 * v / total, 1)] for k, v in threads],
            )
        )
    busiest = max(prof.threads.values(), default=1.0)
    funcs = [
        f
        for f in prof.funcs.values()
        if not _IDLE.search(f.full_name) and f.ttot_s < 0.95 * busiest  # not a thread's loop
    ]
    by_tot = sorted(funcs, key=lambda f: -f.ttot_s)[:top]
    print(
        f"\ntop {top} functions by inclusive {prof.clock} time (ms per copy; idle waits left out):"
    )
    print(
        table(
            ["function", "bucket", "calls/copy", "incl ms", "self ms", "incl ms/call"],
            [
                [
                    short_name(f.full_name)[:90],
                    f.bucket,
                    round(f.ncall / copies, 2),
                    round(f.ttot_s / copies * 1000, 3),
                    round(f.tsub_s / copies * 1000, 3),
                    round(f.ttot_s / max(1, f.ncall) * 1000, 3),
                ]
                for f in by_tot
            ],
        )
    )
    by_sub = sorted(prof.funcs.values(), key=lambda f: -f.tsub_s)[:top]
    print(f"\ntop {top} functions by self {prof.clock} time (ms per copy):")
    print(
        table(
            ["function", "bucket", "calls/copy", "self ms", "%"],
            [
                [
                    short_name(f.full_name)[:90],
                    f.bucket,
                    round(f.ncall / copies, 2),
                    round(f.tsub_s / copies * 1000, 3),
                    round(100 * f.tsub_s / total, 1),
                ]
                for f in by_sub
            ],
        )
    )
    return {
        "clock": prof.clock,
        "total_ms_per_copy": round(per_copy, 3),
        "buckets_ms_per_copy": {b: round(v / copies * 1000, 3) for b, v in buckets},
        "bucket_shares": {b: v / attributed for b, v in buckets} if attributed else {},
        "threads_ms_per_copy": {k: round(v / copies * 1000, 3) for k, v in threads},
        "top_inclusive": [
            [short_name(f.full_name), round(f.ttot_s / copies * 1000, 3)] for f in by_tot
        ],
        "top_self": [[short_name(f.full_name), round(f.tsub_s / copies * 1000, 3)] for f in by_sub],
    }


def print_scaled(shares: dict[str, float], timeline: dict[str, Any]) -> dict[str, float]:
    """The profiled pass's bucket shares applied to the unprofiled CPU per copy.

    An estimate: yappi slows pure-Python code (parsing, SQLAlchemy) more than C code (sqlite3,
    sockets), so the Python-heavy buckets come out somewhat too large. The timeline's
    instruments' split (journal writes / HTTP calls / the rest) is the cross-check.
    """
    total = float(timeline["engine_cpu_ms_per_copy"])
    scaled = {b: round(share * total, 3) for b, share in shares.items()}
    print(f"\nCPU per copy by bucket, profiled shares x the unprofiled {total:.2f} ms per copy:")
    print(
        table(
            ["bucket", "ms/copy (est.)", "%"],
            [[b, v, round(100 * shares[b], 1)] for b, v in scaled.items()],
        )
    )
    return scaled
