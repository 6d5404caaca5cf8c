"""Profile: where the engine's CPU and wall time go per copied order (measurement, not a test).

``python -m bench.profile_hot_path --followers 10 --orders 200``. The simulator runs in its own
process (its CPU is not counted); the engine runs in this one and copies leader orders paced as
in ``bench.fanout``. Three passes, each on a fresh engine, store and accounts: ``cpu`` (yappi,
CPU clock, every engine thread), ``wall`` (yappi, wall clock) and ``timeline`` (no profiler:
message hops and store / HTTP calls timed by wrappers installed at run time, per-thread CPU from
``/proc``). Then micro-benchmarks of the pieces. Needs ``pip install yappi`` for the profiled
passes. Method and results: ``docs/performance.md``, "Where the CPU goes".
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import importlib
import itertools
import json
import os
import re
import sqlite3
import statistics
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pykka
import requests
import urllib3

from bench.common import (
    LTP,
    SECURITY_ID,
    Accounts,
    SimProcess,
    engine_config,
    machine,
    marketable_order,
    resting_limit_order,
    summary_ms,
    table,
    token_of,
    wait_until,
    workdir,
    write_json,
)
from bench.fanout import WARMUP_ORDERS, _union_within, latency_report, placed_ok
from copytrader.engine import BrokerEndpoints, Engine
from dhan.codes import ExchangeSegment, OrderStatus, OrderType, ProductType, TransactionType
from dhan.correlation import correlation_id_for
from dhan.models import OrderAck
from dhan.rest import DhanClient
from store import DesiredIntent, Journal, LeaderOrderSnapshot, SnapshotSource
from store.states import IntentState
from supervision.actor import SupervisedActor

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


def short_name(full_name: str) -> str:
    """``/long/path/site-packages/pkg/mod.py:12 Cls.fn`` -> ``pkg/mod.py:12 Cls.fn``."""
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in full_name:
            return full_name.split(marker, 1)[1]
    return full_name


def thread_kind(name: str) -> str:
    """``FollowerActor-12`` -> ``FollowerActor``: threads grouped by role."""
    return re.sub(r"[-_ ]?\d+$", "", name.split(" (", 1)[0]) or name


# -- per-thread CPU from /proc (no profiler) --------------------------------------------------


def thread_cpu_s() -> dict[int, tuple[str, float]]:
    """native thread id -> (thread name, user + system CPU s) for every thread of this process."""
    names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[str, float]] = {}
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            tid = int(task.name)
            out[tid] = (
                names.get(tid, f"native-{tid}"),
                (int(fields[11]) + int(fields[12])) / ticks,
            )
    return out


def engine_cpu_by_kind(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    """CPU s per thread role between two ``thread_cpu_s`` readings, this bench's thread excluded."""
    main = threading.main_thread().native_id
    out: dict[str, float] = defaultdict(float)
    for tid, (name, cpu) in after.items():
        if tid == main:
            continue
        out[thread_kind(name)] += cpu - before.get(tid, (name, 0.0))[1]
    return dict(out)


# -- running the engine against the simulator --------------------------------------------------


@dataclass
class Run:
    """One pass: a fresh engine copying ``orders`` leader orders to ``followers``."""

    followers: int
    orders: int
    rtt_ms: float
    gap_s: float
    index: int
    leader_order_ids: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    idle_cpu_s_per_s: float = 0.0
    engine_cpu_s: float = 0.0
    cpu_by_thread: dict[str, float] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)
    accounts: Accounts | None = None
    loadavg: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def copies(self) -> int:
        return self.orders * self.followers


@contextlib.contextmanager
def running_engine(sim: SimProcess, run: Run) -> Iterator[tuple[Engine, DhanClient]]:
    accounts = Accounts.block(run.index, run.followers)
    run.accounts = accounts
    sim.create_accounts(accounts.all)
    sim.api().set_ltp("NSE_EQ", SECURITY_ID, LTP)
    sim.set_rtt_ms(run.rtt_ms, accounts.followers)
    with workdir("bench-profile-") as tmp:
        cfg = engine_config(accounts, sim.rest_url, sim.feed_url, tmp)
        engine = Engine(cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.feed_url)).start()
        leader = DhanClient(
            base_url=sim.rest_url,
            client_id=accounts.leader,
            access_token=token_of(accounts.leader),
            read_timeout_s=30.0,
        )
        try:
            wait_until(lambda: engine.ready()[0], 30.0, 0.02, "engine ready")
            yield engine, leader
        finally:
            engine.stop()
            leader.close()
            sim.set_rtt_ms(0, ())


def drive(
    sim: SimProcess,
    engine: Engine,
    leader: DhanClient,
    run: Run,
    during: Callable[[], contextlib.AbstractContextManager[Any]],
) -> None:
    """Warm up, measure idle CPU for 2 s, then copy ``run.orders`` orders inside ``during()``."""
    done = 0

    def place_and_wait(k: int) -> str:
        nonlocal done
        oid = leader.place_order(marketable_order(k)).order_id
        done += run.followers
        wait_until(lambda: placed_ok(engine) >= done, 180.0, 0.05, f"copies of {oid}")
        time.sleep(run.gap_s)  # spacing between leader orders, not synchronisation
        return oid

    for k in range(WARMUP_ORDERS):
        place_and_wait(k)
    idle0, t_idle = thread_cpu_s(), time.monotonic()
    time.sleep(2.0)  # an idle window: the engine's own ticks, with no leader order to copy
    idle = engine_cpu_by_kind(idle0, thread_cpu_s())
    run.idle_cpu_s_per_s = sum(idle.values()) / (time.monotonic() - t_idle)
    sim.api().clear_journal()
    with during():
        cpu0, t0 = thread_cpu_s(), time.monotonic()
        run.leader_order_ids = [place_and_wait(WARMUP_ORDERS + k) for k in range(run.orders)]
        run.elapsed_s = time.monotonic() - t0
        run.cpu_by_thread = engine_cpu_by_kind(cpu0, thread_cpu_s())
    run.engine_cpu_s = sum(run.cpu_by_thread.values())
    run.entries = sim.api().journal(limit=1_000_000)
    run.loadavg = os.getloadavg()


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


