"""A store outage is one typed error, ``StoreUnavailable``; an error of the code is not."""

from __future__ import annotations

import errno
import socket
import sqlite3
from pathlib import Path

import pytest

from store import Journal
from store.engine import make_engine
from store.errors import StoreUnavailable, unavailable_reason


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_sqlite_journal_locked_past_its_busy_timeout_raises_store_unavailable_and_recovers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.db"
    Journal.open(f"sqlite:///{path}").close()
    journal = Journal.open(f"sqlite:///{path}", busy_timeout_ms=200)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # someone holds the write lock
        with pytest.raises(StoreUnavailable, match="locked") as raised:
            journal.set_mark("a", "b", "1")
        assert isinstance(raised.value.__cause__, Exception)
        assert journal.get_mark("a", "b") is None  # WAL: reads go on meanwhile
        holder.execute("ROLLBACK")
        journal.set_mark("a", "b", "1")
        assert journal.get_mark("a", "b") == "1"
    finally:
        holder.close()
        journal.close()


def test_an_unreachable_postgresql_server_raises_store_unavailable() -> None:
    engine = make_engine(f"postgresql+psycopg://copytrader@127.0.0.1:{_free_port()}/none")
    journal = Journal(engine)
    try:
        with pytest.raises(StoreUnavailable, match="PostgreSQL"):
            journal.ping()
        with pytest.raises(StoreUnavailable):
            journal.set_mark("a", "b", "1")
    finally:
        journal.close()


def test_errors_of_the_code_are_not_taken_for_an_outage(journal: Journal) -> None:
    with pytest.raises(Exception, match=r"(?i)unique") as duplicate, journal._write() as conn:
        cursor = conn.cursor()  # a uniqueness rule, broken by hand
        for _ in range(2):
            cursor.execute(
                "INSERT INTO account_marks (account, name, value, updated_at) "
                "VALUES ('x', 'y', 'z', CURRENT_TIMESTAMP)"
            )
    assert unavailable_reason(duplicate.value) is None
    bad_sql = sqlite3.connect(":memory:")
    with pytest.raises(sqlite3.OperationalError) as no_table:
        bad_sql.execute("SELECT * FROM no_such_table")
    assert unavailable_reason(no_table.value) is None
    assert unavailable_reason(ValueError("bad input")) is None
    assert unavailable_reason(OSError(errno.ENOSPC, "No space left on device")) is not None
    assert unavailable_reason(OSError(errno.ENOENT, "No such file")) is None
