"""One SQLAlchemy Engine per journal, set up for durability and many threads.

SQLite: every connection gets WAL, ``synchronous`` (FULL by default), a busy timeout and
foreign keys; write transactions start with ``BEGIN IMMEDIATE`` so concurrent writers queue on
the busy timeout instead of deadlocking on a read->write upgrade. PostgreSQL: psycopg 3,
READ COMMITTED, pool pre-ping. ``Journal`` is the only user.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import ConnectionPoolEntry

from store.checkpointer import BACKSTOP_PAGES
from store.driver import register_sqlite_binds

#: Execution option that marks a connection as a writer (SQLite: BEGIN IMMEDIATE).
WRITE_OPTION = "copytrader_write"
SQLITE_SYNCHRONOUS = ("FULL", "NORMAL", "EXTRA")
#: PostgreSQL: seconds a new connection may take before it counts as failed.
PG_CONNECT_TIMEOUT_S = 5


def _json_default(value: Any) -> Any:
    # Records carry StrEnums (already str) and, from raw frames, the odd Decimal or datetime.
    return str(value)


#: One encoder for every call: ``json.dumps`` with options builds a new one each time.
_ENCODER = json.JSONEncoder(default=_json_default, separators=(",", ":"), sort_keys=True)


def dumps_json(value: Any) -> str:
    """The journal's JSON text: compact, keys sorted, odd values as their ``str``."""
    return _ENCODER.encode(value)


def normalise_url(url: str | URL) -> URL:
    """Parse ``url``; a bare ``postgresql://`` means psycopg 3 (the driver we ship)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(
    url: str | URL,
    *,
    sqlite_synchronous: str = "FULL",
    busy_timeout_ms: int = 10_000,
    pool_size: int = 8,
) -> Engine:
    """Create the journal's engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://``)."""
    parsed = normalise_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, sqlite_synchronous, busy_timeout_ms, pool_size)
    if backend == "postgresql":
        return create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=4 * pool_size,
            pool_pre_ping=True,
            json_serializer=dumps_json,
            # a server that does not answer (a network partition) is an outage to report
            # within seconds, not a connect that hangs for the kernel's SYN retries
            connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
        )
    raise ValueError(
        f"unsupported journal database {parsed.drivername!r}: use sqlite or postgresql"
    )


def _sqlite_engine(url: URL, synchronous: str, busy_timeout_ms: int, pool_size: int) -> Engine:
    synchronous = synchronous.upper()
    if synchronous not in SQLITE_SYNCHRONOUS:
        raise ValueError(
            f"sqlite synchronous must be one of {SQLITE_SYNCHRONOUS}, not {synchronous}"
        )
    if url.database in (None, "", ":memory:"):
        # An in-memory database is per connection and dies with the process: not a journal.
        raise ValueError("the journal needs a SQLite file (sqlite:///path/to/file.db)")
    register_sqlite_binds()
    _create_private(url.database)
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=4 * pool_size,
        json_serializer=dumps_json,
        # The busy timeout is set by PRAGMA below; the driver's own wait would add to it.
        connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        # Autocommit at the driver level: SQLAlchemy's "begin" event below emits BEGIN itself.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            _switch_to_wal(cursor, busy_timeout_ms / 1000)
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
            # Checkpoints run on the journal's background thread (store.checkpointer), not
            # inside a commit; this is only the backstop should that thread fall behind.
            cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


#: The journal holds every order of every account: readable by the engine's user only.
FILE_MODE = 0o600


def _create_private(path: str) -> None:
    """Create the database file ``FILE_MODE`` if it does not exist yet (whatever the umask).

    SQLite creates its ``-wal`` and ``-shm`` files with the database file's mode, so they
    follow. An existing file keeps the mode its operator gave it.
    """
    if path.startswith("file:"):  # a URI filename: SQLite parses it, leave it to SQLite
        return
    # it exists already; or SQLite's own open will say what is wrong with the path
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def _switch_to_wal(cursor: Any, timeout_s: float) -> None:
    """``PRAGMA journal_mode=WAL``, retried while another connection holds the database.

    Switching a new database to WAL needs it to itself, and SQLite answers "database is
    locked" at once instead of waiting out the busy timeout: seen when several engines (or a
    CLI command and an engine) open a fresh journal in the same moment. Once the file is in
    WAL mode (it stays so) the pragma takes no lock.
    """
    deadline = time.monotonic() + timeout_s
    pause_s = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause_s)  # back off: the holder is running a migration or the same switch
        pause_s = min(pause_s * 2, 0.1)