# -- timeline pass: message hops and calls timed by wrappers (no profiler) ----------------------


@dataclass(frozen=True, slots=True)
class Handled:
    """One message handled by a supervised actor."""

    actor: str
    child_id: str
    msg_type: str
    msg: Any
    t0_ns: int
    t1_ns: int
    cpu_ns: int


@dataclass(frozen=True, slots=True)
class Call:
    """One journal / REST call, with the message being handled when it was made."""

    name: str
    parent: int | None
    t0_ns: int
    t1_ns: int
    cpu_ns: int
    key: str
    cid: str = ""


class Recorder:
    """Times every ``ActorRef.tell``, every supervised handler and selected calls.

    Installed by replacing attributes of pykka / our classes in this process only (the product
    code is untouched); removed on exit. Messages are kept alive so ``id()`` stays unique.
    """

    TIMED: tuple[tuple[Any, str], ...] = (
        (DhanClient, "_request"),
        (Journal, "record_and_claim"),
        (Journal, "transition"),
        (Journal, "append_audit"),
        (Journal, "intents_needing_action"),
        (Journal, "intents"),
        (Journal, "intent"),
        (Journal, "leader_snapshot"),
        (Journal, "audit_after"),
        (Journal, "set_mark"),
        (Journal, "mark_audit_drained"),
    )

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.local = threading.local()
        self.told: dict[int, tuple[int, int | None]] = {}  # id(msg) -> (t_ns, parent id)
        self.keep: list[Any] = []
        self.handled: list[Handled] = []
        self.calls: list[Call] = []
        self.active = False
        self._saved: list[tuple[Any, str, Any]] = []

    def current(self) -> int | None:
        return getattr(self.local, "handling", None)

    @contextlib.contextmanager
    def installed(self) -> Iterator[Recorder]:
        rec = self
        tell = pykka.ActorRef.tell
        handle = SupervisedActor._handle_receive

        def timed_tell(ref: Any, message: Any) -> None:
            if rec.active:
                t = time.monotonic_ns()
                with rec.lock:
                    rec.told[id(message)] = (t, rec.current())
                    rec.keep.append(message)
            tell(ref, message)

        def timed_handle(actor: Any, message: Any) -> Any:
            if not rec.active:
                return handle(actor, message)
            prev = rec.current()
            rec.local.handling = id(message)
            t0, c0 = time.monotonic_ns(), time.thread_time_ns()
            try:
                return handle(actor, message)
            finally:
                c1, t1 = time.thread_time_ns(), time.monotonic_ns()
                rec.local.handling = prev
                inner = getattr(message, "message", message)  # a coalesced PeriodicTick
                h = Handled(
                    type(actor).__name__,
                    actor.context.child_id,
                    type(inner).__name__,
                    message,
                    t0,
                    t1,
                    c1 - c0,
                )
                with rec.lock:
                    rec.handled.append(h)
                    rec.keep.append(message)

        self._saved = [(pykka.ActorRef, "tell", tell), (SupervisedActor, "_handle_receive", handle)]
        # measurement hooks in this process only, removed on exit
        setattr(pykka.ActorRef, "tell", timed_tell)  # noqa: B010  # mypy rejects the plain assignment
        setattr(SupervisedActor, "_handle_receive", timed_handle)  # noqa: B010  # as above
        for owner, name in self.TIMED:
            original = getattr(owner, name)
            self._saved.append((owner, name, original))
            setattr(owner, name, self._timed_call(f"{owner.__name__}.{name}", original))
        try:
            yield self
        finally:
            self.active = False
            for owner, name, original in reversed(self._saved):
                setattr(owner, name, original)

    def _timed_call(self, label: str, original: Callable[..., Any]) -> Callable[..., Any]:
        rec = self

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not rec.active or threading.current_thread() is threading.main_thread():
                return original(*args, **kwargs)  # the bench's own leader client, not the engine
            t0, c0 = time.monotonic_ns(), time.thread_time_ns()
            try:
                return original(*args, **kwargs)
            finally:
                c1, t1 = time.thread_time_ns(), time.monotonic_ns()
                key = f"{args[1]} {args[2]}" if label == "DhanClient._request" else ""
                cid = str(kwargs.get("cid") or "")
                call = Call(label, rec.current(), t0, t1, c1 - c0, key, cid)
                with rec.lock:
                    rec.calls.append(call)

        return wrapper


#: The stages of one copy, leader frame sent -> follower place received by the simulator.
STAGES = (
    ("socket hop + feed thread parse", "queue"),
    ("leader-feed inbox wait", "queue"),
    ("leader-feed work until this hint", "work"),
    ("hint wait in follower inbox", "queue"),
    ("follower: hint -> permit request or HTTP call", "work"),
    ("permit request wait in limiter inbox (0: fast path)", "queue"),
    ("limiter work (0: fast path)", "work"),
    ("grant wait in follower inbox (0: fast path)", "queue"),
    ("follower: grant -> HTTP call (0: fast path)", "work"),
    ("HTTP call -> simulator (client, loopback, GIL)", "work"),
    ("simulator busy with earlier requests", "queue"),
)


