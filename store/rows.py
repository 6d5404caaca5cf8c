"""Map between journal records (``store.records``) and table rows (``store.models``).

Reads turn plain column values back into enums and timezone-aware UTC datetimes (SQLite
stores naive UTC text; PostgreSQL returns aware values). Writes turn records into the
parameter dicts the statements in ``store.journal`` bind.

The mappers are generated once, at import, from the records' fields (as ``dataclasses``
builds ``__init__``): a record's field names its column (``records.column_of``), its type
says how the value is read back (an enum through its value, ``bool`` from SQLite's 0/1, a
``datetime`` as aware UTC) and written (an enum as its plain string). Adding a column is the
model, a migration and the record: ``tests/unit/store/test_record_columns.py`` holds them
together. Each generated mapper is the straight-line code one would write by hand.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

from dhan.codes import TRIGGERED_FORM, OrderType
from store.records import (
    DESIRED_ORDER_FIELDS,
    TRIGGERED_FORM_CODE,
    ActorRestart,
    AuditRecord,
    BracketLeg,
    DesiredIntent,
    FlattenRequest,
    FollowerFlag,
    FollowerMode,
    Intent,
    LeaderOrderSnapshot,
    column_of,
    normalise_leg,
)
from store.states import IntentState

_E = TypeVar("_E", bound=Enum)
_R = TypeVar("_R")


def _parser(enum: type[_E]) -> Callable[[Any], _E]:
    """``enum(value)`` through a dict first: reads convert several enums per row, and the enum
    call costs a microsecond each. Unknown values still go to ``enum`` (its error or lookup)."""
    members = {member.value: member for member in enum}

    def parse(value: Any) -> _E:
        found = members.get(value)
        return enum(value) if found is None else found

    return parse


def utc(value: datetime | str) -> datetime:
    """``value`` as an aware UTC datetime (naive values are UTC by the journal's convention).

    Also takes SQLite's text form, as read through the driver (``store.hot_path``).
    """
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# --- generating the mappers ---------------------------------------------------------------


def _optional(hint: Any) -> tuple[Any, bool]:
    """``X | None`` -> ``(X, True)``; anything else -> ``(hint, False)``."""
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) and len(args) == 2 and type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return hint, False


def _is_enum(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, Enum)


def _compile(name: str, lines: list[str], env: dict[str, Any]) -> Callable[..., Any]:
    namespace: dict[str, Any] = {}
    exec("\n".join(lines), env, namespace)  # our own generated text, once at import
    fn: Callable[..., Any] = namespace[name]
    return fn


def _read_expr(field: dataclasses.Field[Any], hint: Any, env: dict[str, Any]) -> str:
    """The expression reading ``field``'s column from ``row``."""
    value = f"row[{column_of(field)!r}]"
    base, optional = _optional(hint)
    if _is_enum(base):
        name = f"_parse_{base.__name__}"
        env.setdefault(name, _parser(base))
        return (
            f"(None if (v := {value}) is None else {name}(v))" if optional else f"{name}({value})"
        )
    if base is bool:
        return f"bool({value})"
    if base is datetime:
        return f"(None if (v := {value}) is None else utc(v))" if optional else f"utc({value})"
    return value


def _write_expr(value: str, hint: Any, *, text: bool) -> str:
    """The plain value the driver binds for ``value``: an enum as its string (``text``: any
    ``str`` field through ``str()`` too)."""
    base, optional = _optional(hint)
    if _is_enum(base) or (text and base is str):
        return f"None if {value} is None else str({value})" if optional else f"str({value})"
    return value


def row_reader(record: type[_R]) -> Callable[[Mapping[Any, Any]], _R]:
    """``record`` from a row holding its columns."""
    hints = typing.get_type_hints(record)
    env: dict[str, Any] = {"utc": utc, "Record": record}
    fields = dataclasses.fields(typing.cast(Any, record))
    args = [f"        {f.name}={_read_expr(f, hints[f.name], env)}," for f in fields]
    lines = ["def read(row):", "    return Record(", *args, "    )"]
    return _compile("read", lines, env)


def _writer(
    signature: str,
    record: type,
    names: Iterable[str],
    *,
    text: bool = False,
    given: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
) -> Callable[..., dict[str, Any]]:
    """``def params(<signature>)``: the column values of the fields ``names`` of the record
    (the signature's first argument); ``given``: a field's expression instead; ``extra``:
    more columns."""
    hints = typing.get_type_hints(record)
    by_name = {f.name: f for f in dataclasses.fields(record)}
    obj = signature.split(",")[0].strip()
    given = given or {}
    lines = [f"def params({signature}):", "    return {"]
    for name in names:
        expr = given.get(name) or _write_expr(f"{obj}.{name}", hints[name], text=text)
        lines.append(f"        {column_of(by_name[name])!r}: {expr},")
    lines += [f"        {column!r}: {expr}," for column, expr in (extra or {}).items()]
    lines.append("    }")
    return _compile("params", lines, {"normalise_leg": normalise_leg})


# --- the mappers --------------------------------------------------------------------------

#: ``(snap, raw, now)``: column values of the ``leader_orders`` row for ``snap`` (``raw``, its
#: frame, already redacted; ``now``: ``recorded_at``).
snapshot_params: Callable[[LeaderOrderSnapshot, dict[str, Any], datetime], dict[str, Any]] = (
    _writer(
        "snap, raw, now",
        LeaderOrderSnapshot,
        [f.name for f in dataclasses.fields(LeaderOrderSnapshot)],
        given={"leg_name": "normalise_leg(snap.leg_name)", "raw": "raw"},
        extra={"is_terminal": "snap.status.is_terminal", "recorded_at": "now"},
    )
)

#: The desired-order columns of an intent, in ``DESIRED_ORDER_FIELDS`` order, as plain values
#: (enums and text as ``str``), so the DB driver and the change comparison see plain values.
desired_params: Callable[[DesiredIntent], dict[str, Any]] = _writer(
    "intent", DesiredIntent, DESIRED_ORDER_FIELDS, text=True
)


def keep_triggered_form(row: Mapping[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """``wanted`` (a leader event's desired columns for the copy in ``row``), keeping the form
    of a copy that went out as its stop's triggered form (``Journal.replace_triggered_stop``
    marked it: ``error_code`` :data:`TRIGGERED_FORM_CODE`, its order type ``TRIGGERED_FORM``
    of the leader's stop type): the leader's stop has triggered, so a later event of it (a
    fill, a price modify, a cancel) changes the copy's price, quantity or wish to be open,
    never its type or trigger back. Any other copy -- one re-placed for another cause whose
    leader order becomes a stop, say -- follows the leader's type. Pure."""
    form = TRIGGERED_FORM.get(OrderType(wanted["order_type"]))
    if form is None or row["order_type"] != form.value:
        return wanted
    if row.get("error_code") != TRIGGERED_FORM_CODE:
        return wanted
    return {
        **wanted,
        "order_type": form.value,
        "trigger_price": 0.0,
        "price": wanted["price"] if form is OrderType.LIMIT else 0.0,
    }


def new_intent_params(intent: DesiredIntent, now: datetime) -> dict[str, Any]:
    """Column values of a new ``follower_intents`` row (PLANNED, or SKIPPED with a reason)."""
    skipped = intent.skip_reason is not None
    return {
        "follower": intent.follower,
        "leader_order_id": intent.leader_order_id,
        "leg": normalise_leg(intent.leg),
        "correlation_id": intent.correlation_id,
        **desired_params(intent),
        "state": str(IntentState.SKIPPED if skipped else IntentState.PLANNED),
        "desired_version": 1,
        "applied_version": 0,
        "broker_order_id": None,
        "broker_status": None,
        "filled_qty": 0,
        "modifications": 0,
        "attempts": 0,
        "error_code": None,
        "error_message": None,
        "state_reason": intent.skip_reason,
        "created_at": now,
        "updated_at": now,
    }


def _new_intent_builder() -> Callable[[DesiredIntent, int, Mapping[str, Any], datetime], Intent]:
    """``new_intent``: the desired fields from the ``DesiredIntent`` (already typed), the
    timestamps ``now``, the rest read from the row as written."""
    from_desired = {*DESIRED_ORDER_FIELDS, "follower", "leader_order_id", "correlation_id"}
    hints = typing.get_type_hints(Intent)
    env: dict[str, Any] = {"utc": utc, "Record": Intent}
    args = []
    for f in dataclasses.fields(Intent):
        if f.name == "id":
            expr = "intent_id"
        elif f.name in from_desired:
            expr = f"intent.{f.name}"
        elif hints[f.name] is datetime:
            expr = "now"
        else:
            expr = _read_expr(f, hints[f.name], env)
        args.append(f"        {f.name}={expr},")
    lines = ["def new_intent(intent, intent_id, row, now):", "    return Record(", *args, "    )"]
    return _compile("new_intent", lines, env)


#: ``(intent, intent_id, row, now)``: the ``Intent`` of a row just inserted as ``row``
#: (``new_intent_params(intent, now)``, its state possibly changed), without reading it back:
#: the desired fields come from ``intent`` itself, already typed.
new_intent = _new_intent_builder()

#: The ``Intent`` held by a ``follower_intents`` row.
intent_from_row = row_reader(Intent)
#: The ``LeaderOrderSnapshot`` held by a ``leader_orders`` row.
snapshot_from_row = row_reader(LeaderOrderSnapshot)
#: The ``BracketLeg`` held by a ``bracket_order_legs`` row.
leg_from_row = row_reader(BracketLeg)
#: The ``AuditRecord`` held by an ``audit_outbox`` row.
audit_from_row = row_reader(AuditRecord)
#: The ``ActorRestart`` held by an ``actor_restarts`` row.
restart_from_row = row_reader(ActorRestart)
#: The ``FollowerFlag`` held by a ``follower_flags`` row.
flag_from_row = row_reader(FollowerFlag)
#: The ``FollowerMode`` held by an ``operator_modes`` row.
mode_from_row = row_reader(FollowerMode)
#: The ``FlattenRequest`` held by a ``flatten_requests`` row.
flatten_from_row = row_reader(FlattenRequest)
