"""Benchmark: copy latency of the engine vs the sequential SDK baseline, and throughput.

``python -m bench.fanout [--quick]``. The simulator runs in its own process; the engine (and,
in its own phase, the SDK baseline of ``bench.baseline_sdk``) runs in this one. Copy latency is
the simulator's journal: leader frame sent -> each follower's place request received, both on
its monotonic clock (``copytrader.latency``). Each case has fresh accounts, a fresh store and
an engine with production defaults; leader orders are marketable LIMITs of 1 share, BUY/SELL
in turn, one at a time (the next once every copy is acknowledged, plus a gap), so the engine
is measured unsaturated. RTT = the simulator holding the followers' REST answers
``latency_ms``. Throughput steps the leader's order rate up with 50 followers (simulator rate
limits off for that part only). Prints tables, writes ``bench/results/fanout.json``; method
and results: ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.baseline_sdk import SdkBaseline
from bench.common import (
    LTP,
    SECURITY_ID,
    Accounts,
    SimProcess,
    cpu_s,
    engine_config,
    machine,
    marketable_order,
    summary_ms,
    table,
    token_of,
    wait_until,
    workdir,
    write_json,
)
from copytrader.engine import BrokerEndpoints, Engine
from copytrader.latency import CopySample, copy_latencies
from dhan.correlation import correlation_id_for
from dhan.rest import DhanClient

#: Unmeasured leader orders at the start of every case (HTTP connections, caches, JIT-less
#: first calls); a production engine is warm, so the cold start is not part of its latency.
WARMUP_ORDERS = 3


@dataclass(frozen=True, slots=True)
class Case:
    followers: int
    rtt_ms: float
    orders: int
    gap_s: float = 0.1


Runner = Callable[[SimProcess, int, Case], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Plan:
    engine: tuple[Case, ...]
    baseline: tuple[Case, ...]
    rates_per_s: tuple[float, ...]
    throughput_followers: int
    throughput_step_s: float
    throughput_rtt_ms: float


def full_plan() -> Plan:
    sizes, rtts = (1, 10, 50, 200), (0.0, 20.0)
    # 200 followers take seconds per order on 2 cores: 15 orders (3,000 samples) keep it bounded
    engine = tuple(Case(n, rtt, 60 if n <= 50 else 15) for n in sizes for rtt in rtts)
    # the baseline's loop takes N x RTT per order: fewer orders keep it to a minute per case
    sdk_orders = {1: 40, 10: 40, 50: 20, 200: 8}
    baseline = tuple(Case(n, rtt, sdk_orders[n]) for n in sizes for rtt in rtts)
    return Plan(engine, baseline, (1, 2, 4, 6, 8, 10, 15, 20), 50, 8.0, 20.0)


def quick_plan() -> Plan:
    engine = tuple(Case(n, rtt, 15) for n, rtt in ((1, 0.0), (10, 0.0), (50, 20.0)))
    baseline = (Case(10, 0.0, 10), Case(50, 20.0, 4))
    return Plan(engine, baseline, (1, 3), 50, 4.0, 20.0)


# -- measuring ---------------------------------------------------------------------------------


def placed_ok(engine: Engine) -> int:
    """Follower place calls the broker acknowledged: the engine's own counter, no I/O.

    Read child by child: ``collect()`` of the whole family, 20 times a second, cost the engine
    ~7 % of its GIL time at 50 followers in a profile -- the measurement would disturb itself.
    """
    counter = engine.metrics.follower_orders
    return int(
        sum(
            counter.labels(f.name, "place", "ok")._value.get()  # the child's current value
            for f in engine.followers
        )
    )


def _union_within(intervals: Sequence[tuple[int, int]], lo: int, hi: int) -> int:
    """Length (ns) of the union of ``intervals`` clipped to ``[lo, hi]``."""
    clipped = sorted((max(a, lo), min(b, hi)) for a, b in intervals if b > lo and a < hi)
    total, end = 0, lo
    for a, b in clipped:
        a = max(a, end)
        if b > a:
            total += b - a
            end = b
    return total


def sim_busy_s(
    entries: Sequence[dict[str, Any]], samples: Sequence[CopySample], leader: str
) -> list[float]:
    """Per sample: the simulator's REST handling time inside its latency window.

    The simulator serves requests one at a time on one event loop, so a follower's place that
    arrives behind other requests waits for their handling; that time is the simulator's, not
    the engine's. Window = [leader frame sent, this place received]; handling = the union of
    every REST entry's [arrival, answer] within it (held RTT answers are not handling, so only
    meaningful at RTT 0).
    """
    frame_ns: dict[str, int] = {}
    place_ns: dict[tuple[str, str], int] = {}
    intervals: list[tuple[int, int]] = []
    for e in entries:
        if e.get("kind") == "frame" and e.get("account") == leader and e.get("orderNo"):
            frame_ns.setdefault(str(e["orderNo"]), int(e["t_ns"]))
        elif e.get("kind") == "rest":
            intervals.append((int(e["t_ns"]), int(e.get("t_done_ns") or e["t_ns"])))
            if e.get("endpoint") == "POST /orders" and e.get("correlationId"):
                place_ns.setdefault((str(e["account"]), str(e["correlationId"])), int(e["t_ns"]))
    intervals.sort()
    out = []
    for s in samples:
        lo = frame_ns[s.leader_order_id]
        hi = lo + int(s.latency_s * 1e9)
        out.append(_union_within(intervals, lo, hi) / 1e9)
    return out


def latency_report(
    entries: Sequence[dict[str, Any]],
    accounts: Accounts,
    leader_order_ids: Sequence[str],
    *,
    with_overhead: bool,
) -> dict[str, Any]:
    cid_to_leader = {
        correlation_id_for(name, oid): oid for oid in leader_order_ids for name in accounts.names
    }
    samples = copy_latencies(entries, accounts.leader, cid_to_leader.get)
    values = [s.latency_s for s in samples]
    by_order: dict[str, list[float]] = defaultdict(list)
    for s in samples:
        by_order[s.leader_order_id].append(s.latency_s)
    first = [min(v) for v in by_order.values()]
    last = [max(v) for v in by_order.values()]
    places = [
        e
        for e in entries
        if e.get("kind") == "rest"
        and e.get("endpoint") == "POST /orders"
        and e.get("account") != accounts.leader
    ]
    framed = {
        str(e["orderNo"])
        for e in entries
        if e.get("kind") == "frame" and e.get("account") == accounts.leader
    }
    report: dict[str, Any] = {
        "latency": summary_ms(values),
        "first_follower": summary_ms(first),
        "last_follower": summary_ms(last),
        "expected_samples": len(leader_order_ids) * len(accounts.followers),
        # a leader order whose frame never reached the socket (it was reconnecting) is copied
        # through the REST reconcile and has no frame-based latency sample
        "orders_without_frame": sum(1 for oid in leader_order_ids if oid not in framed),
        "place_errors": sum(1 for e in places if e.get("status") != 200),
    }
    if with_overhead and samples:
        busy = sim_busy_s(entries, samples, accounts.leader)
        overhead = [max(0.0, v - b) for v, b in zip(values, busy, strict=True)]
        report["sim_handling"] = summary_ms(busy)
        report["overhead"] = summary_ms(overhead)
    return report


def _wait_socket(sim: SimProcess, client_id: str, timeout_s: float = 15.0) -> None:
    wait_until(lambda: sim.api().socket_count(client_id) >= 1, timeout_s, 0.02, "leader socket")


def _prepare(sim: SimProcess, index: int, case: Case) -> Accounts:
    accounts = Accounts.block(index, case.followers)
    sim.create_accounts(accounts.all)
    sim.api().set_ltp("NSE_EQ", SECURITY_ID, LTP)
    sim.set_rtt_ms(case.rtt_ms, accounts.followers)
    return accounts


def _leader_client(sim: SimProcess, accounts: Accounts) -> DhanClient:
    return DhanClient(
        base_url=sim.rest_url,
        client_id=accounts.leader,
        access_token=token_of(accounts.leader),
        read_timeout_s=30.0,
    )


def run_engine_case(sim: SimProcess, index: int, case: Case) -> dict[str, Any]:
    accounts = _prepare(sim, index, case)
    with workdir("bench-fanout-") as tmp:
        cfg = engine_config(accounts, sim.rest_url, sim.feed_url, tmp)
        engine = Engine(cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.feed_url)).start()
        leader = _leader_client(sim, accounts)
        n = case.followers
        try:
            wait_until(lambda: engine.ready()[0], 30.0, 0.02, "engine ready")
            done = 0

            def place_and_wait(k: int) -> str:
                nonlocal done
                oid = leader.place_order(marketable_order(k)).order_id
                done += n
                # 50 ms polls: reading the counters costs the engine's GIL time too
                wait_until(lambda: placed_ok(engine) >= done, 180.0, 0.05, f"copies of {oid}")
                time.sleep(case.gap_s)  # spacing between leader orders, not synchronisation
                return oid

            for k in range(WARMUP_ORDERS):
                place_and_wait(k)
            sim.api().clear_journal()
            cpu0, sim_cpu0, t0 = _self_cpu_s(), cpu_s(sim.pid), time.monotonic()
            ids = [place_and_wait(WARMUP_ORDERS + k) for k in range(case.orders)]
            elapsed_s = time.monotonic() - t0
            engine_cpu_s = _self_cpu_s() - cpu0
            cpu = {
                "engine_cpu_s": round(engine_cpu_s, 2),
                # CPU of this process (engine + the bench's leader client and polls) per copy
                "engine_cpu_ms_per_copy": round(engine_cpu_s / (case.orders * n) * 1000, 2),
                "sim_cpu_s": round(cpu_s(sim.pid) - sim_cpu0, 2),
                "elapsed_s": round(elapsed_s, 2),
            }
            entries = sim.api().journal(limit=1_000_000)
        finally:
            engine.stop()
            leader.close()
            sim.set_rtt_ms(0, ())
    report = latency_report(entries, accounts, ids, with_overhead=case.rtt_ms == 0)
    return {"who": "engine", **_case_dict(case), **report, **cpu}


def run_baseline_case(sim: SimProcess, index: int, case: Case) -> dict[str, Any]:
    accounts = _prepare(sim, index, case)
    baseline = SdkBaseline(sim.rest_url, sim.feed_url, accounts).start()
    leader = _leader_client(sim, accounts)
    timeout_s = 30.0 + case.followers * (case.rtt_ms / 1000 + 0.05)
    try:
        _wait_socket(sim, accounts.leader)

        def place_and_wait(k: int) -> str:
            oid = leader.place_order(marketable_order(k)).order_id
            if not baseline.expect(oid).wait(timeout_s):
                raise TimeoutError(f"SDK baseline did not copy {oid} in {timeout_s} s")
            time.sleep(case.gap_s)  # spacing between leader orders, not synchronisation
            return oid

        for k in range(WARMUP_ORDERS):
            place_and_wait(k)
        sim.api().clear_journal()
        t0 = time.monotonic()
        ids = [place_and_wait(WARMUP_ORDERS + k) for k in range(case.orders)]
        elapsed_s = time.monotonic() - t0
        entries = sim.api().journal(limit=1_000_000)
    finally:
        baseline.stop()
        leader.close()
        sim.set_rtt_ms(0, ())
    report = latency_report(entries, accounts, ids, with_overhead=False)
    report["sdk_failures"] = len(baseline.failures)
    return {"who": "sdk", **_case_dict(case), **report, "elapsed_s": round(elapsed_s, 2)}


def run_throughput_step(
    sim: SimProcess, index: int, followers: int, rate_per_s: float, step_s: float, rtt_ms: float
) -> dict[str, Any]:
    """Leader orders at a fixed rate (open loop) for ``step_s``; then latency of every copy."""
    case = Case(followers, rtt_ms, 0)
    accounts = _prepare(sim, index, case)
    orders = max(5, round(rate_per_s * step_s))
    with workdir("bench-throughput-") as tmp:
        cfg = engine_config(accounts, sim.rest_url, sim.feed_url, tmp)
        engine = Engine(cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.feed_url)).start()
        leader = _leader_client(sim, accounts)
        try:
            wait_until(lambda: engine.ready()[0], 30.0, 0.02, "engine ready")
            for k in range(WARMUP_ORDERS):
                leader.place_order(marketable_order(k))
            wait_until(lambda: placed_ok(engine) >= WARMUP_ORDERS * followers, 180.0, 0.05)
            sim.api().clear_journal()
            base = placed_ok(engine)
            cpu0, sim_cpu0 = _self_cpu_s(), cpu_s(sim.pid)
            t0 = time.monotonic()
            ids = []
            for k in range(orders):
                due = t0 + k / rate_per_s
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)  # the open-loop schedule of the leader's orders
                ids.append(leader.place_order(marketable_order(WARMUP_ORDERS + k)).order_id)
            sent_s = time.monotonic() - t0
            want = base + orders * followers
            drained = True
            try:
                wait_until(lambda: placed_ok(engine) >= want, 60.0, 0.05, "throughput copies")
            except TimeoutError:
                drained = False
            drain_s = time.monotonic() - t0
            cpu = {
                "engine_cpu_s": round(_self_cpu_s() - cpu0, 2),
                "sim_cpu_s": round(cpu_s(sim.pid) - sim_cpu0, 2),
            }
            entries = sim.api().journal(limit=1_000_000)
        finally:
            engine.stop()
            leader.close()
            sim.set_rtt_ms(0, ())
    report = latency_report(entries, accounts, ids, with_overhead=False)
    return {
        "rate_per_s": rate_per_s,
        "followers": followers,
        "rtt_ms": rtt_ms,
        "orders": orders,
        "achieved_rate_per_s": round(orders / sent_s, 2) if sent_s > 0 else None,
        "all_copied": drained,
        "drain_s": round(drain_s, 2),
        **report,
        **cpu,
    }


def _self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _case_dict(case: Case) -> dict[str, Any]:
    return {"followers": case.followers, "rtt_ms": case.rtt_ms, "orders": case.orders}


def degraded(step: dict[str, Any], reference_p99_ms: float) -> bool:
    """A step degrades when copies fall behind or p99 exceeds 2x the reference (+10 ms)."""
    p99 = step["latency"]["p99_ms"]
    if not step["all_copied"] or p99 is None:
        return True
    return bool(p99 > 2 * reference_p99_ms + 10.0)


# -- the run -----------------------------------------------------------------------------------


def _load() -> dict[str, float]:
    """The machine is shared: the 1-minute load average at the end of each case."""
    return {"loadavg_1m": round(os.getloadavg()[0], 2)}


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def interleaved(
    plan: Plan, engine_rows: list[dict[str, Any]], sdk_rows: list[dict[str, Any]]
) -> list[tuple[str, Case, list[dict[str, Any]], Runner]]:
    """Each engine case followed by the baseline case of the same N and RTT, so both see much
    the same load on the shared machine; baseline cases without a twin come last."""
    out: list[tuple[str, Case, list[dict[str, Any]], Runner]] = []
    left = list(plan.baseline)
    for case in plan.engine:
        out.append(("engine", case, engine_rows, run_engine_case))
        for b in [b for b in left if (b.followers, b.rtt_ms) == (case.followers, case.rtt_ms)]:
            out.append(("sdk", b, sdk_rows, run_baseline_case))
            left.remove(b)
    out += [("sdk", b, sdk_rows, run_baseline_case) for b in left]
    return out


def run(plan: Plan, quick: bool) -> dict[str, Any]:
    results: dict[str, Any] = {"benchmark": "fanout", "quick": quick, "machine": machine()}
    engine_rows: list[dict[str, Any]] = []
    sdk_rows: list[dict[str, Any]] = []
    index = 0
    with SimProcess(rate_limits=True) as sim:
        results["simulator"] = {"rate_limits": True, "pid": sim.pid}
        for who, case, rows, runner in interleaved(plan, engine_rows, sdk_rows):
            index += 1
            _progress(f"{who:<7} N={case.followers:<4} RTT={case.rtt_ms:g} ms ...")
            try:
                rows.append(runner(sim, index, case) | _load())
            except TimeoutError as exc:  # recorded as a miss; the other cases still run
                _progress(f"  failed: {exc}")
                rows.append(
                    {"who": who, **_case_dict(case), "error": str(exc)}
                    | {"latency": summary_ms([])}
                    | _load()
                )
    results["engine"] = engine_rows
    results["sdk_baseline"] = sdk_rows
    results["speedup"] = speedups(engine_rows, sdk_rows)
    steps: list[dict[str, Any]] = []
    # "degrades" compares with the unsaturated p99 of the same N and RTT (closed loop above)
    reference_p99: float | None = next(
        (
            r["latency"]["p99_ms"]
            for r in engine_rows
            if r["followers"] == plan.throughput_followers
            and r["rtt_ms"] == plan.throughput_rtt_ms
            and r["latency"]["p99_ms"] is not None
        ),
        None,
    )
    with SimProcess(rate_limits=False) as sim:
        for rate in plan.rates_per_s:
            index += 1
            _progress(f"throughput {rate:g} orders/s x {plan.throughput_followers} followers ...")
            try:
                step = run_throughput_step(
                    sim,
                    index,
                    plan.throughput_followers,
                    rate,
                    plan.throughput_step_s,
                    plan.throughput_rtt_ms,
                )
            except TimeoutError as exc:
                _progress(f"  failed: {exc}")
                step = {"rate_per_s": rate, "error": str(exc), "all_copied": False}
                step["latency"] = summary_ms([])
            steps.append(step | _load())
            if reference_p99 is None:
                reference_p99 = steps[0]["latency"]["p99_ms"] or 0.0
            ref = reference_p99
            if degraded(steps[-1], ref) and len(steps) > 1 and degraded(steps[-2], ref):
                break  # two degraded steps in a row: the knee is behind us
    ref = reference_p99 or 0.0
    sustained = 0.0
    for step in steps:
        if degraded(step, ref):
            break
        sustained = step["rate_per_s"]
    results["throughput"] = {
        "followers": plan.throughput_followers,
        "rtt_ms": plan.throughput_rtt_ms,
        "step_s": plan.throughput_step_s,
        "simulator_rate_limits": False,
        "degraded_when": "copies not all acknowledged within 60 s, or p99 > 2 x the reference "
        "p99 + 10 ms",
        "reference_p99_ms": reference_p99,
        "reference": "the unsaturated (one order at a time) p99 at the same N and RTT, or the "
        "first step's",
        "sustained_orders_per_s": sustained,
        "steps": steps,
    }
    return results


def speedups(engine: list[dict[str, Any]], sdk: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    by_key = {(r["followers"], r["rtt_ms"]): r for r in sdk}
    for r in engine:
        s = by_key.get((r["followers"], r["rtt_ms"]))
        if s is None:
            continue
        row: dict[str, Any] = {"followers": r["followers"], "rtt_ms": r["rtt_ms"]}
        for q in ("p50_ms", "p99_ms", "max_ms"):
            e, b = r["latency"][q], s["latency"][q]
            row[f"{q.removesuffix('_ms')}_x"] = round(b / e, 1) if e and b else None
        out.append(row)
    return out


def _lat(r: dict[str, Any], key: str = "latency") -> list[Any]:
    d = r.get(key) or {}
    return [d.get("p50_ms"), d.get("p99_ms"), d.get("max_ms")]


def print_report(results: dict[str, Any], out: Callable[[str], None] = print) -> None:
    out("copy latency: leader frame sent -> follower place received (simulator clock), ms")
    rows = []
    for r in results["engine"] + results["sdk_baseline"]:
        rows.append(
            [r["who"], r["followers"], r["rtt_ms"], r["orders"], *_lat(r), r["latency"]["n"]]
        )
    out(table(["who", "N", "RTT", "orders", "p50", "p99", "max", "samples"], rows))
    out("")
    out("speed-up of the engine over the sequential SDK loop (SDK latency / engine latency)")
    out(
        table(
            ["N", "RTT", "p50 x", "p99 x", "max x"],
            [
                [s["followers"], s["rtt_ms"], s["p50_x"], s["p99_x"], s["max_x"]]
                for s in results["speedup"]
            ],
        )
    )
    out("")
    rows = [
        [r["followers"], *_lat(r, "overhead"), *_lat(r, "sim_handling")]
        for r in results["engine"]
        if "overhead" in r
    ]
    out("engine overhead at RTT 0 = latency - simulator request handling in the window, ms")
    out(table(["N", "p50", "p99", "max", "sim p50", "sim p99", "sim max"], rows))
    out("")
    tp = results["throughput"]
    out(
        f"throughput: {tp['followers']} followers, RTT {tp['rtt_ms']:g} ms, "
        f"{tp['step_s']:g} s per step, simulator rate limits off"
    )
    rows = [
        [
            s["rate_per_s"],
            s.get("achieved_rate_per_s"),
            s.get("orders"),
            *_lat(s),
            "yes" if s["all_copied"] else "NO",
            s.get("engine_cpu_s"),
            s.get("sim_cpu_s"),
        ]
        for s in tp["steps"]
    ]
    out(
        table(
            ["rate/s", "achieved", "orders", "p50", "p99", "max", "copied", "eng cpu", "sim cpu"],
            rows,
        )
    )
    out(f"sustained before p99 degrades: {tp['sustained_orders_per_s']:g} leader orders/s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.fanout", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="reduced matrix, < 2 minutes")
    parser.add_argument("--json", default="fanout.json", help="file name under bench/results/")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    results = run(quick_plan() if args.quick else full_plan(), args.quick)
    path = write_json(args.json, results)
    print_report(results)
    print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
