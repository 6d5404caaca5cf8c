"""The journal's other writes as driver SQL: marks, flags, restarts, audit entries, legs.

They are not per leader event, but they share the write transactions of the hot path (on
SQLite, the group commit's one DB-API connection, ``store.group_commit``), so they are
compiled once per dialect like the hot path (``store.hot_path``) and run on the DB-API
connection of the caller's transaction. Each appends its audit rows last (``HotPath.audit``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.engine import Dialect

from store.driver import DbapiConnection, DriverSql, compile_for, dict_bound_dialect
from store.errors import IntentNotFound
from store.hot_path import HotPath
from store.models import (
    AccountMark,
    ActorRestartRow,
    AuditEntry,
    BracketOrderLeg,
    FlattenRequestRow,
    FollowerFlagRow,
    FollowerIntent,
    OperatorModeRow,
)
from store.positions import opposite
from store.records import BracketLeg, fill_order_id
from store.redaction import redact_text
from store.rows import leg_from_row
from store.statements import build_statements

_INTENTS = FollowerIntent.__table__.c
_LEGS = BracketOrderLeg.__table__.c
_AUDIT_KEYS = ("at", "kind", "actor", "account", "payload")
#: The leg columns ``upsert_leg`` keeps when given None.
LEG_KEEP_IF_NONE = ("order_id", "price", "trigger_price", "quantity", "filled_qty")


def _columns(model: Any, *, without: tuple[str, ...] = ()) -> list[str]:
    return [c.name for c in model.__table__.c if c.name not in without]


class Writes:
    """Compiled statements of the journal's other writes, for one dialect."""

    def __init__(self, dialect: Dialect, hot: HotPath) -> None:
        self._hot = hot
        self._dialect = dict_bound_dialect(dialect)
        d = self._dialect
        sql = build_statements(dialect.name)
        self.increment_modifications_sql = compile_for(
            update(FollowerIntent)
            .where(FollowerIntent.id == bindparam("intent_id"))
            .values(modifications=_INTENTS.modifications + 1)
            .returning(_INTENTS.modifications),
            d,
            ["updated_at"],
        )
        self.upsert_mark = compile_for(sql.upsert_mark, d, _columns(AccountMark))
        self.raise_mark = compile_for(sql.raise_mark, d, _columns(AccountMark))
        self.upsert_flag = compile_for(sql.upsert_flag, d, _columns(FollowerFlagRow))
        self.upsert_mode = compile_for(sql.upsert_mode, d, _columns(OperatorModeRow))
        self.insert_flatten = compile_for(
            insert(FlattenRequestRow).returning(FlattenRequestRow.id),
            d,
            _columns(FlattenRequestRow, without=("id",)),
        )
        self.finish_flatten_sql = compile_for(
            update(FlattenRequestRow)
            .where(FlattenRequestRow.id == bindparam("request_id"))
            .where(FlattenRequestRow.state == "pending"),
            d,
            ["state", "result", "finished_at"],
        )
        self.insert_restart = compile_for(
            insert(ActorRestartRow).returning(ActorRestartRow.id),
            d,
            _columns(ActorRestartRow, without=("id",)),
        )
        self.insert_audit = compile_for(
            insert(AuditEntry).returning(AuditEntry.id), d, list(_AUDIT_KEYS)
        )
        #: the entry intent of a leg: its follower, and what a leg's fill moves (its key and
        #: side; its order ids name the leg's fill when the leg has none of its own)
        self.intent_owner = compile_for(
            select(
                _INTENTS.follower,
                _INTENTS.exchange_segment,
                _INTENTS.security_id,
                _INTENTS.product_type,
                _INTENTS.transaction_type,
                _INTENTS.broker_order_id,
                _INTENTS.correlation_id,
            ).where(_INTENTS.id == bindparam("intent_id")),
            d,
        )
        self.insert_leg = compile_for(sql.insert_leg, d, _columns(BracketOrderLeg, without=("id",)))
        self.read_leg = compile_for(
            select(*_LEGS).where(
                _LEGS.intent_id == bindparam("where_intent_id"),
                _LEGS.leg_name == bindparam("where_leg_name"),
            ),
            d,
        )
        #: Leg updates by the columns they set (compiled on first use; a race compiles twice).
        self._leg_updates: dict[tuple[str, ...], DriverSql] = {}

    def increment_modifications(
        self, conn: DbapiConnection, intent_id: int, now: datetime
    ) -> int | None:
        """The intent's new modification count, or None when there is no such intent."""
        params = {"intent_id": intent_id, "updated_at": self._hot.ts(now)}
        rows = self._hot.run(conn, self.increment_modifications_sql, params).rows
        return None if not rows else int(rows[0]["modifications"])

    def set_mark(
        self,
        conn: DbapiConnection,
        account: str,
        name: str,
        value: str,
        now: datetime,
        *,
        only_raise: bool = False,
    ) -> None:
        """Upsert a mark; ``only_raise``: only over a smaller integer value."""
        row = {"account": account, "name": name, "value": value, "updated_at": self._hot.ts(now)}
        self._hot.run(conn, self.raise_mark if only_raise else self.upsert_mark, row)

    def set_marks(
        self, conn: DbapiConnection, account: str, values: Mapping[str, str], now: datetime
    ) -> None:
        """Upsert several marks of ``account`` (name -> value): one executemany."""
        if not values:
            return
        ts = self._hot.ts(now)
        rows = [
            {"account": account, "name": name, "value": value, "updated_at": ts}
            for name, value in values.items()
        ]
        self._hot.run(conn, self.upsert_mark, rows)

    def record_restart(self, conn: DbapiConnection, actor: str, reason: str, now: datetime) -> int:
        ts = self._hot.ts(now)
        reason = redact_text(reason) or ""  # an exception's text: it may echo a token
        found = self._hot.run(
            conn, self.insert_restart, {"actor": actor, "reason": reason, "at": ts}
        )
        restart_id = int(found.rows[0]["id"])
        payload = {"actor": actor, "reason": reason, "restart_id": restart_id}
        self._hot.audit(conn, [self._hot.audit_row(ts, "actor_restart", None, payload)])
        return restart_id

    def set_follower_flag(
        self,
        conn: DbapiConnection,
        follower: str,
        quarantined: bool,
        reason: str | None,
        now: datetime,
    ) -> None:
        ts = self._hot.ts(now)
        reason = redact_text(reason)
        row = {"follower": follower, "quarantined": quarantined, "reason": reason, "updated_at": ts}
        self._hot.run(conn, self.upsert_flag, row)
        payload = {"follower": follower, "quarantined": quarantined, "reason": reason}
        self._hot.audit(conn, [self._hot.audit_row(ts, "follower_flag", follower, payload)])

    def set_operator_mode(
        self,
        conn: DbapiConnection,
        follower: str,
        mode: str,
        set_by: str,
        reason: str | None,
        now: datetime,
    ) -> None:
        ts = self._hot.ts(now)
        reason = redact_text(reason)
        row = {"follower": follower, "mode": mode, "set_by": set_by, "reason": reason}
        self._hot.run(conn, self.upsert_mode, {**row, "set_at": ts})
        self._hot.audit(
            conn, [self._hot.audit_row(ts, "operator_mode", follower, row, actor=set_by)]
        )

    def request_flatten(
        self,
        conn: DbapiConnection,
        follower: str,
        kill_switch: bool,
        requested_by: str,
        now: datetime,
    ) -> int:
        ts = self._hot.ts(now)
        row = {
            "follower": follower,
            "kill_switch": kill_switch,
            "requested_by": requested_by,
            "requested_at": ts,
            "state": "pending",
            "result": None,
            "finished_at": None,
        }
        request_id = int(self._hot.run(conn, self.insert_flatten, row).rows[0]["id"])
        payload = {"request_id": request_id, "kill_switch": kill_switch}
        audit = self._hot.audit_row(ts, "flatten_requested", follower, payload, actor=requested_by)
        self._hot.audit(conn, [audit])
        return request_id

    def finish_flatten(
        self,
        conn: DbapiConnection,
        request_id: int,
        follower: str,
        flat: bool,
        result: str,
        now: datetime,
    ) -> None:
        ts = self._hot.ts(now)
        state = "done" if flat else "failed"
        params = {"request_id": request_id, "state": state, "result": result, "finished_at": ts}
        self._hot.run(conn, self.finish_flatten_sql, params)
        payload = {"request_id": request_id, "state": state}
        audit = self._hot.audit_row(ts, "flatten_finished", follower, payload, actor="flatten")
        self._hot.audit(conn, [audit])

    def append_audit(
        self,
        conn: DbapiConnection,
        kind: str,
        actor: str,
        account: str | None,
        payload: dict[str, Any],
        now: datetime,
    ) -> int:
        """Append one audit entry (the transaction's last statement); returns its id."""
        row = self._hot.audit_row(self._hot.ts(now), kind, account, payload, actor=actor)
        self._hot.audit_lock(conn)
        return int(self._hot.run(conn, self.insert_audit, row).rows[0]["id"])

    def upsert_leg(
        self,
        conn: DbapiConnection,
        intent_id: int,
        leg_name: str,
        status: str,
        keep_if_none: dict[str, Any],
        now: datetime,
    ) -> BracketLeg:
        """The body of ``Journal.upsert_leg`` (see there), inside the caller's transaction.

        A leg's fill is the follower's exit: it moves the follower's position of the entry's
        key on the other side, ledgered under ``fill_order_id(order id, leg)`` (the leg's own
        order id, else its entry's broker order id, else its correlationId).
        """
        owner = self._hot.run(conn, self.intent_owner, {"intent_id": intent_id}).rows
        if not owner:
            raise IntentNotFound(intent_id)
        ts = self._hot.ts(now)
        new = {
            "intent_id": intent_id,
            "leg_name": leg_name,
            **keep_if_none,
            "filled_qty": keep_if_none.get("filled_qty") or 0,
            "status": status,
            "created_at": ts,
            "updated_at": ts,
        }
        created = bool(self._hot.run(conn, self.insert_leg, new).rows)
        where = {"where_intent_id": intent_id, "where_leg_name": leg_name}
        updated = False
        if not created:
            sets = {k: v for k, v in keep_if_none.items() if v is not None}
            params = {
                **where,
                **sets,
                **{f"new_{k}": v for k, v in sets.items()},
                "status": status,
                "new_status": status,
                "updated_at": ts,
            }
            updated = (
                self._hot.run(conn, self._leg_update(tuple(sorted(sets))), params).rowcount > 0
            )
        row = self._hot.run(conn, self.read_leg, where).rows[0]
        entry = owner[0]
        if (created or updated) and row["filled_qty"] > 0:
            order_id = row["order_id"] or entry["broker_order_id"] or entry["correlation_id"]
            fill = (
                entry["follower"],
                entry["exchange_segment"],
                entry["security_id"],
                entry["product_type"],
                fill_order_id(order_id, leg_name),
                opposite(entry["transaction_type"]),
                int(row["filled_qty"]),
            )
            self._hot.positions.apply(conn, (fill,), ts)  # nothing when not raised
        if created or updated:
            payload = {
                "intent_id": intent_id,
                "leg": leg_name,
                "order_id": row["order_id"],
                "status": row["status"],
                "filled_qty": row["filled_qty"],
                "created": created,
            }
            account = owner[0]["follower"]
            self._hot.audit(conn, [self._hot.audit_row(ts, "bracket_leg", account, payload)])
        return leg_from_row(row)

    def _leg_update(self, columns: tuple[str, ...]) -> DriverSql:
        """``UPDATE`` of a leg's status and ``columns``, only where one of them changes."""
        found = self._leg_updates.get(columns)
        if found is None:
            changed = or_(
                _LEGS.status != bindparam("new_status"),
                *(_LEGS[k].is_distinct_from(bindparam(f"new_{k}")) for k in columns),
            )
            stmt = update(BracketOrderLeg).where(
                _LEGS.intent_id == bindparam("where_intent_id"),
                _LEGS.leg_name == bindparam("where_leg_name"),
                changed,
            )
            keys = ["status", "updated_at", *columns]
            found = self._leg_updates[columns] = compile_for(stmt, self._dialect, keys)
        return found
