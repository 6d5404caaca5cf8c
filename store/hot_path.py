"""The journal's per-order hot writes: record a leader event, move follower intents.

They run on every leader event and around every broker call, so they execute SQL compiled once
from the models (``store.driver``) directly on the DB-API connection of the caller's write
transaction, in few round trips. Recording: dedupe gate, snapshot upsert, one read of the
order's intents, bulk insert / update of the intents, bulk audit rows. Transition: read (locked
on PostgreSQL), validate, update, audit row -- every refusal is raised before the first write,
so a refused transition has nothing to roll back (``store.group_commit`` then keeps its batch).
``Journal`` owns the transactions; on PostgreSQL an advisory lock per leader order serialises
writers of one order's intents, so the read-diff-write is exact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Dialect

from dhan.codes import TRIGGERED_FORM, OrderType, ProductType
from dhan.correlation import MAX_GENERATION, correlation_id_for, generation_of
from store.driver import (
    DbapiConnection,
    Driver,
    DriverSql,
    Executed,
    compile_for,
    dict_bound_dialect,
)
from store.engine import dumps_json
from store.errors import (
    IllegalTransition,
    IntentNotFound,
    StaleState,
    StaleVersion,
    StoreError,
)
from store.locks import LOCK_AUDIT, LOCK_LEADER_ORDER, lock_key
from store.models import AuditEntry, FollowerIntent, LeaderEvent, LeaderOrder
from store.positions import FillParams, Positions, check_bases
from store.records import (
    DESIRED_ORDER_FIELDS,
    LEADER_ACCOUNT,
    TRIGGERED_FORM_CODE,
    DesiredIntent,
    Intent,
    LeaderOrderSnapshot,
    TransitionRequest,
    fill_order_id,
    is_freeze_piece_leg,
    is_revivable_skip,
    is_transient_skip,
    normalise_leg,
)
from store.redaction import redact_secrets, redact_text
from store.rows import (
    desired_params,
    intent_from_row,
    keep_triggered_form,
    new_intent,
    new_intent_params,
    snapshot_params,
)
from store.statements import build_statements
from store.states import NEEDS_BROKER_ORDER_ID, TERMINAL_STATES, IntentState, is_legal

#: Re-exported: benchmarks compile their own statements with these.
__all__ = ["DriverSql", "Executed", "HotPath", "TransitionOutcome", "compile_for"]
#: What ``HotPath.transitions`` gives back for each request: the moved intent, or the refusal.
TransitionOutcome = Intent | StoreError | ValueError

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
    "leader_order_id",
    "leg",
    "state",
    "state_reason",
    "desired_version",
    "correlation_id",
    "filled_qty",
    "broker_status",
    "error_code",  # a triggered stop's mark (``rows.keep_triggered_form``)
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
_BRACKET_PRODUCTS = frozenset({ProductType.BO.value, ProductType.CO.value})
#: Intents whose copy was never sent: a transient skip may still hold them back.
_UNSENT = frozenset({IntentState.PLANNED, IntentState.SKIPPED})
_INTENT_UPDATE = (*DESIRED_ORDER_FIELDS, "desired_version", "state", "state_reason", "updated_at")
#: A copy planned again after we cancelled its broker order: a new broker order, a new id.
_INTENT_REPLACE = (
    *_INTENT_UPDATE,
    "correlation_id",
    "broker_order_id",
    "broker_status",
    "filled_qty",
    "applied_version",
    "modifications",
    "error_code",
    "error_message",
)
#: Broker statuses of a copy that ended without a fill we could still be holding.
_REPLACEABLE_STATUS = frozenset({None, "CANCELLED"})
_REPLANNED = "planned again: the leader's order now wants a copy"
_TRIGGERED = "planned again as its triggered form: the market had crossed the stop's trigger"


def _audited_order(columns: Mapping[str, Any]) -> dict[str, Any]:
    """The order a copy should be (its desired columns that are set), for its audit record:
    side, segment, security, product, type, validity, quantity, prices, AMO, skip reason."""
    return {key: value for key in DESIRED_ORDER_FIELDS if (value := columns[key]) is not None}


class HotPath:
    """Compiled statements + the hot algorithms for one dialect (sqlite / postgresql).

    Every method takes the DB-API connection of the caller's write transaction.
    """

    def __init__(self, dialect: Dialect, driver: Driver | None = None) -> None:
        self.postgres = dialect.name == "postgresql"
        self.driver = driver or Driver(dialect)
        #: the positions' statements (``store.positions``): fills applied in our transactions
        self.positions = Positions(dialect, self.driver)
        #: follower -> what each audit record of its copies also carries (``Journal.tag_orders``)
        self.order_tags: dict[str, dict[str, str]] = {}
        dialect = dict_bound_dialect(dialect)
        sql = build_statements(dialect.name)
        snapshot_keys = [c.name for c in LeaderOrder.__table__.c]
        self.insert_event = compile_for(sql.insert_event.inline(), dialect, _EVENT_KEYS)
        self.upsert_snapshot = compile_for(sql.upsert_snapshot, dialect, snapshot_keys)
        read = (
            select(*(FollowerIntent.__table__.c[k] for k in _INTENT_READ))
            .where(FollowerIntent.leader_order_id == bindparam("leader_order_id"))
            .order_by(FollowerIntent.id)
        )
        if self.postgres:
            # Row locks in id order, as ``transitions`` takes them: no lock-order deadlock.
            read = read.with_for_update()
        self.read_intents = compile_for(read, dialect)
        self.last_rowid = DriverSql("SELECT last_insert_rowid() AS id")
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
        self.replace_intent = compile_for(
            update(FollowerIntent).where(FollowerIntent.id == bindparam("intent_id")),
            dialect,
            _INTENT_REPLACE,
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

    def ts(self, value: datetime) -> Any:
        """``value`` as the driver binds a timestamp column."""
        return self.driver.ts(value)

    def run(self, conn: DbapiConnection, sql: DriverSql, params: Any) -> Executed:
        """Execute on the DB-API connection, inside the caller's transaction."""
        return self.driver.run(conn, sql, params)

    def audit_lock(self, conn: DbapiConnection) -> None:
        """PostgreSQL: take the audit lock (always last in a transaction; see ``Journal``)."""
        if self.postgres:
            self.run(conn, self.lock, {"ns": LOCK_AUDIT, "key": 0})

    def record(
        self,
        conn: DbapiConnection,
        snap: LeaderOrderSnapshot,
        intents: Sequence[DesiredIntent],
        now: datetime,
        claim_for: frozenset[str] = frozenset(),
        claimed_out: list[Intent] | None = None,
        touched_out: set[str] | None = None,
        bases: Mapping[str, int] | None = None,
    ) -> bool:
        """The body of ``Journal.record_leader_snapshot``, inside the caller's transaction.

        A new, not stale snapshot also applies the leader's fill (``snap.filled_qty``,
        cumulative) to the leader's position: one ledger upsert, and one position upsert when
        it grew; ``bases`` are recorded for a new event (first wins).
        """
        if bases:
            check_bases(bases)
        for intent in intents:
            # The order's lock (PostgreSQL) and the claim read-back cover this order only.
            if intent.leader_order_id != snap.leader_order_id:
                raise ValueError(
                    f"intent of {intent.follower} names leader order {intent.leader_order_id!r},"
                    f" not the event's {snap.leader_order_id!r}: nothing recorded"
                )
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
            self.audit_row(
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
        else:
            if intents:
                audit += self._write_intents(
                    conn, snap, intents, now, ts, claim_for, claimed_out, touched_out
                )
            if snap.filled_qty > 0:
                # the leader's position moves with its order's fill; its row is locked last
                # (PostgreSQL: held for the least time, after the intents' rows, as a
                # transition takes them)
                fill = (
                    LEADER_ACCOUNT,
                    str(snap.exchange_segment),
                    snap.security_id,
                    str(snap.product_type),
                    fill_order_id(snap.leader_order_id, leg),
                    str(snap.transaction_type),
                    snap.filled_qty,
                )
                self.positions.apply(conn, (fill,), ts)
        if bases:
            self.positions.record_bases(conn, snap.leader_order_id, bases, ts)
        self.audit(conn, audit)
        return True

    def record_intents(
        self,
        conn: DbapiConnection,
        snap: LeaderOrderSnapshot,
        intents: Sequence[DesiredIntent],
        now: datetime,
        touched_out: set[str] | None = None,
        bases: Mapping[str, int] | None = None,
        rebase: bool = False,
    ) -> None:
        """The body of ``Journal.record_intents``, inside the caller's transaction."""
        if bases:
            check_bases(bases)
        for intent in intents:
            if intent.leader_order_id != snap.leader_order_id:
                raise ValueError(
                    f"intent of {intent.follower} names leader order {intent.leader_order_id!r},"
                    f" not {snap.leader_order_id!r}: nothing recorded"
                )
        if self.postgres:
            key = lock_key(snap.leader_order_id)
            self.run(conn, self.lock, {"ns": LOCK_LEADER_ORDER, "key": key})
        ts = self.ts(now)
        audit = self._write_intents(conn, snap, intents, now, ts, frozenset(), None, touched_out)
        if bases:
            self.positions.record_bases(conn, snap.leader_order_id, bases, ts, replace=rebase)
        if audit:
            self.audit(conn, audit)

    def replan_cancelled(
        self, conn: DbapiConnection, intent_id: int, now: datetime
    ) -> Intent | None:
        """The body of ``Journal.replan_cancelled``, inside the caller's transaction."""
        row = self._intent_row(conn, intent_id)
        wanted = row["desired_open"] and row["quantity"] > 0 and row["skip_reason"] is None
        if row["state"] != IntentState.DONE.value or not wanted or not _unfilled_plain_cancel(row):
            return None
        return self._place_again(
            conn, row, {}, _REPLANNED, "cancelled while the leader raised its order", now
        )

    def replace_triggered_stop(
        self, conn: DbapiConnection, intent_id: int, now: datetime
    ) -> Intent | None:
        """The body of ``Journal.replace_triggered_stop``, inside the caller's transaction."""
        row = self._intent_row(conn, intent_id)
        form = _triggered_form(row)
        if form is None:
            return None
        event = f"stop rejected, its trigger crossed: placed again as {form.value}"
        triggered = {
            "order_type": form.value,
            "trigger_price": 0.0,
            "price": row["price"] if form is OrderType.LIMIT else 0.0,
            "desired_version": row["desired_version"] + 1,
            # the mark later leader events keep the form by (``rows.keep_triggered_form``)
            "error_code": TRIGGERED_FORM_CODE,
            "error_message": event,
        }
        return self._place_again(conn, row, triggered, _TRIGGERED, event, now)

    def _intent_row(self, conn: DbapiConnection, intent_id: int) -> dict[str, Any]:
        found = self.run(conn, self.read_intent, {"intent_id": intent_id}).rows
        if not found:
            raise IntentNotFound(intent_id)
        return dict(found[0])

    def _place_again(
        self,
        conn: DbapiConnection,
        row: dict[str, Any],
        desired: dict[str, Any],
        reason: str,
        event: str,
        now: datetime,
    ) -> Intent | None:
        """``row``'s copy PLANNED under its next correlationId generation (a new broker
        order), its desired columns changed by ``desired``, audited ``intent_replanned``;
        None when it has had every generation."""
        changes = _next_broker_order(row)
        if changes is None:
            return None
        ts = self.ts(now)
        values = {
            **{name: row[name] for name in _INTENT_REPLACE},
            **changes,
            **desired,
            "state": IntentState.PLANNED.value,
            "state_reason": reason,
            "updated_at": ts,
        }
        self.run(conn, self.replace_intent, {**values, "intent_id": row["id"]})
        payload = {
            "correlation_id": changes["correlation_id"],
            "leader_order_id": row["leader_order_id"],
            "leg": row["leg"],
            "state": IntentState.PLANNED.value,
            "desired_version": values["desired_version"],
            "event": event,
        }
        if desired:
            payload["order"] = _audited_order(values)
        self.audit(conn, [self.audit_row(ts, "intent_replanned", row["follower"], payload)])
        return intent_from_row({**row, **values, "updated_at": now})

    def _write_intents(
        self,
        conn: DbapiConnection,
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
        inserted: list[tuple[DesiredIntent, dict[str, Any]]] = []
        updates: list[dict[str, Any]] = []
        replaces: list[dict[str, Any]] = []
        audit: list[dict[str, Any]] = []
        for intent in [*intents, *_unwanted_pieces(intents, existing)]:
            row = existing.get((intent.leader_order_id, intent.follower, normalise_leg(intent.leg)))
            changes: dict[str, Any] = {}  # columns besides the desired ones (a new broker order)
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
                inserted.append((intent, new))
                version, state = 1, new["state"]
            else:
                wanted = keep_triggered_form(row, desired_params(intent))
                row_state = IntentState(row["state"])
                if _same(row, wanted):
                    continue
                sendable = (
                    intent.skip_reason is None and intent.desired_open and intent.quantity > 0
                )
                update_row = updates
                state, reason = row["state"], row["state_reason"]
                version = row["desired_version"] + 1
                kind = "intent_updated"
                if row_state is IntentState.SKIPPED:
                    # level-triggered: a skip for a size below one lot or a fact we lacked is
                    # derived again from every leader event; other skips are decisions
                    if not is_revivable_skip(row["skip_reason"]):
                        continue
                    if sendable:
                        state, reason, kind = (
                            IntentState.PLANNED.value,
                            _REPLANNED,
                            "intent_replanned",
                        )
                    else:
                        reason = intent.skip_reason or reason
                elif row_state is IntentState.DONE and sendable and _replaceable(row):
                    # we cancelled the copy because the leader went below one lot (or lacked a
                    # fact); the leader wants it again: a new broker order under a new id
                    next_order = _next_broker_order(row)
                    if next_order is None:
                        continue
                    state, reason, kind = IntentState.PLANNED.value, _REPLANNED, "intent_replanned"
                    changes = next_order
                    update_row = replaces
                elif row_state in TERMINAL_STATES:
                    continue
                elif is_transient_skip(intent.skip_reason) and row_state not in _UNSENT:
                    continue  # a fact sizing lacks for now never changes a copy that exists
                elif state == IntentState.PLANNED and intent.skip_reason is not None:
                    state, reason = IntentState.SKIPPED.value, intent.skip_reason
                update_row.append(
                    {
                        **wanted,
                        **changes,
                        "intent_id": row["id"],
                        "desired_version": version,
                        "state": state,
                        "state_reason": reason,
                        "updated_at": ts,
                    }
                )
            payload = {
                "correlation_id": changes.get("correlation_id", intent.correlation_id),
                "leader_order_id": intent.leader_order_id,
                "leg": normalise_leg(intent.leg),
                "state": state,
                "desired_version": version,
                "event": snap.dedupe_key,
                "order": _audited_order(new if row is None else wanted),
            }
            tags = self.order_tags.get(intent.follower)
            if tags:
                payload.update(tags)
            audit.append(self.audit_row(ts, kind, intent.follower, payload))
            if touched_out is not None:
                touched_out.add(intent.follower)
        if inserts:
            self.run(conn, self.insert_intent, inserts)
            if claimed_out is not None:
                claimed = [
                    (intent, row, intent_id)
                    for (intent, row), intent_id in zip(
                        inserted,
                        self._inserted_ids(conn, snap.leader_order_id, inserts),
                        strict=True,
                    )
                    if row["state"] == IntentState.SENDING.value
                ]
                claimed_out.extend(
                    new_intent(i, intent_id, row, now) for i, row, intent_id in claimed
                )
        if updates:
            self.run(conn, self.update_intent, updates)
        if replaces:
            self.run(conn, self.replace_intent, replaces)
        return audit

    def _inserted_ids(
        self, conn: DbapiConnection, leader_order_id: str, inserts: list[dict[str, Any]]
    ) -> list[int]:
        """The ids of the rows ``insert_intent`` just inserted, in the order of ``inserts``.

        SQLite: consecutive up to ``last_insert_rowid()``. The table has no AUTOINCREMENT, so
        each insert takes the largest rowid + 1 (SQLite's documented rowid choice below 2**63),
        and this transaction holds the only write lock. PostgreSQL draws ids from a sequence
        that other sessions share, so they are read back.
        """
        if not self.postgres:
            (last,) = self.run(conn, self.last_rowid, {}).rows[0].values()
            return list(range(last - len(inserts) + 1, last + 1))
        found = self.run(conn, self.read_intent_ids, {"leader_order_id": leader_order_id})
        ids = {(r["follower"], r["leg"]): r["id"] for r in found.rows}
        return [ids[(row["follower"], row["leg"])] for row in inserts]

    def transition(
        self,
        conn: DbapiConnection,
        intent_id: int,
        to: IntentState,
        expect_from: IntentState | None,
        changes: dict[str, Any],
        now: datetime,
        expect_version: int | None = None,
    ) -> Intent:
        """The body of ``Journal.transition`` (see there), inside the caller's transaction.

        ``changes``: the non-None keyword arguments, as column values (``transition_changes``).
        A refusal (``IntentNotFound``, ``StaleState``, ``IllegalTransition``, ``ValueError``) is
        raised after one read and before any write: it leaves nothing to roll back.
        """
        ts = self.ts(now)
        row = self._checked(conn, intent_id, IntentState(to), expect_from, changes, expect_version)
        fills: list[FillParams] = []
        intent, audit = self._apply(conn, row, IntentState(to), changes, now, ts, fills)
        if fills:
            self.positions.apply(conn, fills, ts)
        self.audit(conn, [audit])
        return intent

    def transitions(
        self, conn: DbapiConnection, requests: Sequence[TransitionRequest], now: datetime
    ) -> list[TransitionOutcome]:
        """The body of ``Journal.transitions``: each request checked and applied on its own.

        Requests run in intent id order (PostgreSQL row locks are then always taken in the
        same order, so two batches cannot deadlock), those of one intent in the given order.
        A refused request writes nothing (see ``transition``) and its slot holds the error; a
        database error raises and leaves the caller's transaction to be rolled back.
        """
        ts = self.ts(now)
        outcomes: list[TransitionOutcome | None] = [None] * len(requests)
        audit: list[dict[str, Any]] = []
        fills: list[FillParams] = []
        for index in sorted(range(len(requests)), key=lambda i: requests[i].intent_id):
            request = requests[index]
            changes = transition_changes(request)
            try:
                to = IntentState(request.to)
                row = self._checked(
                    conn,
                    request.intent_id,
                    to,
                    request.expect_from,
                    changes,
                    request.expect_version,
                )
            except (StoreError, ValueError) as refused:
                outcomes[index] = refused
                continue
            outcomes[index], audit_row = self._apply(conn, row, to, changes, now, ts, fills)
            audit.append(audit_row)
        if fills:  # after every intent's row lock: positions are locked last, in key order
            self.positions.apply(conn, fills, ts)
        self.audit(conn, audit)
        return [outcome for outcome in outcomes if outcome is not None]

    def _checked(
        self,
        conn: DbapiConnection,
        intent_id: int,
        to: IntentState,
        expect_from: IntentState | None,
        changes: dict[str, Any],
        expect_version: int | None = None,
    ) -> dict[str, Any]:
        """The intent's row (locked on PostgreSQL) if the move is allowed; else raises."""
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
        if expect_version is not None and desired_version != expect_version:
            raise StaleVersion(intent_id, current, expect_version, desired_version)
        if applied is not None and not 0 <= applied <= desired_version:
            raise ValueError(
                f"intent {intent_id}: applied_version {applied} outside 0..{desired_version}"
            )
        if (
            to in NEEDS_BROKER_ORDER_ID
            and changes.get("broker_order_id", row["broker_order_id"]) is None
        ):
            raise ValueError(f"intent {intent_id}: {to} needs the broker order id")
        return row

    def _apply(
        self,
        conn: DbapiConnection,
        row: dict[str, Any],
        to: IntentState,
        changes: dict[str, Any],
        now: datetime,
        ts: Any,
        fills_out: list[FillParams],
    ) -> tuple[Intent, dict[str, Any]]:
        """Write the checked move of ``row``; returns the moved intent and its audit row.

        A raised ``filled_qty`` is appended to ``fills_out`` (the follower's fill, ledgered
        under the copy's broker order id, else its correlationId) for the caller to apply.
        """
        values = {name: row[name] for name in _TRANSITION_COLUMNS}
        if to.value != row["state"]:
            # the stored reason explains the state it was given with: a move to another state
            # without a reason of its own must not keep it (a copy rejected or cancelled by
            # hand read "claimed for sending with its leader event")
            values["state_reason"] = None
        values |= changes
        values |= {"state": to.value, "updated_at": ts}
        if to is IntentState.SENDING:
            values["attempts"] = row["attempts"] + 1
        self.run(conn, self.update_state, {**values, "intent_id": row["id"]})
        filled = changes.get("filled_qty")
        if filled is not None and filled > row["filled_qty"]:
            fills_out.append(
                (
                    row["follower"],
                    row["exchange_segment"],
                    row["security_id"],
                    row["product_type"],
                    values["broker_order_id"] or row["correlation_id"],
                    row["transaction_type"],
                    filled,
                )
            )
        payload = {
            "intent_id": row["id"],
            "correlation_id": row["correlation_id"],
            "leader_order_id": row["leader_order_id"],
            "from": row["state"],
            "to": to.value,
            **changes,
        }
        audit = self.audit_row(ts, "intent_transition", row["follower"], payload)
        return intent_from_row({**row, **values, "updated_at": now}), audit

    def audit_row(
        self,
        ts: Any,
        kind: str,
        account: str | None,
        payload: dict[str, Any],
        *,
        actor: str = _ACTOR,
    ) -> dict[str, Any]:
        """An ``audit_outbox`` row as the driver binds it (``ts`` from ``HotPath.ts``)."""
        return {
            "at": ts,
            "kind": kind,
            "actor": actor,
            "account": account,
            "payload": dumps_json(payload),
        }

    def audit(self, conn: DbapiConnection, rows: list[dict[str, Any]]) -> None:
        """Append audit rows: always the last statements of a write transaction (see
        ``audit_lock``)."""
        if rows:
            self.audit_lock(conn)
            self.run(conn, self.insert_audit, rows)


def transition_changes(request: TransitionRequest) -> dict[str, Any]:
    """The columns a transition sets besides its state: the request's non-None values."""
    changes: dict[str, Any] = {
        "broker_order_id": request.broker_order_id,
        "applied_version": request.applied_version,
        "error_code": None if request.error_code is None else str(request.error_code),
        # free text from outside (broker bodies, exceptions): never a token in the journal
        "error_message": redact_text(request.error_message),
        "broker_status": None if request.broker_status is None else str(request.broker_status),
        "filled_qty": request.filled_qty,
        "state_reason": redact_text(request.reason),
    }
    return {k: v for k, v in changes.items() if v is not None}


def _unwanted_pieces(
    intents: Sequence[DesiredIntent], existing: dict[tuple[str, str, str], dict[str, Any]]
) -> list[DesiredIntent]:
    """Closing intents for the freeze pieces (``F2``...) a follower's copy no longer has.

    The intents given for a leader order and follower are its whole copy: a piece journaled
    before (a larger share, or a smaller freeze quantity) that is not among them is wanted
    closed -- cancelled if it was placed, never placed if it was not. Its quantity is kept.
    """
    given: dict[tuple[str, str], DesiredIntent] = {}
    legs: set[tuple[str, str, str]] = set()
    for intent in intents:
        given.setdefault((intent.leader_order_id, intent.follower), intent)
        legs.add((intent.leader_order_id, intent.follower, normalise_leg(intent.leg)))
    closing = []
    for key, row in existing.items():
        order_id, follower, leg = key
        base = given.get((order_id, follower))
        if base is None or key in legs or not is_freeze_piece_leg(leg):
            continue
        closing.append(
            replace(
                base,
                leg=leg,
                correlation_id=row["correlation_id"],
                quantity=row["quantity"],
                desired_open=False,
                skip_reason=None,
            )
        )
    return closing


def _next_broker_order(row: dict[str, Any]) -> dict[str, Any] | None:
    """The columns that give ``row``'s copy a new broker order under its next correlationId
    generation; None when it has had ``MAX_GENERATION`` re-placements already."""
    generation = generation_of(row["correlation_id"]) + 1
    if generation > MAX_GENERATION:
        return None
    return {
        "correlation_id": correlation_id_for(
            row["follower"], row["leader_order_id"], row["leg"], generation=generation
        ),
        "broker_order_id": None,
        "broker_status": None,
        "filled_qty": 0,
        "applied_version": 0,
        "modifications": 0,
        "error_code": None,
        "error_message": None,
    }


def _triggered_form(row: dict[str, Any]) -> OrderType | None:
    """The order a copy of a plain stop-loss order rejected unfilled, still wanted, is to be
    placed again as (its trigger was crossed: the caller read the broker's reason); None when
    ``row`` is not such a copy."""
    wanted = row["desired_open"] and row["quantity"] > 0 and row["skip_reason"] is None
    ended = row["state"] in (IntentState.DONE.value, IntentState.REJECTED.value)
    if not (wanted and ended and row["broker_status"] == "REJECTED" and not row["filled_qty"]):
        return None
    if row["product_type"] in _BRACKET_PRODUCTS or row["leg"]:
        return None
    if row["target_price"] is not None or row["stop_loss_price"] is not None:
        return None  # a super order's entry
    return TRIGGERED_FORM.get(OrderType(row["order_type"]))


def _unfilled_plain_cancel(row: dict[str, Any]) -> bool:
    """A plain copy (a bracket's legs belong to its first order) that ended unfilled."""
    return (
        not row["filled_qty"]
        and row["broker_status"] in _REPLACEABLE_STATUS
        and row["product_type"] not in _BRACKET_PRODUCTS
        and row["target_price"] is None
        and row["stop_loss_price"] is None
    )


def _replaceable(row: dict[str, Any]) -> bool:
    """True when a DONE copy may get a new broker order: a plain order (a bracket's legs belong
    to its first order) that we cancelled, unfilled, because its leader order was below one
    lot (or sizing lacked a fact) -- not one that filled, nor one cancelled for another cause
    (the leader's own cancel, or a hand at the broker while the copy was wanted)."""
    return (
        not bool(row["desired_open"])
        and is_revivable_skip(row["skip_reason"])
        and _unfilled_plain_cancel(row)
    )


def _same(row: dict[str, Any], wanted: dict[str, Any]) -> bool:
    for name, value in wanted.items():
        stored = row[name]
        if name == "desired_open":
            stored = bool(stored)  # SQLite hands booleans back as 0/1
        if stored != value:
            return False
    return True