def copy_timelines(rec: Recorder, run: Run) -> tuple[list[list[float]], dict[str, Any]]:
    """Per copy, the ms spent in each of ``STAGES``; and what after the place it cost."""
    assert run.accounts is not None
    handled = {id(h.msg): h for h in rec.handled}
    frame_ns: dict[str, int] = {}
    place_ns: dict[str, int] = {}
    served = sorted(
        (int(e["t_ns"]), int(e.get("t_done_ns") or e["t_ns"]))
        for e in run.entries
        if e.get("kind") == "rest"
    )
    for e in run.entries:
        if e.get("kind") == "frame" and e.get("account") == run.accounts.leader:
            frame_ns.setdefault(str(e.get("orderNo")), int(e["t_ns"]))
        elif (
            e.get("kind") == "rest"
            and e.get("endpoint") == "POST /orders"
            and e.get("correlationId")
        ):
            place_ns.setdefault(str(e["correlationId"]), int(e["t_ns"]))
    hint_of: dict[int, Handled] = {}  # intent id -> the LeaderChanged that claimed it
    for h in rec.handled:
        if h.msg_type == "LeaderChanged":
            for intent in getattr(h.msg, "claimed", ()):
                hint_of.setdefault(intent.id, h)
    requests_of: dict[int, tuple[Any, int]] = {}
    grants_of: dict[int, tuple[Any, int]] = {}
    for mid, (t, _parent) in rec.told.items():
        got = handled.get(mid)
        if got is None:
            continue
        if got.msg_type == "PermitRequest":
            requests_of.setdefault(got.msg.intent_id, (got, t))
        elif got.msg_type == "PermitGranted":
            grants_of.setdefault(got.msg.intent_id, (got, t))
    http_of: dict[str, Call] = {}  # correlationId -> its first place call
    writes: dict[int, list[Call]] = defaultdict(list)
    for c in rec.calls:
        if c.name == "DhanClient._request" and c.key.startswith("POST ") and c.cid:
            http_of.setdefault(c.cid, c)
        elif c.name == "Journal.transition" and c.parent:
            writes[c.parent].append(c)
    rows: list[list[float]] = []
    after: dict[str, list[float]] = defaultdict(list)
    unlinked = fast = 0
    for intent_id, hint in hint_of.items():
        intent = next(i for i in hint.msg.claimed if i.id == intent_id)
        try:
            t_frame = frame_ns[intent.leader_order_id]
            t_place = place_ns[intent.correlation_id]
            feed = handled[rec.told[id(hint.msg)][1] or 0]
            t_update = rec.told[id(feed.msg)][0]
            t_hint = rec.told[id(hint.msg)][0]
            http = http_of[intent.correlation_id]
            owner = handled[http.parent or 0]  # the hint (fast path) or the grant
        except KeyError:
            unlinked += 1
            continue
        if intent.leader_order_id not in run.leader_order_ids:
            continue  # a warm-up order
        if owner.msg_type == "Tick":
            # a tick's converge pass found the claim first (the hint still queued behind it)
            after["latency of copies placed by a tick"].append((t_place - t_frame) / 1e6)
            continue
        if owner is hint:  # the account's windows had room: no limiter round trip
            fast += 1
            t_req = t_grant = http.t0_ns
            req_t0 = grant_t0 = http.t0_ns
        else:
            try:
                req, t_req = requests_of[intent_id]
                _grant, t_grant = grants_of[intent_id]
            except KeyError:
                unlinked += 1
                continue
            req_t0, grant_t0 = req.t0_ns, owner.t0_ns
        marks = [
            t_frame,
            t_update,
            feed.t0_ns,
            t_hint,
            hint.t0_ns,
            t_req,
            req_t0,
            t_grant,
            grant_t0,
            http.t0_ns,
            t_place,
        ]
        stages = [(b - a) / 1e6 for a, b in itertools.pairwise(marks)]
        # the simulator serves one request at a time: time it spent on others in the window
        sim_ms = _union_within(served, http.t0_ns, t_place) / 1e6
        stages[-1] -= sim_ms
        rows.append([*stages, sim_ms])
        after["HTTP answer (simulator handling + loopback + parse)"].append(
            (http.t1_ns - t_place) / 1e6
        )
        acks = [c for c in writes[id(owner.msg)] if c.t0_ns >= http.t1_ns]
        ack_ms = sum(c.t1_ns - c.t0_ns for c in acks[:1]) / 1e6
        after["journal the ack (transition, wall)"].append(ack_ms)
        after["CPU of the handler that placed it (all of it)"].append(owner.cpu_ns / 1e6)
        if owner is not hint:
            after["hint handler CPU (slow path)"].append(hint.cpu_ns / 1e6)
    return rows, {"after": dict(after), "unlinked": unlinked, "fast_path": fast}


