"""Journal cost on the hot path: record a leader event + derive intents for N followers.

``python -m bench.journal`` measures, per backend, the latency of ``record_leader_snapshot``
for a new leader order (N intents inserted), a modification (N intents updated), a duplicated
frame (a no-op), and one ``transition`` (mark SENDING, the follower's pre-send commit); then
settles the copies (DONE, not measured) so open intents stay few, as in a trading day. SQLite
runs with synchronous=FULL (the default) and NORMAL; PostgreSQL runs when
``COPYTRADER_TEST_PG_URL`` is set (``source .ci/postgres.sh``). Prints p50/p99 and writes JSON
to ``bench/results/journal.json``.
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
from dataclasses import dataclass
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
    record = journal.record_leader_snapshot
    try:
        for n in range(-50, events):  # the first 50 warm caches and pools; not measured
            order = f"{uuid.uuid4().hex[:8]}{n}"
            snap, wanted = _snapshot(order, 2 * n, 100.0), _intents(order, followers, 100.0)
            took = _timed(record, snap, wanted)
            modified = _snapshot(order, 2 * n + 1, 100.5)
            again = _intents(order, followers, 100.5)
            took_modify = _timed(record, modified, again)
            took_duplicate = _timed(record, modified, again)
            intent = journal.intent_by_correlation_id(again[0].correlation_id)
            assert intent is not None
            took_sending = _timed(journal.transition, intent.id, IntentState.SENDING)
            # Not measured: the copies end (as real orders fill or cancel), so the set of open
            # intents stays as small as on a trading day instead of growing without bound.
            for copy in journal.intents(leader_order_id=order):
                journal.transition(copy.id, IntentState.DONE, reason="bench: settled")
            if n >= 0:
                new_s.append(took)
                modify_s.append(took_modify)
                duplicate_s.append(took_duplicate)
                sending_s.append(took_sending)
    finally:
        journal.close()
    return {
        f"new order + {followers} intents": _percentiles(new_s),
        f"modify + {followers} intents updated": _percentiles(modify_s),
        "duplicate frame (no-op)": _percentiles(duplicate_s),
        "transition -> SENDING": _percentiles(sending_s),
    }


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000, help="measured events per backend")
    parser.add_argument("--followers", type=int, default=10)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results: dict[str, dict[str, dict[str, float]]] = {}
    with _backends(not args.no_postgres) as backends:
        if not any(b.name == "postgresql" for b in backends):
            print(f"(PostgreSQL skipped: set {PG_ENV}, e.g. source .ci/postgres.sh)")
        for backend in backends:
            results[backend.name] = run_backend(backend, args.events, args.followers)
    ops = list(next(iter(results.values())))
    width = max(len(op) for op in ops)
    print(f"{'operation':<{width}}  " + "  ".join(f"{b:>22}" for b in results))
    print(f"{'':<{width}}  " + "  ".join(f"{'p50 / p99 ms':>22}" for _ in results))
    for op in ops:
        cells = [f"{r[op]['p50_ms']:>9.3f} / {r[op]['p99_ms']:<9.3f}" for r in results.values()]
        print(f"{op:<{width}}  " + "  ".join(f"{c:>22}" for c in cells))
    report = {
        "benchmark": "journal hot path",
        "events": args.events,
        "followers": args.followers,
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
