"""Errors the journal raises; the hierarchy, once::

StoreError (Exception)
 +-- StoreUnavailable    the database cannot be used right now: down, unreachable, disk full,
 |    |                  locked past the busy timeout. An *environment* fault: wait, retry
 |    +-- LeaseLost      this process no longer holds the journal's lease: it must not write
 +-- LeaseHeld           another engine holds the journal's lease: refuse to start
 +-- SchemaTooNew        the database was migrated by a newer copytrader: refuse to start
 +-- IllegalTransition   a state change the table in ``store.states`` forbids
 +-- StaleState          optimistic check failed: the intent moved on since it was read
 +-- IntentNotFound      (also a LookupError) no intent with that id
SecretInPayload (ValueError)  an audit payload carries something that looks like a secret
"""

from __future__ import annotations

import errno
import sqlite3

from sqlalchemy import exc as sa_exc

from store.states import IntentState


class StoreError(Exception):
    """Base of every journal error (database driver errors pass through unchanged)."""


class StoreUnavailable(StoreError):
    """The database cannot be used now; nothing of the failed call was committed (or, for a
    lost COMMIT, maybe it was: every caller already treats that as "may have happened").

    ``Journal`` raises it from the driver error (``__cause__``) that :func:`unavailable_reason`
    classifies, so the layers above need to know one type, not two drivers' error codes.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class LeaseLost(StoreUnavailable):
    """The journal's lease (``store.lease``) was lost: every read and write is refused until
    it is taken again (another engine may hold it by then)."""


class LeaseHeld(StoreError):
    """Another engine holds the journal's lease; ``holder`` names it (host, pid, since)."""

    def __init__(self, url: str, holder: str) -> None:
        self.url = url
        self.holder = holder
        super().__init__(
            f"journal {url} is in use by another copytrader engine ({holder}): one engine per "
            "journal -- stop that one first"
        )


#: SQLite primary result codes that mean "the database file cannot be used now", not a bug:
#: BUSY (locked past the busy timeout), LOCKED, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL.
_SQLITE_UNAVAILABLE = {5: "locked", 6: "locked", 8: "read-only", 10: "I/O error", 13: "full",
                       14: "cannot open", 15: "locking protocol"}  # fmt: skip
_OS_UNAVAILABLE = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS}


def unavailable_reason(exc: BaseException) -> str | None:
    """A one-line reason when ``exc`` means the database is unavailable, else None.

    The one place that tells an outage (a PostgreSQL connection refused or closed, a disk
    that is full, a SQLite file locked past the busy timeout) from an error of the code (bad
    SQL, a constraint): the first is an environment fault to wait out, the second a bug.
    """
    if isinstance(exc, StoreUnavailable):
        return exc.reason
    if isinstance(exc, StoreError):  # e.g. a group commit that failed for all its writers
        return unavailable_reason(exc.__cause__) if exc.__cause__ is not None else None
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return f"connection lost: {_first_line(exc.orig)}"
        return unavailable_reason(exc.orig) if exc.orig is not None else None
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return f"no connection: {_first_line(exc)}"
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _SQLITE_UNAVAILABLE:
            return f"SQLite {_first_line(exc)}"
        return None
    if isinstance(exc, OSError) and exc.errno in _OS_UNAVAILABLE:
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return _psycopg_reason(exc)


def _psycopg_reason(exc: BaseException) -> str | None:
    try:
        import psycopg
    except ImportError:  # the PostgreSQL extra is not installed: no psycopg error exists
        return None
    if isinstance(exc, psycopg.OperationalError):
        # connection refused / closed / terminated, server starting or shutting down, disk
        # full (class 53), too many connections: all OperationalError in psycopg 3
        return f"PostgreSQL {_first_line(exc)}"
    if isinstance(exc, psycopg.InterfaceError) and "closed" in str(exc):
        return f"PostgreSQL {_first_line(exc)}"
    return None


def _first_line(exc: BaseException | None) -> str:
    text = str(exc).strip().splitlines() if exc is not None else []
    return text[0] if text else type(exc).__name__


class SchemaTooNew(StoreError):
    """The database schema revision is unknown to this code (written by a newer version)."""

    def __init__(self, db_revision: str, code_head: str, url: str) -> None:
        self.db_revision = db_revision
        self.code_head = code_head
        super().__init__(
            f"database {url} has schema revision {db_revision!r}, which this copytrader does not "
            f"know (its newest is {code_head!r}): it was written by a newer version. Refusing to "
            "start; run the newer copytrader, or restore a backup made for this version."
        )


class IllegalTransition(StoreError):
    """``from_state -> to_state`` is not in ``store.states.TRANSITIONS``."""

    def __init__(self, intent_id: int, from_state: IntentState, to_state: IntentState) -> None:
        self.intent_id = intent_id
        self.from_state = from_state
        self.to_state = to_state
        super().__init__(f"intent {intent_id}: illegal transition {from_state} -> {to_state}")


class StaleState(StoreError):
    """The caller expected the intent in ``expected`` but it is in ``actual``."""

    def __init__(self, intent_id: int, expected: IntentState, actual: IntentState) -> None:
        self.intent_id = intent_id
        self.expected = expected
        self.actual = actual
        super().__init__(f"intent {intent_id}: expected state {expected}, found {actual}")


class StaleVersion(StaleState):
    """The caller decided on the intent's ``expected`` desired version; it is ``actual`` now
    (the leader feed planned it again meanwhile). A ``StaleState``: read it again."""

    def __init__(self, intent_id: int, state: IntentState, expected: int, actual: int) -> None:
        super().__init__(intent_id, state, state)
        self.expected_version = expected
        self.actual_version = actual
        StoreError.__init__(
            self, f"intent {intent_id}: decided on desired version {expected}, found {actual}"
        )


class IntentNotFound(StoreError, LookupError):
    """No follower intent has this id."""

    def __init__(self, intent_id: int) -> None:
        self.intent_id = intent_id
        super().__init__(f"no intent with id {intent_id}")


class SecretInPayload(ValueError):
    """An audit payload has a key (or value) that looks like a credential; nothing was written.

    The message names the offending key path, never the value.
    """
