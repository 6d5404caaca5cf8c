"""The SQLite floor under the journal's hot write: the same statements with no Python around them.

``python -m bench.journal_floor``. Records leader events (a new order + N intents each, as
``bench.journal``) through ``Journal.record_leader_snapshot``, capturing every statement and its
bound parameters; then replays them, one transaction per event, on a bare ``sqlite3`` connection
to a fresh database of the same schema and pragmas, with the journal's checkpoint regime (a bulk
pass, then the tail with writers held; ``store.checkpointer``). The replay is what SQLite itself
costs -- execution, WAL writes and, with synchronous=FULL, the fsync -- so the journal's p50 minus
the floor's is what our code adds. Same settling as ``bench.journal`` between events (not
measured). Prints a table; writes ``bench/results/journal_floor.json``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.journal import _intents, _percentiles, _snapshot
from store import IntentState, Journal
from store.driver import Driver, DriverSql

RESULTS = Path(__file__).resolve().parent / "results" / "journal_floor.json"
CHECKPOINT_INTERVAL_S = 0.2  # as store.checkpointer

Statement = tuple[str, Any]  # text, bound parameters (a tuple, or a list of tuples: executemany)
Event = tuple[str, list[Statement]]  # the leader order id, the statements recording it


@contextmanager
def _captured(into: list[Statement]) -> Iterator[None]:
    """Every ``Driver.run`` meanwhile appends its text and driver parameters to ``into``."""
    original = Driver.run

    def run(self: Driver, conn: Any, sql: DriverSql, params: Any) -> Any:
        bound = [sql.params(p) for p in params] if isinstance(params, list) else sql.params(params)
        into.append((sql.text, bound))
        return original(self, conn, sql, params)

    Driver.run = run  # type: ignore[method-assign]  # a measurement hook, undone below
    try:
        yield
    finally:
        Driver.run = original  # type: ignore[method-assign]  # restored


def journal_run(
    path: Path, synchronous: str, events: int, followers: int
) -> tuple[list[float], list[Event]]:
    """``record_leader_snapshot`` wall times, and the statements each one ran."""
    journal = Journal.open(f"sqlite:///{path}", sqlite_synchronous=synchronous)
    walls: list[float] = []
    recorded: list[Event] = []
    first_id = time.time_ns() // 1000
    try:
        for n in range(-50, events):  # the first 50 warm up; not measured
            order = str(first_id + n)
            snap, wanted = _snapshot(order, n, 100.0), _intents(order, followers, 100.0)
            statements: list[Statement] = []
            with _captured(statements):
                start = time.perf_counter()
                journal.record_leader_snapshot(snap, wanted)
                took = time.perf_counter() - start
            for copy in journal.intents(leader_order_id=order):
                journal.transition(copy.id, IntentState.DONE, reason="bench: settled")
            if n >= 0:
                walls.append(took)
                recorded.append((order, statements))
    finally:
        journal.close()
    return walls, recorded


def replay(schema_from: Path, path: Path, synchronous: str, events: list[Event]) -> list[float]:
    """Run each event's statements in one transaction on a bare connection; wall per event."""
    source = sqlite3.connect(schema_from)
    try:
        found = source.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")
        schema = [row[0] for row in found]
    finally:
        source.close()
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA wal_autocheckpoint=20000")
    for statement in schema:
        conn.execute(statement)
    writers = threading.Lock()
    stop = threading.Event()

    def checkpoints() -> None:
        own = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            while not stop.wait(CHECKPOINT_INTERVAL_S):
                own.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                with writers:
                    own.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            own.close()

    thread = threading.Thread(target=checkpoints, daemon=True)
    thread.start()
    walls: list[float] = []
    try:
        for order, statements in events:
            start = time.perf_counter()
            with writers:
                conn.execute("BEGIN IMMEDIATE")
                for text, params in statements:
                    if isinstance(params, list):
                        conn.executemany(text, params)
                    else:
                        conn.execute(text, params).fetchall()
                conn.execute("COMMIT")
            walls.append(time.perf_counter() - start)
            # settled as in journal_run (not measured): the order's copies end
            conn.execute(
                "UPDATE follower_intents SET state = 'DONE' WHERE leader_order_id = ?", (order[1],)
            )
    finally:
        stop.set()
        thread.join()
        conn.close()
    return walls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--followers", type=int, default=10)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        for synchronous in ("FULL", "NORMAL"):
            journal_db = Path(tmp) / f"journal-{synchronous}.db"
            walls, events = journal_run(journal_db, synchronous, args.events, args.followers)
            floor = replay(journal_db, Path(tmp) / f"floor-{synchronous}.db", synchronous, events)
            ours, bare = _percentiles(walls), _percentiles(floor)
            rows[synchronous] = {
                "journal": ours,
                "bare sqlite3 replay": bare,
                "our code p50_ms": round(ours["p50_ms"] - bare["p50_ms"], 3),
                "statements per event": statistics.median(len(e) for _, e in events),
            }
    print(f"new order + {args.followers} intents, p50 / p99 ms ({args.events} events)")
    print(f"{'synchronous':<12} {'journal':>18} {'bare sqlite3':>18} {'our code (p50)':>16}")
    for synchronous, row in rows.items():
        j, b = row["journal"], row["bare sqlite3 replay"]
        print(
            f"{synchronous:<12} {j['p50_ms']:>8.3f} / {j['p99_ms']:<7.3f} "
            f"{b['p50_ms']:>8.3f} / {b['p99_ms']:<7.3f} {row['our code p50_ms']:>16.3f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"benchmark": "journal floor", "followers": args.followers, "results": rows}, indent=2
        )
        + "\n"
    )
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
