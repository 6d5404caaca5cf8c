"""The journal's frequent reads as driver SQL, compiled once per dialect; records come out.

Followers read their work list and the copies of a leader order on every hint and tick, the
bracket actors their legs, the audit actor the outbox. ``Journal`` runs those reads here, on the
driver (``store.driver``), about ten times cheaper than through SQLAlchemy per call. Each query
is written once, as a SQLAlchemy statement built by a function below (the tests run the same
statements through SQLAlchemy and compare); ``Reads`` compiles each variant once and caches it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from sqlalchemy import Select, String, and_, bindparam, func, literal_column, or_, select
from sqlalchemy.engine import Dialect

from dhan.codes import LegName
from store.driver import (
    DbapiConnection,
    Driver,
    DriverSql,
    compile_for,
    dict_bound_dialect,
    in_constants,
    in_params,
    list_params,
)
from store.models import AccountMark, AuditEntry, BracketOrderLeg, FollowerIntent, LeaderOrder
from store.records import AuditRecord, BracketLeg, Intent, LeaderOrderSnapshot
from store.rows import audit_from_row, intent_from_row, leg_from_row, snapshot_from_row
from store.states import IN_FLIGHT_STATES, IntentState

_INTENTS = FollowerIntent.__table__.c
_SNAPS = LeaderOrder.__table__.c
_LEGS = BracketOrderLeg.__table__.c
_AUDIT = AuditEntry.__table__.c
_MARKS = AccountMark.__table__.c
#: The exit legs of a bracket / super order, as ``Journal.leader_legs`` returns them.
EXIT_LEGS = (LegName.TARGET_LEG.value, LegName.STOP_LOSS_LEG.value)


def needing_action_states(include_in_flight: bool) -> list[str]:
    """The states ``intents_needing_action`` returns whatever the versions (plus WORKING behind)."""
    wanted = [IntentState.PLANNED.value, IntentState.UNKNOWN.value]
    if include_in_flight:
        wanted += sorted(s.value for s in IN_FLIGHT_STATES)
    return wanted


# --- the queries (bind parameters named as the ``Reads`` methods pass them) -------------------


def intents_query(*, by_follower: bool, state_count: int | None, by_leader_order: bool) -> Select:
    """Intents by id, filtered on ``:follower``, ``:state_<i>`` and ``:leader_order_id``."""
    stmt = select(*_INTENTS).order_by(_INTENTS.id)
    if by_follower:
        stmt = stmt.where(_INTENTS.follower == bindparam("follower"))
    if state_count is not None:
        stmt = stmt.where(in_params(_INTENTS.state, "state", state_count))
    if by_leader_order:
        stmt = stmt.where(_INTENTS.leader_order_id == bindparam("leader_order_id"))
    return stmt


def intent_query() -> Select:
    """The intent ``:intent_id``."""
    return select(*_INTENTS).where(_INTENTS.id == bindparam("intent_id"))


def intent_by_correlation_id_query() -> Select:
    """The intent whose copy carries ``:correlation_id``."""
    return select(*_INTENTS).where(_INTENTS.correlation_id == bindparam("correlation_id"))


def needing_action_query(include_in_flight: bool) -> Select:
    """``:follower``'s intents that need work, oldest first (``Journal.intents_needing_action``)."""
    # WORKING needs a step when the leader moved on (desired ahead of applied) or when the
    # copy has filled what is desired and is still open (the leader cut below our fill: cancel
    # the rest) -- the fill is learned after the leader's change, from a refresh or a lookup
    behind = and_(
        _INTENTS.state == IntentState.WORKING.value,
        or_(
            _INTENTS.desired_version > _INTENTS.applied_version,
            _INTENTS.filled_qty >= _INTENTS.quantity,
        ),
    )
    wanted = needing_action_states(include_in_flight)
    return (
        select(*_INTENTS)
        .where(
            _INTENTS.follower == bindparam("follower"),
            or_(in_constants(_INTENTS.state, "wanted", wanted), behind),
        )
        .order_by(_INTENTS.id)
    )


def leader_snapshot_query(leg_count: int) -> Select:
    """Snapshots of ``:leader_order_id`` whose leg is one of ``:leg_<i>``."""
    return select(*_SNAPS).where(
        _SNAPS.leader_order_id == bindparam("leader_order_id"),
        in_params(_SNAPS.leg_name, "leg", leg_count),
    )


