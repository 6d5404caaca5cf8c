"""Map between journal records (``store.records``) and table rows (``store.models``).

Reads turn plain column values back into enums and timezone-aware UTC datetimes (SQLite
stores naive UTC text; PostgreSQL returns aware values). Writes turn records into the
parameter dicts the statements in ``store.journal`` bind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

from dhan.codes import (
    AmoTime,
    ExchangeSegment,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
)
from store.records import (
    ActorRestart,
    AuditRecord,
    BracketLeg,
    DesiredIntent,
    FollowerFlag,
    Intent,
    LeaderOrderSnapshot,
    SnapshotSource,
    normalise_leg,
)
from store.states import IntentState

_E = TypeVar("_E", bound=Enum)


def _parser(enum: type[_E]) -> Callable[[Any], _E]:
    """``enum(value)`` through a dict first: reads convert several enums per row, and the enum
    call costs a microsecond each. Unknown values still go to ``enum`` (its error or lookup)."""
    members = {member.value: member for member in enum}

    def parse(value: Any) -> _E:
        found = members.get(value)
        return enum(value) if found is None else found

    return parse


_transaction_type = _parser(TransactionType)
_segment = _parser(ExchangeSegment)
_product = _parser(ProductType)
_order_type = _parser(OrderType)
_validity = _parser(Validity)
_status = _parser(OrderStatus)
_state = _parser(IntentState)
_source = _parser(SnapshotSource)
_amo_time = _parser(AmoTime)


def utc(value: datetime | str) -> datetime:
    """``value`` as an aware UTC datetime (naive values are UTC by the journal's convention).

    Also takes SQLite's text form, as read through the driver (``store.hot_path``).
    """
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _opt_validity(value: str | None) -> Validity | None:
    return None if value is None else _validity(value)


def _opt_status(value: str | None) -> OrderStatus | None:
    return None if value is None else _status(value)


def _opt_amo_time(value: str | None) -> AmoTime | None:
    return None if value is None else _amo_time(value)


def snapshot_params(
    snap: LeaderOrderSnapshot, raw: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """Column values of the ``leader_orders`` row for ``snap`` (``raw`` already redacted)."""
    return {
        "leader_order_id": snap.leader_order_id,
        "leg_name": normalise_leg(snap.leg_name),
        "dedupe_key": snap.dedupe_key,
        "source": str(snap.source),
        "status": str(snap.status),
        "is_terminal": snap.status.is_terminal,
        "transaction_type": str(snap.transaction_type),
        "exchange_segment": str(snap.exchange_segment),
        "product_type": str(snap.product_type),
        "order_type": str(snap.order_type),
        "validity": None if snap.validity is None else str(snap.validity),
        "security_id": snap.security_id,
        "quantity": snap.quantity,
        "filled_qty": snap.filled_qty,
        "price": snap.price,
        "trigger_price": snap.trigger_price,
        "avg_price": snap.avg_price,
        "bo_profit_value": snap.bo_profit_value,
        "bo_stop_loss_value": snap.bo_stop_loss_value,
        "target_price": snap.target_price,
        "stop_loss_price": snap.stop_loss_price,
        "trailing_jump": snap.trailing_jump,
        "parent_order_id": snap.parent_order_id,
        "is_super": snap.is_super,
        "correlation_id": snap.correlation_id,
        "after_market_order": snap.after_market_order,
        "amo_time": None if snap.amo_time is None else str(snap.amo_time),
        "broker_updated_at": snap.updated_at,
        "seq": snap.seq,
        "raw": raw,
        "recorded_at": now,
    }


def snapshot_from_row(row: Mapping[Any, Any]) -> LeaderOrderSnapshot:
    """The ``LeaderOrderSnapshot`` held by a ``leader_orders`` row."""
    return LeaderOrderSnapshot(
        leader_order_id=row["leader_order_id"],
        dedupe_key=row["dedupe_key"],
        source=_source(row["source"]),
        status=_status(row["status"]),
        transaction_type=_transaction_type(row["transaction_type"]),
        exchange_segment=_segment(row["exchange_segment"]),
        product_type=_product(row["product_type"]),
        order_type=_order_type(row["order_type"]),
        validity=_opt_validity(row["validity"]),
        security_id=row["security_id"],
        quantity=row["quantity"],
        filled_qty=row["filled_qty"],
        price=row["price"],
        trigger_price=row["trigger_price"],
        avg_price=row["avg_price"],
        bo_profit_value=row["bo_profit_value"],
        bo_stop_loss_value=row["bo_stop_loss_value"],
        target_price=row["target_price"],
        stop_loss_price=row["stop_loss_price"],
        trailing_jump=row["trailing_jump"],
        leg_name=row["leg_name"],
        parent_order_id=row["parent_order_id"],
        is_super=bool(row["is_super"]),
        correlation_id=row["correlation_id"],
        after_market_order=bool(row["after_market_order"]),
        amo_time=_opt_amo_time(row["amo_time"]),
        updated_at=row["broker_updated_at"],
        seq=row["seq"],
        raw=row["raw"],
    )


def desired_params(intent: DesiredIntent) -> dict[str, Any]:
    """The desired-order columns of ``intent`` (``DESIRED_ORDER_FIELDS``; enums as their wire
    strings, so the DB driver and the change comparison see plain values). Spelled out: it runs
    for every intent of every leader event."""
    validity = intent.validity
    return {
        "transaction_type": str(intent.transaction_type),
        "exchange_segment": str(intent.exchange_segment),
        "product_type": str(intent.product_type),
        "order_type": str(intent.order_type),
        "validity": None if validity is None else str(validity),
        "security_id": str(intent.security_id),
        "quantity": intent.quantity,
        "price": intent.price,
        "trigger_price": intent.trigger_price,
        "bo_profit_value": intent.bo_profit_value,
        "bo_stop_loss_value": intent.bo_stop_loss_value,
        "target_price": intent.target_price,
        "stop_loss_price": intent.stop_loss_price,
        "trailing_jump": intent.trailing_jump,
        "desired_open": intent.desired_open,
        "skip_reason": None if intent.skip_reason is None else str(intent.skip_reason),
        "after_market_order": intent.after_market_order,
        "amo_time": None if intent.amo_time is None else str(intent.amo_time),
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


def new_intent(
    intent: DesiredIntent, intent_id: int, row: Mapping[str, Any], now: datetime
) -> Intent:
    """The ``Intent`` of a row just inserted as ``row`` (``new_intent_params(intent, now)``,
    its state possibly changed), without reading it back: the desired fields come from
    ``intent`` itself, already typed."""
    return Intent(
        id=intent_id,
        follower=intent.follower,
        leader_order_id=intent.leader_order_id,
        leg=row["leg"],
        correlation_id=intent.correlation_id,
        transaction_type=intent.transaction_type,
        exchange_segment=intent.exchange_segment,
        product_type=intent.product_type,
        order_type=intent.order_type,
        validity=intent.validity,
        security_id=intent.security_id,
        quantity=intent.quantity,
        price=intent.price,
        trigger_price=intent.trigger_price,
        bo_profit_value=intent.bo_profit_value,
        bo_stop_loss_value=intent.bo_stop_loss_value,
        target_price=intent.target_price,
        stop_loss_price=intent.stop_loss_price,
        trailing_jump=intent.trailing_jump,
        desired_open=intent.desired_open,
        skip_reason=intent.skip_reason,
        after_market_order=intent.after_market_order,
        amo_time=intent.amo_time,
        state=_state(row["state"]),
        desired_version=row["desired_version"],
        applied_version=row["applied_version"],
        broker_order_id=None,
        broker_status=None,
        filled_qty=row["filled_qty"],
        modifications=row["modifications"],
        attempts=row["attempts"],
        error_code=None,
        error_message=None,
        state_reason=row["state_reason"],
        created_at=now,
        updated_at=now,
    )


def intent_from_row(row: Mapping[Any, Any]) -> Intent:
    """The ``Intent`` held by a ``follower_intents`` row."""
    return Intent(
        id=row["id"],
        follower=row["follower"],
        leader_order_id=row["leader_order_id"],
        leg=row["leg"],
        correlation_id=row["correlation_id"],
        transaction_type=_transaction_type(row["transaction_type"]),
        exchange_segment=_segment(row["exchange_segment"]),
        product_type=_product(row["product_type"]),
        order_type=_order_type(row["order_type"]),
        validity=_opt_validity(row["validity"]),
        security_id=row["security_id"],
        quantity=row["quantity"],
        price=row["price"],
        trigger_price=row["trigger_price"],
        bo_profit_value=row["bo_profit_value"],
        bo_stop_loss_value=row["bo_stop_loss_value"],
        target_price=row["target_price"],
        stop_loss_price=row["stop_loss_price"],
        trailing_jump=row["trailing_jump"],
        desired_open=bool(row["desired_open"]),
        skip_reason=row["skip_reason"],
        after_market_order=bool(row["after_market_order"]),
        amo_time=_opt_amo_time(row["amo_time"]),
        state=_state(row["state"]),
        desired_version=row["desired_version"],
        applied_version=row["applied_version"],
        broker_order_id=row["broker_order_id"],
        broker_status=_opt_status(row["broker_status"]),
        filled_qty=row["filled_qty"],
        modifications=row["modifications"],
        attempts=row["attempts"],
        error_code=row["error_code"],
        error_message=row["error_message"],
        state_reason=row["state_reason"],
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
    )


def leg_from_row(row: Mapping[Any, Any]) -> BracketLeg:
    """The ``BracketLeg`` held by a ``bracket_order_legs`` row."""
    return BracketLeg(
        id=row["id"],
        intent_id=row["intent_id"],
        leg_name=row["leg_name"],
        order_id=row["order_id"],
        status=_status(row["status"]),
        price=row["price"],
        trigger_price=row["trigger_price"],
        quantity=row["quantity"],
        filled_qty=row["filled_qty"],
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
    )


def audit_from_row(row: Mapping[Any, Any]) -> AuditRecord:
    """The ``AuditRecord`` held by an ``audit_outbox`` row."""
    return AuditRecord(
        id=row["id"],
        at=utc(row["at"]),
        kind=row["kind"],
        actor=row["actor"],
        account=row["account"],
        payload=row["payload"],
    )


def restart_from_row(row: Mapping[Any, Any]) -> ActorRestart:
    """The ``ActorRestart`` held by an ``actor_restarts`` row."""
    return ActorRestart(id=row["id"], actor=row["actor"], reason=row["reason"], at=utc(row["at"]))


def flag_from_row(row: Mapping[Any, Any]) -> FollowerFlag:
    """The ``FollowerFlag`` held by a ``follower_flags`` row."""
    return FollowerFlag(
        follower=row["follower"],
        quarantined=bool(row["quarantined"]),
        reason=row["reason"],
        updated_at=utc(row["updated_at"]),
    )
