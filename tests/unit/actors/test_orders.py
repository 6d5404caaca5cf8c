"""``actors.orders``: the place and modify bodies of a copy, by order kind, and "does the broker
order already carry what the intent wants?" (``test_place_request.py`` holds the AMO fields)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors.orders import is_bracket, is_super, matches_desired, modify_request, place_request
from dhan.codes import (
    ExchangeSegment,
    LegName,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
)
from dhan.models import (
    ModifyRequest,
    Order,
    OrderRequest,
    SuperModifyRequest,
    SuperOrderRequest,
)
from store.records import Intent
from store.states import IntentState
from tests.unit.actors.test_decisions import intent

MKT, LMT = OrderType.MARKET, OrderType.LIMIT
SL, SLM = OrderType.STOP_LOSS, OrderType.STOP_LOSS_MARKET


def copy(**fields: object) -> Intent:
    """A planned copy: LIMIT BUY of 10 x 1333 at 1500, DAY (override any field)."""
    return intent(IntentState.PLANNED, broker_order_id=None, **fields)


SUPER = copy(target_price=1600.0, stop_loss_price=1450.0, trailing_jump=5.0)


@pytest.mark.parametrize(
    ("row", "super_", "bracket"),
    [
        (copy(), False, False),
        (copy(product_type=ProductType.BO), False, True),
        (copy(product_type=ProductType.CO), False, True),
        (SUPER, True, True),
        (copy(target_price=1600.0), False, False),  # a super order needs both prices
        (copy(stop_loss_price=1450.0), False, False),
    ],
)
def test_super_orders_and_bo_co_are_brackets(row: Intent, super_: bool, bracket: bool) -> None:
    assert (is_super(row), is_bracket(row)) == (super_, bracket)


@pytest.mark.parametrize(
    ("row", "price", "trigger"),
    [
        (copy(order_type=LMT, price=1500.0, trigger_price=1490.0), 1500.0, None),
        (copy(order_type=MKT, price=1500.0), 0.0, None),  # MARKET goes without a price
        (copy(order_type=SL, price=1500.0, trigger_price=1490.0), 1500.0, 1490.0),
        (copy(order_type=SLM, price=1500.0, trigger_price=1490.0), 0.0, 1490.0),
        # a cover order's stop travels in triggerPrice whatever its entry type
        (copy(order_type=LMT, product_type=ProductType.CO, trigger_price=1480.0), 1500.0, 1480.0),
        (copy(order_type=MKT, product_type=ProductType.CO, trigger_price=1480.0), 0.0, 1480.0),
        (copy(order_type=MKT, product_type=ProductType.CO, trigger_price=0.0), 0.0, None),
    ],
)
def test_a_place_body_carries_only_the_prices_its_order_type_uses(
    row: Intent, price: float, trigger: float | None
) -> None:
    body = place_request(row)
    assert isinstance(body, OrderRequest)
    assert (body.price, body.trigger_price) == (price, trigger)


@pytest.mark.parametrize(
    ("product", "profit", "stop"),
    [
        (ProductType.BO, 20.0, 10.0),
        (ProductType.CO, None, 10.0),
        (ProductType.INTRADAY, None, None),
    ],
)
def test_a_place_body_carries_bracket_values_only_for_the_products_that_use_them(
    product: ProductType, profit: float | None, stop: float | None
) -> None:
    body = place_request(copy(product_type=product, bo_profit_value=20.0, bo_stop_loss_value=10.0))
    assert isinstance(body, OrderRequest)
    assert (body.bo_profit_value, body.bo_stop_loss_value) == (profit, stop)


def test_a_place_body_is_the_intents_order_under_its_correlation_id() -> None:
    body = place_request(copy(validity=None, correlation_id="ct-f-L-1"))
    assert body == OrderRequest(
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=LMT,
        validity=Validity.DAY,  # none known: DAY
        security_id="1333",
        quantity=10,
        price=1500.0,
        correlation_id="ct-f-L-1",
    )
    ioc = place_request(copy(validity=Validity.IOC))
    assert isinstance(ioc, OrderRequest) and ioc.validity is Validity.IOC


@pytest.mark.parametrize(
    ("row", "price", "jump"),
    [
        (SUPER, 1500.0, 5.0),
        (replace(SUPER, order_type=MKT), 0.0, 5.0),
        (replace(SUPER, trailing_jump=None), 1500.0, 0.0),  # no trailing
    ],
)
def test_a_super_copy_is_placed_whole_with_its_target_and_stop(
    row: Intent, price: float, jump: float
) -> None:
    body = place_request(row, super_order=True)
    assert body == SuperOrderRequest(
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=row.order_type,
        security_id="1333",
        quantity=10,
        price=price,
        target_price=1600.0,
        stop_loss_price=1450.0,
        trailing_jump=jump,
        correlation_id="cid",
    )


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (copy(quantity=12), ModifyRequest(LMT, 12, 1500.0, None, Validity.DAY)),
        (copy(order_type=MKT), ModifyRequest(MKT, 10, 0.0, None, Validity.DAY)),
        (
            copy(order_type=SL, trigger_price=1490.0, validity=Validity.IOC),
            ModifyRequest(SL, 10, 1500.0, 1490.0, Validity.IOC),
        ),
        (
            copy(order_type=SLM, trigger_price=1490.0),
            ModifyRequest(SLM, 10, 0.0, 1490.0, Validity.DAY),
        ),
        # a cover order's modify carries no trigger unless its type is a stop
        (
            copy(product_type=ProductType.CO, trigger_price=1480.0),
            ModifyRequest(LMT, 10, 1500.0, None, Validity.DAY),
        ),
    ],
)
def test_a_modify_body_carries_the_total_quantity_and_the_full_field_set(
    row: Intent, expected: ModifyRequest
) -> None:
    assert modify_request(row) == expected


def test_a_super_entry_is_modified_with_its_target_stop_and_jump() -> None:
    body = modify_request(replace(SUPER, quantity=12, price=1510.0), super_leg=LegName.ENTRY_LEG)
    assert body == SuperModifyRequest.entry(
        order_type=LMT,
        quantity=12,
        price=1510.0,
        target_price=1600.0,
        stop_loss_price=1450.0,
        trailing_jump=5.0,
    )


def test_a_super_exit_leg_is_not_the_followers_to_modify() -> None:
    with pytest.raises(AssertionError, match="BracketLegActor"):
        modify_request(SUPER, super_leg=LegName.TARGET_LEG)


def broker(order_type: OrderType = LMT, **fields: object) -> Order:
    """The broker's copy: 10 x 1333 at 1500, trigger 1490 (override any field)."""
    base = Order(
        order_id="B-1",
        order_status=OrderStatus.PENDING,
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=order_type,
        security_id="1333",
        quantity=10,
        price=1500.0,
        trigger_price=1490.0,
    )
    return replace(base, **fields)  # type: ignore[arg-type]  # test data by keyword


@pytest.mark.parametrize(
    ("row", "order", "matches"),
    [
        (copy(), broker(), True),
        (copy(quantity=12), broker(), False),
        (copy(price=1500.0000001), broker(), True),  # within the tolerance
        (copy(price=1501.0), broker(), False),
        # a MARKET copy (or one the broker converted under MPP) has no price to compare
        (copy(order_type=MKT, price=0.0), broker(MKT, price=1520.0), True),
        (copy(price=1501.0), broker(MKT), True),
        (copy(order_type=SL, trigger_price=1490.0), broker(SL), True),
        (copy(order_type=SL, trigger_price=1480.0), broker(SL), False),
        (copy(order_type=SL, price=1505.0, trigger_price=1490.0), broker(SL), False),
        (copy(order_type=SLM, price=0.0, trigger_price=1490.0), broker(SLM, price=0.0), True),
        (copy(order_type=SLM, trigger_price=1495.0), broker(SLM), False),
    ],
)
def test_a_broker_order_matches_when_quantity_and_the_prices_its_type_uses_agree(
    row: Intent, order: Order, matches: bool
) -> None:
    assert matches_desired(row, order) is matches
