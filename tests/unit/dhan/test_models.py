"""Request records build exactly the documented bodies; response records parse tolerantly."""

from __future__ import annotations

import pytest

from dhan.codes import (
    AmoTime,
    ExchangeSegment,
    LegName,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
)
from dhan.errors import BadResponse
from dhan.models import (
    FundLimits,
    ModifyRequest,
    Order,
    OrderAck,
    OrderRequest,
    SuperModifyRequest,
    SuperOrderRequest,
    to_float,
    to_int,
)


def market_buy(**kw: object) -> OrderRequest:
    base: dict[str, object] = {
        "transaction_type": TransactionType.BUY,
        "exchange_segment": ExchangeSegment.NSE_FNO,
        "product_type": ProductType.MARGIN,
        "order_type": OrderType.MARKET,
        "validity": Validity.IOC,
        "security_id": "52175",
        "quantity": 50,
    }
    base.update(kw)
    return OrderRequest(**base)  # type: ignore[arg-type]  # test helper: checked at run time


def test_an_order_request_omits_every_unset_optional_field():
    assert market_buy().to_wire() == {
        "transactionType": "BUY",
        "exchangeSegment": "NSE_FNO",
        "productType": "MARGIN",
        "orderType": "MARKET",
        "validity": "IOC",
        "securityId": "52175",
        "quantity": 50,
        "price": 0.0,
        "afterMarketOrder": False,
    }


def test_an_amo_bracket_order_request_sends_its_extra_fields():
    wire = market_buy(
        product_type=ProductType.BO,
        order_type=OrderType.STOP_LOSS,
        price=100.0,
        trigger_price=99.5,
        after_market_order=True,
        amo_time=AmoTime.OPEN_30,
        bo_profit_value=2.0,
        bo_stop_loss_value=1.0,
        disclosed_quantity=20,
    ).to_wire()

    assert wire["amoTime"] == "OPEN_30" and wire["afterMarketOrder"] is True
    assert (wire["boProfitValue"], wire["boStopLossValue"]) == (2.0, 1.0)
    assert (wire["triggerPrice"], wire["disclosedQuantity"]) == (99.5, 20)


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"quantity": 0}, "quantity"),
        ({"quantity": -5}, "quantity"),
        ({"price": -1.0}, "price"),
        ({"price": float("nan")}, "price"),
        ({"security_id": ""}, "security_id"),
        ({"correlation_id": "x" * 31}, "correlation_id"),
        ({"correlation_id": "has space"}, "correlation_id"),
        ({"order_type": OrderType.STOP_LOSS_MARKET}, "trigger_price"),
    ],
)
def test_an_invalid_order_request_is_refused_before_it_is_sent(
    overrides: dict[str, object], complaint: str
):
    with pytest.raises(ValueError, match=complaint):
        market_buy(**overrides)


def test_a_modify_request_sends_the_leg_for_bracket_orders():
    wire = ModifyRequest(
        OrderType.STOP_LOSS, 50, 101.0, 100.0, Validity.DAY, leg_name=LegName.STOP_LOSS_LEG
    ).to_wire()

    assert wire == {
        "orderType": "STOP_LOSS",
        "legName": "STOP_LOSS_LEG",
        "quantity": 50,
        "price": 101.0,
        "triggerPrice": 100.0,
        "validity": "DAY",
    }


def test_a_super_order_entry_must_be_limit_or_market():
    with pytest.raises(ValueError, match="LIMIT or MARKET"):
        SuperOrderRequest(
            TransactionType.BUY,
            ExchangeSegment.NSE_EQ,
            ProductType.CNC,
            OrderType.STOP_LOSS,
            "1",
            1,
            price=10.0,
            target_price=11.0,
            stop_loss_price=9.0,
        )


def test_a_super_leg_modify_carries_only_that_legs_fields():
    assert SuperModifyRequest.target(1510.0).to_wire() == {
        "legName": "TARGET_LEG",
        "targetPrice": 1510.0,
    }
    entry = SuperModifyRequest.entry(
        order_type=OrderType.LIMIT,
        quantity=5,
        price=1430.0,
        target_price=1500.0,
        stop_loss_price=1400.0,
        trailing_jump=0.0,
    ).to_wire()
    assert set(entry) == {
        "legName",
        "orderType",
        "quantity",
        "price",
        "targetPrice",
        "stopLossPrice",
        "trailingJump",
    }


def test_a_super_stop_loss_modify_without_a_trailing_jump_is_refused():
    # Dhan cancels the trail when trailingJump is missing: never send that by accident.
    with pytest.raises(ValueError, match="trailing_jump"):
        SuperModifyRequest(LegName.STOP_LOSS_LEG, stop_loss_price=1400.0)


def test_a_super_target_modify_cannot_touch_the_quantity():
    with pytest.raises(ValueError, match="quantity cannot be modified on TARGET_LEG"):
        SuperModifyRequest(LegName.TARGET_LEG, target_price=1.0, quantity=3)


def test_numbers_arrive_as_numbers_or_numeric_strings():
    assert to_float("101.25") == 101.25 and to_float(7) == 7.0
    assert to_float("") is None and to_float("NA") is None and to_float(None) is None
    assert to_int("50") == 50 and to_int(50.0) == 50
    for junk in ("abc", True, [1], "inf"):
        with pytest.raises(ValueError):
            to_float(junk)
    with pytest.raises(ValueError):
        to_int(1.5)


def test_enums_are_read_case_insensitively():
    ack = OrderAck.from_wire({"orderId": 1234567890123, "orderStatus": "part_traded"})

    assert ack == OrderAck("1234567890123", OrderStatus.PART_TRADED)


def test_an_unknown_enum_value_is_a_bad_response_naming_field_and_endpoint():
    with pytest.raises(BadResponse) as info:
        OrderAck.from_wire({"orderId": "1", "orderStatus": "LOST"}, "POST /orders")

    assert str(info.value).startswith("orderStatus: unknown OrderStatus 'LOST'")
    assert info.value.endpoint == "POST /orders"


def test_a_response_that_is_not_an_object_is_a_bad_response_not_a_type_error():
    with pytest.raises(BadResponse, match="expected a JSON object, got list"):
        Order.from_wire([1, 2, 3], "GET /orders/1")


def test_remaining_quantity_is_derived_when_the_wire_omits_it():
    order = Order.from_wire(
        {
            "orderId": "1",
            "orderStatus": "PART_TRADED",
            "transactionType": "SELL",
            "exchangeSegment": "BSE_EQ",
            "productType": "CNC",
            "orderType": "LIMIT",
            "securityId": "500325",
            "quantity": "10",
            "filledQty": "4",
            "legName": "NA",
        }
    )

    assert order.remaining_quantity == 6 and order.leg_name is None


def test_fund_limits_accept_the_correct_spelling_too():
    assert FundLimits.from_wire({"availableBalance": "1500.5"}).available_balance == 1500.5


def test_fund_limits_without_any_balance_is_a_bad_response():
    with pytest.raises(BadResponse, match="availabelBalance: missing"):
        FundLimits.from_wire({"sodLimit": 1})
