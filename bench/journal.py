"""Journal cost on the hot path: latency of the leader's writes, CPU of each per-copy call.

``python -m bench.journal`` runs two sections per backend. **latency**: p50/p99 of
``record_leader_snapshot`` for a new leader order (N intents inserted), the same with the copies
claimed (``record_and_claim``, the engine's call), a modification (N intents updated), a
duplicated frame (a no-op), and one ``transition`` (mark SENDING); then it settles the copies
(DONE, not measured) so open intents stay few, as in a trading day. Leader order ids increase,
as the broker's do.
**calls**: CPU of the calling thread and wall p50 per call of the calls a copy makes --
``transition`` (claim and ack), ``transitions`` (10 acks at once, when the journal has it),
``intents``, ``intent``, ``intents_needing_action``, ``leader_snapshot``, ``leader_legs`` --
one thread, on a journal holding a few hundred orders. SQLite runs with synchronous=FULL (the
default) and NORMAL; PostgreSQL runs when ``COPYTRADER_TEST_PG_URL`` is set
(``source .ci/postgres.sh``). Writes JSON to ``bench/results/journal.json``;
``--baseline OLD.json`` prints the calls of an earlier run (e.g. of the parent commit, run from
a ``git worktree`` with ``PYTHONPATH`` pointing there) next to this one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dhan.codes import ExchangeSegment, OrderStatus, OrderType, ProductType, TransactionType
from dhan.correlation import correlation_id_for
from store import DesiredIntent, IntentState, Journal, LeaderOrderSnapshot, SnapshotSource

RESULTS = Path(__file__).resolve().parent / "results" / "journal.json"
PG_ENV = "COPYTRADER_TEST_PG_URL"


@dataclass(frozen=True, slots=True)
class Backend:
    name: str
    url: str
    sqlite_synchronous: str = "FULL"


def _snapshot(leader_order_id: str, seq: int, price: float) -> LeaderOrderSnapshot:
    return LeaderOrderSnapshot(
        leader_order_id=leader_order_id,
        dedupe_key=f"ws|{leader_order_id}|{seq}",
        source=SnapshotSource.SOCKET,
        status=OrderStatus.PENDING,
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_FNO,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.LIMIT,
        security_id="52175",
        quantity=75,
        price=price,
        seq=seq,
        updated_at=time.strftime("%Y-%m-%d %H:%M:%S"),
        raw={"OrderNo": leader_order_id, "Status": "Pending", "Price": price, "Quantity": 75},
    )


def _intents(leader_order_id: str, followers: int, price: float) -> list[DesiredIntent]:
    return [
        DesiredIntent(
            follower=f"follower{k}",
            leader_order_id=leader_order_id,
            correlation_id=correlation_id_for(f"follower{k}", leader_order_id),
            transaction_type=TransactionType.BUY,
            exchange_segment=ExchangeSegment.NSE_FNO,
            product_type=ProductType.INTRADAY,
            order_type=OrderType.LIMIT,
            security_id="52175",
            quantity=75 * (1 + k % 3),
            price=price,
        )
        for k in range(followers)
    ]


def _percentiles(samples_s: list[float]) -> dict[str, float]:
    ordered = sorted(samples_s)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {
        "p50_ms": round(at(0.50), 3),
        "p99_ms": round(at(0.99), 3),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
        "n": len(ordered),
    }


def _timed(fn: Callable[..., object], *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def run_backend(backend: Backend, events: int, followers: int) -> dict[str, dict[str, float]]:
    """Measure one backend; returns {operation: percentiles}."""
    journal = Journal.open(backend.url, sqlite_synchronous=backend.sqlite_synchronous)
    new_s: list[float] = []
    modify_s: list[float] = []
    duplicate_s: list[float] = []
    sending_s: list[float] = []
    claimed_s: list[float] = []
    record = journal.record_leader_snapshot
    claim_for = [f"follower{k}" for k in range(followers)]
    # Increasing numeric ids, as the broker issues them (Dhan's "112111182198"; the simulator
    # counts from 112000000001): the journal's keys that start with the order id then grow at
    # the end of their indexes, as on a trading day. Random ids would touch a random leaf each.
    first_id = time.time_ns() // 1000
    try:
        for n in range(-50, events):  # the first 50 warm caches and pools; not measured
            order = str(first_id + 2 * n)
            snap, wanted = _snapshot(order, 2 * n, 100.0), _intents(order, followers, 100.0)
            took = _timed(record, snap, wanted)
            modified = _snapshot(order, 2 * n + 1, 100.5)
            again = _intents(order, followers, 100.5)
            took_modify = _timed(record, modified, again)
            took_duplicate = _timed(record, modified, again)
            intent = journal.intent_by_correlation_id(again[0].correlation_id)
            assert intent is not None
            took_sending = _timed(journal.transition, intent.id, IntentState.SENDING)
            # The engine's call: the same new order, its copies claimed (SENDING) for the hints.
            claimed = str(first_id + 2 * n + 1)
            took_claimed = _timed(
                journal.record_and_claim,
                _snapshot(claimed, 2 * n, 100.0),
                _intents(claimed, followers, 100.0),
                claim_for,
            )
            # Not measured: the copies end (as real orders fill or cancel), so the set of open
            # intents stays as small as on a trading day instead of growing without bound.
            for settled in (order, claimed):
                for copy in journal.intents(leader_order_id=settled):
                    journal.transition(copy.id, IntentState.DONE, reason="bench: settled")
            if n >= 0:
                claimed_s.append(took_claimed)
                new_s.append(took)
                modify_s.append(took_modify)
                duplicate_s.append(took_duplicate)
                sending_s.append(took_sending)
    finally:
        journal.close()
    return {
        f"new order + {followers} intents": _percentiles(new_s),
        f"new order + {followers} intents claimed": _percentiles(claimed_s),
        f"modify + {followers} intents updated": _percentiles(modify_s),
        "duplicate frame (no-op)": _percentiles(duplicate_s),
        "transition -> SENDING": _percentiles(sending_s),
    }


@dataclass(frozen=True, slots=True)
class CallCost:
    """CPU of the calling thread per call (mean) and wall time per call (p50), microseconds."""

    cpu_us: float
    wall_us_p50: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return {
            "cpu_us": round(self.cpu_us, 1),
            "wall_us_p50": round(self.wall_us_p50, 1),
            "n": self.n,
        }


def _cost(fn: Callable[[int], object], n: int, *, per_call: int = 1, warmup: int = 20) -> CallCost:
    """Run ``fn(0..n-1)`` after ``warmup`` calls of ``fn(-1...)``; ``per_call``: calls made by one
    ``fn`` (a batch), so the cost is per call inside it."""
    for k in range(warmup):
        fn(-1 - k)
    walls: list[int] = []
    cpu0 = time.thread_time_ns()
    for k in range(n):
        t0 = time.perf_counter_ns()
        fn(k)
        walls.append(time.perf_counter_ns() - t0)
    cpu_ns = time.thread_time_ns() - cpu0
    return CallCost(cpu_ns / n / per_call / 1e3, statistics.median(walls) / per_call / 1e3, n)


def _leg_snapshot(parent: str, leg: str, seq: int) -> LeaderOrderSnapshot:
    base = _snapshot(f"{parent}-{leg[:1]}", seq, 101.0)
    return replace(
        base, dedupe_key=f"ws|{parent}|{leg}|{seq}", leg_name=leg, parent_order_id=parent
    )


def run_calls(backend: Backend, calls: int, followers: int) -> dict[str, dict[str, float]]:
    """CPU and wall per call of the journal calls a copy makes (one thread)."""
    journal = Journal.open(backend.url, sqlite_synchronous=backend.sqlite_synchronous)
    warm = 20
    names = [f"follower{k}" for k in range(followers)]
    batch = followers  # the acks of one leader order's fan-out
    out: dict[str, CallCost] = {}
    try:
        seq = iter(range(1, 10**9))
        orders: list[str] = []

        def claimed_intents(count: int) -> list[int]:
            ids: list[int] = []
            while len(ids) < count:
                order = f"C{uuid.uuid4().hex[:8]}"
                orders.append(order)
                got = journal.record_and_claim(
                    _snapshot(order, next(seq), 100.0), _intents(order, followers, 100.0), names
                )
                assert got is not None
                ids += [i.id for i in got]
            return ids

        # transition: PLANNED -> SENDING (a follower's claim before its HTTP call)
        planned: list[int] = []
        while len(planned) < calls + warm:
            order = f"P{uuid.uuid4().hex[:8]}"
            orders.append(order)
            journal.record_leader_snapshot(
                _snapshot(order, next(seq), 100.0), _intents(order, followers, 100.0)
            )
            planned += [i.id for i in journal.intents(leader_order_id=order)]

        def claim(k: int) -> None:
            journal.transition(
                planned[k + warm], IntentState.SENDING, expect_from=IntentState.PLANNED
            )

        out["transition PLANNED->SENDING"] = _cost(claim, calls, warmup=warm)

        # transition: SENDING -> WORKING (the ack), one call per ack
        acks = claimed_intents(calls + warm)

        def ack(k: int) -> None:
            journal.transition(
                acks[k + warm],
                IntentState.WORKING,
                expect_from=IntentState.SENDING,
                broker_order_id=f"B{k}",
                broker_status=OrderStatus.PENDING,
                applied_version=1,
            )

        out["transition SENDING->WORKING (ack)"] = _cost(ack, calls, warmup=warm)

        batches = calls // batch
        grouped = claimed_intents((batches + 2) * batch)  # made in both versions: same data
        if hasattr(journal, "transitions"):  # the parent commit has no batch API
            from store import TransitionRequest

            def ack_batch(k: int) -> None:
                ids = grouped[(k + 2) * batch : (k + 3) * batch]
                journal.transitions(
                    [
                        TransitionRequest(
                            intent_id=i,
                            to=IntentState.WORKING,
                            expect_from=IntentState.SENDING,
                            broker_order_id=f"G{i}",
                            broker_status=OrderStatus.PENDING,
                            applied_version=1,
                        )
                        for i in ids
                    ]
                )

            out[f"transitions, {batch} acks at once (per ack)"] = _cost(
                ack_batch, batches, per_call=batch, warmup=2
            )

        # Not measured: what is still open ends, then each follower gets 3 new orders to work
        # on, so the reads below see a trading day's shape (few open, many settled).
        for intent in journal.intents(states=[IntentState.PLANNED, IntentState.SENDING]):
            journal.transition(intent.id, IntentState.DONE, reason="bench: settled")
        for _ in range(3):
            order = f"N{uuid.uuid4().hex[:8]}"
            orders.append(order)
            journal.record_leader_snapshot(
                _snapshot(order, next(seq), 100.0), _intents(order, followers, 100.0)
            )

        # leader legs of bracket orders (for leader_legs), a few per order
        parents = orders[:50]
        for parent in parents:
            for leg in ("TARGET_LEG", "STOP_LOSS_LEG"):
                journal.record_leader_snapshot(_leg_snapshot(parent, leg, next(seq)), [])

        def pick(k: int) -> str:
            return orders[k % len(orders)]

        out["intents(f, [WORKING], leader_order_id)"] = _cost(
            lambda k: journal.intents(names[1], [IntentState.WORKING], leader_order_id=pick(k)),
            calls,
        )
        out["intents(leader_order_id)"] = _cost(
            lambda k: journal.intents(leader_order_id=pick(k)), calls
        )
        out["intent(id)"] = _cost(lambda k: journal.intent(acks[k % len(acks)]), calls)
        out["intents_needing_action(f)"] = _cost(
            lambda k: journal.intents_needing_action(names[k % followers]), calls
        )
        out["leader_snapshot(order)"] = _cost(lambda k: journal.leader_snapshot(pick(k)), calls)
        out["leader_legs(parent)"] = _cost(
            lambda k: journal.leader_legs(parents[k % len(parents)]), calls
        )
    finally:
        journal.close()
    return {name: cost.as_dict() for name, cost in out.items()}


@contextmanager
def _backends(with_pg: bool) -> Iterator[list[Backend]]:
    with tempfile.TemporaryDirectory(prefix="bench-journal-", dir=os.environ.get("BENCH_DIR")) as d:
        found = [
            Backend("sqlite FULL", f"sqlite:///{d}/full.db", "FULL"),
            Backend("sqlite NORMAL", f"sqlite:///{d}/normal.db", "NORMAL"),
        ]
        pg_url = os.environ.get(PG_ENV, "")
        if not (with_pg and pg_url):
            yield found
            return
        import psycopg
        from sqlalchemy.engine import make_url

        base = make_url(pg_url)
        admin_url = base.set(drivername="postgresql").render_as_string(hide_password=False)
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            url = base.update_query_dict({"options": f"-csearch_path={schema}"})
            found.append(Backend("postgresql", url.render_as_string(hide_password=False)))
            yield found
        finally:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _print_latency(results: dict[str, dict[str, dict[str, float]]]) -> None:
    ops = list(next(iter(results.values())))
    width = max(len(op) for op in ops)
    print(f"{'operation':<{width}}  " + "  ".join(f"{b:>22}" for b in results))
    print(f"{'':<{width}}  " + "  ".join(f"{'p50 / p99 ms':>22}" for _ in results))
    for op in ops:
        cells = [f"{r[op]['p50_ms']:>9.3f} / {r[op]['p99_ms']:<9.3f}" for r in results.values()]
        print(f"{op:<{width}}  " + "  ".join(f"{c:>22}" for c in cells))


def _cell(cost: dict[str, float] | None) -> str:
    if cost is None:
        return f"{'-':>17}"
    return f"{cost['cpu_us']:>8.0f} / {cost['wall_us_p50']:<6.0f}"


def _print_calls(
    calls: dict[str, dict[str, dict[str, float]]],
    baseline: dict[str, dict[str, dict[str, float]]] | None,
) -> None:
    """One block per backend: CPU us and wall p50 us per call (before and now with a baseline)."""
    for backend, ops in calls.items():
        old = (baseline or {}).get(backend)
        width = max(len(op) for op in ops)
        print(f"\n{backend}: per call, CPU us (mean) / wall us (p50)")
        if old is None:
            for op, now in ops.items():
                print(f"{op:<{width}}  {_cell(now)}")
            continue
        print(f"{'':<{width}}  {'before':>17}  {'now':>17}  CPU before/now")
        for op, now in ops.items():
            was = old.get(op)
            ratio = f"x{was['cpu_us'] / now['cpu_us']:.1f}" if was and now["cpu_us"] else ""
            print(f"{op:<{width}}  {_cell(was)}  {_cell(now)}  {ratio}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000, help="latency: events per backend")
    parser.add_argument("--calls", type=int, default=300, help="calls: measured calls per call")
    parser.add_argument("--followers", type=int, default=10)
    parser.add_argument(
        "--sections", default="latency,calls", help="comma-separated: latency, calls"
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--baseline", type=Path, help="an earlier JSON to compare calls with")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    results: dict[str, dict[str, dict[str, float]]] = {}
    calls: dict[str, dict[str, dict[str, float]]] = {}
    with _backends(not args.no_postgres) as backends:
        if not any(b.name == "postgresql" for b in backends):
            print(f"(PostgreSQL skipped: set {PG_ENV}, e.g. source .ci/postgres.sh)")
        for backend in backends:
            if "latency" in sections:
                results[backend.name] = run_backend(backend, args.events, args.followers)
            if "calls" in sections:
                calls[backend.name] = run_calls(backend, args.calls, args.followers)
    if results:
        _print_latency(results)
    if calls:
        baseline = None
        if args.baseline is not None:
            baseline = json.loads(args.baseline.read_text()).get("calls")
        _print_calls(calls, baseline)
    report = {
        "benchmark": "journal hot path",
        "events": args.events,
        "calls_per_call": args.calls,
        "followers": args.followers,
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_1m": round(os.getloadavg()[0], 2),
        },
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "results": results,
        "calls": calls,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
