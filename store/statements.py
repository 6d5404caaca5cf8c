"""The journal's statements whose conflict rules are the invariants, built once per dialect.

Each is a dialect-specific ``INSERT ... ON CONFLICT`` (SQLite or PostgreSQL): the dedupe and
uniqueness decisions are made by the database, never by a Python read-then-write, so two
writers cannot both win. Built once per ``Journal``; the hot path compiles them further to
driver SQL (``store.hot_path``, ``store.writes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Insert, and_, cast, insert, not_, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from store.models import (
    AccountMark,
    AuditEntry,
    BracketOrderLeg,
    FollowerFlagRow,
    FollowerIntent,
    LeaderEvent,
    LeaderOrder,
    OperatorModeRow,
)

_SNAPSHOT_KEY = ("leader_order_id", "leg_name")


def dialect_insert(dialect: str, table: Any) -> Any:
    """``INSERT`` of ``table`` for ``dialect``, with its ``ON CONFLICT`` clauses."""
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect == "postgresql":
        return postgresql.insert(table)
    raise ValueError(f"unsupported dialect {dialect}")


@dataclass(frozen=True, slots=True)
class Statements:
    """Statements ``Journal`` executes (see each field)."""

    #: Dedupe gate: inserts the event, or does nothing (rowcount 0) if its key exists.
    insert_event: Insert
    #: Upsert of the latest snapshot; writes (rowcount 1) only over an older snapshot that is
    #: not terminal, or over an open one when this one is terminal.
    upsert_snapshot: Insert
    #: Insert of a new bracket leg (returns its id), or nothing (no row) if the leg exists.
    insert_leg: Insert
    insert_audit: Insert
    #: Upsert of an account mark.
    upsert_mark: Insert
    #: Upsert of an account mark that only ever raises its (integer) value: the audit cursor.
    raise_mark: Insert
    #: Upsert of a follower's flags.
    upsert_flag: Insert
    #: Upsert of a follower's operator mode.
    upsert_mode: Insert


def build_statements(dialect: str) -> Statements:
    """Build the statements for ``dialect`` (``"sqlite"`` or ``"postgresql"``)."""
    return Statements(
        insert_event=dialect_insert(dialect, LeaderEvent).on_conflict_do_nothing(
            index_elements=["dedupe_key"]
        ),
        upsert_snapshot=_snapshot_upsert(dialect),
        insert_leg=dialect_insert(dialect, BracketOrderLeg)
        .on_conflict_do_nothing(index_elements=["intent_id", "leg_name"])
        .returning(BracketOrderLeg.id),
        insert_audit=insert(AuditEntry),
        upsert_mark=_mark_upsert(dialect, only_raise=False),
        raise_mark=_mark_upsert(dialect, only_raise=True),
        upsert_flag=_flag_upsert(dialect),
        upsert_mode=_mode_upsert(dialect),
    )


def _snapshot_upsert(dialect: str) -> Insert:
    stmt = dialect_insert(dialect, LeaderOrder)
    new, old = stmt.excluded, LeaderOrder.__table__.c
    both_stamped = and_(new.broker_updated_at != "", old.broker_updated_at != "")
    # The broker's own update time orders snapshots from different sources (a REST reconcile
    # answer can arrive after a newer socket frame); our receive seq breaks ties and covers
    # snapshots without a time.
    newer = or_(
        and_(both_stamped, new.broker_updated_at > old.broker_updated_at),
        and_(
            or_(not_(both_stamped), new.broker_updated_at == old.broker_updated_at),
            new.seq > old.seq,
        ),
    )
    # Terminal wins: a finished order never reopens; an open one is replaced by a finish
    # whatever its age.
    replace = or_(
        and_(new.is_terminal, not_(old.is_terminal)),
        and_(new.is_terminal == old.is_terminal, newer),
    )
    columns = [c.name for c in LeaderOrder.__table__.c if c.name not in _SNAPSHOT_KEY]
    return stmt.on_conflict_do_update(
        index_elements=list(_SNAPSHOT_KEY),
        set_={name: new[name] for name in columns},
        where=replace,
    )


def _mark_upsert(dialect: str, *, only_raise: bool) -> Insert:
    stmt = dialect_insert(dialect, AccountMark)
    new, old = stmt.excluded, AccountMark.__table__.c
    where = None
    if only_raise:
        where = cast(old.value, BigInteger) < cast(new.value, BigInteger)
    return stmt.on_conflict_do_update(
        index_elements=["account", "name"],
        set_={"value": new.value, "updated_at": new.updated_at},
        where=where,
    )


def _flag_upsert(dialect: str) -> Insert:
    stmt = dialect_insert(dialect, FollowerFlagRow)
    new = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=["follower"],
        set_={name: new[name] for name in ("quarantined", "reason", "updated_at")},
    )


def _mode_upsert(dialect: str) -> Insert:
    stmt = dialect_insert(dialect, OperatorModeRow)
    new = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=["follower"],
        set_={name: new[name] for name in ("mode", "set_by", "reason", "set_at")},
    )


def select_intents() -> Any:
    """``SELECT * FROM follower_intents`` (callers add WHERE / ORDER BY)."""
    return select(*FollowerIntent.__table__.c)
