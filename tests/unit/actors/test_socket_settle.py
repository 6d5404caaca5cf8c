"""Settling copies from the follower's order-socket frames (``actors.book_settle``) and the fill
each frame journals (``actors.position_check.fill_of``): the pure parts, table by table."""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors.book_settle import copies_updated, order_from_update, worth_settling
from actors.position_check import fill_of
from dhan.codes import (
    ExchangeSegment,
    LegName,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
)
from dhan.models import Order
from dhan.order_feed import OrderUpdate
from store.records import Intent, OrderFill, PositionKey
from store.states import IntentState

from .copies import intent, order

S = IntentState
O = OrderStatus  # noqa: E741  # one letter keeps the table rows on one line

#: broker order B-1 (correlationId cid-1) as its frame tells it: the copies.py intent's fields
FRAME = OrderUpdate(
    order_no="B-1",
    status=O.PENDING,
    raw_status="Pending",
    quantity=10,
    traded_qty=0,
    remaining_quantity=10,
    client_id="1000000001",
    exchange_segment=ExchangeSegment.NSE_EQ,
    security_id="1333",
    product_type=ProductType.INTRADAY,
    transaction_type=TransactionType.BUY,
    order_type=OrderType.LIMIT,
    validity=Validity.DAY,
    price=1500.0,
    correlation_id="cid-1",
    reason_description="CONFIRMED",
)


def frame(status: OrderStatus = O.PENDING, **fields: object) -> OrderUpdate:
    return replace(FRAME, status=status, **fields)  # type: ignore[arg-type]  # test data


# --- order_from_update ---------------------------------------------------------------------


def test_a_frame_reads_as_the_order_the_book_would_show() -> None:
    u = frame(O.PART_TRADED, traded_qty=4, remaining_quantity=6, avg_traded_price=1499.5)
    assert order_from_update(u) == order(
        O.PART_TRADED,
        filled_qty=4,
        remaining_quantity=6,
        average_traded_price=1499.5,
        client_id="1000000001",
    )


@pytest.mark.parametrize(
    ("u", "error"),
    [
        (frame(O.REJECTED, reason_description="RMS: margin shortfall"), "RMS: margin shortfall"),
        # the socket says CONFIRMED for any live order: not an error text
        (frame(O.PENDING), None),
        (frame(O.TRADED, traded_qty=10), None),
    ],
)
def test_only_a_rejections_reason_is_kept_as_its_error(u: OrderUpdate, error: str | None) -> None:
    found = order_from_update(u)
    assert found is not None and found.oms_error_description == error


@pytest.mark.parametrize(
    "missing",
    ["exchange_segment", "security_id", "product_type", "transaction_type", "order_type"],
)
def test_a_frame_with_an_unknown_code_is_left_to_the_book(missing: str) -> None:
    assert order_from_update(frame(**{missing: None})) is None


# --- worth_settling --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("u", "worth"),
    [
        (frame(O.TRANSIT), False),
        (frame(O.PENDING), False),
        (frame(O.PART_TRADED, traded_qty=4), True),
        (frame(O.TRADED, traded_qty=10), True),
        (frame(O.CANCELLED), True),
        (frame(O.REJECTED), True),
        (frame(O.EXPIRED), True),
    ],
)
def test_only_fills_and_ends_are_worth_settling(u: OrderUpdate, worth: bool) -> None:
    assert worth_settling(u) is worth


# --- copies_updated --------------------------------------------------------------------------

SUPER = dict(target_price=1600.0, stop_loss_price=1400.0, trailing_jump=0.0)


