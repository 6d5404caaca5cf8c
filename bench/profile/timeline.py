"""The timeline pass: no profiler; the instruments time message hops, journal writes and HTTP."""

from __future__ import annotations

import contextlib
import itertools
import re
import statistics
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from bench.common import (
    SimProcess,
    summary_ms,
    table,
)
from bench.fanout import _union_within, latency_report
from bench.profile.engine_run import Run, drive, running_engine
from bench.profile.recorder import HTTP, WRITE, Call, Handled, Recorder
from dhan.correlation import correlation_id_for
from supervision.instrument import installed

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
        if c.name == HTTP and c.key.startswith("POST ") and c.cid:
            http_of.setdefault(c.cid, c)
        elif c.name == WRITE and c.parent:
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
        if acks:  # none when the ack is journaled later (the follower's ack buffer)
            ack_ms = (acks[0].t1_ns - acks[0].t0_ns) / 1e6
            after["journal the ack (first write after the answer, wall)"].append(ack_ms)
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
    """CPU per copy by (actor role, message), with the journal writes and HTTP requests made
    inside (journal reads are in "rest": the journal's instrument sees writes only)."""
    inner: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for c in rec.calls:
        if c.parent is not None:
            kind = "http" if c.name == HTTP else "store"
            inner[c.parent][kind] += c.cpu_ns
    agg: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for h in rec.handled:
        a = agg[(h.role, h.msg_type)]
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
    """Per kind of call: HTTP by endpoint; journal writes by the handler that made them."""
    handled = {id(h.msg): h for h in rec.handled}
    agg: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, int] = defaultdict(int)
    for c in rec.calls:
        if c.name == HTTP:
            name = "HTTP " + re.sub(r"/[^/]*\d[^/]*", "/{id}", c.key)
        else:
            h = handled.get(c.parent or 0)
            name = f"{WRITE} in {h.role} {h.msg_type}" if h else f"{WRITE} outside a handler"
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
    with installed(rec), running_engine(sim, run) as (engine, leader):
        rec.attach(engine)  # the actors took it from supervision.instrument when they started

        @contextlib.contextmanager
        def during() -> Iterator[None]:
            rec.active = True
            try:
                yield
            finally:
                rec.active = False

        drive(sim, engine, leader, run, during)
    return run, rec


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
            ["actor", "message", "count", "CPU ms/copy", "writes", "HTTP", "rest", "wall ms/msg"],
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
        f"instruments: journal writes {store_ms:.2f} ms per copy, HTTP calls (request, answer "
        f"and its parsing) {http_ms:.2f} ms, everything else (journal reads too) "
        f"{total_cpu - store_ms - http_ms:.2f} ms, of {total_cpu:.2f} ms"
    )
    print(
        table(
            [
                "call (instrument)",
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
