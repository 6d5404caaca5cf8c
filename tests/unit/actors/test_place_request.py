"""``actors.orders.place_request``: the fields of a copy's place body that come from its intent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from actors.orders import place_request
from dhan.codes import AmoTime, ExchangeSegment, OrderType, ProductType, TransactionType
from dhan.models import OrderRequest
from store.records import Intent
from store.states import IntentState


def _intent(**fields: object) -> Intent:
    now = datetime.now(UTC)
    base: dict[str, object] = {
        "id": 1,
        "follower": "f1",
        "leader_order_id": "L1",
        "leg": "",
        "correlation_id": "cid-1",
        "transaction_type": TransactionType.BUY,
        "exchange_segment": ExchangeSegment.NSE_EQ,
        "product_type": ProductType.CNC,
        "order_type": OrderType.LIMIT,
        "security_id": "3045",
        "quantity": 4,
        "validity": None,
        "price": 790.0,
        "trigger_price": 0.0,
        "bo_profit_value": None,
        "bo_stop_loss_value": None,
        "target_price": None,
        "stop_loss_price": None,
        "trailing_jump": None,
        "desired_open": True,
        "skip_reason": None,
        "state": IntentState.SENDING,
        "desired_version": 1,
        "applied_version": 0,
        "broker_order_id": None,
        "broker_status": None,
        "filled_qty": 0,
        "modifications": 0,
        "attempts": 1,
        "error_code": None,
        "error_message": None,
        "state_reason": None,
        "created_at": now,
        "updated_at": now,
    }
    base.update(fields)
    return Intent(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amo", "amo_time", "wire"),
    [
        (False, None, {"afterMarketOrder": False}),
        (True, None, {"afterMarketOrder": True, "amoTime": "OPEN"}),
        (True, AmoTime.OPEN_30, {"afterMarketOrder": True, "amoTime": "OPEN_30"}),
    ],
)
def test_a_copy_of_an_amo_is_placed_as_an_amo_at_the_leaders_time_or_the_open(
    amo: bool, amo_time: AmoTime | None, wire: dict[str, object]
) -> None:
    req = place_request(_intent(after_market_order=amo, amo_time=amo_time))
    assert isinstance(req, OrderRequest)
    body = req.to_wire()
    assert {k: body.get(k) for k in wire} == wire
    assert "amoTime" in body or not amo
