"""The journal's lease: one engine per journal, enforced by the store itself.

Two engines on one journal would both copy every leader order (each believes its own claims),
so an engine, ``reconcile --apply`` and any command that places orders take the lease first;
read-only commands do not. The lease is held, not written: it ends with the process.

* SQLite: an exclusive ``flock`` on ``<journal file>.lock`` beside the database. The file
  names the holder (host, pid, since) for the next one to read. The kernel drops the lock
  when the process dies; the lease counts as lost if the lock file is deleted or replaced
  (another process could lock the new file).
* PostgreSQL: a session advisory lock held on a dedicated connection. A watcher thread waits
  on that connection's socket: the moment the server drops it (a restart,
  ``pg_terminate_backend``, a network fault seen by a ping every second) the lease is
  *lost*. The journal then refuses every call (``LeaseLost``) and ``on_lost`` runs, so the
  engine stops sending; :meth:`JournalLease.ensure` takes it again when the server is back --
  unless another engine took it meanwhile, which it then names.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import select
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from store.engine import normalise_url
from store.errors import LeaseHeld, LeaseLost, StoreUnavailable, unavailable_reason
from store.locks import lock_key

logger = logging.getLogger(__name__)

#: Advisory-lock namespace of the lease (two-int form, as ``store.locks``).
LOCK_LEASE = 0x4C45  # "LE"
#: application_name of the lease connection: how another engine learns who holds it.
_APP_PREFIX = "copytrader-lease"
#: How often the PostgreSQL watcher pings the lease connection while nothing arrives on it.
PING_INTERVAL_S = 1.0


def _holder_text(host: str, pid: int, since: str) -> str:
    return f"host {host}, pid {pid}, since {since}"


class JournalLease:
    """The lease of one journal; :meth:`acquire` it, then :meth:`release` at the end."""

    def __init__(self, url: str | URL, on_lost: Callable[[str], None] | None = None) -> None:
        self.url = normalise_url(url)
        self.shown_url = self.url.render_as_string(hide_password=True)
        self.on_lost = on_lost
        #: None while held; the reason once lost (the journal checks it on every call)
        self.lost: str | None = "not acquired"
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.since = ""
        self._lock = threading.Lock()
        self._closed = False
        self._fd: int | None = None
        self._path: Path | None = None
        self._conn: Any = None
        self._watcher: threading.Thread | None = None

    # -- public --------------------------------------------------------------------------------

    @property
    def held(self) -> bool:
        return self.lost is None

    def acquire(self) -> JournalLease:
        """Take the lease now or raise ``LeaseHeld`` naming the holder (``StoreUnavailable``
        if the database cannot be reached)."""
        with self._lock:
            if self.lost is None:
                return self
            self.since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if self.url.get_backend_name() == "sqlite":
                self._acquire_file()
            else:
                self._acquire_advisory()
            self.lost = None
        logger.info("journal lease taken: %s (%s)", self.shown_url, self.describe())
        return self

    def ensure(self) -> None:
        """Raise unless the lease is held and still good; take it again if it was lost."""
        if self.lost is not None:
            self.acquire()
            return
        if self._path is not None:
            self._check_file()

    def describe(self) -> str:
        return _holder_text(self.host, self.pid, self.since)

    def release(self) -> None:
        """Give the lease up (idempotent)."""
        with self._lock:
            self._closed = True
            self.lost = "released"
            self._drop()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(timeout=PING_INTERVAL_S + 2.0)

    # -- SQLite: a lock file -------------------------------------------------------------------

    def _acquire_file(self) -> None:
        database = self.url.database or ""
        path = Path(database + ".lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreUnavailable(f"cannot open the lease file {path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LeaseHeld(self.shown_url, holder) from None
        except OSError as exc:
            os.close(fd)
            raise StoreUnavailable(f"cannot lock the lease file {path}: {exc.strerror}") from exc
        record = json.dumps({"host": self.host, "pid": self.pid, "since": self.since}) + "\n"
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, record.encode(), 0)
        except OSError:
            # a full disk: the lock is ours all the same; the next one reads an older holder
            logger.warning("journal lease: could not write the holder into %s", path)
        self._fd, self._path = fd, path

    def _check_file(self) -> None:
        assert self._fd is not None and self._path is not None
        try:
            same = os.stat(self._path).st_ino == os.fstat(self._fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            self._lose(f"the lease file {self._path} was deleted or replaced")
            raise LeaseLost(self.lost or "lost")

    # -- PostgreSQL: an advisory lock on a dedicated connection --------------------------------

    def _acquire_advisory(self) -> None:
        import psycopg

        libpq = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        app = f"{_APP_PREFIX} {self.host[:28]} {self.pid}"
        try:
            conn = psycopg.connect(
                libpq,
                autocommit=True,
                application_name=app,
                connect_timeout=5,
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=3,
            )
        except psycopg.Error as exc:
            raise StoreUnavailable(unavailable_reason(exc) or str(exc)) from exc
        try:
            schema = _one(conn, "SELECT current_schema()", ())
            key = lock_key(f"journal-lease:{schema}")
            if not _one(conn, "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_LEASE, key)):
                holder = self._advisory_holder(conn, key)
                conn.close()
                raise LeaseHeld(self.shown_url, holder)
        except psycopg.Error as exc:
            conn.close()
            raise StoreUnavailable(unavailable_reason(exc) or str(exc)) from exc
        self._conn = conn
        self._watcher = threading.Thread(
            target=self._watch, args=(conn,), name="journal-lease-watch", daemon=True
        )
        self._watcher.start()

    @staticmethod
    def _advisory_holder(conn: Any, key: int) -> str:
        row = conn.execute(
            "SELECT a.application_name, a.client_addr::text, a.backend_start "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = %s "
            "AND l.objid::bigint = %s",
            (LOCK_LEASE & 0xFFFFFFFF, key & 0xFFFFFFFF),
        ).fetchone()
        if row is None:
            return "holder unknown (it may just have let go: try again)"
        app, addr, started = row
        since = started.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if started else "?"
        parts = str(app or "").split()
        if len(parts) == 3 and parts[0] == _APP_PREFIX:
            return _holder_text(parts[1], int(parts[2]), since)
        return f"connection from {addr or 'a local socket'} ({app!r}), since {since}"

    def _watch(self, conn: Any) -> None:
        """Wait on the lease connection; declare the lease lost the moment it breaks."""
        while True:
            with self._lock:
                if self._closed or self._conn is not conn:
                    return
            try:
                readable, _, _ = select.select([conn.fileno()], [], [], PING_INTERVAL_S)
                # readable: the server sent something unasked (a FATAL before it closes, or
                # EOF); otherwise a ping finds a connection that died silently
                conn.execute("SELECT 1")
                if readable and conn.closed:
                    raise ConnectionError("server closed the connection")
            except Exception as exc:
                with self._lock:
                    if self._closed or self._conn is not conn:
                        return
                reason = unavailable_reason(exc) or f"{type(exc).__name__}: {exc}"
                self._lose(f"lease connection lost ({reason.splitlines()[0]})")
                return

    # -- common --------------------------------------------------------------------------------

    def _lose(self, reason: str) -> None:
        with self._lock:
            if self.lost is not None or self._closed:
                return
            self.lost = reason
            self._drop()
        logger.critical("journal lease lost: %s; copying stops until it is taken again", reason)
        if self.on_lost is not None:
            try:
                self.on_lost(reason)
            except Exception:
                logger.exception("journal lease: on_lost failed")

    def _drop(self) -> None:
        """Close what holds the lock (under ``_lock``)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing the only descriptor releases the flock
            self._fd = None
            self._path = None
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


def _one(conn: Any, sql: str, params: tuple[Any, ...]) -> Any:
    row = conn.execute(sql, params).fetchone()
    return row[0] if row is not None else None


def _read_holder(fd: int) -> str:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return _holder_text(str(data["host"]), int(data["pid"]), str(data["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown (the lease file names none)"
