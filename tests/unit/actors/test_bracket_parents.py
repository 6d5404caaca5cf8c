"""``actors.snapshots.bracket_parents``: a BO/CO leg of the REST book linked to its entry; and
``super_legs_in``: the super orders an order book's exit-leg rows reveal."""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors.snapshots import bracket_parents, super_legs_in
from dhan.codes import (
    ExchangeSegment,
    LegName,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
)
from dhan.models import Order


def _entry(order_id: str, *, cid: str | None = None, qty: int = 4, sid: str = "1333") -> Order:
    return Order(
        order_id=order_id,
        order_status=OrderStatus.TRADED,
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.BO,
        order_type=OrderType.LIMIT,
        security_id=sid,
        quantity=qty,
        filled_qty=qty,
        price=1000.0,
        correlation_id=cid,
        bo_profit_value=10.0,
        bo_stop_loss_value=5.0,
        leg_name=LegName.ENTRY_LEG,
    )


def _leg(
    order_id: str, leg: LegName, *, cid: str | None = None, qty: int = 4, sid: str = "1333"
) -> Order:
    return Order(
        order_id=order_id,
        order_status=OrderStatus.PENDING,
        transaction_type=TransactionType.SELL,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.BO,
        order_type=OrderType.LIMIT if leg is LegName.TARGET_LEG else OrderType.STOP_LOSS_MARKET,
        security_id=sid,
        quantity=qty,
        correlation_id=cid,
        bo_profit_value=10.0,
        bo_stop_loss_value=5.0,
        leg_name=leg,
    )


T, S = LegName.TARGET_LEG, LegName.STOP_LOSS_LEG


def test_legs_of_an_entry_placed_from_dhans_app_are_linked_to_it_without_a_correlation_id() -> None:
    book = [_entry("11"), _leg("12", T), _leg("13", S)]
    assert bracket_parents(book) == {"12": "11", "13": "11"}


def test_legs_of_a_tagged_entry_follow_the_correlation_id() -> None:
    book = [
        _entry("11", cid="a"),
        _entry("14", cid="b"),
        _leg("15", T, cid="a"),
        _leg("16", T, cid="b"),
    ]
    assert bracket_parents(book) == {"15": "11", "16": "14"}


def test_each_untagged_entry_gets_its_own_legs_when_two_brackets_are_alike() -> None:
    # the second bracket filled first: its legs were numbered before the first one's
    book = [_entry("11"), _entry("12"), _leg("13", T), _leg("14", S), _leg("15", T), _leg("16", S)]
    parents = bracket_parents(book)
    assert parents["13"] == parents["14"] == "12"
    assert parents["15"] == parents["16"] == "11"


def test_the_journaled_link_wins_over_the_books_shape() -> None:
    book = [_entry("11"), _entry("12"), _leg("13", T), _leg("15", T)]
    assert bracket_parents(book, {"13": "11"}) == {"13": "11", "15": "12"}


def test_a_leg_is_never_linked_to_another_instrument_or_quantity_or_to_nothing() -> None:
    book = [_entry("11", sid="2885"), _entry("12", qty=2), _leg("13", T), _leg("10", S)]
    assert bracket_parents(book) == {}


def _intraday(o: Order) -> Order:
    return replace(
        o, product_type=ProductType.INTRADAY, bo_profit_value=0.0, bo_stop_loss_value=0.0
    )


@pytest.mark.parametrize(
    ("book", "supers"),
    [
        # a traded super order with its legs listed under its orderId
        ([_intraday(_entry("21")), _intraday(_leg("21", T)), _intraday(_leg("21", S))], {"21"}),
        # one leg is enough (the other ended out of the book's sight)
        ([_intraday(_entry("21")), _intraday(_leg("21", S))], {"21"}),
        # a pending super order: only its entry, nothing reveals it
        ([_intraday(_entry("21"))], set()),
        # BO / CO legs have ids of their own and are not super legs
        ([_entry("11"), _leg("12", T), _leg("13", S)], set()),
        ([replace(_leg("14", S), product_type=ProductType.CO)], set()),
        # a plain order, with or without a legName
        ([_intraday(replace(_entry("31"), leg_name=None))], set()),
        ([], set()),
    ],
)
def test_an_order_books_exit_leg_rows_outside_bo_and_co_reveal_their_super_orders(
    book: list[Order], supers: set[str]
) -> None:
    assert super_legs_in(book) == supers
