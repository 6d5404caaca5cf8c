"""``parse_frame`` reads order alerts whatever their casing, and refuses junk clearly."""

from __future__ import annotations

import json

import pytest

from dhan.codes import (
    ExchangeSegment,
    LegName,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
)
from dhan.order_feed import MalformedFrame, parse_frame
from tests.unit.dhan.frames import SAMPLE_DATA, alert, with_camel_case_duplicates


def parse(text: str | bytes):
    update = parse_frame(text)
    assert update is not None
    return update


def test_the_documented_pascal_case_sample_is_parsed_into_rest_enums():
    u = parse(alert())

    assert u.order_no == "1124091136546"
    assert u.exch_order_no == "1400000000404591"
    assert u.client_id == "1100000001"
    assert u.exchange_segment is ExchangeSegment.NSE_EQ
    assert u.security_id == "14366"
    assert u.product_type is ProductType.CNC
    assert u.transaction_type is TransactionType.BUY
    assert u.order_type is OrderType.LIMIT
    assert u.validity is Validity.DAY
    assert (u.quantity, u.traded_qty, u.remaining_quantity) == (1, 0, 1)
    assert u.price == 13.0
    assert u.status is OrderStatus.CANCELLED
    assert u.raw_status == "Cancelled"
    assert u.leg_name is LegName.ENTRY_LEG
    assert u.parent_order_no is None
    assert u.correlation_id == "Eabc-0123456789abcdef"
    assert u.source == "P"
    assert not u.is_super and not u.is_amo
    assert u.last_updated_time == "2024-09-11 14:39:29"
    assert u.raw["Symbol"] == "IDEA"


def test_camel_case_duplicates_lose_to_the_pascal_case_keys():
    u = parse(with_camel_case_duplicates(status="TRADED", orderNo="999", quantity=77))

    assert u.status is OrderStatus.CANCELLED
    assert u.order_no == "1124091136546"
    assert u.quantity == 1


def test_a_frame_in_lower_camel_case_only_is_read_too():
    data = {k[:1].lower() + k[1:]: v for k, v in SAMPLE_DATA.items()}

    u = parse(json.dumps({"data": data, "type": "order_alert"}))

    assert u.order_no == "1124091136546" and u.status is OrderStatus.CANCELLED


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Cancelled", OrderStatus.CANCELLED),
        ("CANCELLED", OrderStatus.CANCELLED),
        ("Traded", OrderStatus.TRADED),
        ("pending", OrderStatus.PENDING),
        ("Transit", OrderStatus.TRANSIT),
        ("Rejected", OrderStatus.REJECTED),
        ("Expired", OrderStatus.EXPIRED),
        ("Triggered", OrderStatus.TRIGGERED),
    ],
)
def test_statuses_are_accepted_in_any_case(raw: str, expected: OrderStatus):
    assert parse(alert(Status=raw, TradedQty=0)).status is expected


def test_an_open_order_with_some_fills_is_part_traded():
    u = parse(alert(Status="Pending", Quantity=10, TradedQty=4, RemainingQuantity=6))

    assert u.status is OrderStatus.PART_TRADED
    assert u.raw_status == "Pending"


def test_a_cancelled_order_with_some_fills_stays_cancelled():
    u = parse(alert(Status="Cancelled", Quantity=10, TradedQty=4))

    assert u.status is OrderStatus.CANCELLED
    assert u.traded_qty == 4


def test_remaining_quantity_is_derived_when_the_frame_omits_it():
    u = parse(alert(Quantity=10, TradedQty=4, RemainingQuantity=None, Status="Pending"))

    assert u.remaining_quantity == 6


@pytest.mark.parametrize(
    ("product", "expected"),
    [("C", ProductType.CNC), ("I", ProductType.INTRADAY), ("M", ProductType.MARGIN),
     ("F", ProductType.MTF), ("V", ProductType.CO), ("B", ProductType.BO),
     ("INTRADAY", ProductType.INTRADAY), ("?", None)],
)  # fmt: skip
def test_product_letters_map_to_rest_products(product: str, expected: ProductType | None):
    assert parse(alert(Product=product)).product_type is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [("LMT", OrderType.LIMIT), ("MKT", OrderType.MARKET), ("SL", OrderType.STOP_LOSS),
     ("SLM", OrderType.STOP_LOSS_MARKET)],
)  # fmt: skip
def test_order_type_codes_map_to_rest_order_types(code: str, expected: OrderType):
    assert parse(alert(OrderType=code)).order_type is expected


def test_a_super_order_target_leg_is_recognised():
    u = parse(alert(Remarks="Super Order", LegNo=3, AlgoOrdNo=1124091136000, TxnType="S"))

    assert u.is_super
    assert u.leg_name is LegName.TARGET_LEG
    assert u.parent_order_no == "1124091136000"
    assert u.transaction_type is TransactionType.SELL


def test_algo_order_number_may_be_null_or_a_string():
    assert parse(alert(AlgoOrdNo=None)).parent_order_no is None
    assert parse(alert(AlgoOrdNo="1124091136000")).parent_order_no == "1124091136000"


def test_algo_order_number_may_be_a_number_and_zero_names_no_entry_leg():
    assert parse(alert(AlgoOrdNo=1124091136000)).parent_order_no == "1124091136000"
    assert parse(alert(AlgoOrdNo=1124091136000.0)).parent_order_no == "1124091136000"
    assert parse(alert(AlgoOrdNo=0)).parent_order_no is None
    assert parse(alert(AlgoOrdNo="0")).parent_order_no is None


def test_an_after_market_order_is_flagged():
    assert parse(alert(OffMktFlag="1")).is_amo


def test_an_unknown_segment_letter_gives_no_segment_rather_than_an_error():
    u = parse(alert(Exchange="NSE", Segment="Z"))

    assert u.exchange_segment is None
    assert u.missing_fields == ("exchange_segment",)


def test_a_complete_frame_misses_nothing():
    assert parse(alert()).missing_fields == ()


def test_numbers_may_arrive_as_strings():
    u = parse(alert(Quantity="25", TradedQty="25", Price="101.5", Status="Traded"))

    assert (u.quantity, u.traded_qty, u.price) == (25, 25, 101.5)


def test_bytes_frames_are_accepted():
    assert parse(alert().encode()).order_no == "1124091136546"


def test_frames_of_other_types_are_ignored():
    assert parse_frame(json.dumps({"Type": "heartbeat", "Data": {}})) is None


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "not json at all",
        "[1, 2, 3]",
        '{"Data": {}}',
        '{"Type": "order_alert"}',
        '{"Type": "order_alert", "Data": "text"}',
        json.dumps({"Type": "order_alert", "Data": {"Status": "Traded"}}),
        alert(Status="Sideways"),
        alert(Quantity="many"),
        b"\xff\xfe\x00garbage",
    ],
)
def test_junk_frames_raise_malformed_frame(junk: str | bytes):
    with pytest.raises(MalformedFrame):
        parse_frame(junk)


def test_the_dedupe_key_ignores_resends_but_not_fills():
    first = parse(alert(Status="Pending", Quantity=10, TradedQty=0))
    resent = parse(alert(Status="Pending", Quantity=10, TradedQty=0))
    filled = parse(alert(Status="Pending", Quantity=10, TradedQty=5))

    assert first.dedupe_key == resent.dedupe_key
    assert first.dedupe_key != filled.dedupe_key
    assert first == resent  # raw is not compared, every parsed field is
    assert first.dedupe_key.startswith("1124091136546|1|PENDING|0|10|")
