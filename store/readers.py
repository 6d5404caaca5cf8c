"""SQLite read connections the journal keeps at hand, so a precompiled read skips the pool.

A checkout from SQLAlchemy's pool (events, reset, weakref bookkeeping) costs about as much as a
small precompiled read itself (``store.reads``). For SQLite the journal keeps idle DB-API
connections here instead: taking one is a ``deque.pop``. They come from the pool (so its
connect hook has set their pragmas) and go back to it on ``close``. A SQLite read in driver
autocommit mode holds no transaction once its rows are fetched, so an idle connection pins no
WAL snapshot. PostgreSQL reads keep using the pool, whose pre-ping survives a server restart.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable

from sqlalchemy.pool import PoolProxiedConnection


class ReadConnections:
    """Idle read connections, at most ``keep`` of them (extra ones go back to the pool)."""

    def __init__(self, connect: Callable[[], PoolProxiedConnection], keep: int) -> None:
        self._connect = connect
        self._keep = keep
        #: deque.append / pop are atomic: no lock on the read path.
        self._idle: deque[PoolProxiedConnection] = deque()
        self._closed = False

    def take(self) -> PoolProxiedConnection:
        """An idle connection, or a new one from the pool."""
        try:
            return self._idle.pop()
        except IndexError:
            return self._connect()

    def give(self, pooled: PoolProxiedConnection, *, broken: bool = False) -> None:
        """Return a connection taken with ``take``; ``broken``: discard it."""
        if broken:
            with contextlib.suppress(Exception):  # it is being thrown away
                pooled.invalidate()
            return
        if self._closed or len(self._idle) >= self._keep:
            pooled.close()
            return
        self._idle.append(pooled)
        if self._closed:  # closed meanwhile: ``close`` may have missed it
            self._close_idle()

    def close(self) -> None:
        """Give every idle connection back to the pool; later ``give`` calls do the same."""
        self._closed = True
        self._close_idle()

    def _close_idle(self) -> None:
        while True:
            try:
                pooled = self._idle.pop()
            except IndexError:
                return
            with contextlib.suppress(Exception):  # closing at shutdown: nothing else to do
                pooled.close()
