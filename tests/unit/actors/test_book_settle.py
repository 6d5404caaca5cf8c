"""Settling copies from the broker's view, row by row (``actors.book_settle``)."""

from __future__ import annotations

import pytest

from actors.book_settle import (
    by_correlation_id,
    changed_copies,
    copy_wanted_again,
    needs_legs,
    plain_with_ids,
    refresh_names,
    settle_move,
    settled_names,
    skip_after_disabled,
    stop_trigger_crossed,
)
from dhan.codes import (
    ExchangeSegment,
    LegName,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
)
from dhan.models import Order, SuperOrder
from store.records import Intent, LeaderOrderSnapshot, SnapshotSource, TransitionRequest
from store.states import IntentState

from .copies import intent, order

S = IntentState
O = OrderStatus  # noqa: E741  # one letter keeps the table rows on one line


@pytest.mark.parametrize(
    ("row", "found", "to", "applied"),
    [
        # still open: WORKING; the applied version is the desired one only if the order has it
        (intent(S.UNKNOWN, broker_order_id=None), order(O.PENDING), S.WORKING, 2),
        (intent(S.UNKNOWN), order(O.PENDING, price=1490.0), S.WORKING, 1),
        (intent(S.UNKNOWN), order(O.PENDING, quantity=7), S.WORKING, 1),
        (intent(S.WORKING), order(O.PART_TRADED, filled_qty=4), S.WORKING, 2),
        # ended: DONE, whatever the end
        (intent(S.WORKING), order(O.TRADED, filled_qty=10), S.DONE, 2),
        (intent(S.CANCELLING), order(O.CANCELLED), S.DONE, 2),
        (intent(S.WORKING), order(O.EXPIRED), S.DONE, 2),
        # rejected: REJECTED only if we never had its order id (a rejected place); a working
        # copy the exchange rejected later is DONE
        (intent(S.UNKNOWN, broker_order_id=None), order(O.REJECTED), S.REJECTED, 2),
        (intent(S.WORKING), order(O.REJECTED), S.DONE, 2),
    ],
)
def test_a_copy_is_settled_to_the_state_its_broker_order_shows(
    row: Intent, found: Order, to: IntentState, applied: int
) -> None:
    assert settle_move(row, found) == TransitionRequest(
        intent_id=1,
        to=to,
        expect_from=row.state,
        broker_order_id="B-1",
        broker_status=found.order_status,
        filled_qty=found.filled_qty,
        applied_version=applied,
    )


def test_the_brokers_rejection_text_is_kept_as_the_error_message() -> None:
    found = order(O.REJECTED, oms_error_description="RMS: margin shortfall")
    move = settle_move(intent(S.UNKNOWN, broker_order_id=None), found)
    assert (move.to, move.error_message) == (S.REJECTED, "RMS: margin shortfall")


ENTRY = order(O.PENDING, order_id="B-2", correlation_id="c2", leg_name=LegName.ENTRY_LEG)
TARGET = order(O.PENDING, order_id="B-3", correlation_id="c2", leg_name=LegName.TARGET_LEG)
NO_CID = order(O.PENDING, order_id="B-4", correlation_id=None)
SUPER = SuperOrder(
    order_id="S-1",
    order_status=O.PENDING,
    transaction_type=TransactionType.BUY,
    exchange_segment=ExchangeSegment.NSE_EQ,
    product_type=ProductType.INTRADAY,
    order_type=OrderType.LIMIT,
    security_id="1333",
    quantity=10,
    correlation_id="c5",
)


@pytest.mark.parametrize(
    ("orders", "supers", "expected"),
    [
        ([order()], [], {"cid-1": "B-1"}),
        # an exit leg shares its entry's correlationId: only the entry is adopted
        ([ENTRY, TARGET], [], {"c2": "B-2"}),
        ([TARGET, ENTRY], [], {"c2": "B-2"}),
        ([NO_CID], [], {}),  # placed by hand, not by us
        ([order()], [SUPER], {"cid-1": "B-1", "c5": "S-1"}),
    ],
)
def test_orders_are_adopted_by_correlation_id_never_by_an_exit_leg(
    orders: list[Order], supers: list[SuperOrder], expected: dict[str, str]
) -> None:
    found = by_correlation_id(orders, supers)
    assert {cid: o.order_id for cid, o in found.items()} == expected


A = intent(S.WORKING, id=1, broker_order_id="B-1", correlation_id="cid-1", filled_qty=0)
B = intent(S.WORKING, id=2, broker_order_id="B-2", correlation_id="cid-2", filled_qty=3)
UNACKED = intent(S.WORKING, id=3, broker_order_id=None, correlation_id="cid-3")


@pytest.mark.parametrize(
    ("book", "changed"),
    [
        ({}, []),
        ({"B-1": order(O.PENDING)}, []),  # nothing new
        ({"B-1": order(O.TRANSIT)}, []),  # TRANSIT -> PENDING is not worth a write
        ({"B-1": order(O.PART_TRADED, filled_qty=4)}, [1]),  # a fill
        ({"B-2": order(O.PART_TRADED, order_id="B-2", filled_qty=3)}, []),  # the same fill
        ({"B-2": order(O.CANCELLED, order_id="B-2", filled_qty=3)}, [2]),  # the end
        ({"B-1": order(O.TRADED, filled_qty=10), "B-2": order(O.TRADED, order_id="B-2")}, [1, 2]),
    ],
)
def test_only_copies_that_filled_more_or_ended_are_written(
    book: dict[str, Order], changed: list[int]
) -> None:
    assert [i.id for i, _o in changed_copies([A, B, UNACKED], book)] == changed