def fanout_ranks(run: Run) -> list[float]:
    """p50 over orders of frame -> k-th follower place received, for k = 1..N."""
    assert run.accounts is not None
    followers = set(run.accounts.followers)
    wanted = set(run.leader_order_ids)
    cid_to_order = {
        correlation_id_for(name, oid): oid for oid in wanted for name in run.accounts.names
    }
    frame_ns: dict[str, int] = {}
    places: dict[str, list[int]] = defaultdict(list)
    for e in run.entries:
        if e.get("kind") == "frame" and e.get("account") == run.accounts.leader:
            frame_ns.setdefault(str(e.get("orderNo")), int(e["t_ns"]))
        elif (
            e.get("kind") == "rest"
            and e.get("endpoint") == "POST /orders"
            and e.get("account") in followers
        ):
            oid = cid_to_order.get(str(e.get("correlationId")))
            if oid is not None:
                places[oid].append(int(e["t_ns"]))
    by_rank: dict[int, list[float]] = defaultdict(list)
    for oid, stamps in places.items():
        if oid in frame_ns:
            for k, t in enumerate(sorted(stamps)):
                by_rank[k].append((t - frame_ns[oid]) / 1e6)
    return [statistics.median(by_rank[k]) for k in sorted(by_rank)]


def handler_costs(rec: Recorder, copies: int) -> list[list[Any]]:
    """CPU per copy by (actor, message), with the journal and HTTP calls made inside."""
    inner: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for c in rec.calls:
        if c.parent is not None:
            kind = "http" if c.name == "DhanClient._request" else "store"
            inner[c.parent][kind] += c.cpu_ns
    agg: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for h in rec.handled:
        a = agg[(h.actor, h.msg_type)]
        a[0] += 1
        a[1] += h.cpu_ns
        a[2] += inner[id(h.msg)]["store"]
        a[3] += inner[id(h.msg)]["http"]
        a[4] += h.t1_ns - h.t0_ns
    rows = []
    for (actor, msg), (n, cpu, store, web, wall) in sorted(agg.items(), key=lambda kv: -kv[1][1]):
        rows.append(
            [
                actor,
                msg,
                n,
                round(cpu / 1e6 / copies, 3),
                round(store / 1e6 / copies, 3),
                round(web / 1e6 / copies, 3),
                round((cpu - store - web) / 1e6 / copies, 3),
                round(wall / 1e6 / n, 2),
            ]
        )
    return rows


def call_costs(rec: Recorder, copies: int) -> list[list[Any]]:
    agg: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, int] = defaultdict(int)
    for c in rec.calls:
        name = c.name
        if name == "DhanClient._request":
            name = "HTTP " + re.sub(r"/[^/]*\d[^/]*", "/{id}", c.key)
        agg[name].append((c.t1_ns - c.t0_ns) / 1e6)
        cpu[name] += c.cpu_ns
    rows = []
    for name, walls in sorted(agg.items(), key=lambda kv: -cpu[kv[0]]):
        rows.append(
            [
                name,
                len(walls),
                round(cpu[name] / 1e6 / len(walls), 3),
                round(statistics.median(walls), 2),
                round(sorted(walls)[int(0.99 * (len(walls) - 1))], 2),
                round(cpu[name] / 1e6 / copies, 3),
            ]
        )
    return rows


def timeline_pass(sim: SimProcess, run: Run) -> tuple[Run, Recorder]:
    rec = Recorder()
    with rec.installed(), running_engine(sim, run) as (engine, leader):

        @contextlib.contextmanager
        def during() -> Iterator[None]:
            rec.active = True
            try:
                yield
            finally:
                rec.active = False

        drive(sim, engine, leader, run, during)
    return run, rec


# -- micro-benchmarks ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Micro:
    name: str
    cpu_us: float  # CPU of the calling thread per call
    wall_us_p50: float
    n: int
    note: str = ""


def measure(name: str, fn: Callable[[int], Any], n: int, note: str = "", warmup: int = 5) -> Micro:
    for k in range(warmup):
        fn(-1 - k)
    walls = []
    c0 = time.thread_time_ns()
    for k in range(n):
        t0 = time.perf_counter_ns()
        fn(k)
        walls.append(time.perf_counter_ns() - t0)
    cpu = time.thread_time_ns() - c0
    return Micro(name, cpu / n / 1e3, statistics.median(walls) / 1e3, n, note)


def micro_http(n: int) -> list[Micro]:
    """One follower place, four ways, against a simulator without rate limits (client CPU)."""
    out = []
    with SimProcess(rate_limits=False, seed=7) as sim:
        acct = "3999000001"
        sim.create_accounts([acct])
        sim.api().set_ltp("NSE_EQ", SECURITY_ID, LTP)
        client = DhanClient(base_url=sim.rest_url, client_id=acct, access_token=token_of(acct))
        req = resting_limit_order()
        body = json.dumps({"dhanClientId": acct, **req.to_wire()}).encode()
        headers = {
            "access-token": token_of(acct),
            "client-id": acct,
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": "bench",
        }
        url = sim.rest_url + "/orders"
        try:
            out.append(
                measure(
                    "DhanClient.place_order (http.client keep-alive)",
                    lambda k: client.place_order(req),
                    n,
                    "what the follower calls",
                )
            )
            session = requests.Session()
            session.trust_env = False
            out.append(
                measure(
                    "requests.Session.post + json.loads",
                    lambda k: json.loads(session.post(url, data=body, headers=headers).content),
                    n,
                )
            )
            pool = urllib3.HTTPConnectionPool(
                urlsplit(url).hostname or "", urlsplit(url).port, maxsize=1, retries=False
            )

            def urllib3_place(k: int) -> Any:
                resp = pool.urlopen("POST", urlsplit(url).path, body=body, headers=headers)
                return OrderAck.from_wire(json.loads(resp.data), "POST /orders")

            out.append(measure("urllib3 pool POST + json + OrderAck", urllib3_place, n))
            pool.close()
            parts = urlsplit(url)
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)

            def raw_place(k: int) -> Any:
                conn.request("POST", parts.path, body=body, headers=headers)
                resp = conn.getresponse()
                return OrderAck.from_wire(json.loads(resp.read()), "POST /orders")

            out.append(
                measure(
                    "http.client keep-alive POST + json + OrderAck",
                    raw_place,
                    n,
                    "same wire bytes",
                )
            )
            conn.close()
            session.close()
        finally:
            client.close()
    return out


