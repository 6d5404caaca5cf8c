"""SQLite's own memory is bounded process-wide, however many connections the pool opens."""

from __future__ import annotations

import ctypes
import sqlite3
from pathlib import Path

import pytest

from store import Journal
from store.engine import SQLITE_HEAP_LIMIT_BYTES


def _sqlite_memory_used() -> int:
    try:
        lib = ctypes.CDLL("libsqlite3.so.0")  # the library the sqlite3 module loaded
    except OSError:
        pytest.skip("no shared libsqlite3 to ask")
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    return int(lib.sqlite3_memory_used())


def test_the_page_caches_of_many_connections_share_one_budget(tmp_path: Path):
    # the limit is process-wide: another test's journal may have set it already
    sqlite3.connect(":memory:").execute("PRAGMA soft_heap_limit=0").close()
    journal = Journal.open(f"sqlite:///{tmp_path / 'j.db'}")
    try:
        engine = journal._engine
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT)")
            conn.exec_driver_sql(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12000)"
                " INSERT INTO filler SELECT i, printf('%.2000c', 'x') FROM n"
            )  # ~25 MB: more than one connection's default cache (2,000 KiB) can hold
        before = _sqlite_memory_used()
        held = [engine.connect() for _ in range(8)]  # open at once, as the followers' reads
        try:
            for conn in held:
                conn.exec_driver_sql("SELECT sum(length(body)) FROM filler").scalar()
                conn.exec_driver_sql("SELECT count(*) FROM filler WHERE body > 'y'").scalar()
            used = _sqlite_memory_used()
            limit = conn.exec_driver_sql("PRAGMA soft_heap_limit").scalar()
        finally:
            for conn in held:
                conn.close()
    finally:
        journal.close()
    # 8 default caches would hold ~16 MB; under the budget they recycle pages instead
    assert used - before <= SQLITE_HEAP_LIMIT_BYTES, (before, used)
    assert used <= SQLITE_HEAP_LIMIT_BYTES + 2 * 1024 * 1024, (before, used)
    assert limit == SQLITE_HEAP_LIMIT_BYTES
