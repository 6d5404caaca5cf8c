"""Whatever arrives on the wire, parsing ends in a typed record or the documented error.

REST bodies become records or ``BadResponse``; socket frames become an ``OrderUpdate``,
``None`` or ``MalformedFrame``. Never a ``KeyError``, ``TypeError``, ``OverflowError`` or
``RecursionError`` escaping into the engine's loops.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dhan.errors import BadResponse
from dhan.models import (
    FundLimits,
    Order,
    OrderAck,
    Position,
    Profile,
    SuperOrder,
    Trade,
    to_float,
    to_int,
)
from dhan.order_feed import MalformedFrame, OrderUpdate, parse_frame
from tests.unit.dhan.frames import SAMPLE_DATA, alert

RECORDS = (OrderAck, Order, SuperOrder, Trade, Position, FundLimits, Profile)

HUGE_INT = int("9" * 400)  # a valid JSON number no float can hold

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([HUGE_INT, -HUGE_INT, 2**63, 0]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["NA", "", " ", "1e999", "nan", "PENDING", "Traded", "NSE_EQ", "B", "LMT"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
#: Field names the parsers look for, so fuzzed objects reach the conversions, not just "missing".
WIRE_KEYS = [
    "orderId",
    "orderStatus",
    "transactionType",
    "exchangeSegment",
    "productType",
    "orderType",
    "securityId",
    "quantity",
    "filledQty",
    "remainingQuantity",
    "price",
    "triggerPrice",
    "legName",
    "legDetails",
    "tradedQuantity",
    "tradedPrice",
    "netQty",
    "availabelBalance",
    "dhanClientId",
    "afterMarketOrder",
    "validity",
    "totalQuatity",
]
wire_objects = st.dictionaries(st.sampled_from(WIRE_KEYS), json_values, max_size=12)
FRAME_KEYS = sorted({*SAMPLE_DATA, *(k[0].lower() + k[1:] for k in SAMPLE_DATA), "Status"})
frame_data = st.dictionaries(st.sampled_from(FRAME_KEYS), json_values, max_size=14)


@settings(max_examples=150, deadline=None)
@given(record=st.sampled_from(RECORDS), body=st.one_of(json_values, wire_objects))
def test_any_json_body_parses_to_a_record_or_a_bad_response(record: Any, body: Any):
    try:
        parsed = record.from_wire(body, "GET /x")
    except BadResponse as exc:
        assert exc.endpoint == "GET /x"
    else:
        assert isinstance(parsed, record)


@settings(max_examples=150, deadline=None)
@given(data=st.one_of(frame_data, json_values), base=st.booleans())
def test_any_order_alert_parses_to_an_update_or_a_malformed_frame(data: Any, base: bool):
    if base and isinstance(data, dict):
        data = SAMPLE_DATA | data
    frame = json.dumps({"Type": "order_alert", "Data": data})
    try:
        update = parse_frame(frame)
    except MalformedFrame:
        return
    assert isinstance(update, OrderUpdate)


@pytest.mark.parametrize(
    "frame",
    [
        alert(Price=HUGE_INT),
        "[" * 100_000 + "]" * 100_000,
        '{"Type": "order_alert", "Data": ' + "[" * 100_000 + "]" * 100_000 + "}",
    ],
    ids=["huge price", "deep array", "deep data"],
)
def test_numbers_beyond_float_range_and_absurd_nesting_are_malformed_frames(frame: str):
    with pytest.raises(MalformedFrame):
        parse_frame(frame)


def test_a_number_beyond_float_range_is_a_bad_response_naming_the_field():
    body = {"orderId": "1", "orderStatus": "PENDING", "price": HUGE_INT}
    order = {
        **body,
        "transactionType": "BUY",
        "exchangeSegment": "NSE_EQ",
        "productType": "CNC",
        "orderType": "LIMIT",
        "securityId": "1",
        "quantity": 1,
    }

    with pytest.raises(BadResponse, match=r"^price: expected a finite number"):
        Order.from_wire(order, "GET /orders/1")


def test_integers_are_read_exactly_even_beyond_float_precision():
    assert to_int(2**53 + 1) == 2**53 + 1
    assert to_int("12") == 12 and to_int(12.0) == 12


def test_to_float_turns_an_overflow_into_a_value_error():
    with pytest.raises(ValueError, match="finite"):
        to_float(HUGE_INT)
