"""The journal's compiled-once SQL: dialect-specific upserts whose conflicts keep the invariants.

Each statement is built once per ``Journal`` for its dialect (SQLite or PostgreSQL), so the
hot path pays no construction cost and SQLAlchemy's compiled cache always hits. The dedupe and
uniqueness decisions are made by ``INSERT ... ON CONFLICT`` in the database, never by a Python
read-then-write, so two writers cannot both win.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Insert,
    and_,
    case,
    cast,
    insert,
    literal,
    literal_column,
    not_,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from store.models import (
    AccountMark,
    AuditEntry,
    BracketOrderLeg,
    FollowerFlagRow,
    FollowerIntent,
    LeaderEvent,
    LeaderOrder,
)
from store.records import DESIRED_ORDER_FIELDS
from store.states import TERMINAL_STATES, IntentState

_TERMINAL = sorted(s.value for s in TERMINAL_STATES)
_SNAPSHOT_KEY = ("leader_order_id", "leg_name")
_INTENT_KEY = ("follower", "leader_order_id", "leg")


def _dialect_insert(dialect: str, table: Any) -> Any:
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect == "postgresql":
        return postgresql.insert(table)
    raise ValueError(f"unsupported dialect {dialect}")


@dataclass(frozen=True, slots=True)
class Statements:
    """The statements ``Journal`` executes on its hot paths."""

    #: Dedupe gate: inserts the event (returns its id), or does nothing (no row) if its key exists.
    #: (Explicit RETURNING, not rowcount: psycopg reports -1 under SQLAlchemy's implicit one.)
    insert_event: Insert
    #: Upsert of the latest snapshot that only overwrites an older, non-terminal one; returns a
    #: row when it wrote.
    upsert_snapshot: Insert
    #: Upsert of follower intents: new -> PLANNED/SKIPPED; changed desired fields -> bump
    #: ``desired_version`` (terminal intents are never touched). Returns changed rows only.
    upsert_intents: Any
    #: Insert of a new bracket leg (returns its id), or nothing (no row) if the leg exists.
    insert_leg: Insert
    insert_audit: Insert
    #: Upsert of an account mark.
    upsert_mark: Insert
    #: Upsert of an account mark that only ever raises its (integer) value: the audit cursor.
    raise_mark: Insert
    #: Upsert of a follower's flags.
    upsert_flag: Insert


def build_statements(dialect: str) -> Statements:
    """Build every hot-path statement for ``dialect`` (``"sqlite"`` or ``"postgresql"``)."""
    return Statements(
        insert_event=_dialect_insert(dialect, LeaderEvent)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(LeaderEvent.id),
        upsert_snapshot=_snapshot_upsert(dialect),
        upsert_intents=_intent_upsert(dialect),
        insert_leg=_dialect_insert(dialect, BracketOrderLeg)
        .on_conflict_do_nothing(index_elements=["intent_id", "leg_name"])
        .returning(BracketOrderLeg.id),
        insert_audit=insert(AuditEntry),
        upsert_mark=_mark_upsert(dialect, only_raise=False),
        raise_mark=_mark_upsert(dialect, only_raise=True),
        upsert_flag=_dialect_insert(dialect, FollowerFlagRow).on_conflict_do_update(
            index_elements=["follower"],
            set_={
                name: getattr(_dialect_insert(dialect, FollowerFlagRow).excluded, name)
                for name in ("quarantined", "reason", "updated_at")
            },
        ),
    )


def _mark_upsert(dialect: str, *, only_raise: bool) -> Insert:
    stmt = _dialect_insert(dialect, AccountMark)
    new, old = stmt.excluded, AccountMark.__table__.c
    where = None
    if only_raise:
        where = cast(old.value, BigInteger) < cast(new.value, BigInteger)
    return stmt.on_conflict_do_update(
        index_elements=["account", "name"],
        set_={"value": new.value, "updated_at": new.updated_at},
        where=where,
    )


def _snapshot_upsert(dialect: str) -> Insert:
    stmt = _dialect_insert(dialect, LeaderOrder)
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
    ).returning(old.seq)


def _intent_upsert(dialect: str) -> Any:
    stmt = _dialect_insert(dialect, FollowerIntent)
    new, old = stmt.excluded, FollowerIntent.__table__.c
    changed = or_(*(old[name].is_distinct_from(new[name]) for name in DESIRED_ORDER_FIELDS))
    skip_now = and_(old.state == IntentState.PLANNED.value, new.skip_reason.is_not(None))
    set_: dict[str, Any] = {name: new[name] for name in DESIRED_ORDER_FIELDS}
    set_ |= {
        "desired_version": old.desired_version + 1,
        "updated_at": new.updated_at,
        # A PLANNED copy the policy now skips is SKIPPED at once: it was never sent.
        "state": case((skip_now, literal(IntentState.SKIPPED.value)), else_=old.state),
        "state_reason": case((skip_now, new.skip_reason), else_=old.state_reason),
    }
    return stmt.on_conflict_do_update(
        index_elements=list(_INTENT_KEY),
        set_=set_,
        # Inline constants, not an expanding IN: executemany cannot expand parameters.
        where=and_(old.state.not_in([literal_column(f"'{v}'") for v in _TERMINAL]), changed),
    ).returning(old.id, old.follower, old.correlation_id, old.state, old.desired_version)


def select_intents() -> Any:
    """``SELECT * FROM follower_intents`` (callers add WHERE / ORDER BY)."""
    return select(*FollowerIntent.__table__.c)
