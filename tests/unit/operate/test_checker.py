"""``copytrader.checker.check_books``: the journal vs the books, and each copy's content."""

from __future__ import annotations

from typing import Any

from copytrader.checker import check_books
from copytrader.config import FollowerConfig, Secret, SizingConfig, SizingMode
from dhan.correlation import correlation_id_for
from store.states import IntentState
from tests.unit.operate.test_book_diff import intent

ANA = FollowerConfig(
    name="ana",
    client_id="1600000001",
    access_token=Secret("tok-ana"),
    sizing=SizingConfig(mode=SizingMode.MULTIPLIER, multiplier=2.0),
)


def row(oid: str, status: str = "PENDING", **kw: Any) -> dict[str, Any]:
    """One order of the simulator's admin view."""
    return {
        "orderId": oid,
        "orderStatus": status,
        "transactionType": "BUY",
        "exchangeSegment": "NSE_EQ",
        "productType": "INTRADAY",
        "orderType": "LIMIT",
        "requestedOrderType": "LIMIT",
        "validity": "DAY",
        "securityId": "1333",
        "quantity": 2,
        "filledQty": 0,
        "price": 1500.0,
        "triggerPrice": 0.0,
        "legName": None,
        "parentOrderId": None,
        "correlationId": None,
        **kw,
    }


def copy_of(oid: str, **kw: Any) -> dict[str, Any]:
    return row(f"F{oid}", correlationId=correlation_id_for("ana", oid), **kw)


def test_a_copy_present_once_but_not_moved_with_the_leader_is_counted_wrong():
    leader = [row("L1", price=1510.0), row("L2")]
    book = [copy_of("L1", quantity=4, price=1500.0), copy_of("L2", quantity=4)]
    intents = [
        intent("ana", "L1", IntentState.WORKING, quantity=4),
        intent("ana", "L2", IntentState.WORKING, quantity=4),
    ]

    without_leader = check_books(intents, {"ana": book})
    judged = check_books(intents, {"ana": book}, leader_book=leader, followers=[ANA])

    assert (without_leader.ok, without_leader.wrong, without_leader.bad) == (2, 0, 0)
    assert (judged.ok, judged.wrong, judged.bad) == (2, 1, 1)
    (problem,) = judged.problems
    assert problem.startswith("wrong: ana/L1: price 1500 != the leader's 1510")
    assert judged.line().endswith("wrong=1")


def test_a_copy_skipped_for_a_reason_that_no_longer_holds_is_counted_wrong():
    leader = [row("L1", quantity=3)]
    skipped = intent(
        "ana",
        "L1",
        IntentState.SKIPPED,
        skip_reason="sized below one lot (0.5 < 1)",
        broker_order_id=None,
    )

    judged = check_books([skipped], {"ana": []}, leader_book=leader, followers=[ANA])

    assert (judged.not_sent, judged.wrong) == (1, 1)
    assert "the recorded reason no longer holds" in judged.problems[0]


def _generations(status_of_first: str, filled_first: int) -> tuple[Any, Any]:
    """A copy cancelled below one lot and placed again under generation 1, its first order in
    ``status_of_first`` with ``filled_first`` filled."""
    first = correlation_id_for("ana", "L1")
    second = correlation_id_for("ana", "L1", generation=1)
    leader = [row("L1", quantity=4)]
    book = [
        row("F1", status_of_first, correlationId=first, quantity=2, filledQty=filled_first),
        row("F2", correlationId=second, quantity=8),
    ]
    replaced = intent("ana", "L1", IntentState.WORKING, quantity=8, correlation_id=second)
    return leader, (book, [replaced])


def test_an_earlier_generation_of_a_re_placed_copy_that_ended_unfilled_is_not_unexpected():
    leader, (book, intents) = _generations("CANCELLED", 0)

    result = check_books(intents, {"ana": book}, leader_book=leader, followers=[ANA])

    assert (result.ok, result.unexpected, result.duplicated, result.wrong) == (1, 0, 0, 0)
    assert result.problems == []


def test_an_earlier_generation_still_open_or_filled_beside_the_re_placed_copy_is_a_duplicate():
    for status, filled in (("PENDING", 0), ("TRADED", 2), ("CANCELLED", 1)):
        leader, (book, intents) = _generations(status, filled)

        result = check_books(intents, {"ana": book}, leader_book=leader, followers=[ANA])

        assert (result.duplicated, result.unexpected) == (1, 0), (status, result.problems)
        (problem,) = result.problems
        assert "beside the copy's later generation" in problem


def test_reconciles_rows_from_the_rest_book_judge_earlier_generations_by_their_status_too():
    from copytrader.commands import _as_book_row
    from dhan.models import Order

    for status, filled, duplicated in (("CANCELLED", 0, 0), ("PENDING", 0, 1)):
        _, (book, intents) = _generations(status, filled)
        rows = [_as_book_row(Order.from_wire(o, "test book")) for o in book]

        result = check_books(intents, {"ana": rows})

        assert (result.ok, result.duplicated, result.unexpected) == (1, duplicated, 0), status
