"""Each table's columns are its record's fields: adding a column is the model, a migration
(``test_schema.test_the_migrations_build_exactly_the_models``) and the record (here)."""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import UTC, datetime
from typing import Any

import pytest

from store.models import (
    ActorRestartRow,
    AuditEntry,
    Base,
    BracketOrderLeg,
    FollowerFlagRow,
    FollowerIntent,
    LeaderOrder,
    Position,
    PositionFill,
)
from store.records import (
    DESIRED_ORDER_FIELDS,
    ActorRestart,
    AuditRecord,
    BracketLeg,
    DesiredIntent,
    FollowerFlag,
    Intent,
    LeaderOrderSnapshot,
    OrderFill,
    PositionKey,
    PositionRow,
    TransitionChanges,
    TransitionRequest,
    column_of,
)
from store.rows import desired_params, new_intent_params, snapshot_params
from tests.unit.store.factories import desired, snapshot

NOW = datetime(2026, 12, 7, 9, 15, tzinfo=UTC)

#: (model, record, columns the journal derives rather than reads back into the record)
TABLES: list[tuple[type[Base], type, frozenset[str]]] = [
    (LeaderOrder, LeaderOrderSnapshot, frozenset({"is_terminal", "recorded_at"})),
    (FollowerIntent, Intent, frozenset()),
    (BracketOrderLeg, BracketLeg, frozenset()),
    (AuditEntry, AuditRecord, frozenset()),
    (ActorRestartRow, ActorRestart, frozenset()),
    (FollowerFlagRow, FollowerFlag, frozenset()),
]


def mismatch(model: type[Base], record: type, derived: frozenset[str]) -> dict[str, set[str]]:
    """What one side has and the other lacks, and where they disagree on NULL."""
    table = model.__table__
    columns = {c.name for c in table.columns}
    fields = {column_of(f): f for f in dataclasses.fields(record)}
    hints = typing.get_type_hints(record)
    nullability = {
        name
        for name, f in fields.items()
        if name in columns and table.columns[name].nullable != _optional(hints[f.name])
    }
    return {
        "columns without a field": columns - fields.keys() - derived,
        "fields without a column": fields.keys() - columns,
        "NULL allowed on one side only": nullability,
    }


def _optional(hint: Any) -> bool:
    return isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)


NO_MISMATCH: dict[str, set[str]] = {
    "columns without a field": set(),
    "fields without a column": set(),
    "NULL allowed on one side only": set(),
}


@pytest.mark.parametrize(
    ("model", "record", "derived"), TABLES, ids=[m.__tablename__ for m, _, _ in TABLES]
)
def test_a_tables_columns_are_its_records_fields(
    model: type[Base], record: type, derived: frozenset[str]
):
    assert mismatch(model, record, derived) == NO_MISMATCH


def _with_field(record: type, name: str, hint: Any) -> type:
    extra = [(name, hint, dataclasses.field(default=None))]
    return dataclasses.make_dataclass(
        record.__name__, extra, bases=(record,), kw_only=True, frozen=True
    )


@pytest.mark.parametrize(
    ("record", "added", "hint", "reported"),
    [
        # a field added to the record but no column in the model
        (Intent, "new_limit", float | None, "fields without a column"),
        # a field the model has, declared on the record with the wrong nullability
        (Intent, "error_code", str, "NULL allowed on one side only"),
    ],
)
def test_a_record_out_of_step_with_its_model_is_reported(
    record: type, added: str, hint: Any, reported: str
):
    changed = _with_field(record, added, hint)
    assert mismatch(FollowerIntent, changed, frozenset())[reported] == {added}


def test_a_column_without_a_field_is_reported():
    fewer = {c.name for c in FollowerIntent.__table__.columns} - {"amo_time"}
    record = dataclasses.make_dataclass("Fewer", [(name, Any) for name in fewer])
    assert mismatch(FollowerIntent, record, frozenset())["columns without a field"] == {"amo_time"}


def test_the_written_rows_fill_every_column():
    snap = snapshot()
    assert set(snapshot_params(snap, snap.raw, NOW)) == {c.name for c in LeaderOrder.__table__.c}
    new_row = new_intent_params(desired(), NOW)
    assert set(new_row) == {c.name for c in FollowerIntent.__table__.c} - {"id"}


def test_the_desired_fields_are_the_desired_intents_order_fields():
    names = {f.name for f in dataclasses.fields(DesiredIntent)}
    assert set(DESIRED_ORDER_FIELDS) == names - {
        "follower",
        "leader_order_id",
        "leg",
        "correlation_id",
    }
    assert set(DESIRED_ORDER_FIELDS) <= {f.name for f in dataclasses.fields(Intent)}
    assert tuple(desired_params(desired())) == DESIRED_ORDER_FIELDS


def test_journal_transitions_keywords_are_a_transition_requests_fields():
    hints = typing.get_type_hints(TransitionRequest)
    wanted = {name: hint for name, hint in hints.items() if name not in ("intent_id", "to")}
    assert typing.get_type_hints(TransitionChanges) == wanted


def _flat_fields(record: type) -> set[str]:
    """A record's fields with its ``key`` (a ``PositionKey``) spelled out as the key's fields."""
    names = {f.name for f in dataclasses.fields(record)} - {"key"}
    return names | {f.name for f in dataclasses.fields(PositionKey)}


@pytest.mark.parametrize(
    ("model", "record", "table_only"),
    [
        (Position, PositionRow, set()),
        # the fill's account is the call's; ``previous_qty`` is the ledger's own
        (PositionFill, OrderFill, {"account", "previous_qty"}),
    ],
    ids=["positions", "position_fills"],
)
def test_a_positions_tables_columns_are_its_records_fields_with_the_key_spelled_out(
    model: type[Base], record: type, table_only: set[str]
):
    assert {c.name for c in model.__table__.columns} == _flat_fields(record) | table_only
