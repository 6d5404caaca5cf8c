"""A placement request becomes an :class:`Order` by its fields' names (``request_fields``):
each field of ``PlaceRequest`` and ``SuperPlaceRequest`` must be the ``Order`` field of the
same name and type, or a placed order would carry a value under the wrong meaning."""

from __future__ import annotations

import dataclasses

import pytest

from dhan.codes import OrderType, ProductType, TransactionType, Validity
from dhansim.instruments import InstrumentMaster
from dhansim.orders import Order
from dhansim.validation import PlaceRequest, SuperPlaceRequest, request_fields

ORDER_FIELDS = {f.name: f.type for f in dataclasses.fields(Order)}


@pytest.mark.parametrize("request_type", [PlaceRequest, SuperPlaceRequest])
def test_every_field_of_a_placement_is_the_order_field_of_that_name(request_type: type) -> None:
    mismatched = {
        f.name: f.type
        for f in dataclasses.fields(request_type)
        if ORDER_FIELDS.get(f.name) != f.type
    }
    assert mismatched == {}


@pytest.mark.parametrize(
    ("req", "expected"),
    [
        (
            PlaceRequest(
                instrument=next(iter(InstrumentMaster())),
                txn=TransactionType.SELL,
                product=ProductType.BO,
                order_type=OrderType.LIMIT,
                validity=Validity.IOC,
                quantity=3,
                price=101.5,
                trigger_price=0.0,
                disclosed_qty=0,
                correlation_id="c-1",
                bo_profit_value=2.0,
                bo_stop_loss_value=1.5,
            ),
            {"txn": TransactionType.SELL, "validity": Validity.IOC, "bo_stop_loss_value": 1.5},
        ),
        (
            SuperPlaceRequest(
                instrument=next(iter(InstrumentMaster())),
                txn=TransactionType.BUY,
                product=ProductType.INTRADAY,
                order_type=OrderType.LIMIT,
                quantity=2,
                price=100.0,
                target_price=110.0,
                stop_loss_price=95.0,
                trailing_jump=0.5,
                correlation_id="c-2",
            ),
            {"target_price": 110.0, "stop_loss_price": 95.0, "trailing_jump": 0.5},
        ),
    ],
)
def test_request_fields_name_every_field_with_its_value(
    req: PlaceRequest | SuperPlaceRequest, expected: dict[str, object]
) -> None:
    got = request_fields(req)
    assert list(got) == [f.name for f in dataclasses.fields(req)]
    assert got["instrument"] is req.instrument  # shallow: the master's own instrument
    assert {k: got[k] for k in expected} == expected
