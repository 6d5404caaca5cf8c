"""Wire fields declared once (``dhan.fields``): what a declaration makes ``from_wire`` and
``to_wire`` do, case by case, on small records of every kind of field."""

from __future__ import annotations

from typing import Any

import pytest

from dhan.codes import AmoTime, LegName, OrderStatus, TransactionType, Validity
from dhan.errors import BadResponse
from dhan.fields import WireRecord, WireRequest, wire, wire_record, wire_request


@wire_record
class Leg(WireRecord):
    name: LegName = wire("legName")
    price: float = wire("price", default=0.0)


@wire_record
class Sample(WireRecord):
    label: str = wire("label", "lable")
    status: OrderStatus = wire("status")
    count: int = wire("count", first=True)
    filled: int = wire("filled", default=0)
    left: int = wire("left", default=0, read="opt_integer", if_missing="count - filled")
    size: int = wire("size", default=7)
    validity: Validity | None = wire("validity", default=None)
    amo: AmoTime | None = wire("amo", default=None, lenient=True)
    leg: LegName | None = wire("leg", default=None, read="opt_leg")
    note: str | None = wire("note", default=None)
    level: float | None = wire("level", default=None)
    done: bool = wire("done", default=False)
    legs: tuple[Leg, ...] = wire("legs", default=())


BASE: dict[str, Any] = {"label": "a", "status": "PENDING", "count": 10}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, {"label": "a", "count": 10, "filled": 0, "left": 10, "size": 7, "legs": ()}),
        ({"lable": "b", "label": None}, {"label": "b"}),  # an alias when the key is null
        ({"label": 12.0}, {"label": "12"}),  # a number read as text
        ({"count": "12", "filled": 4.0}, {"count": 12, "filled": 4, "left": 8}),
        ({"filled": 4, "left": 0}, {"left": 0}),  # sent: taken as is
        ({"status": "traded"}, {"status": OrderStatus.TRADED}),
        ({"validity": "ioc"}, {"validity": Validity.IOC}),
        ({"validity": ""}, {"validity": None}),
        ({"amo": "OPEN_30"}, {"amo": AmoTime.OPEN_30}),
        ({"amo": "LATER"}, {"amo": None}),  # lenient: unknown is None, not a bad response
        ({"leg": "NA"}, {"leg": None}),
        ({"leg": "TARGET_LEG"}, {"leg": LegName.TARGET_LEG}),
        ({"note": "  "}, {"note": None}),
        ({"level": "NA"}, {"level": None}),
        ({"level": "101.5"}, {"level": 101.5}),
        ({"size": None}, {"size": 7}),
        ({"done": "Y"}, {"done": True}),
        ({"unknown": object()}, {"label": "a"}),  # unknown keys are ignored
        (
            {"legs": [{"legName": "TARGET_LEG", "price": "2.5"}, {"legName": "STOP_LOSS_LEG"}]},
            {"legs": (Leg(LegName.TARGET_LEG, 2.5), Leg(LegName.STOP_LOSS_LEG, 0.0))},
        ),
    ],
)
def test_a_declared_field_is_read_as_its_type_and_declaration_say(
    given: dict[str, Any], expected: dict[str, Any]
):
    record = Sample.from_wire({**BASE, **given})
    assert {name: getattr(record, name) for name in expected} == expected


@pytest.mark.parametrize(
    ("given", "where", "message"),
    [
        ({"label": None}, "", "label: missing"),
        ({"status": "NOPE"}, "", "status: unknown OrderStatus 'NOPE'"),
        ({"count": "1.5"}, "", "count: expected an integer, got '1.5'"),
        ({"done": "maybe"}, "", "done: expected a boolean, got 'maybe'"),
        ({"level": float("inf")}, "", "level: expected a finite number, got inf"),
        ({"legs": {"legName": "TARGET_LEG"}}, "", "legs: expected a list, got dict"),
        ({"legs": [{"legName": "TARGET_LEG"}, {"price": 1}]}, "", "legs[1].legName: missing"),
        ({"legs": [{"legName": "TARGET_LEG", "price": []}]}, "[3]", "[3].legs[0].price: expected"),
        # ``count`` is read first: of two bad fields, it is the one reported
        ({"label": None, "count": None}, "", "count: missing"),
    ],
)
def test_a_bad_field_is_a_bad_response_naming_it(given: dict[str, Any], where: str, message: str):
    with pytest.raises(BadResponse) as raised:
        Sample.from_wire({**BASE, **given}, "GET /sample", where)
    assert str(raised.value).startswith(message)
    assert raised.value.endpoint == "GET /sample"


@pytest.mark.parametrize("body", [[], "text", None, 3])
def test_a_body_that_is_not_an_object_is_a_bad_response(body: Any):
    with pytest.raises(BadResponse, match="body: expected a JSON object"):
        Sample.from_wire(body)


@wire_request
class Request(WireRequest):
    side: TransactionType = wire("transactionType")
    quantity: int = wire("quantity")
    price: float = wire("price", default=0)
    trigger: float | None = wire("triggerPrice", default=None)
    amo: AmoTime | None = wire("amoTime", default=None)
    market: bool = wire("afterMarketOrder", default=False)


@pytest.mark.parametrize(
    ("request_", "body"),
    [
        (
            Request(TransactionType.BUY, 5),
            {"transactionType": "BUY", "quantity": 5, "price": 0.0, "afterMarketOrder": False},
        ),
        (
            Request(TransactionType.SELL, 5, price=10, trigger=9, amo=AmoTime.OPEN, market=True),
            {
                "transactionType": "SELL",
                "quantity": 5,
                "price": 10.0,
                "triggerPrice": 9,
                "amoTime": "OPEN",
                "afterMarketOrder": True,
            },
        ),
    ],
)
def test_a_request_is_written_under_its_wire_keys(request_: Request, body: dict[str, Any]):
    wire_body = request_.to_wire()
    assert wire_body == body
    assert type(wire_body["price"]) is float  # a required float is always sent as a float
    assert all(type(wire_body[key]) is str for key in ("transactionType",))  # enums as values


def test_a_record_with_a_field_not_declared_for_the_wire_is_refused():
    with pytest.raises(TypeError, match="every field of a wire record needs wire"):

        @wire_record
        class Half(WireRecord):
            known: str = wire("known")
            unknown: str = "x"


def test_a_field_of_a_type_with_no_reader_is_refused():
    with pytest.raises(TypeError, match="no wire reader"):

        @wire_record
        class Odd(WireRecord):
            when: complex = wire("when")


def test_a_text_field_with_a_default_is_refused():
    with pytest.raises(TypeError, match="not defaulted"):

        @wire_record
        class Defaulted(WireRecord):
            name: str = wire("name", default="?")
