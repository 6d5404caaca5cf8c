"""Group commit for SQLite: concurrent write transactions share one BEGIN ... COMMIT.

With ``synchronous=FULL`` every SQLite commit is an fsync (milliseconds on a real disk) and
SQLite has one writer at a time, so N followers marking ``SENDING`` at the same moment would
wait for N fsyncs in a row. Here the first writer to arrive leads a *batch*: writers that arrive
while the previous batch is committing join it; each runs its own work on the batch's
connection, and the leader commits once for all. Every writer returns only after that commit is
durable, so "committed before the HTTP request goes out" still holds -- for the price of one
fsync per batch instead of one per writer.

::

    writer A ─lead─ BEGIN ─[A]──────────── COMMIT ✓ (A, B, C return)
    writer B ──join───────────[B]──┘
    writer C ──join────────────[C]─┘
    writer D ─────────────── lead (waits for the gate) ─ BEGIN ─[D]─ COMMIT ✓

One writer's error rolls back only its own work. A writer whose transaction already holds the
work of others runs inside a SAVEPOINT. The first work of a transaction needs none: if it fails,
the transaction holds nothing else, so it is rolled back whole (and begun again by the next
writer), or kept when the failed writer changed no row (a refused transition reads, then
raises before it writes). The usual batch of one writer thus pays for no savepoint at all.

Everything is driver SQL on one DB-API connection the committer holds for the journal's life:
no SQLAlchemy ``Connection``, pool checkout, event or compiled SAVEPOINT per write. A writer
already inside a batch on this thread (a nested write) runs in a nested savepoint of it.
PostgreSQL does not use this: its own group commit does the same job server-side.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import cast

from sqlalchemy.pool import PoolProxiedConnection

from store.driver import Driver
from store.errors import StoreError

_SAVEPOINT = "group_writer"


class _Batch:
    __slots__ = ("closed", "dirty", "done", "error", "members", "started")

    def __init__(self) -> None:
        self.members = 0  # writers that joined and have not finished their work yet
        self.closed = False  # no more writers may join
        self.started = threading.Event()  # the leader has begun the transaction
        self.done = threading.Event()  # committed (or failed: see error)
        self.error: BaseException | None = None  # set: nobody's work in this batch commits
        self.dirty = False  # the open transaction holds the work of a writer that finished


class GroupCommitter:
    """Hands out write transactions on one SQLite connection (``BEGIN IMMEDIATE`` ... ``COMMIT``).

    ``connect`` checks a connection out of the journal's pool (``Engine.raw_connection``): the
    pool's connect hook has set its pragmas and driver-level autocommit (``isolation_level``
    None), so the transaction statements here are the only ones.
    """

    def __init__(self, connect: Callable[[], PoolProxiedConnection], driver: Driver) -> None:
        self._connect = connect
        self._driver = driver
        self._pooled: PoolProxiedConnection | None = None
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._members_done = threading.Condition(self._lock)
        self._open: _Batch | None = None
        #: Held by one batch from BEGIN to the end of COMMIT: the next batch gathers meanwhile.
        self._gate = threading.Lock()
        #: Serialises the writers' work on the shared connection (one thread at a time).
        self._work = threading.RLock()
        self._local = threading.local()
        self.batches = 0  #: statistics: transactions committed

    def close(self) -> None:
        """Give the connection back to the pool (after the batch in progress, if any)."""
        with self._gate:
            self._drop_connection()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No batch begins or commits inside this block; writers that arrive meanwhile gather
        in the next batch (the WAL checkpointer finishes a checkpoint here)."""
        with self._gate:
            yield

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        current: _Batch | None = getattr(self._local, "batch", None)
        if current is not None:  # nested write on this thread: a savepoint of the same batch
            with self._work, self._nested(current) as conn:
                yield conn
            return
        with self._lock:
            batch = self._open
            leader = batch is None
            if batch is None:
                batch = self._open = _Batch()
            batch.members += 1
        if leader:
            self._begin(batch)
        else:
            batch.started.wait()
        if batch.done.is_set():  # the leader could not even begin
            self._leave(batch, leader=leader)
            raise StoreError(f"write transaction failed to start: {batch.error!r}") from (
                batch.error
            )
        failed = False
        self._local.batch = batch
        try:
            with self._work, self._member(batch) as conn:
                yield conn
        except BaseException:
            failed = True
            raise
        finally:
            self._local.batch = None
            self._leave(batch, leader=leader)
            if not failed and batch.error is not None:
                raise StoreError(f"group commit failed: {batch.error!r}") from batch.error

    # --- one writer's work ----------------------------------------------------------------

    @contextmanager
    def _member(self, batch: _Batch) -> Iterator[sqlite3.Connection]:
        """One writer's work in the batch's transaction; its failure undoes only its own work."""
        if batch.error is not None:
            raise StoreError(f"group commit failed: {batch.error!r}") from batch.error
        conn = self._conn
        assert conn is not None
        if not conn.in_transaction:  # the previous writer's failure rolled it back
            if batch.dirty:  # ... or SQLite did (I/O error, full disk): others' work is gone
                batch.error = StoreError("SQLite rolled back the shared transaction")
                raise batch.error
            self._driver.control(conn, "BEGIN IMMEDIATE")
        savepoint = batch.dirty
        changes_before = conn.total_changes
        try:
            if savepoint:
                self._driver.control(conn, f"SAVEPOINT {_SAVEPOINT}")
            yield conn
            if savepoint:
                self._driver.control(conn, f"RELEASE {_SAVEPOINT}")
        except BaseException:
            self._undo(batch, conn, savepoint, changes_before)
            raise
        if conn.total_changes != changes_before:
            batch.dirty = True

    def _undo(
        self, batch: _Batch, conn: sqlite3.Connection, savepoint: bool, changes_before: int
    ) -> None:
        try:
            if savepoint:
                self._driver.control(conn, f"ROLLBACK TO {_SAVEPOINT}")
                self._driver.control(conn, f"RELEASE {_SAVEPOINT}")
            elif conn.total_changes != changes_before and conn.in_transaction:
                # Only this writer's work is in the transaction: drop it whole.
                self._driver.control(conn, "ROLLBACK")
        except Exception as exc:  # the transaction is in an unknown state: nobody commits
            batch.error = exc
            self._rollback_quietly()

    @contextmanager
    def _nested(self, batch: _Batch) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        assert conn is not None
        depth = getattr(self._local, "depth", 0) + 1
        name = f"group_nested_{depth}"
        self._local.depth = depth
        try:
            self._driver.control(conn, f"SAVEPOINT {name}")
            try:
                yield conn
                self._driver.control(conn, f"RELEASE {name}")
            except BaseException:
                try:
                    self._driver.control(conn, f"ROLLBACK TO {name}")
                    self._driver.control(conn, f"RELEASE {name}")
                except Exception as exc:  # unknown state: the whole batch must not commit
                    batch.error = exc
                raise
        finally:
            self._local.depth = depth - 1

    # --- the batch: begin, leave, commit --------------------------------------------------

    def _begin(self, batch: _Batch) -> None:
        self._gate.acquire()
        try:
            if self._conn is not None and self._conn.in_transaction:
                self._rollback_quietly()  # left open by a failure; may drop the connection
            conn = self._conn
            if conn is None:
                self._pooled = self._connect()
                # The journal's SQLite pool hands out sqlite3 connections.
                conn = self._conn = cast(sqlite3.Connection, self._pooled.dbapi_connection)
            self._driver.control(conn, "BEGIN IMMEDIATE")
        except BaseException as exc:
            batch.error = exc
            with self._lock:
                batch.closed = True
                if self._open is batch:
                    self._open = None
            self._gate.release()
            batch.done.set()
        finally:
            batch.started.set()

    def _leave(self, batch: _Batch, *, leader: bool) -> None:
        """Finish this writer's part; the leader commits once every member has finished."""
        with self._lock:
            batch.members -= 1
            if leader and not batch.closed:
                batch.closed = True
                if self._open is batch:
                    self._open = None
            if not leader:
                self._members_done.notify_all()
            else:
                while batch.members > 0:
                    self._members_done.wait()
        if not leader:
            batch.done.wait()
            return
        if batch.done.is_set():  # failed to begin: nothing to commit
            return
        conn = self._conn
        assert conn is not None
        try:
            if batch.error is None and batch.dirty:
                self._driver.control(conn, "COMMIT")
                self.batches += 1
            elif conn.in_transaction:  # nothing to keep, or a failed batch
                self._driver.control(conn, "ROLLBACK")
        except BaseException as exc:
            batch.error = batch.error or exc
            self._rollback_quietly()
        finally:
            self._gate.release()
            batch.done.set()

    def _rollback_quietly(self) -> None:
        conn = self._conn
        if conn is None:
            return
        with contextlib.suppress(Exception):  # a broken connection: replaced below
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        if conn.in_transaction:  # still open: give it up, the next batch connects afresh
            self._drop_connection(broken=True)

    def _drop_connection(self, *, broken: bool = False) -> None:
        pooled, self._pooled, self._conn = self._pooled, None, None
        if pooled is None:
            return
        with contextlib.suppress(Exception):  # closing is all we can do with it
            if broken:
                pooled.invalidate()  # never back into the pool
            else:
                pooled.close()
