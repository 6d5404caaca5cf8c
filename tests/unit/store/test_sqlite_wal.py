"""SQLite specifics: durable pragmas on every connection, checkpoints off the commit path."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from store import IntentState, Journal
from store.checkpointer import BACKSTOP_PAGES
from tests.unit.store.factories import copies, snapshot


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)  # polling a condition with a deadline, not synchronisation by sleep
    return predicate()


def test_every_connection_is_durable_and_leaves_checkpoints_to_the_background(tmp_path: Path):
    journal = Journal.open(f"sqlite:///{tmp_path / 'j.db'}", busy_timeout_ms=7_000)
    try:
        with journal._engine.connect() as conn:  # the pragmas are per connection
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in (
                    "journal_mode",
                    "synchronous",
                    "foreign_keys",
                    "busy_timeout",
                    "wal_autocheckpoint",
                )
            }
    finally:
        journal.close()
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 2,  # FULL
        "foreign_keys": 1,
        "busy_timeout": 7000,
        "wal_autocheckpoint": BACKSTOP_PAGES,
    }


def test_the_background_checkpointer_moves_commits_into_the_database_file(tmp_path: Path):
    path = tmp_path / "j.db"
    journal = Journal.open(f"sqlite:///{path}")
    try:
        checkpointer = journal._checkpointer
        assert checkpointer is not None
        journal.record_leader_snapshot(snapshot("L1"), copies("L1", 3))
        rounds = checkpointer.checkpoints
        assert wait_until(lambda: checkpointer.checkpoints >= rounds + 2)
        # the main file alone (no -wal) already holds the commit
        alone = tmp_path / "copy.db"
        shutil.copyfile(path, alone)
        with sqlite3.connect(alone) as copy:
            (count,) = copy.execute("SELECT count(*) FROM follower_intents").fetchone()
        assert count == 3
        assert checkpointer.failures == 0
    finally:
        journal.close()


def test_closing_stops_the_checkpointer_gives_back_every_connection_and_removes_the_wal(
    tmp_path: Path,
):
    path = tmp_path / "j.db"
    journal = Journal.open(f"sqlite:///{path}")
    journal.record_leader_snapshot(snapshot("L1"), copies("L1", 1))
    (intent,) = journal.intents()  # the journal keeps read connections (store.readers)
    assert journal.intent(intent.id) == intent
    checkpointer = journal._checkpointer
    assert checkpointer is not None

    journal.close()

    assert not checkpointer._thread.is_alive()
    assert not Path(f"{path}-wal").exists()


def _wal_restarts(path: Path) -> int:
    """The WAL header's checkpoint sequence: SQLite bumps it each time the WAL starts over."""
    with open(f"{path}-wal", "rb") as wal:
        header = wal.read(32)
    return int.from_bytes(header[12:16], "big") if len(header) == 32 else 0


def test_a_steady_stream_of_commits_still_lets_the_wal_start_over(tmp_path: Path):
    # Writers committing back to back never leave a PASSIVE checkpoint a moment with nothing
    # new to copy; without the paused tail pass the WAL only grows, every commit appending.
    path = tmp_path / "j.db"
    journal = Journal.open(f"sqlite:///{path}")
    stop = threading.Event()
    written = [0]

    def write(k: int) -> None:
        while not stop.is_set():  # the hot path's pattern: a leader event, then its copies move
            order = f"W{k}-{written[k]}"
            journal.record_leader_snapshot(snapshot(order), copies(order, 3))
            for intent in journal.intents(leader_order_id=order):
                journal.transition(intent.id, IntentState.DONE, reason="test: settled")
            written[k] += 1

    writers = [threading.Thread(target=write, args=(k,)) for k in range(1)]
    try:
        checkpointer = journal._checkpointer
        assert checkpointer is not None
        journal.record_leader_snapshot(snapshot("L0"), copies("L0", 1))
        first, rounds = _wal_restarts(path), checkpointer.rounds
        for writer in writers:
            writer.start()
        assert wait_until(lambda: checkpointer.rounds >= rounds + 5, timeout_s=20.0)
        restarts = _wal_restarts(path) - first
        stop.set()
        for writer in writers:
            writer.join()
        assert restarts >= 3, (restarts, written)
        assert checkpointer.failures == 0
        assert len(journal.intents()) == 1 + 3 * sum(written)  # nothing lost across restarts
    finally:
        stop.set()
        for writer in writers:
            if writer.is_alive():
                writer.join()
        journal.close()
