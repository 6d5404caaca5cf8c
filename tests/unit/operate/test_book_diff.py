"""``copytrader reconcile``'s leader-vs-follower judgement (``copytrader.book_diff``), as tables."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from copytrader.book_diff import diff_books
from copytrader.config import FollowerConfig, Secret, SizingConfig, SizingMode
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
from tests.unit.actors import copies

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
ANA = FollowerConfig(
    name="ana",
    client_id="1600000001",
    access_token=Secret("tok-ana"),
    sizing=SizingConfig(mode=SizingMode.MULTIPLIER, multiplier=1.0),
)


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
    """The follower's copy of leader order ``oid`` (2 at 1500, broker order F1)."""
    fields: dict[str, object] = {
        "follower": follower,
        "leader_order_id": oid,
        "correlation_id": correlation_id_for(follower, oid),
        "quantity": 2,
        "desired_version": 1,
        "broker_order_id": "F1",
        "broker_status": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    return copies.intent(state, **(fields | kw))


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
        [ANA],
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
        [ANA],
        "copy_open",
    )
    (line,) = diff.problems
    assert "last error RMS: margin shortfall" in line
    assert "  " not in line


def _super(oid: str, status: OrderStatus, target: float, stop: float, jump: float, **kw: object):
    from dhan.models import SuperLeg, SuperOrder

    return SuperOrder(
        order_id=oid,
        order_status=status,
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.LIMIT,
        security_id="11536",
        quantity=2,
        price=3500.0,
        validity=Validity.DAY,
        legs=(
            SuperLeg(oid, LegName.TARGET_LEG, OrderStatus.PENDING, price=target),
            SuperLeg(
                oid, LegName.STOP_LOSS_LEG, OrderStatus.PENDING, price=stop, trailing_jump=jump
            ),
        ),
        **kw,  # type: ignore[arg-type]
    )


def test_super_order_legs_are_compared_from_the_super_order_books():
    cid = correlation_id_for("ana", "L1")
    leader_row = order("L1", OrderStatus.PENDING, leg_name=LegName.ENTRY_LEG, price=3500.0)
    copy_row = order("F1", OrderStatus.PENDING, leg_name=LegName.ENTRY_LEG, correlation_id=cid)
    diff = diff_books(
        [leader_row],
        {"ana": [copy_row]},
        [intent("ana", "L1", IntentState.WORKING, price=3500.0)],
        {"L1": snapshot("L1", OrderStatus.PENDING, price=3500.0, is_super=True)},
        [ANA],
        "copy_open",
        leader_supers=[_super("L1", OrderStatus.PENDING, 3530.0, 3490.0, 5.0)],
        follower_supers={
            "ana": [_super("F1", OrderStatus.PENDING, 3520.0, 3490.0, 0.0, correlation_id=cid)]
        },
    )
    (line,) = diff.problems
    assert line.startswith("ana/L1: ")
    assert "target leg at 3520 != the leader's 3530" in line
    assert "stop-loss leg trailing jump 0 != the leader's 5" in line
    assert diff.wrong == 1


def test_a_skip_whose_reason_no_longer_holds_is_a_difference_and_one_that_holds_is_by_design():
    half = FollowerConfig(
        name="bob",
        client_id="1600000002",
        access_token=Secret("tok-bob"),
        sizing=SizingConfig(mode=SizingMode.MULTIPLIER, multiplier=0.5),
    )
    reason = "below one lot: sized 0.5 < 1"
    skipped = {"skip_reason": reason, "state_reason": reason, "broker_order_id": None}
    diff = diff_books(
        [
            order("L1", OrderStatus.PENDING, quantity=6),
            order("L2", OrderStatus.PENDING, quantity=1),
        ],
        {"bob": []},
        [
            intent("bob", "L1", IntentState.SKIPPED, **skipped),
            intent("bob", "L2", IntentState.SKIPPED, **skipped),
        ],
        {
            "L1": snapshot("L1", OrderStatus.PENDING, quantity=6),
            "L2": snapshot("L2", OrderStatus.PENDING, quantity=1),
        },
        [half],
        "copy_open",
    )
    (problem,) = diff.problems
    assert problem.startswith("bob/L1: no copy while the leader order is PENDING")
    assert "the copy would be 3" in problem
    assert f"the recorded reason no longer holds: {reason}" in problem
    assert diff.notes == [f"bob/L2: not copied: {reason}"]


def test_an_exit_copy_is_judged_against_the_journaled_basis():
    # a fixed-3 follower; the leader sells 10 of its 30: the follower's exit is 1 of its 3
    fixed = replace(ANA, sizing=SizingConfig(mode=SizingMode.FIXED, quantity=3))
    sell = {"transaction_type": TransactionType.SELL, "quantity": 10}
    leader = order("L1", OrderStatus.PENDING, **sell)
    copy = order(
        "F1",
        OrderStatus.PENDING,
        transaction_type=TransactionType.SELL,
        quantity=1,
        correlation_id=correlation_id_for("ana", "L1"),
    )

    def judged(bases: dict[str, dict[str, int]] | None) -> list[str]:
        return diff_books(
            [leader],
            {"ana": [copy]},
            [intent("ana", "L1", IntentState.WORKING, quantity=1, transaction_type="SELL")],
            {"L1": snapshot("L1", OrderStatus.PENDING, **sell)},
            [fixed],
            "copy_open",
            bases=bases,
        ).problems

    assert judged({"L1": {"leader": 30, "ana": 3}}) == []
    (line,) = judged(None)  # without its basis the copy reads as a fixed 3
    assert "quantity" in line