def leader_legs_query() -> Select:
    """Exit-leg snapshots whose entry is ``:parent_order_id``, by leg name then order id."""
    return (
        select(*_SNAPS)
        .where(
            _SNAPS.parent_order_id == bindparam("parent_order_id"),
            in_constants(_SNAPS.leg_name, "exit", EXIT_LEGS),
        )
        .order_by(_SNAPS.leg_name, _SNAPS.leader_order_id)
    )


def slicing_candidates_query(created_keys: tuple[str, ...], dialect_name: str) -> Select:
    """Plain leader orders of ``:security_id`` / ``:exchange_segment`` / ``:transaction_type`` /
    ``:product_type`` whose raw create time (any of ``created_keys``) lies between
    ``:created_from`` and ``:created_to`` (``Journal.slicing_candidates``).

    The JSON paths are literals (constants of our code, checked): the driver binds plain
    values, without the JSON path processing SQLAlchemy would apply to a bound path.
    """
    created = []
    for key in created_keys:
        if not key.isalpha():
            raise ValueError(f"not a plain JSON key: {key!r}")
        if dialect_name == "postgresql":
            value: Any = _SNAPS.raw.op("->>", return_type=String())(literal_column(f"'{key}'"))
        else:
            value = func.json_extract(_SNAPS.raw, literal_column(f"'$.{key}'"), type_=String())
        created.append(
            value.between(
                bindparam("created_from", type_=String()), bindparam("created_to", type_=String())
            )
        )
    return select(*_SNAPS).where(
        _SNAPS.security_id == bindparam("security_id"),
        _SNAPS.exchange_segment == bindparam("exchange_segment"),
        _SNAPS.transaction_type == bindparam("transaction_type"),
        _SNAPS.product_type == bindparam("product_type"),
        _SNAPS.leg_name == "",
        _SNAPS.parent_order_id.is_(None),
        or_(*created),
    )


def legs_query() -> Select:
    """The bracket legs of ``:intent_id`` by leg name."""
    return select(*_LEGS).where(_LEGS.intent_id == bindparam("intent_id")).order_by(_LEGS.leg_name)


def audit_after_query() -> Select:
    """Up to ``:limit`` audit entries with id > ``:last_id``, oldest first."""
    return (
        select(*_AUDIT)
        .where(_AUDIT.id > bindparam("last_id"))
        .order_by(_AUDIT.id)
        .limit(bindparam("limit"))
    )


def mark_query() -> Select:
    """The value of the mark ``:name`` of ``:account``."""
    return select(_MARKS.value).where(
        _MARKS.account == bindparam("account"), _MARKS.name == bindparam("name")
    )


def marks_query() -> Select:
    """The marks of ``:account`` whose name starts with ``:prefix``, by name."""
    return (
        select(_MARKS.name, _MARKS.value)
        .where(
            _MARKS.account == bindparam("account"),
            func.substr(_MARKS.name, 1, func.length(bindparam("prefix"))) == bindparam("prefix"),
        )
        .order_by(_MARKS.name)
    )


def _parsed_json(value: Any) -> Any:
    # sqlite3 hands JSON columns back as text; psycopg parses JSONB itself.
    return json.loads(value) if isinstance(value, str | bytes) else value


