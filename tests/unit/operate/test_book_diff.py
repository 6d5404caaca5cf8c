"""``copytrader reconcile``'s leader-vs-follower judgement (``copytrader.book_diff``), as tables."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from copytrader.book_diff import diff_books
from dhan.codes import (
    ExchangeSegment,
    LegName,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
)
from dhan.correlation import correlation_id_for
from dhan.models import Order
from store.records import Intent, LeaderOrderSnapshot, SnapshotSource
from store.states import IntentState

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def order(oid: str, status: OrderStatus, **kw: object) -> Order:
    base = Order(
        order_id=oid,
        order_status=status,
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.LIMIT,
        security_id="1333",
        quantity=2,
        validity=Validity.DAY,
        price=1500.0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def snapshot(oid: str, status: OrderStatus, **kw: object) -> LeaderOrderSnapshot:
    base = LeaderOrderSnapshot(
        leader_order_id=oid,
        dedupe_key=f"{oid}-{status}",
        source=SnapshotSource.SOCKET,
        status=status,
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.LIMIT,
        security_id="1333",
        quantity=2,
        seq=1,
        validity=Validity.DAY,
        price=1500.0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def intent(follower: str, oid: str, state: IntentState, **kw: object) -> Intent:
    base = Intent(
        id=1,
        follower=follower,
        leader_order_id=oid,
        leg="",
        correlation_id=correlation_id_for(follower, oid),
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.LIMIT,
        security_id="1333",
        quantity=2,
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
        state=state,
        desired_version=1,
        applied_version=1,
        broker_order_id="F1",
        broker_status=None,
        filled_qty=0,
        modifications=0,
        attempts=1,
        error_code=None,
        error_message=None,
        state_reason=None,
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_a_closed_super_order_the_broker_book_shows_as_traded_is_no_difference():
    # GET /orders shows a finished super order's entry as TRADED; the journal, fed from the
    # super-order book, has it CLOSED: both are finished
    leader = order("L1", OrderStatus.TRADED, leg_name=LegName.ENTRY_LEG, filled_qty=2)
    copy = order(
        "F1",
        OrderStatus.TRADED,
        leg_name=LegName.ENTRY_LEG,
        filled_qty=2,
        correlation_id=correlation_id_for("ana", "L1"),
    )
    diff = diff_books(
        [leader],
        {"ana": [copy]},
        [intent("ana", "L1", IntentState.DONE)],
        {"L1": snapshot("L1", OrderStatus.CLOSED, is_super=True)},
        ["ana"],
        "copy_open",
    )
    assert diff.problems == []


def test_a_broker_error_without_a_code_reads_with_single_spaces():
    leader = order("L1", OrderStatus.PENDING)
    copy = order(
        "F1",
        OrderStatus.REJECTED,
        correlation_id=correlation_id_for("ana", "L1"),
    )
    diff = diff_books(
        [leader],
        {"ana": [copy]},
        [intent("ana", "L1", IntentState.REJECTED, error_message="RMS: margin shortfall")],
        {"L1": snapshot("L1", OrderStatus.PENDING)},
        ["ana"],
        "copy_open",
    )
    (line,) = diff.problems
    assert "last error RMS: margin shortfall" in line
    assert "  " not in line
