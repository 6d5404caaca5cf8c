"""The journal: the one repository API the actors use; the durable inbox of the engine.

Everything that must survive a crash is committed here before anyone is told: the leader
feed records each leader event together with the follower intents derived from it (one
transaction), a follower marks an intent SENDING (committed) before its HTTP request goes out.
Every method is thread-safe and runs one short transaction on a pooled connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, update

from dhan.codes import TERMINAL_STATUSES, LegName, OrderStatus
from store.checkpointer import WalCheckpointer
from store.engine import WRITE_OPTION, make_engine
from store.errors import IntentNotFound, StoreError
from store.group_commit import GroupCommitter
from store.hot_path import HotPath
from store.models import (
    AccountMark,
    ActorRestartRow,
    AuditEntry,
    BracketOrderLeg,
    FollowerFlagRow,
    FollowerIntent,
    LeaderOrder,
)
from store.records import (
    ActorRestart,
    AuditRecord,
    BracketLeg,
    DesiredIntent,
    FollowerFlag,
    Intent,
    LeaderOrderSnapshot,
    normalise_leg,
)
from store.redaction import check_no_secrets
from store.rows import (
    audit_from_row,
    flag_from_row,
    intent_from_row,
    leg_from_row,
    restart_from_row,
    snapshot_from_row,
)
from store.schema import ensure_schema
from store.statements import build_statements, select_intents
from store.states import IN_FLIGHT_STATES, NEEDS_BROKER_ORDER_ID, TERMINAL_STATES, IntentState

_INTENTS = FollowerIntent.__table__.c
_LEGS = BracketOrderLeg.__table__.c
_SNAPS = LeaderOrder.__table__.c
_AUDIT = AuditEntry.__table__.c
_MARKS = AccountMark.__table__.c
_TERMINAL = sorted(s.value for s in TERMINAL_STATES)
_TERMINAL_STATUS = sorted(s.value for s in TERMINAL_STATUSES)
#: The journal's own marks (not an account): the audit drain cursor lives here.
JOURNAL_ACCOUNT = "_journal"
AUDIT_DRAINED_MARK = "audit_drained_id"
_ACTOR = "journal"


def _now() -> datetime:
    return datetime.now(UTC)


class Journal:
    """The durable journal (SQLite WAL by default, PostgreSQL by URL). Create with ``open``."""

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine made by ``store.engine.make_engine``; prefer ``Journal.open``."""
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._dialect = engine.dialect.name
        self._sql = build_statements(self._dialect)
        self._hot = HotPath(engine.dialect)
        self._closed = False
        #: SQLite: concurrent writers share one commit (one fsync); see store.group_commit
        self._group = GroupCommitter(self._writer) if self._dialect == "sqlite" else None
        self._checkpointer: WalCheckpointer | None = None
        if self._dialect == "sqlite" and engine.url.database:
            self._checkpointer = WalCheckpointer(engine.url.database)
            self._checkpointer.start()

    # --- lifecycle ------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str = "sqlite:///copytrader.db",
        *,
        sqlite_synchronous: str = "FULL",
        busy_timeout_ms: int = 10_000,
        pool_size: int = 8,
    ) -> Journal:
        """Open the journal at ``url``, creating or upgrading its schema (alembic).

        Raises ``SchemaTooNew`` when the database was written by a newer copytrader.
        ``sqlite_synchronous`` exists for benchmarks; keep the FULL default in production.
        """
        engine = make_engine(
            url,
            sqlite_synchronous=sqlite_synchronous,
            busy_timeout_ms=busy_timeout_ms,
            pool_size=pool_size,
        )
        try:
            ensure_schema(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        """Close every pooled connection. The journal cannot be used afterwards."""
        self._closed = True
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self._engine.dispose()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._dialect

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return self._engine.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"Journal({self.url!r})"

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        # SQLite: BEGIN IMMEDIATE (see store.engine); committed on a clean exit.
        if self._closed:
            raise StoreError("the journal is closed")
        if self._group is not None:
            with self._group.transaction() as conn:
                yield conn
            return
        with self._writer.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        if self._closed:
            raise StoreError("the journal is closed")
        with self._engine.connect() as conn:
            yield conn

    def _append_audit_rows(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        # Always the last statement of a write transaction: on PostgreSQL the advisory lock is
        # held to commit, so audit ids are allocated in commit order (nothing waits while
        # holding it, hence no deadlock).
        if not rows:
            return
        self._hot.audit_lock(conn)
        conn.execute(self._sql.insert_audit, rows)

    # --- leader side ----------------------------------------------------------------------

    def record_leader_snapshot(
        self,
        snap: LeaderOrderSnapshot,
        intents: Sequence[DesiredIntent],
        *,
        claim_for: Iterable[str] = (),
    ) -> bool:
        """Journal one leader event and the follower intents derived from it, atomically.

        Returns False, changing nothing, when ``snap.dedupe_key`` was recorded before (a
        duplicated frame; the database's unique key decides, so concurrent writers of one
        event produce one row). Otherwise records the event and returns True; the latest
        snapshot of ``(leader_order_id, leg_name)`` is replaced only if this one is newer
        (broker update time, then ``seq``) or terminal where the stored one is open; an open
        snapshot never replaces a terminal one. When the snapshot is stale its intents are
        ignored too (they were derived from old data). Otherwise each intent is inserted
        (PLANNED, or SKIPPED when ``skip_reason`` is set) or, if its desired fields changed
        and it is not terminal, updated with ``desired_version`` bumped (a PLANNED intent
        that is now skipped becomes SKIPPED). Every change is audited in the same commit.

        ``claim_for``: followers whose *new*, sendable intents are inserted already SENDING
        (claimed) instead of PLANNED. SENDING means "may have been sent": a follower that
        restarts looks such an intent up by correlationId before sending it, so a claim is
        safe even if nobody acts on it; it saves the follower a commit before each place.
        """
        with self._write() as conn:
            return self._hot.record(conn, snap, intents, _now(), frozenset(claim_for))

    def record_and_claim(
        self,
        snap: LeaderOrderSnapshot,
        intents: Sequence[DesiredIntent],
        claim_for: Iterable[str],
        touched_out: set[str] | None = None,
    ) -> list[Intent] | None:
        """``record_leader_snapshot`` with ``claim_for``, returning the intents it claimed.

        None for a duplicated frame. The claimed intents (SENDING, read back with their ids in
        the same transaction) let the leader feed hand each follower its work in the hint, so
        the follower's hot path starts without a read. ``touched_out`` receives the followers
        whose intents were inserted or changed (only they have work from this event).
        """
        claimed: list[Intent] = []
        with self._write() as conn:
            new = self._hot.record(
                conn, snap, intents, _now(), frozenset(claim_for), claimed, touched_out
            )
        return claimed if new else None

    def leader_snapshot(
        self, leader_order_id: str, leg_name: str | None = None
    ) -> LeaderOrderSnapshot | None:
        """The latest snapshot of a leader order, or None if never seen.

        ``leg_name`` None: the plain order, else its ENTRY_LEG. Otherwise that exact leg.
        """
        legs = ["", LegName.ENTRY_LEG.value] if leg_name is None else [normalise_leg(leg_name)]
        stmt = select(*_SNAPS).where(
            _SNAPS.leader_order_id == leader_order_id, _SNAPS.leg_name.in_(legs)
        )
        with self._read() as conn:
            rows = {row.leg_name: row for row in conn.execute(stmt)}
        for leg in legs:
            if leg in rows:
                return snapshot_from_row(rows[leg]._mapping)
        return None

    def leader_snapshots(
        self, open_only: bool = False, *, leader_order_id: str | None = None
    ) -> list[LeaderOrderSnapshot]:
        """Latest snapshots of every leader order and leg (only open ones if ``open_only``)."""
        stmt = select(*_SNAPS).order_by(_SNAPS.leader_order_id, _SNAPS.leg_name)
        if open_only:
            stmt = stmt.where(_SNAPS.is_terminal.is_(False))
        if leader_order_id is not None:
            stmt = stmt.where(_SNAPS.leader_order_id == leader_order_id)
        with self._read() as conn:
            return [snapshot_from_row(row._mapping) for row in conn.execute(stmt)]

    def leader_legs(self, parent_order_id: str) -> list[LeaderOrderSnapshot]:
        """Latest snapshots of the exit legs (target, stop-loss) of the bracket or super order
        whose entry is ``parent_order_id``, by leg name.

        A BO/CO leg has its own order id, so this filters on ``parent_order_id`` (not indexed:
        a scan of today's leader orders inside the database, no rows shipped to Python).
        """
        exits = [LegName.TARGET_LEG.value, LegName.STOP_LOSS_LEG.value]
        stmt = (
            select(*_SNAPS)
            .where(_SNAPS.parent_order_id == parent_order_id, _SNAPS.leg_name.in_(exits))
            .order_by(_SNAPS.leg_name, _SNAPS.leader_order_id)
        )
        with self._read() as conn:
            return [snapshot_from_row(row._mapping) for row in conn.execute(stmt)]

    # --- follower side --------------------------------------------------------------------

    def intents_needing_action(
        self, follower: str, *, include_in_flight: bool = True
    ) -> list[Intent]:
        """The follower's intents that need work, oldest first.

        PLANNED and UNKNOWN; WORKING whose desired fields moved past the applied version; and,
        with ``include_in_flight`` (the default, for ``on_start``), SENDING / MODIFYING /
        CANCELLING: found at start they were in flight when the process died, so their
        outcome is unknown and must be looked up before any resend.
        """
        wanted = [IntentState.PLANNED.value, IntentState.UNKNOWN.value]
        if include_in_flight:
            wanted += [s.value for s in IN_FLIGHT_STATES]
        stmt = (
            select_intents()
            .where(
                _INTENTS.follower == follower,
                or_(
                    _INTENTS.state.in_(wanted),
                    and_(
                        _INTENTS.state == IntentState.WORKING.value,
                        _INTENTS.desired_version > _INTENTS.applied_version,
                    ),
                ),
            )
            .order_by(_INTENTS.id)
        )
        with self._read() as conn:
            return [intent_from_row(row._mapping) for row in conn.execute(stmt)]

    def intents(
        self,
        follower: str | None = None,
        states: Iterable[IntentState] | None = None,
        *,
        leader_order_id: str | None = None,
    ) -> list[Intent]:
        """Intents filtered by follower, states and leader order (all when None), by id."""
        stmt = select_intents().order_by(_INTENTS.id)
        if follower is not None:
            stmt = stmt.where(_INTENTS.follower == follower)
        if states is not None:
            stmt = stmt.where(_INTENTS.state.in_([IntentState(s).value for s in states]))
        if leader_order_id is not None:
            stmt = stmt.where(_INTENTS.leader_order_id == leader_order_id)
        with self._read() as conn:
            return [intent_from_row(row._mapping) for row in conn.execute(stmt)]

    def intent(self, intent_id: int) -> Intent:
        """The intent with this id; raises ``IntentNotFound``."""
        with self._read() as conn:
            row = conn.execute(select_intents().where(_INTENTS.id == intent_id)).one_or_none()
        if row is None:
            raise IntentNotFound(intent_id)
        return intent_from_row(row._mapping)

    def intent_by_correlation_id(self, correlation_id: str) -> Intent | None:
        """The intent whose copy carries ``correlation_id``, or None."""
        stmt = select_intents().where(_INTENTS.correlation_id == correlation_id)
        with self._read() as conn:
            row = conn.execute(stmt).one_or_none()
        return None if row is None else intent_from_row(row._mapping)

    def transition(
        self,
        intent_id: int,
        to: IntentState,
        *,
        expect_from: IntentState | None = None,
        broker_order_id: str | None = None,
        applied_version: int | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        broker_status: OrderStatus | None = None,
        filled_qty: int | None = None,
        reason: str | None = None,
    ) -> Intent:
        """Move an intent to ``to``, committed (and audited) before this returns.

        Raises ``IntentNotFound``; ``StaleState`` when ``expect_from`` is given and the intent
        is in another state; ``IllegalTransition`` when ``store.states`` forbids the move;
        ``ValueError`` when ``applied_version`` exceeds ``desired_version`` or when WORKING /
        MODIFYING / CANCELLING would be entered without a broker order id. ``None`` keyword
        arguments leave the stored value as is. Entering SENDING counts one attempt.
        On an ack, pass ``applied_version`` = the ``desired_version`` of the intent you sent.
        """
        changes: dict[str, Any] = {
            "broker_order_id": broker_order_id,
            "applied_version": applied_version,
            "error_code": None if error_code is None else str(error_code),
            "error_message": error_message,
            "broker_status": None if broker_status is None else str(broker_status),
            "filled_qty": filled_qty,
            "state_reason": reason,
        }
        changes = {k: v for k, v in changes.items() if v is not None}
        with self._write() as conn:
            return self._hot.transition(
                conn, intent_id, IntentState(to), expect_from, changes, _now()
            )

    def increment_modifications(self, intent_id: int) -> int:
        """Count one more modify request for this intent's order; returns the new count."""
        stmt = (
            update(FollowerIntent)
            .where(FollowerIntent.id == intent_id)
            .values(modifications=_INTENTS.modifications + 1, updated_at=_now())
            .returning(_INTENTS.modifications)
        )
        with self._write() as conn:
            count = conn.execute(stmt).scalar_one_or_none()
        if count is None:
            raise IntentNotFound(intent_id)
        return int(count)

    def unresolved_count(self) -> int:
        """Intents neither terminal nor settled (WORKING with the latest desired fields applied)."""
        settled = and_(
            _INTENTS.state == IntentState.WORKING.value,
            _INTENTS.applied_version >= _INTENTS.desired_version,
        )
        stmt = (
            select(func.count())
            .select_from(FollowerIntent)
            .where(_INTENTS.state.not_in(_TERMINAL), ~settled)
        )
        with self._read() as conn:
            return int(conn.execute(stmt).scalar_one())

    # --- bracket / super-order legs -------------------------------------------------------

    def upsert_leg(
        self,
        intent_id: int,
        leg_name: str,
        *,
        order_id: str | None,
        status: OrderStatus,
        price: float | None = None,
        trigger_price: float | None = None,
        quantity: int | None = None,
        filled_qty: int | None = None,
    ) -> BracketLeg:
        """Record a follower bracket leg of ``intent_id``; ``None`` keeps the stored value.

        The leg is audited when it is new or something changed. Raises ``IntentNotFound`` when
        the intent does not exist (a foreign key).
        """
        now = _now()
        status = OrderStatus(status)
        keep_if_none: dict[str, Any] = {
            "order_id": order_id,
            "price": price,
            "trigger_price": trigger_price,
            "quantity": quantity,
            "filled_qty": filled_qty,
        }
        with self._write() as conn:
            owner = conn.execute(
                select(_INTENTS.follower).where(_INTENTS.id == intent_id)
            ).scalar_one_or_none()
            if owner is None:
                raise IntentNotFound(intent_id)
            new = {
                "intent_id": intent_id,
                "leg_name": leg_name,
                **keep_if_none,
                "filled_qty": filled_qty or 0,
                "status": status.value,
                "created_at": now,
                "updated_at": now,
            }
            created = conn.execute(self._sql.insert_leg, new).first() is not None
            where = and_(_LEGS.intent_id == intent_id, _LEGS.leg_name == leg_name)
            if not created:
                sets = {k: v for k, v in keep_if_none.items() if v is not None}
                changed = or_(
                    _LEGS.status != status.value,
                    *(_LEGS[k].is_distinct_from(v) for k, v in sets.items()),
                )
                stmt = update(BracketOrderLeg).where(where, changed)
                stmt = stmt.values(status=status.value, updated_at=now, **sets)
                updated = conn.execute(stmt).rowcount > 0
            row = conn.execute(select(*_LEGS).where(where)).one()
            if created or updated:
                payload = {
                    "intent_id": intent_id,
                    "leg": leg_name,
                    "order_id": row.order_id,
                    "status": row.status,
                    "filled_qty": row.filled_qty,
                    "created": created,
                }
                self._append_audit_rows(
                    conn, [self._audit_row(now, "bracket_leg", account=owner, payload=payload)]
                )
        return leg_from_row(row._mapping)

    def legs(self, intent_id: int) -> list[BracketLeg]:
        """The bracket legs recorded for ``intent_id``, by leg name."""
        stmt = select(*_LEGS).where(_LEGS.intent_id == intent_id).order_by(_LEGS.leg_name)
        with self._read() as conn:
            return [leg_from_row(row._mapping) for row in conn.execute(stmt)]

    def open_brackets(self, follower: str | None = None) -> list[tuple[Intent, list[BracketLeg]]]:
        """Intents with at least one leg still open, each with all its legs (by intent id)."""
        open_ids = select(_LEGS.intent_id).where(_LEGS.status.not_in(_TERMINAL_STATUS))
        stmt = select_intents().where(_INTENTS.id.in_(open_ids)).order_by(_INTENTS.id)
        if follower is not None:
            stmt = stmt.where(_INTENTS.follower == follower)
        with self._read() as conn:
            intents = [intent_from_row(row._mapping) for row in conn.execute(stmt)]
            legs_stmt = (
                select(*_LEGS)
                .where(_LEGS.intent_id.in_([i.id for i in intents]))
                .order_by(_LEGS.intent_id, _LEGS.leg_name)
            )
            legs: dict[int, list[BracketLeg]] = {i.id: [] for i in intents}
            for row in conn.execute(legs_stmt):
                legs[row.intent_id].append(leg_from_row(row._mapping))
        return [(intent, legs[intent.id]) for intent in intents]

    # --- accounts, actors -----------------------------------------------------------------

    def set_mark(self, account: str, name: str, value: str) -> None:
        """Set the named mark (cursor / reconcile time...) of ``account``."""
        row = {"account": account, "name": name, "value": value, "updated_at": _now()}
        with self._write() as conn:
            conn.execute(self._sql.upsert_mark, row)

    def get_mark(self, account: str, name: str) -> str | None:
        """The named mark of ``account``, or None if never set."""
        stmt = select(_MARKS.value).where(_MARKS.account == account, _MARKS.name == name)
        with self._read() as conn:
            return conn.execute(stmt).scalar_one_or_none()

    def record_restart(self, actor: str, reason: str) -> int:
        """Record (and audit) that ``actor`` was restarted because of ``reason``; returns its id."""
        now = _now()
        with self._write() as conn:
            restart_id = conn.execute(
                insert(ActorRestartRow).returning(ActorRestartRow.id),
                {"actor": actor, "reason": reason, "at": now},
            ).scalar_one()
            payload = {"actor": actor, "reason": reason, "restart_id": restart_id}
            self._append_audit_rows(
                conn, [self._audit_row(now, "actor_restart", account=None, payload=payload)]
            )
        return int(restart_id)

    def restarts(self, limit: int = 50, *, actor: str | None = None) -> list[ActorRestart]:
        """The latest actor restarts, newest first (only ``actor``'s when given)."""
        table = ActorRestartRow.__table__.c
        stmt = select(*table).order_by(table.id.desc()).limit(limit)
        if actor is not None:
            stmt = stmt.where(table.actor == actor)
        with self._read() as conn:
            return [restart_from_row(row._mapping) for row in conn.execute(stmt)]

    def set_follower_flag(self, follower: str, quarantined: bool, reason: str | None) -> None:
        """Quarantine (or release) a follower account; audited."""
        now = _now()
        row = {
            "follower": follower,
            "quarantined": quarantined,
            "reason": reason,
            "updated_at": now,
        }
        with self._write() as conn:
            conn.execute(self._sql.upsert_flag, row)
            payload = {"follower": follower, "quarantined": quarantined, "reason": reason}
            self._append_audit_rows(
                conn, [self._audit_row(now, "follower_flag", account=follower, payload=payload)]
            )

    def follower_flag(self, follower: str) -> FollowerFlag | None:
        """The follower's flags, or None if never set."""
        table = FollowerFlagRow.__table__.c
        with self._read() as conn:
            row = conn.execute(select(*table).where(table.follower == follower)).one_or_none()
        return None if row is None else flag_from_row(row._mapping)

    def quarantined_followers(self) -> list[str]:
        """Followers currently quarantined, sorted."""
        table = FollowerFlagRow.__table__.c
        stmt = select(table.follower).where(table.quarantined.is_(True)).order_by(table.follower)
        with self._read() as conn:
            return list(conn.execute(stmt).scalars())

    # --- audit outbox ---------------------------------------------------------------------

    @staticmethod
    def _audit_row(
        at: datetime,
        kind: str,
        *,
        account: str | None,
        payload: dict[str, Any],
        actor: str = _ACTOR,
    ) -> dict[str, Any]:
        return {"at": at, "kind": kind, "actor": actor, "account": account, "payload": payload}

    def append_audit(
        self, kind: str, *, actor: str, account: str | None, payload: dict[str, Any]
    ) -> int:
        """Append one audit entry (a decision, or a broker call and its outcome); returns its id.

        Raises ``SecretInPayload`` (a ``ValueError``) if any key of ``payload`` looks like a
        credential (token, password, secret...) or a value looks like a JWT.
        """
        if not kind or not actor:
            raise ValueError("audit entries need a kind and an actor")
        check_no_secrets(payload)
        with self._write() as conn:
            self._hot.audit_lock(conn)
            stmt = insert(AuditEntry).returning(AuditEntry.id)
            row = self._audit_row(_now(), kind, account=account, payload=payload, actor=actor)
            return int(conn.execute(stmt, row).scalar_one())

    def audit_after(self, last_id: int, limit: int = 500) -> list[AuditRecord]:
        """Audit entries with id > ``last_id``, oldest first, at most ``limit``."""
        stmt = select(*_AUDIT).where(_AUDIT.id > last_id).order_by(_AUDIT.id).limit(limit)
        with self._read() as conn:
            return [audit_from_row(row._mapping) for row in conn.execute(stmt)]

    def mark_audit_drained(self, up_to_id: int) -> None:
        """Advance the drain cursor to ``up_to_id`` (never backwards). Rows are kept."""
        row = {
            "account": JOURNAL_ACCOUNT,
            "name": AUDIT_DRAINED_MARK,
            "value": str(int(up_to_id)),
            "updated_at": _now(),
        }
        with self._write() as conn:
            conn.execute(self._sql.raise_mark, row)

    def audit_drained_id(self) -> int:
        """The drain cursor: the highest audit id the AuditActor has handled (0 = none)."""
        value = self.get_mark(JOURNAL_ACCOUNT, AUDIT_DRAINED_MARK)
        return 0 if value is None else int(value)

    # --- health ---------------------------------------------------------------------------

    def integrity_check(self) -> list[str]:
        """Problems found in the database; ``[]`` means healthy.

        SQLite: ``PRAGMA integrity_check`` and ``PRAGMA foreign_key_check``. Both backends:
        the journal's own rules (applied <= desired version, open intents have an order id).
        """
        problems: list[str] = []
        with self._read() as conn:
            if self._dialect == "sqlite":
                rows = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check")]
                if rows != ["ok"]:
                    problems += [f"integrity_check: {r}" for r in rows]
                problems += [
                    f"foreign_key_check: {tuple(r)}"
                    for r in conn.exec_driver_sql("PRAGMA foreign_key_check")
                ]
            ahead = conn.execute(
                select(_INTENTS.id).where(_INTENTS.applied_version > _INTENTS.desired_version)
            ).scalars()
            problems += [f"intent {i}: applied_version > desired_version" for i in ahead]
            orphans = conn.execute(
                select(_INTENTS.id).where(
                    _INTENTS.state.in_([s.value for s in NEEDS_BROKER_ORDER_ID]),
                    _INTENTS.broker_order_id.is_(None),
                )
            ).scalars()
            problems += [f"intent {i}: open without a broker order id" for i in orphans]
        return problems