def _snapshot(oid: str, n_followers: int) -> tuple[LeaderOrderSnapshot, list[DesiredIntent]]:
    snap = LeaderOrderSnapshot(
        leader_order_id=oid,
        dedupe_key=f"{oid}|TRANSIT|1",
        source=SnapshotSource.SOCKET,
        status=OrderStatus.TRANSIT,
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.LIMIT,
        security_id=SECURITY_ID,
        quantity=1,
        price=LTP,
        seq=time.time_ns(),
        raw={"OrderNo": oid, "Status": "TRANSIT"},
    )
    intents = [
        DesiredIntent(
            follower=f"f{k:04d}",
            leader_order_id=oid,
            correlation_id=correlation_id_for(f"f{k:04d}", oid),
            transaction_type=TransactionType.BUY,
            exchange_segment=ExchangeSegment.NSE_EQ,
            product_type=ProductType.INTRADAY,
            order_type=OrderType.LIMIT,
            security_id=SECURITY_ID,
            quantity=1,
            price=LTP,
        )
        for k in range(n_followers)
    ]
    return snap, intents


def micro_journal(rounds: int, n_followers: int) -> list[Micro]:
    """The store calls of one copy, alone (one thread), concurrently, and batched."""
    out: list[Micro] = []
    for sync in ("FULL", "NORMAL"):
        with workdir("bench-profile-journal-") as tmp:
            journal = Journal.open(f"sqlite:///{tmp / 'j.db'}", sqlite_synchronous=sync)
            try:
                out += _journal_calls(journal, sync, rounds, n_followers)
            finally:
                journal.close()
    return out


def _journal_calls(journal: Journal, sync: str, rounds: int, n_followers: int) -> list[Micro]:
    names = [f"f{k:04d}" for k in range(n_followers)]
    claimed: list[int] = []

    def record(k: int) -> None:
        snap, intents = _snapshot(f"M{k + 100}", n_followers)
        got = journal.record_and_claim(snap, intents, names)
        assert got is not None
        if k >= 0:
            claimed.extend(i.id for i in got)

    out = [
        measure(
            f"record_and_claim, {n_followers} intents [{sync}]",
            record,
            rounds,
            "once per leader frame",
        )
    ]

    def ack(k: int) -> None:
        if k >= 0:
            journal.transition(
                claimed[k],
                IntentState.WORKING,
                expect_from=IntentState.SENDING,
                broker_order_id=f"B{k}",
                broker_status=OrderStatus.PENDING,
                applied_version=1,
            )

    half = len(claimed) // 2
    out.append(measure(f"transition SENDING->WORKING (the ack) [{sync}]", ack, half))

    def audit(k: int) -> None:
        journal.append_audit("bench", actor="bench", account="f0000", payload={"k": k})

    out.append(measure(f"append_audit [{sync}]", audit, rounds))
    if sync == "FULL":
        rest = claimed[half:]
        third = len(rest) // 3
        out += _concurrent_acks(journal, rest[: 2 * third], n_followers)
        out.append(_raw_acks(journal, rest[2 * third :]))
        out += _reads(journal, rounds)
    return out


def _reads(journal: Journal, rounds: int) -> list[Micro]:
    """The follower's refresh read (its WORKING copies of one leader order) through the
    journal, and the same SELECT compiled once and run on a plain ``sqlite3`` connection."""
    from sqlalchemy import bindparam
    from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

    from store.hot_path import compile_for
    from store.models import FollowerIntent
    from store.rows import intent_from_row
    from store.statements import select_intents

    c = FollowerIntent.__table__.c
    stmt = (
        select_intents()
        .where(
            c.follower == bindparam("follower"),
            c.state == bindparam("state"),
            c.leader_order_id == bindparam("leader_order_id"),
        )
        .order_by(c.id)
    )
    sql = compile_for(stmt, SQLiteDialect_pysqlite(paramstyle="named"))
    path = journal._engine.url.database  # internals: the file the journal writes
    assert path is not None
    conn = sqlite3.connect(path, check_same_thread=False)

    def through_journal(k: int) -> Any:
        return journal.intents(
            "f0001", [IntentState.WORKING], leader_order_id=f"M{k % rounds + 100}"
        )

    def raw(k: int) -> Any:
        params = {
            "follower": "f0001",
            "state": "WORKING",
            "leader_order_id": f"M{k % rounds + 100}",
        }
        cur = conn.execute(sql.text, sql.params(params))
        names = [d[0] for d in cur.description]
        return [intent_from_row(dict(zip(names, r, strict=True))) for r in cur.fetchall()]

    try:
        return [
            measure("Journal.intents(f, [WORKING], leader_order_id)", through_journal, rounds),
            measure("the same SELECT precompiled, plain sqlite3 + intent_from_row", raw, rounds),
        ]
    finally:
        conn.close()


