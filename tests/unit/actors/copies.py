"""Test data for the follower's collaborators: one copy's intent and its broker order."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from dhan.codes import (
    ExchangeSegment,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
)
from dhan.models import Order
from store.records import Intent
from store.states import IntentState

NOW = datetime(2026, 11, 26, tzinfo=UTC)

_INTENT = Intent(
    id=1,
    follower="f",
    leader_order_id="L-1",
    leg="",
    correlation_id="cid-1",
    transaction_type=TransactionType.BUY,
    exchange_segment=ExchangeSegment.NSE_EQ,
    product_type=ProductType.INTRADAY,
    order_type=OrderType.LIMIT,
    security_id="1333",
    quantity=10,
    validity=Validity.DAY,
    price=1500.0,
    trigger_price=0.0,
    bo_profit_value=None,
    bo_stop_loss_value=None,
    target_price=None,
    stop_loss_price=None,
    trailing_jump=None,
    desired_open=True,
    skip_reason=None,
    state=IntentState.WORKING,
    desired_version=2,
    applied_version=1,
    broker_order_id="B-1",
    broker_status=OrderStatus.PENDING,
    filled_qty=0,
    modifications=0,
    attempts=1,
    error_code=None,
    error_message=None,
    state_reason=None,
    created_at=NOW,
    updated_at=NOW,
)

_ORDER = Order(
    order_id="B-1",
    order_status=OrderStatus.PENDING,
    transaction_type=TransactionType.BUY,
    exchange_segment=ExchangeSegment.NSE_EQ,
    product_type=ProductType.INTRADAY,
    order_type=OrderType.LIMIT,
    security_id="1333",
    quantity=10,
    validity=Validity.DAY,
    correlation_id="cid-1",
    price=1500.0,
)


def intent(state: IntentState = IntentState.WORKING, **fields: object) -> Intent:
    """A copy of a limit buy of 10 at 1500, broker order B-1, desired version 2 (1 applied)."""
    return replace(_INTENT, state=state, **fields)  # type: ignore[arg-type]  # test data by keyword


def order(status: OrderStatus = OrderStatus.PENDING, **fields: object) -> Order:
    """Broker order B-1 (correlationId cid-1) as the book shows it: the intent's fields."""
    return replace(_ORDER, order_status=status, **fields)  # type: ignore[arg-type]  # as above
