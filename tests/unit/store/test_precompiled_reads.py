"""The precompiled reads return what the same queries return through SQLAlchemy, on both backends.

The reference queries below are the journal's reads as they were written on SQLAlchemy Core
(statement built per call, rows through SQLAlchemy's type processing: JSON, DATETIME, Boolean).
The journal now runs its own driver SQL (``store.reads``); over a journal holding every state,
leg, bracket and audit shape, each read must give equal records for every filter combination.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable
from typing import Any

import pytest
from sqlalchemy import and_, or_, select
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

from dhan.codes import LegName, OrderStatus, ProductType, Validity
from store import IntentState, Journal
from store.driver import compile_for, in_params, register_sqlite_binds
from store.models import (
    AccountMark,
    AuditEntry,
    BracketOrderLeg,
    FollowerIntent,
    LeaderOrder,
)
from store.reads import EXIT_LEGS
from store.records import (
    DESIRED_ORDER_FIELDS,
    AuditRecord,
    BracketLeg,
    Intent,
    LeaderOrderSnapshot,
    normalise_leg,
)
from store.rows import (
    audit_from_row,
    desired_params,
    intent_from_row,
    leg_from_row,
    snapshot_from_row,
)
from store.statements import select_intents
from tests.unit.store.factories import copies, desired, followers, snapshot

S = IntentState
_INTENTS = FollowerIntent.__table__.c
_SNAPS = LeaderOrder.__table__.c
_LEGS = BracketOrderLeg.__table__.c
_AUDIT = AuditEntry.__table__.c
_MARKS = AccountMark.__table__.c


# --- the reference: the same reads through SQLAlchemy, a statement built per call ------------


def _intents_rows(journal: Journal, stmt: Any) -> list[Intent]:
    with journal._engine.connect() as conn:  # internals: the reference path
        return [intent_from_row(row._mapping) for row in conn.execute(stmt)]


def orm_intents(
    journal: Journal,
    follower: str | None,
    states: Iterable[IntentState] | None,
    leader_order_id: str | None,
) -> list[Intent]:
    stmt = select_intents().order_by(_INTENTS.id)
    if follower is not None:
        stmt = stmt.where(_INTENTS.follower == follower)
    if states is not None:
        stmt = stmt.where(_INTENTS.state.in_([IntentState(s).value for s in states]))
    if leader_order_id is not None:
        stmt = stmt.where(_INTENTS.leader_order_id == leader_order_id)
    return _intents_rows(journal, stmt)


def orm_needing_action(journal: Journal, follower: str, include_in_flight: bool) -> list[Intent]:
    wanted = [S.PLANNED.value, S.UNKNOWN.value]
    if include_in_flight:
        wanted += [S.SENDING.value, S.MODIFYING.value, S.CANCELLING.value]
    behind = and_(
        _INTENTS.state == S.WORKING.value, _INTENTS.desired_version > _INTENTS.applied_version
    )
    stmt = (
        select_intents()
        .where(_INTENTS.follower == follower, or_(_INTENTS.state.in_(wanted), behind))
        .order_by(_INTENTS.id)
    )
    return _intents_rows(journal, stmt)


def orm_snapshots(journal: Journal, stmt: Any) -> list[LeaderOrderSnapshot]:
    with journal._engine.connect() as conn:
        return [snapshot_from_row(row._mapping) for row in conn.execute(stmt)]


def orm_leader_snapshot(
    journal: Journal, leader_order_id: str, leg_name: str | None
) -> LeaderOrderSnapshot | None:
    legs = ["", LegName.ENTRY_LEG.value] if leg_name is None else [normalise_leg(leg_name)]
    stmt = select(*_SNAPS).where(
        _SNAPS.leader_order_id == leader_order_id, _SNAPS.leg_name.in_(legs)
    )
    found = {s.leg_name: s for s in orm_snapshots(journal, stmt)}
    return next((found[leg] for leg in legs if leg in found), None)


def orm_leader_legs(journal: Journal, parent: str) -> list[LeaderOrderSnapshot]:
    exits = [LegName.TARGET_LEG.value, LegName.STOP_LOSS_LEG.value]
    stmt = (
        select(*_SNAPS)
        .where(_SNAPS.parent_order_id == parent, _SNAPS.leg_name.in_(exits))
        .order_by(_SNAPS.leg_name, _SNAPS.leader_order_id)
    )
    return orm_snapshots(journal, stmt)


def orm_legs(journal: Journal, intent_id: int) -> list[BracketLeg]:
    stmt = select(*_LEGS).where(_LEGS.intent_id == intent_id).order_by(_LEGS.leg_name)
    with journal._engine.connect() as conn:
        return [leg_from_row(row._mapping) for row in conn.execute(stmt)]


def orm_audit_after(journal: Journal, last_id: int, limit: int) -> list[AuditRecord]:
    stmt = select(*_AUDIT).where(_AUDIT.id > last_id).order_by(_AUDIT.id).limit(limit)
    with journal._engine.connect() as conn:
        return [audit_from_row(row._mapping) for row in conn.execute(stmt)]


def orm_mark(journal: Journal, account: str, name: str) -> str | None:
    stmt = select(_MARKS.value).where(_MARKS.account == account, _MARKS.name == name)
    with journal._engine.connect() as conn:
        return conn.execute(stmt).scalar_one_or_none()


# --- a journal with every shape the reads meet --------------------------------------------------

RAW = {"OrderNo": "x", "nested": {"list": [1, 2.5, None, True]}, "name": "ŧést ✓", "n": 10**12}


def _leg(order_id: str, parent: str, leg: LegName, **fields: Any) -> Any:
    return snapshot(order_id, leg_name=str(leg), parent_order_id=parent, raw=RAW, **fields)


def _populate(journal: Journal) -> None:
    # L1: a plain order; its copies in WORKING-behind, UNKNOWN, DONE after a modification.
    journal.record_leader_snapshot(snapshot("L1", seq=1, raw=RAW), copies("L1", 3))
    by = {i.follower: i.id for i in journal.intents(leader_order_id="L1")}
    journal.transition(by["f1"], S.SENDING)
    journal.transition(
        by["f1"],
        S.WORKING,
        broker_order_id="B1",
        applied_version=1,
        broker_status=OrderStatus.PENDING,
        filled_qty=3,
    )
    journal.transition(by["f2"], S.SENDING)
    journal.transition(by["f2"], S.UNKNOWN, error_code="DH-908", error_message="timeout ✗")
    journal.record_leader_snapshot(
        snapshot("L1", seq=2, price=101.25, validity=Validity.DAY, raw=RAW),
        copies("L1", 3, price=101.25),
    )
    journal.transition(by["f3"], S.DONE, reason="leader cancelled")
    # L2: a bracket entry (ENTRY_LEG) with exit legs of their own ids; a skipped copy; legs.
    entry = snapshot("L2", leg_name=str(LegName.ENTRY_LEG), product_type=ProductType.BO, raw=RAW)
    journal.record_leader_snapshot(
        entry,
        [
            desired("f1", "L2", bo_profit_value=5.5, bo_stop_loss_value=2.25),
            desired("f2", "L2", skip_reason="filtered: product"),
        ],
    )
    journal.record_leader_snapshot(_leg("L2T", "L2", LegName.TARGET_LEG, price=110.0), [])
    journal.record_leader_snapshot(_leg("L2S", "L2", LegName.STOP_LOSS_LEG, trigger_price=95.0), [])
    (f1_l2,) = journal.intents("f1", leader_order_id="L2")
    journal.transition(f1_l2.id, S.SENDING)
    journal.transition(f1_l2.id, S.WORKING, broker_order_id="B2", applied_version=1)
    journal.transition(f1_l2.id, S.MODIFYING)
    journal.upsert_leg(
        f1_l2.id, "TARGET_LEG", order_id="B2T", status=OrderStatus.PENDING, price=110
    )
    journal.upsert_leg(
        f1_l2.id, "STOP_LOSS_LEG", order_id=None, status=OrderStatus.TRIGGERED, trigger_price=95.5
    )
    # L3: a super order whose legs share its id; a terminal snapshot.
    journal.record_leader_snapshot(snapshot("L3", target_price=130.0, is_super=True), [])
    journal.record_leader_snapshot(_leg("L3", "L3", LegName.TARGET_LEG, price=130.0), [])
    journal.record_leader_snapshot(snapshot("L4", status=OrderStatus.TRADED), [])
    # L5: copies claimed with their event, then acked / rejected / cancelling.
    claimed = journal.record_and_claim(snapshot("L5"), copies("L5", 3), followers(3))
    assert claimed is not None
    ids = {i.follower: i.id for i in claimed}
    journal.transition(ids["f1"], S.REJECTED, error_code="DH-906", error_message="RMS")
    journal.transition(ids["f2"], S.WORKING, broker_order_id="B5", applied_version=1)
    journal.transition(ids["f2"], S.CANCELLING)
    # L6: a copy nobody has touched yet
    journal.record_leader_snapshot(snapshot("L6"), [desired("f3", "L6")])
    # audit entries and marks
    journal.append_audit("note", actor="test", account="f1", payload={"x": [1, "ü"], "y": None})
    journal.set_mark("f1", "reconciled_at", "2026-01-02T03:04:05Z")
    journal.mark_audit_drained(3)


@pytest.fixture
def populated(journal: Journal) -> Journal:
    _populate(journal)
    return journal


# --- the reads, compared ------------------------------------------------------------------------

STATE_FILTERS: list[list[IntentState] | None] = [
    None,
    [],
    [S.PLANNED],
    [S.WORKING, S.PLANNED],
    [S.WORKING, S.WORKING],
    list(S),
]


def test_intents_equal_the_orm_read_for_every_filter(populated: Journal):
    everyone = populated.intents()
    assert len(everyone) == 9  # the fixture holds what the filters below slice
    combos = itertools.product(
        [None, "f1", "f2", "nobody"], STATE_FILTERS, [None, "L1", "L5", "nope"]
    )
    for follower, states, leader_order_id in combos:
        expected = orm_intents(populated, follower, states, leader_order_id)
        got = populated.intents(follower, states, leader_order_id=leader_order_id)
        assert got == expected, (follower, states, leader_order_id)


def test_one_intent_by_id_or_correlation_id_equals_the_orm_read(populated: Journal):
    for intent in orm_intents(populated, None, None, None):
        assert populated.intent(intent.id) == intent
        assert populated.intent_by_correlation_id(intent.correlation_id) == intent
    assert populated.intent_by_correlation_id("no-such-id") is None


def test_the_work_list_equals_the_orm_read(populated: Journal):
    seen: set[IntentState] = set()
    for follower, in_flight in itertools.product(followers(3), [True, False]):
        expected = orm_needing_action(populated, follower, in_flight)
        assert populated.intents_needing_action(follower, include_in_flight=in_flight) == expected
        seen |= {i.state for i in expected}
    # the fixture reaches each branch of the filter
    assert {S.PLANNED, S.UNKNOWN, S.WORKING, S.SENDING, S.CANCELLING, S.MODIFYING} <= seen


def test_leader_snapshots_and_legs_equal_the_orm_read(populated: Journal):
    legs: list[str | None] = [None, "", "NA", str(LegName.ENTRY_LEG), str(LegName.TARGET_LEG)]
    found = 0
    for order, leg in itertools.product(["L1", "L2", "L2T", "L3", "L4", "nope"], legs):
        expected = orm_leader_snapshot(populated, order, leg)
        assert populated.leader_snapshot(order, leg) == expected, (order, leg)
        found += expected is not None
    assert found >= 8
    assert populated.leader_snapshot("L1").raw == RAW  # JSON back as it went in (redacted: none)
    for parent in ["L2", "L3", "L1", "nope"]:
        assert populated.leader_legs(parent) == orm_leader_legs(populated, parent), parent
    assert [s.leader_order_id for s in populated.leader_legs("L2")] == ["L2S", "L2T"]
    assert set(EXIT_LEGS) == {str(LegName.TARGET_LEG), str(LegName.STOP_LOSS_LEG)}


def test_bracket_legs_audit_and_marks_equal_the_orm_read(populated: Journal):
    for intent in populated.intents():
        assert populated.legs(intent.id) == orm_legs(populated, intent.id)
    assert len(populated.legs(populated.intents("f1", leader_order_id="L2")[0].id)) == 2
    total = len(orm_audit_after(populated, 0, 10_000))
    assert total > 20
    for last_id, limit in [(0, 500), (0, 3), (5, 7), (total - 2, 500), (10**9, 5)]:
        assert populated.audit_after(last_id, limit) == orm_audit_after(populated, last_id, limit)
    note = [a for a in populated.audit_after(0, 10_000) if a.kind == "note"]
    assert note[0].payload == {"x": [1, "ü"], "y": None}
    assert populated.get_mark("f1", "reconciled_at") == orm_mark(populated, "f1", "reconciled_at")
    assert populated.get_mark("f1", "nope") is None
    assert populated.audit_drained_id() == 3


def test_a_bad_state_in_the_filter_is_refused_as_before(journal: Journal):
    with pytest.raises(ValueError):
        journal.intents(states=["LIMBO"])  # type: ignore[list-item]  # the point of the test


def test_reads_leave_pooled_connections_as_write_transactions_need_them(populated: Journal):
    for _ in range(3):
        for intent in populated.intents():
            populated.intent(intent.id)
        populated.leader_snapshot("L1")
    pooled = [populated._engine.raw_connection() for _ in range(3)]  # internals: the pool
    try:
        for conn in (p.dbapi_connection for p in pooled):
            assert conn is not None
            if populated.dialect == "postgresql":
                assert conn.autocommit is False  # reads run in autocommit, then restore it
            else:
                assert conn.in_transaction is False
    finally:
        for p in pooled:
            p.close()


# --- compiling ----------------------------------------------------------------------------------


def test_compiled_sql_binds_a_dict_of_names_on_both_drivers():
    stmt = select(_INTENTS.id).where(
        _INTENTS.follower == "f1", in_params(_INTENTS.state, "state", 2)
    )
    qmark = SQLiteDialect_pysqlite()  # sqlite3's default paramstyle is qmark
    assert qmark.paramstyle == "qmark"
    sqlite_sql = compile_for(stmt, qmark)
    # sqlite3 gets positional marks; the names are laid out in the statement's order
    assert "follower_intents.follower = ?" in sqlite_sql.text and "IN (?, ?)" in sqlite_sql.text
    assert sqlite_sql.positions == ("follower_1", "state_0", "state_1")
    assert sqlite_sql.constants == {"follower_1": "f1"}
    assert sqlite_sql.params({"state_1": "SENDING", "state_0": "PLANNED"}) == (
        "f1",
        "PLANNED",
        "SENDING",
    )
    with pytest.raises(KeyError, match="state_1"):
        sqlite_sql.params({"state_0": "PLANNED"})
    pg_sql = compile_for(stmt, PGDialect_psycopg())
    assert "%(follower_1)s" in pg_sql.text and "%(state_1)s" in pg_sql.text
    assert pg_sql.positions is None


def test_sqlite_binds_none_and_booleans_as_null_and_integers(tmp_path):
    register_sqlite_binds()
    conn = sqlite3.connect(tmp_path / "binds.db")
    try:
        conn.execute("CREATE TABLE t (a, b, c)")
        conn.execute("INSERT INTO t VALUES (?, ?, ?)", (None, True, False))
        row = conn.execute("SELECT a IS NULL, typeof(b), b, c FROM t").fetchone()
    finally:
        conn.close()
    assert row == (1, "integer", 1, 0)


def test_an_expanding_in_cannot_be_precompiled():
    stmt = select(_INTENTS.id).where(_INTENTS.state.in_(["PLANNED", "SENDING"]))
    with pytest.raises(ValueError, match="in_params"):
        compile_for(stmt, SQLiteDialect_pysqlite())


def test_desired_params_are_every_desired_field_as_plain_values():
    intent = desired(validity=Validity.IOC, skip_reason="filtered", target_price=101.0)
    params = desired_params(intent)
    assert tuple(params) == DESIRED_ORDER_FIELDS
    assert params["transaction_type"] == "BUY" and type(params["transaction_type"]) is str
    assert type(params["validity"]) is str and params["validity"] == "IOC"
    assert {k: v for k, v in params.items() if k not in _ENUM_FIELDS} == {
        k: getattr(intent, k) for k in DESIRED_ORDER_FIELDS if k not in _ENUM_FIELDS
    }
    assert desired_params(desired())["validity"] is None


_ENUM_FIELDS = ("transaction_type", "exchange_segment", "product_type", "order_type", "validity")