def _raw_acks(journal: Journal, ids: list[int]) -> Micro:
    """The ack's own SQL (the journal's compiled hot-path statements) on a plain ``sqlite3``
    connection: BEGIN IMMEDIATE, read, update, audit row, COMMIT -- no SQLAlchemy Connection,
    pool or SAVEPOINT around it. The floor under ``Journal.transition``; uses internals."""
    from store.hot_path import _TRANSITION_COLUMNS  # internals: see the docstring

    hot = journal._hot
    path = journal._engine.url.database
    assert path is not None
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")

    def ack(k: int) -> None:
        if k < 0:
            return
        intent_id = ids[k]
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        cur.execute(hot.read_intent.text, hot.read_intent.params({"intent_id": intent_id}))
        names = [d[0] for d in cur.description]
        row = dict(zip(names, cur.fetchone(), strict=True))
        ts = hot.ts(datetime.now(UTC))
        values = {name: row[name] for name in _TRANSITION_COLUMNS}
        values |= {
            "state": IntentState.WORKING.value,
            "updated_at": ts,
            "broker_order_id": f"R{intent_id}",
        }
        values |= {"applied_version": 1}
        cur.execute(
            hot.update_state.text, hot.update_state.params({**values, "intent_id": intent_id})
        )
        payload = json.dumps({"intent_id": intent_id, "from": row["state"], "to": "WORKING"})
        audit = {"at": ts, "kind": "intent_transition", "actor": "journal", "account": "f0000"}
        cur.execute(hot.insert_audit.text, hot.insert_audit.params({**audit, "payload": payload}))
        cur.execute("COMMIT")
        cur.close()

    try:
        return measure(
            "the ack's SQL on a plain sqlite3 connection [FULL]",
            ack,
            len(ids),
            "floor under transition (internals)",
        )
    finally:
        conn.close()


def _concurrent_acks(journal: Journal, ids: list[int], width: int) -> list[Micro]:
    """``width`` acks at once from ``width`` threads (the group commit), vs in one transaction.

    The batched variant uses the journal's internals (``_write`` + ``_hot.transition``): it
    estimates what a batched-ack API would cost; no such API exists.
    """
    out = []
    half = len(ids) // 2
    groups = [ids[i : i + width] for i in range(0, half - width + 1, width)]
    cpu0 = time.process_time_ns()
    walls = []
    for group in groups:
        barrier = threading.Barrier(len(group) + 1)

        def one(intent_id: int, b: threading.Barrier = barrier) -> None:
            b.wait()
            journal.transition(
                intent_id,
                IntentState.WORKING,
                expect_from=IntentState.SENDING,
                broker_order_id=f"C{intent_id}",
                applied_version=1,
            )

        threads = [threading.Thread(target=one, args=(i,)) for i in group]
        for t in threads:
            t.start()
        barrier.wait()
        t0 = time.perf_counter_ns()
        for t in threads:
            t.join()
        walls.append(time.perf_counter_ns() - t0)
    cpu = time.process_time_ns() - cpu0
    acks = sum(len(g) for g in groups)
    out.append(
        Micro(
            f"{width} acks from {width} threads at once (group commit) [FULL]",
            cpu / acks / 1e3,
            statistics.median(walls) / 1e3,
            acks,
            "CPU per ack incl. thread start; wall per group",
        )
    )
    batches = [ids[i : i + width] for i in range(half, len(ids) - width + 1, width)]
    walls = []
    c0 = time.thread_time_ns()
    for batch in batches:
        t0 = time.perf_counter_ns()
        with journal._write() as conn:  # internals: see the docstring
            for intent_id in batch:
                journal._hot.transition(
                    conn,
                    intent_id,
                    IntentState.WORKING,
                    IntentState.SENDING,
                    {"broker_order_id": f"D{intent_id}", "applied_version": 1},
                    datetime.now(UTC),
                )
        walls.append(time.perf_counter_ns() - t0)
    cpu = time.thread_time_ns() - c0
    acks = sum(len(b) for b in batches)
    out.append(
        Micro(
            f"{width} acks in one transaction (batched, internals) [FULL]",
            cpu / max(1, acks) / 1e3,
            statistics.median(walls) / 1e3 if walls else 0.0,
            acks,
            "CPU per ack; wall per batch",
        )
    )
    return out


class _Echo(pykka.ThreadingActor):
    """Answers each message with a tell to ``peer`` (a limiter's grant, reduced to nothing)."""

    def __init__(self, peer: Any = None) -> None:
        super().__init__()
        self.peer = peer

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, tuple) and message[0] == "peer":
            self.peer = message[1]
        elif self.peer is not None:
            self.peer.tell(message)
        return None


class _Pinger(pykka.ThreadingActor):
    """Tells the echo, waits for the echo's tell, ``rounds`` times; records each round trip."""

    def __init__(self, echo: Any, rounds: int, done: threading.Event) -> None:
        super().__init__()
        self.echo = echo
        self.rounds = rounds
        self.done = done
        self.walls: list[int] = []
        self.sent_ns = 0

    def on_receive(self, message: Any) -> Any:
        if message != "start":
            self.walls.append(time.monotonic_ns() - self.sent_ns)
        if len(self.walls) >= self.rounds:
            self.done.set()
            return None
        self.sent_ns = time.monotonic_ns()
        self.echo.tell(("permit", len(self.walls)))
        return None