class Reads:
    """The frequent reads for one dialect; each method takes an open DB-API connection."""

    def __init__(self, dialect: Dialect, driver: Driver) -> None:
        self._dialect = dict_bound_dialect(dialect)
        self._driver = driver
        #: Compiled variants. Filled on first use; a race compiles one twice, harmlessly.
        self._compiled: dict[Hashable, DriverSql] = {}

    def sql(self, key: Hashable, build: Callable[[], Select]) -> DriverSql:
        """The compiled ``build()``, compiled on the first call for ``key``."""
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = compile_for(build(), self._dialect)
        return found

    def _rows(
        self, conn: DbapiConnection, key: Hashable, build: Callable[[], Select], params: Any
    ) -> list[dict[str, Any]]:
        return self._driver.run(conn, self.sql(key, build), params).rows

    def intents(
        self,
        conn: DbapiConnection,
        follower: str | None,
        states: Sequence[str] | None,
        leader_order_id: str | None,
    ) -> list[Intent]:
        """Intents by id; ``None`` filters are off; ``states`` are distinct state values."""
        shape = (follower is not None, None if states is None else len(states))
        by_leader = leader_order_id is not None
        params: dict[str, Any] = {}
        if follower is not None:
            params["follower"] = follower
        if states is not None:
            params |= list_params("state", states)
        if leader_order_id is not None:
            params["leader_order_id"] = leader_order_id
        rows = self._rows(
            conn,
            ("intents", *shape, by_leader),
            lambda: intents_query(
                by_follower=shape[0], state_count=shape[1], by_leader_order=by_leader
            ),
            params,
        )
        return [intent_from_row(row) for row in rows]

    def intent(self, conn: DbapiConnection, intent_id: int) -> Intent | None:
        rows = self._rows(conn, "intent", intent_query, {"intent_id": intent_id})
        return intent_from_row(rows[0]) if rows else None

    def intent_by_correlation_id(self, conn: DbapiConnection, correlation_id: str) -> Intent | None:
        rows = self._rows(
            conn,
            "intent_by_correlation_id",
            intent_by_correlation_id_query,
            {"correlation_id": correlation_id},
        )
        return intent_from_row(rows[0]) if rows else None

    def intents_needing_action(
        self, conn: DbapiConnection, follower: str, include_in_flight: bool
    ) -> list[Intent]:
        rows = self._rows(
            conn,
            ("needing_action", include_in_flight),
            lambda: needing_action_query(include_in_flight),
            {"follower": follower},
        )
        return [intent_from_row(row) for row in rows]

    def leader_snapshot(
        self, conn: DbapiConnection, leader_order_id: str, legs: Sequence[str]
    ) -> LeaderOrderSnapshot | None:
        """The snapshot of the first of ``legs`` (in that order) that is recorded."""
        rows = self._rows(
            conn,
            ("leader_snapshot", len(legs)),
            lambda: leader_snapshot_query(len(legs)),
            {"leader_order_id": leader_order_id, **list_params("leg", legs)},
        )
        by_leg = {row["leg_name"]: row for row in rows}
        for leg in legs:
            if leg in by_leg:
                return self._snapshot(by_leg[leg])
        return None

    def leader_legs(self, conn: DbapiConnection, parent_order_id: str) -> list[LeaderOrderSnapshot]:
        rows = self._rows(
            conn, "leader_legs", leader_legs_query, {"parent_order_id": parent_order_id}
        )
        return [self._snapshot(row) for row in rows]

    def slicing_candidates(
        self, conn: DbapiConnection, created_keys: tuple[str, ...], params: dict[str, Any]
    ) -> list[LeaderOrderSnapshot]:
        rows = self._rows(
            conn,
            ("slicing_candidates", created_keys),
            lambda: slicing_candidates_query(created_keys, self._dialect.name),
            params,
        )
        return [self._snapshot(row) for row in rows]

    def legs(self, conn: DbapiConnection, intent_id: int) -> list[BracketLeg]:
        rows = self._rows(conn, "legs", legs_query, {"intent_id": intent_id})
        return [leg_from_row(row) for row in rows]

    def audit_after(self, conn: DbapiConnection, last_id: int, limit: int) -> list[AuditRecord]:
        rows = self._rows(
            conn, "audit_after", audit_after_query, {"last_id": last_id, "limit": limit}
        )
        for row in rows:
            row["payload"] = _parsed_json(row["payload"])
        return [audit_from_row(row) for row in rows]

    def mark(self, conn: DbapiConnection, account: str, name: str) -> str | None:
        rows = self._rows(conn, "mark", mark_query, {"account": account, "name": name})
        return rows[0]["value"] if rows else None

    def marks(self, conn: DbapiConnection, account: str, prefix: str) -> dict[str, str]:
        params = {"account": account, "prefix": prefix}
        rows = self._rows(conn, "marks", marks_query, params)
        return {row["name"]: row["value"] for row in rows}

    @staticmethod
    def _snapshot(row: dict[str, Any]) -> LeaderOrderSnapshot:
        row["raw"] = _parsed_json(row["raw"])
        return snapshot_from_row(row)