def test_a_refresh_names_each_copys_correlation_id_and_order_id() -> None:
    assert refresh_names(iter([A, UNACKED])) == ["cid-1", "cid-3", "B-1"]


@pytest.mark.parametrize(
    ("moved", "names"),
    [
        (S.WORKING, []),  # still open: its rows stay named
        (S.DONE, ["cid-1", "B-1"]),
        (S.REJECTED, ["cid-1", "B-1"]),
    ],
)
def test_a_settled_copy_lets_go_of_its_book_rows(moved: IntentState, names: list[str]) -> None:
    assert settled_names(A, intent(moved)) == names


BO = intent(S.WORKING, product_type=ProductType.BO, bo_profit_value=5.0, bo_stop_loss_value=5.0)
SUPER_COPY = intent(S.WORKING, target_price=1600.0, stop_loss_price=1400.0)


@pytest.mark.parametrize(
    ("row", "moved", "legs"),
    [
        (BO, S.WORKING, True),
        (BO, S.DONE, True),  # a filled entry: its legs are what is left to watch
        (BO, S.REJECTED, False),
        (SUPER_COPY, S.DONE, True),
        (intent(S.WORKING), S.DONE, False),  # a plain order has no legs
    ],
)
def test_a_bracket_copy_found_at_the_broker_gets_its_leg_actor(
    row: Intent, moved: IntentState, legs: bool
) -> None:
    assert needs_legs(row, intent(moved)) is legs


@pytest.mark.parametrize(
    ("working", "one_by_one"),
    [
        ([A, B], True),
        ([], True),
        ([A, UNACKED], False),  # no order id to read by
        ([A, BO], False),  # a bracket's legs come from the shared book
        ([SUPER_COPY], False),
    ],
)
def test_only_plain_acked_copies_can_be_read_one_by_one(
    working: list[Intent], one_by_one: bool
) -> None:
    assert plain_with_ids(working) is one_by_one


@pytest.mark.parametrize(
    ("cancelled", "again"),
    [
        (intent(S.DONE, desired_open=True, quantity=10, filled_qty=0), True),
        (intent(S.DONE, desired_open=False), False),  # the leader cancelled too
        (intent(S.DONE, quantity=0), False),
        (intent(S.DONE, skip_reason="filtered"), False),
        (intent(S.DONE, filled_qty=2), False),  # part filled: a new order would double it
        (intent(S.WORKING), False),  # the cancel did not settle it
    ],
)
def test_a_cancel_the_leader_overtook_asks_for_a_new_copy(cancelled: Intent, again: bool) -> None:
    assert copy_wanted_again(cancelled) is again


def snapshot(status: OrderStatus) -> LeaderOrderSnapshot:
    return LeaderOrderSnapshot(
        leader_order_id="L-1",
        dedupe_key="k",
        source=SnapshotSource.SOCKET,
        status=status,
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.LIMIT,
        security_id="1333",
        quantity=10,
        seq=1,
    )


PLANNED = intent(S.PLANNED, attempts=0, broker_order_id=None)
OPEN, FILLED = snapshot(O.PENDING), snapshot(O.TRADED)


@pytest.mark.parametrize(
    ("policy", "row", "snap", "is_exit", "skipped"),
    [
        ("copy_open", PLANNED, OPEN, False, None),
        ("copy_open", PLANNED, FILLED, False, "leader order TRADED"),
        ("copy_open", PLANNED, None, False, "leader order unknown"),
        # an exit of the leader's position is copied though finished (sized from the
        # follower's own position)
        ("copy_open", PLANNED, FILLED, True, None),
        ("copy_all", PLANNED, FILLED, False, None),
        ("skip", PLANNED, OPEN, False, "leader order PENDING"),
        ("skip", PLANNED, FILLED, True, "leader order TRADED"),
        ("alert", PLANNED, FILLED, False, "leader order TRADED"),
        # sent or claimed while enabled: owed whatever the leader did since
        ("skip", intent(S.PLANNED, attempts=1), FILLED, False, None),
    ],
)
def test_copies_planned_while_disabled_follow_the_reconcile_policy(
    policy: str,
    row: Intent,
    snap: LeaderOrderSnapshot | None,
    is_exit: bool,
    skipped: str | None,
) -> None:
    reason = skip_after_disabled(policy, row, snap, is_exit=is_exit)
    if skipped is None:
        assert reason is None
    else:
        assert reason == (f"planned while the follower was disabled ({skipped}); policy {policy}")


CROSSED = "Trigger price for a stop-loss sell order should be below LTP"


@pytest.mark.parametrize(
    ("row", "found", "crossed"),
    [
        (intent(S.WORKING, order_type=OrderType.STOP_LOSS_MARKET), CROSSED, True),
        (intent(S.WORKING, order_type=OrderType.STOP_LOSS), CROSSED, True),
        (
            intent(S.WORKING, order_type=OrderType.STOP_LOSS),
            "RMS: trigger price must be above the last traded price",
            True,
        ),
        # another refusal, or not a stop, or something filled
        (intent(S.WORKING, order_type=OrderType.STOP_LOSS), "RMS:Margin Exceeds", False),
        (intent(S.WORKING, order_type=OrderType.LIMIT), CROSSED, False),
        (intent(S.WORKING, order_type=OrderType.STOP_LOSS), None, False),
    ],
)
def test_a_stop_refused_because_the_market_crossed_its_trigger_is_told_apart(
    row: Intent, found: str | None, crossed: bool
) -> None:
    rejected = order(O.REJECTED, oms_error_description=found)
    assert stop_trigger_crossed(row, rejected) is crossed
    assert stop_trigger_crossed(row, order(O.CANCELLED, oms_error_description=found)) is False
    assert stop_trigger_crossed(row, order(O.REJECTED, filled_qty=2)) is False