def micro_messaging(rounds: int) -> list[Micro]:
    """A permit round trip by message (two pykka threads) vs a token bucket in the caller."""
    from actors.rate_windows import AccountWindows

    echo = _Echo.start()
    done = threading.Event()
    pinger = _Pinger.start(echo, rounds, done)
    echo.tell(("peer", pinger))
    before = thread_cpu_s()
    pinger.tell("start")
    done.wait(120.0)
    after = thread_cpu_s()
    walls: list[int] = pinger.proxy().walls.get()
    pinger.stop()
    echo.stop()
    cpu_s = sum(engine_cpu_by_kind(before, after).values())
    out = [
        Micro(
            "pykka tell -> actor -> tell back (permit round trip shape)",
            cpu_s / max(1, len(walls)) * 1e6,
            statistics.median(walls) / 1e3 if walls else 0.0,
            len(walls),
            f"p99 wall {sorted(walls)[int(0.99 * (len(walls) - 1))] / 1e3:.0f} us; "
            "CPU from /proc at 10 ms resolution",
        )
    ]
    windows = AccountWindows.dhan_defaults()
    lock = threading.Lock()
    now = [1000.0]

    def bucket(k: int) -> None:
        with lock:
            now[0] += 0.25  # four calls a second: always within Dhan's windows
            if windows.wait_s(now[0]) <= 0:
                windows.take(now[0])

    out.append(measure("AccountWindows.wait_s + take under a lock (in-thread)", bucket, rounds))
    return out


def micro_misc(n: int) -> list[Micro]:
    from copytrader.metrics import Metrics

    m = Metrics(process=False)
    out = [
        measure(
            "Counter.labels(f, action, outcome).inc()",
            lambda k: m.follower_orders.labels("f0000", "place", "ok").inc(),
            n,
        ),
        measure(
            "Histogram.labels(f).observe()",
            lambda k: m.replication_latency.labels("f0000").observe(0.01),
            n,
        ),
    ]
    req = replace(resting_limit_order(), correlation_id="abc-123")
    ack = json.dumps({"orderId": "112111182198", "orderStatus": "PENDING"}).encode()
    out.append(
        measure(
            "OrderRequest.to_wire + json.dumps",
            lambda k: json.dumps({"dhanClientId": "1", **req.to_wire()}).encode(),
            n,
        )
    )
    out.append(
        measure(
            "json.loads + OrderAck.from_wire", lambda k: OrderAck.from_wire(json.loads(ack), "x"), n
        )
    )
    return out


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


def print_timeline(run: Run, rec: Recorder) -> dict[str, Any]:
    copies = run.copies
    assert run.accounts is not None
    report = latency_report(
        run.entries, run.accounts, run.leader_order_ids, with_overhead=run.rtt_ms == 0
    )
    print(
        f"\ncopy latency (frame sent -> place received): {report['latency']}"
        + (
            f"\nengine overhead (minus simulator handling): {report['overhead']}"
            if "overhead" in report
            else ""
        )
    )
    ranks = fanout_ranks(run)
    if ranks:
        slope = (ranks[-1] - ranks[0]) / max(1, len(ranks) - 1)
        print(
            "p50 latency of the k-th copy of an order, k = 1..N (ms): "
            + " ".join(f"{v:.1f}" for v in ranks)
            + f"\n  -> each further copy goes out {slope:.2f} ms after the previous one (the "
            "fan-out is serialised); the first one carries the fixed cost"
        )
    rows, extra = copy_timelines(rec, run)
    stage_rows = []
    queue_ms: list[float] = []
    for k, (name, kind) in enumerate(STAGES):
        vals = [r[k] for r in rows]
        if not vals:
            continue
        stage_rows.append(
            [
                name,
                kind,
                round(statistics.median(vals), 2),
                round(statistics.fmean(vals), 2),
                round(sorted(vals)[int(0.9 * (len(vals) - 1))], 2),
                round(sorted(vals)[int(0.99 * (len(vals) - 1))], 2),
            ]
        )
    for r in rows:
        queue_ms.append(sum(v for v, (_n, kind) in zip(r, STAGES, strict=True) if kind == "queue"))
    totals = [sum(r) for r in rows]
    print(
        f"\nper-copy stages ({len(rows)} copies linked, {extra['fast_path']} of them on the "
        f"follower's fast path, {extra['unlinked']} not linked; ms; 'queue' = "
        "waiting for a thread, 'work' = a thread busy with this or earlier copies):"
    )
    print(table(["stage", "kind", "p50", "mean", "p90", "p99"], stage_rows))
    if rows:
        share = sum(queue_ms) / max(1e-9, sum(totals))
        print(
            f"sum of stages p50 {statistics.median(totals):.2f} ms, mean "
            f"{statistics.fmean(totals):.2f} ms; queueing is {100 * share:.0f} % of the mean"
        )
    after = extra["after"]
    print(
        table(
            ["after the place arrives (ms)", "p50", "mean", "p99"],
            [
                [
                    k,
                    round(statistics.median(v), 2),
                    round(statistics.fmean(v), 2),
                    round(sorted(v)[int(0.99 * (len(v) - 1))], 2),
                ]
                for k, v in after.items()
                if v
            ],
        )
    )
    hrows = handler_costs(rec, copies)
    handled_cpu = sum(r[3] for r in hrows)
    total_cpu = run.engine_cpu_s / copies * 1000
    idle_ms_per_copy = run.idle_cpu_s_per_s * run.elapsed_s / copies * 1000
    print(
        f"\nengine CPU (from /proc, no profiler): {total_cpu:.2f} ms per copy; idle engine "
        f"{run.idle_cpu_s_per_s * 1000:.0f} ms/s = {idle_ms_per_copy:.2f} "
        f"ms per copy of this run; actor handlers {handled_cpu:.2f} ms per copy (thread CPU):"
    )
    print(
        table(
            ["actor", "message", "count", "CPU ms/copy", "store", "HTTP", "rest", "wall ms/msg"],
            hrows,
        )
    )
    print(
        table(
            ["thread role (from /proc)", "CPU ms/copy"],
            [
                [k, round(v / copies * 1000, 3)]
                for k, v in sorted(run.cpu_by_thread.items(), key=lambda kv: -kv[1])
            ],
        )
    )
    crows = call_costs(rec, copies)
    store_ms = sum(r[5] for r in crows if not r[0].startswith("HTTP"))
    http_ms = sum(r[5] for r in crows if r[0].startswith("HTTP"))
    print(
        f"timed wrappers: store calls {store_ms:.2f} ms per copy, HTTP calls (request, answer "
        f"and its parsing) {http_ms:.2f} ms, everything else "
        f"{total_cpu - store_ms - http_ms:.2f} ms, of {total_cpu:.2f} ms"
    )
    print(
        table(
            [
                "call (timed wrapper)",
                "calls",
                "CPU us/call",
                "wall p50 ms",
                "wall p99 ms",
                "CPU ms/copy",
            ],
            [[r[0], r[1], round(r[2] * 1000, 1), r[3], r[4], r[5]] for r in crows],
        )
    )
    return {
        "latency": report,
        "p50_ms_by_rank": [round(v, 2) for v in ranks],
        "stages": stage_rows,
        "after": {k: summary_ms([x / 1000 for x in v]) for k, v in after.items()},
        "handlers": hrows,
        "calls": crows,
        "engine_cpu_ms_per_copy": round(total_cpu, 3),
        "idle_cpu_ms_per_s": round(run.idle_cpu_s_per_s * 1000, 1),
    }