@pytest.mark.parametrize(
    ("copy", "orders", "moved", "later"),
    [
        # a fill or an end of a working copy moves it, matched by correlationId or order id
        (intent(), [order(O.PART_TRADED, filled_qty=4)], True, False),
        (intent(), [order(O.TRADED, filled_qty=10)], True, False),
        (intent(), [order(O.CANCELLED)], True, False),
        (intent(), [order(O.TRADED, filled_qty=10, correlation_id=None)], True, False),
        # nothing new: no write
        (intent(filled_qty=4), [order(O.PART_TRADED, filled_qty=4)], False, False),
        (intent(), [order(O.PENDING)], False, False),
        # an older frame than the journal (a book read recorded more) never moves it back
        (intent(filled_qty=6), [order(O.PART_TRADED, filled_qty=4)], False, False),
        # the latest frame of the order wins
        (
            intent(),
            [order(O.PART_TRADED, filled_qty=4), order(O.TRADED, filled_qty=10)],
            True,
            False,
        ),
        # another account's order, an exit leg with the entry's correlationId, another order
        # reusing the correlationId: not this copy's
        (
            intent(),
            [order(O.TRADED, filled_qty=10, order_id="B-9", correlation_id="x")],
            False,
            False,
        ),
        (
            intent(),
            [order(O.TRADED, order_id="B-7", filled_qty=10, leg_name=LegName.TARGET_LEG)],
            False,
            False,
        ),
        (intent(), [order(O.TRADED, filled_qty=10, order_id="B-8")], False, False),
        # an exit leg's frame carrying its entry's order id (a super order's legs do)
        (
            intent(),
            [order(O.TRADED, filled_qty=10, leg_name=LegName.STOP_LOSS_LEG, correlation_id=None)],
            False,
            False,
        ),
        # a modify or cancel in flight owns the row: read from the book later
        (intent(S.CANCELLING), [order(O.TRADED, filled_qty=10)], False, True),
        (intent(S.MODIFYING), [order(O.PART_TRADED, filled_qty=3)], False, True),
        # a super order's copy is settled from the super-order book, never from a frame
        (intent(**SUPER), [order(O.TRADED, filled_qty=10)], False, False),
        # a bracket's entry is a plain row of the book: settled from its frame
        (intent(product_type=ProductType.BO), [order(O.TRADED, filled_qty=10)], True, False),
    ],
)
def test_frames_move_the_working_copies_they_fill_or_end(
    copy: Intent, orders: list[Order], moved: bool, later: bool
) -> None:
    got_moved, got_later = copies_updated([copy], orders)
    assert got_moved == ([(copy, orders[-1])] if moved else [])
    assert got_later == ([copy] if later else [])


def test_each_copy_gets_its_own_orders_frame() -> None:
    one, two = intent(), intent(id=2, correlation_id="cid-2", broker_order_id="B-2")
    first = order(O.TRADED, filled_qty=10)
    second = order(O.PART_TRADED, filled_qty=5, order_id="B-2", correlation_id="cid-2")
    moved, later = copies_updated([one, two], [second, first])
    assert (moved, later) == ([(one, first), (two, second)], [])


# --- fill_of ------------------------------------------------------------------------------------

KEY = PositionKey("NSE_EQ", "1333", "INTRADAY")


@pytest.mark.parametrize(
    ("u", "fill"),
    [
        (frame(O.PENDING), None),
        (frame(O.PART_TRADED, traded_qty=4), OrderFill("B-1", KEY, "BUY", 4)),
        (
            frame(O.TRADED, traded_qty=10, transaction_type=TransactionType.SELL),
            OrderFill("B-1", KEY, "SELL", 10),
        ),
        # an exit leg is ledgered apart from its entry (a super order's share the order id)
        (
            frame(O.TRADED, traded_qty=10, leg_name=LegName.TARGET_LEG),
            OrderFill("B-1:TARGET_LEG", KEY, "BUY", 10),
        ),
        (
            frame(O.TRADED, traded_qty=10, leg_name=LegName.ENTRY_LEG),
            OrderFill("B-1", KEY, "BUY", 10),
        ),
        # the instrument unknown: left to the next position check
        (frame(O.TRADED, traded_qty=10, exchange_segment=None), None),
        (frame(O.TRADED, traded_qty=10, transaction_type=None), None),
    ],
)
def test_a_frame_journals_its_cumulative_fill(u: OrderUpdate, fill: OrderFill | None) -> None:
    assert fill_of(u) == fill
