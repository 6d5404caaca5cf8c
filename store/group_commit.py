"""Group commit for SQLite: concurrent write transactions share one BEGIN ... COMMIT.

With ``synchronous=FULL`` every SQLite commit is an fsync (milliseconds on a real disk) and
SQLite has one writer at a time, so N followers marking ``SENDING`` at the same moment would
wait for N fsyncs in a row. Here the first writer to arrive leads a *batch*: writers that arrive
while the previous batch is committing join it; each runs its own work on the batch's
connection inside a SAVEPOINT (so one writer's error rolls back only its own work), and the
leader commits once for all. Every writer returns only after that commit is durable, so
"committed before the HTTP request goes out" still holds -- for the price of one fsync per
batch instead of one per writer.

::

    writer A ─lead─ BEGIN ─[A]──────────── COMMIT ✓ (A, B, C return)
    writer B ──join───────────[B]──┘
    writer C ──join────────────[C]─┘
    writer D ─────────────── lead (waits for the gate) ─ BEGIN ─[D]─ COMMIT ✓

A writer already inside a batch on this thread (a nested write) runs in a nested savepoint of
that batch. PostgreSQL does not use this: its own group commit does the same job server-side.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from store.errors import StoreError


class _Batch:
    __slots__ = ("closed", "conn", "done", "error", "members", "started")

    def __init__(self) -> None:
        self.conn: Connection | None = None
        self.members = 0  # writers that joined and have not finished their work yet
        self.closed = False  # no more writers may join
        self.started = threading.Event()  # the leader has begun the transaction
        self.done = threading.Event()  # committed (or failed: see error)
        self.error: BaseException | None = None


class GroupCommitter:
    """Hands out write transactions on ``writer`` (an Engine whose connections BEGIN IMMEDIATE)."""

    def __init__(self, writer: Engine) -> None:
        self._writer = writer
        self._lock = threading.Lock()
        self._members_done = threading.Condition(self._lock)
        self._open: _Batch | None = None
        #: Held by one batch from BEGIN to the end of COMMIT: the next batch gathers meanwhile.
        self._gate = threading.Lock()
        #: Serialises the writers' work on the shared connection (one thread at a time).
        self._work = threading.RLock()
        self._local = threading.local()
        self.batches = 0  #: statistics: transactions committed

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        current: _Batch | None = getattr(self._local, "batch", None)
        if current is not None:  # nested write on this thread: a savepoint of the same batch
            assert current.conn is not None
            with self._work, current.conn.begin_nested():
                yield current.conn
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
        if batch.error is not None:  # the leader could not even begin
            self._leave(batch, leader=leader)
            raise StoreError(f"write transaction failed to start: {batch.error!r}")
        conn = batch.conn
        assert conn is not None
        failed: BaseException | None = None
        self._local.batch = batch
        try:
            with self._work:
                savepoint = conn.begin_nested()
                try:
                    yield conn
                except BaseException as exc:
                    failed = exc
                    savepoint.rollback()
                    raise
                else:
                    savepoint.commit()
        finally:
            self._local.batch = None
            self._leave(batch, leader=leader)
            if failed is None and batch.error is not None:
                raise StoreError(f"group commit failed: {batch.error!r}") from batch.error

    def _begin(self, batch: _Batch) -> None:
        self._gate.acquire()
        try:
            conn = self._writer.connect()
            try:
                conn.begin()
            except BaseException:
                conn.close()
                raise
            batch.conn = conn
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
        conn = batch.conn
        assert conn is not None
        try:
            conn.commit()
            self.batches += 1
        except BaseException as exc:
            batch.error = exc
            with contextlib.suppress(Exception):  # a broken connection: closing it is all we can do
                conn.rollback()
        finally:
            conn.close()
            self._gate.release()
            batch.done.set()