def print_scaled(shares: dict[str, float], timeline: dict[str, Any]) -> dict[str, float]:
    """The profiled pass's bucket shares applied to the unprofiled CPU per copy.

    An estimate: yappi slows pure-Python code (parsing, SQLAlchemy) more than C code (sqlite3,
    sockets), so the Python-heavy buckets come out somewhat too large. The timed wrappers'
    split (store calls / HTTP calls / the rest) is the cross-check.
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


def print_micro(micros: Sequence[Micro]) -> list[dict[str, Any]]:
    print(
        table(
            ["micro-benchmark", "CPU us/call", "wall p50 us", "n", "note"],
            [[m.name, round(m.cpu_us, 1), round(m.wall_us_p50, 1), m.n, m.note] for m in micros],
        )
    )
    return [asdict(m) for m in micros]


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--followers", type=int, default=10)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--rtt-ms", type=float, default=0.0)
    parser.add_argument("--gap-s", type=float, default=0.1, help="pause between leader orders")
    parser.add_argument(
        "--passes", default="cpu,wall,timeline,micro", help="any of cpu,wall,timeline,micro"
    )
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--builtins",
        action="store_true",
        help="yappi also times C functions (more overhead; their time otherwise counts as "
        "their Python caller's own)",
    )
    args = parser.parse_args(argv)
    passes = {p.strip() for p in args.passes.split(",") if p.strip()}
    yappi = load_yappi()
    if yappi is None and passes & {"cpu", "wall"}:
        print(
            "yappi is not installed: `.venv/bin/pip install yappi` (a measurement tool, not a "
            "project dependency), or run only --passes timeline,micro",
            file=sys.stderr,
        )
        return 2
    facts = machine()
    print(f"git {facts['git_head']} (modified: {', '.join(facts['git_modified']) or 'none'})")
    print(f"{args.followers} followers, {args.orders} orders, RTT {args.rtt_ms} ms; {_load()}")
    result: dict[str, Any] = {"machine": facts, "args": vars(args)}
    index = int(time.time()) % 50_000  # fresh broker accounts (and rate windows) per run
    if passes & {"cpu", "wall", "timeline"}:
        with SimProcess() as sim:
            for k, clock in enumerate(("cpu", "wall")):
                if clock not in passes:
                    continue
                run = Run(args.followers, args.orders, args.rtt_ms, args.gap_s, index * 4 + k)
                run, prof = profile_pass(sim, run, yappi, clock, args.builtins)
                print(f"\n== pass {clock}: {run.elapsed_s:.1f} s; {_load()}")
                result[clock] = print_profile(prof, run, args.top)
                result[clock]["loadavg"] = run.loadavg
            if "timeline" in passes:
                run = Run(args.followers, args.orders, args.rtt_ms, args.gap_s, index * 4 + 2)
                run, rec = timeline_pass(sim, run)
                print(f"\n== pass timeline: {run.elapsed_s:.1f} s; {_load()}")
                result["timeline"] = print_timeline(run, rec)
                result["timeline"]["loadavg"] = run.loadavg
                if "cpu" in result:
                    result["scaled_buckets"] = print_scaled(
                        result["cpu"]["bucket_shares"], result["timeline"]
                    )
    if "micro" in passes:
        print(f"\n== micro-benchmarks; {_load()}")
        micros = micro_misc(5000)
        micros += micro_messaging(2000)
        micros += micro_journal(100, args.followers)
        micros += micro_http(300)
        result["micro"] = print_micro(micros)
        print(_load())
    path = write_json("profile_hot_path.json", result)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
