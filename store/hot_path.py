"""The journal's two per-order hot operations: record a leader event, move a follower intent.

They run on every leader event and before every broker call, so they execute SQL compiled once
from the models (SQLAlchemy Core, per dialect) directly on the driver, in few round trips.
Recording: dedupe gate, snapshot upsert, one read of the order's intents, bulk insert / update
of the intents, bulk audit rows. Transition: read (locked), validate, update, audit row.
``Journal`` owns the transactions; on PostgreSQL an advisory lock per leader order serialises
writers of one order's intents, so the read-diff-write is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from store.engine import dumps_json
from store.errors import IllegalTransition, IntentNotFound, StaleState
from store.locks import LOCK_AUDIT, LOCK_LEADER_ORDER, lock_key
from store.models import AuditEntry, FollowerIntent, LeaderEvent, LeaderOrder
from store.records import (
    DESIRED_ORDER_FIELDS,
    DesiredIntent,
    Intent,
    LeaderOrderSnapshot,
    normalise_leg,
)
from store.redaction import redact_secrets
from store.rows import desired_params, intent_from_row, new_intent_params, snapshot_params
from store.statements import build_statements
from store.states import NEEDS_BROKER_ORDER_ID, TERMINAL_STATES, IntentState, is_legal

_ACTOR = "journal"
_EVENT_KEYS = (
    "dedupe_key",
    "leader_order_id",
    "leg_name",
    "source",
    "status",
    "filled_qty",
    "seq",
    "applied",
    "received_at",
)
_AUDIT_KEYS = ("at", "kind", "actor", "account", "payload")
_INTENT_READ = (
    "id",
    "follower",
    "leg",
    "state",
    "state_reason",
    "desired_version",
    *DESIRED_ORDER_FIELDS,
)
#: Columns a transition writes (unchanged ones are written back as read, under the lock).
_TRANSITION_COLUMNS = (
    "state",
    "updated_at",
    "attempts",
    "broker_order_id",
    "applied_version",
    "error_code",
    "error_message",
    "broker_status",
    "filled_qty",
    "state_reason",
)
_INTENT_UPDATE = (*DESIRED_ORDER_FIELDS, "desired_version", "state", "state_reason", "updated_at")


@dataclass(frozen=True, slots=True)
class Executed:
    """What a driver statement did: rows affected, and the rows it returned (as dicts)."""

    rowcount: int
    rows: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class DriverSql:
    """One statement compiled for a dialect: its text and the constants it binds."""

    text: str
    constants: dict[str, Any] = field(default_factory=dict)

    def params(self, values: dict[str, Any]) -> dict[str, Any]:
        return {**self.constants, **values} if self.constants else values


def compile_for(stmt: Any, dialect: Dialect, keys: Sequence[str] | None = None) -> DriverSql:
    """Compile ``stmt`` to driver SQL with named parameters (``keys``: the columns bound)."""
    columns = set(keys or ())
    compiled = stmt.compile(dialect=dialect, column_keys=list(keys) if keys else None)
    # Parameters without a value are the caller's; the others are literals of the statement.
    constants = {k: v for k, v in compiled.params.items() if k not in columns and v is not None}
    return DriverSql(str(compiled), constants)


class HotPath:
    """Compiled statements + the two hot algorithms for one dialect (sqlite / postgresql)."""

    def __init__(self, dialect: Dialect) -> None:
        self.postgres = dialect.name == "postgresql"
        self._dbapi_error: type[Exception] = dialect.loaded_dbapi.Error
        if not self.postgres:
            # Named parameters, so the same dicts serve sqlite3 and psycopg.
            dialect = type(dialect)(paramstyle="named")  # type: ignore[call-arg]  # SQLite dialects take it
        sql = build_statements(dialect.name)
        snapshot_keys = [c.name for c in LeaderOrder.__table__.c]
        self.insert_event = compile_for(sql.insert_event.inline(), dialect, _EVENT_KEYS)
        self.upsert_snapshot = compile_for(sql.upsert_snapshot, dialect, snapshot_keys)
        read = select(*(FollowerIntent.__table__.c[k] for k in _INTENT_READ)).where(
            FollowerIntent.leader_order_id == bindparam("leader_order_id")
        )
        if self.postgres:
            read = read.with_for_update()
        self.read_intents = compile_for(read, dialect)
        self.read_intent_ids = compile_for(
            select(FollowerIntent.id, FollowerIntent.follower, FollowerIntent.leg).where(
                FollowerIntent.leader_order_id == bindparam("leader_order_id")
            ),
            dialect,
        )
        intent_keys = [c.name for c in FollowerIntent.__table__.c if c.name != "id"]
        self.insert_intent = compile_for(insert(FollowerIntent).inline(), dialect, intent_keys)
        self.update_intent = compile_for(
            update(FollowerIntent).where(FollowerIntent.id == bindparam("intent_id")),
            dialect,
            _INTENT_UPDATE,
        )
        self.insert_audit = compile_for(insert(AuditEntry).inline(), dialect, _AUDIT_KEYS)
        read_one = select(*FollowerIntent.__table__.c).where(
            FollowerIntent.id == bindparam("intent_id")
        )
        if self.postgres:
            read_one = read_one.with_for_update()
        self.read_intent = compile_for(read_one, dialect)
        self.update_state = compile_for(
            update(FollowerIntent).where(FollowerIntent.id == bindparam("intent_id")),
            dialect,
            _TRANSITION_COLUMNS,
        )
        self.mark_stale = compile_for(
            update(LeaderEvent).where(LeaderEvent.dedupe_key == bindparam("key")),
            dialect,
            ["applied"],
        )
        self.lock = compile_for(
            select(func.pg_advisory_xact_lock(bindparam("ns"), bindparam("key"))), dialect
        )

    # Values the drivers cannot take as they are.
    def ts(self, value: datetime) -> Any:
        if self.postgres:
            return value
        # SQLAlchemy's SQLite DATETIME text format (naive UTC), so reads parse it back.
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def run(self, conn: Connection, sql: DriverSql, params: Any) -> Executed:
        """Execute on the driver connection inside ``conn``'s transaction.

        Skips SQLAlchemy's per-statement machinery (about 20 us a call, several calls per
        event); driver errors are re-raised as SQLAlchemy's (``IntegrityError``...).
        """
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]  # open in a transaction
        try:
            if isinstance(params, list):
                cursor.executemany(sql.text, [sql.params(p) for p in params])
            else:
                cursor.execute(sql.text, sql.params(params))
            rows: list[dict[str, Any]] = []
            if cursor.description is not None:
                names = [d[0] for d in cursor.description]
                rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
            return Executed(cursor.rowcount, rows)
        except self._dbapi_error as exc:
            raise DBAPIError.instance(sql.text, params, exc, self._dbapi_error) from exc
        finally:
            cursor.close()

    def audit_lock(self, conn: Connection) -> None:
        """PostgreSQL: take the audit lock (always last in a transaction; see ``Journal``)."""
        if self.postgres:
            self.run(conn, self.lock, {"ns": LOCK_AUDIT, "key": 0})

    def record(
        self,
        conn: Connection,
        snap: LeaderOrderSnapshot,
        intents: Sequence[DesiredIntent],
        now: datetime,
        claim_for: frozenset[str] = frozenset(),
        claimed_out: list[Intent] | None = None,
        touched_out: set[str] | None = None,
    ) -> bool:
        """The body of ``Journal.record_leader_snapshot``, inside the caller's transaction."""
        ts = self.ts(now)
        leg = normalise_leg(snap.leg_name)
        if self.postgres:
            key = lock_key(snap.leader_order_id)
            self.run(conn, self.lock, {"ns": LOCK_LEADER_ORDER, "key": key})
        event = {
            "dedupe_key": snap.dedupe_key,
            "leader_order_id": snap.leader_order_id,
            "leg_name": leg,
            "source": str(snap.source),
            "status": str(snap.status),
            "filled_qty": snap.filled_qty,
            "seq": snap.seq,
            "applied": True,
            "received_at": ts,
        }
        if self.run(conn, self.insert_event, event).rowcount == 0:
            return False  # a duplicated frame: the unique dedupe key already exists
        params = snapshot_params(snap, redact_secrets(snap.raw), now)
        params["raw"] = dumps_json(params["raw"])
        params["recorded_at"] = ts
        applied = self.run(conn, self.upsert_snapshot, params).rowcount > 0
        audit = [
            self._audit(
                ts,
                "leader_snapshot",
                None,
                {
                    "leader_order_id": snap.leader_order_id,
                    "leg": leg,
                    "status": str(snap.status),
                    "filled_qty": snap.filled_qty,
                    "quantity": snap.quantity,
                    "price": snap.price,
                    "source": str(snap.source),
                    "dedupe_key": snap.dedupe_key,
                    "seq": snap.seq,
                    "applied": applied,
                },
            )
        ]
        if not applied:
            # Older than what we know: its intents were derived from stale data; skip them.
            self.run(conn, self.mark_stale, {"key": snap.dedupe_key, "applied": False})
        elif intents:
            audit += self._write_intents(
                conn, snap, intents, now, ts, claim_for, claimed_out, touched_out
            )
        self.audit_lock(conn)
        self.run(conn, self.insert_audit, audit)
        return True

    def _write_intents(
        self,
        conn: Connection,
        snap: LeaderOrderSnapshot,
        intents: Sequence[DesiredIntent],
        now: datetime,
        ts: Any,
        claim_for: frozenset[str] = frozenset(),
        claimed_out: list[Intent] | None = None,
        touched_out: set[str] | None = None,
    ) -> list[dict[str, Any]]:
        existing: dict[tuple[str, str, str], dict[str, Any]] = {}
        for order_id in {i.leader_order_id for i in intents}:
            found = self.run(conn, self.read_intents, {"leader_order_id": order_id})
            for stored in found.rows:
                existing[(order_id, stored["follower"], stored["leg"])] = stored
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        audit: list[dict[str, Any]] = []
        for intent in intents:
            row = existing.get((intent.leader_order_id, intent.follower, normalise_leg(intent.leg)))
            if row is None:
                new = new_intent_params(intent, now)
                new["created_at"] = new["updated_at"] = ts
                kind = "intent_planned"
                if (
                    intent.follower in claim_for
                    and intent.skip_reason is None
                    and intent.desired_open
                    and intent.quantity > 0
                ):
                    # Claimed for sending in the transaction that creates it: the follower's
                    # place needs no write of its own first (one fsync for the whole fan-out).
                    new["state"] = IntentState.SENDING.value
                    new["attempts"] = 1
                    new["state_reason"] = "claimed for sending with its leader event"
                    kind = "intent_claimed"
                inserts.append(new)
                version, state = 1, new["state"]
            else:
                wanted = desired_params(intent)
                if IntentState(row["state"]) in TERMINAL_STATES or _same(row, wanted):
                    continue
                state, reason = row["state"], row["state_reason"]
                if state == IntentState.PLANNED and intent.skip_reason is not None:
                    state, reason = IntentState.SKIPPED.value, intent.skip_reason
                version = row["desired_version"] + 1
                updates.append(
                    {
                        **wanted,
                        "intent_id": row["id"],
                        "desired_version": version,
                        "state": state,
                        "state_reason": reason,
                        "updated_at": ts,
                    }
                )
                kind = "intent_updated"
            payload = {
                "correlation_id": intent.correlation_id,
                "leader_order_id": intent.leader_order_id,
                "leg": normalise_leg(intent.leg),
                "state": state,
                "desired_version": version,
                "event": snap.dedupe_key,
            }
            audit.append(self._audit(ts, kind, intent.follower, payload))
            if touched_out is not None:
                touched_out.add(intent.follower)
        if inserts:
            self.run(conn, self.insert_intent, inserts)
            claimed = [r for r in inserts if r["state"] == IntentState.SENDING.value]
            if claimed and claimed_out is not None:
                self._claimed_intents(conn, snap.leader_order_id, claimed, now, claimed_out)
        if updates:
            self.run(conn, self.update_intent, updates)
        return audit

    def _claimed_intents(
        self,
        conn: Connection,
        leader_order_id: str,
        claimed: list[dict[str, Any]],
        now: datetime,
        out: list[Intent],
    ) -> None:
        """The just-inserted claimed rows as ``Intent`` records (their ids read back)."""
        found = self.run(conn, self.read_intent_ids, {"leader_order_id": leader_order_id})
        ids = {(r["follower"], r["leg"]): r["id"] for r in found.rows}
        for row in claimed:
            full = {**row, "id": ids[(row["follower"], row["leg"])]}
            full["created_at"] = full["updated_at"] = now
            out.append(intent_from_row(full))

    def transition(
        self,
        conn: Connection,
        intent_id: int,
        to: IntentState,
        expect_from: IntentState | None,
        changes: dict[str, Any],
        now: datetime,
    ) -> Intent:
        """The body of ``Journal.transition`` (see there), inside the caller's transaction.

        ``changes``: the non-None keyword arguments, as column values.
        """
        found = self.run(conn, self.read_intent, {"intent_id": intent_id}).rows
        if not found:
            raise IntentNotFound(intent_id)
        row = found[0]
        current = IntentState(row["state"])
        if expect_from is not None and current != IntentState(expect_from):
            raise StaleState(intent_id, IntentState(expect_from), current)
        if not is_legal(current, to):
            raise IllegalTransition(intent_id, current, to)
        applied = changes.get("applied_version")
        desired_version = row["desired_version"]
        if applied is not None and not 0 <= applied <= desired_version:
            raise ValueError(
                f"intent {intent_id}: applied_version {applied} outside 0..{desired_version}"
            )
        if (
            to in NEEDS_BROKER_ORDER_ID
            and changes.get("broker_order_id", row["broker_order_id"]) is None
        ):
            raise ValueError(f"intent {intent_id}: {to} needs the broker order id")
        ts = self.ts(now)
        values = {name: row[name] for name in _TRANSITION_COLUMNS}
        values |= changes
        values |= {"state": to.value, "updated_at": ts}
        if to is IntentState.SENDING:
            values["attempts"] = row["attempts"] + 1
        self.run(conn, self.update_state, {**values, "intent_id": intent_id})
        payload = {
            "intent_id": intent_id,
            "correlation_id": row["correlation_id"],
            "leader_order_id": row["leader_order_id"],
            "from": current.value,
            "to": to.value,
            **changes,
        }
        self.audit_lock(conn)
        self.run(
            conn,
            self.insert_audit,
            [self._audit(ts, "intent_transition", row["follower"], payload)],
        )
        return intent_from_row({**row, **values, "updated_at": now})

    def _audit(
        self, ts: Any, kind: str, account: str | None, payload: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "at": ts,
            "kind": kind,
            "actor": _ACTOR,
            "account": account,
            "payload": dumps_json(payload),
        }


def _same(row: dict[str, Any], wanted: dict[str, Any]) -> bool:
    for name, value in wanted.items():
        stored = row[name]
        if name == "desired_open":
            stored = bool(stored)  # SQLite hands booleans back as 0/1
        if stored != value:
            return False
    return True
