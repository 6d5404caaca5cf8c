"""The fast order renderers (``order_json``, the cached ``order_wire``, ``order_alert``) give
byte for byte the JSON of the reference renderers they replaced, for any order state and switch
set; and an order's cached JSON never outlives a change of any field it shows."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dhan.codes import LegName, OrderStatus, OrderType, ProductType, TransactionType, Validity
from dhansim.frames import order_alert
from dhansim.instruments import Instrument, InstrumentMaster
from dhansim.orders import Order, OrderKind, order_json, order_wire, order_wires
from dhansim.switches import Switches
from tests.unit.dhansim import reference_wire

INSTRUMENTS = [
    *InstrumentMaster(),
    Instrument.from_json(
        {
            "exchangeSegment": "NSE_FNO",
            "securityId": "60199",
            "symbol": "NIFTY-Dec2026-24000-PE",
            "instrument": "OPTIDX",
            "lotSize": 65,
            "expiryDate": "2026-12-29",
            "strikePrice": 24000.0,
            "optionType": "PE",
        }
    ),
]


def _compact(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


prices = st.one_of(
    st.just(0.0), st.floats(min_value=0.0, max_value=1e9, allow_nan=False), st.integers(0, 10**6)
)
texts = st.text(max_size=12)
times = st.sampled_from(["0001-01-01 00:00:00", "2026-11-26 09:15:00", "2026-11-26 15:29:59"])


@st.composite
def orders(draw: st.DrawFn) -> Order:
    quantity = draw(st.integers(1, 10_000))
    return Order(
        key=draw(st.sampled_from(["112000000001", "112000000001:TARGET_LEG"])),
        order_id=draw(st.from_regex(r"1[0-9]{11}", fullmatch=True)),
        account_id=draw(st.sampled_from(["1000000001", "1100003626"])),
        instrument=draw(st.sampled_from(INSTRUMENTS)),
        txn=draw(st.sampled_from(TransactionType)),
        product=draw(st.sampled_from(ProductType)),
        order_type=draw(st.sampled_from(OrderType)),
        validity=draw(st.sampled_from(Validity)),
        quantity=quantity,
        price=draw(prices),
        trigger_price=draw(prices),
        kind=draw(st.sampled_from(OrderKind)),
        correlation_id=draw(texts),
        disclosed_qty=draw(st.integers(0, quantity)),
        after_market=draw(st.booleans()),
        bo_profit_value=draw(prices),
        bo_stop_loss_value=draw(prices),
        leg_name=draw(st.none() | st.sampled_from(LegName)),
        parent_id=draw(st.sampled_from(["", "112000000007"])),
        status=draw(st.sampled_from(OrderStatus)),
        filled_qty=draw(st.integers(0, quantity)),
        traded_value=draw(prices),
        last_fill_price=draw(prices),
        triggered=draw(st.booleans()),
        protection_price=draw(prices),
        exchange_order_id=draw(st.sampled_from(["", "1100000000000001"])),
        create_time=draw(times),
        update_time=draw(times),
        exchange_time=draw(times),
        oms_error_code=draw(st.sampled_from(["", "RMS", "EXCH"])),
        oms_error_description=draw(texts),
        good_till=draw(st.sampled_from(["", "2027-11-26"])),
    )


switch_sets = st.builds(
    Switches,
    mpp_show_as_limit=st.booleans(),
    quirks=st.booleans(),
    feed_part_traded_status=st.sampled_from(["PENDING", "PART_TRADED"]),
)


@settings(max_examples=400, deadline=None)
@given(orders(), st.booleans())
def test_the_order_record_is_the_reference_record_byte_for_byte(o: Order, mpp: bool):
    expected = _compact(reference_wire.order_json(o, mpp_as_limit=mpp))
    assert _compact(order_json(o, mpp_as_limit=mpp)) == expected
    assert order_wire(o, mpp_as_limit=mpp) == expected.encode()
    assert order_wires([o, o], mpp_as_limit=mpp) == [expected.encode()] * 2  # cached the 2nd time


@settings(max_examples=400, deadline=None)
@given(orders(), switch_sets, prices)
def test_the_socket_frame_is_the_reference_frame_byte_for_byte(
    o: Order, switches: Switches, ltp: float
):
    expected = _compact(reference_wire.order_alert(o, switches, ltp))
    assert _compact(order_alert(o, switches, ltp)) == expected


def _another_value(value: Any) -> Any:
    """A value of the same kind that renders differently."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, OrderStatus):
        return OrderStatus.CANCELLED if value is not OrderStatus.CANCELLED else OrderStatus.TRADED
    if isinstance(value, LegName):
        return LegName.TARGET_LEG if value is not LegName.TARGET_LEG else LegName.STOP_LOSS_LEG
    if isinstance(value, (TransactionType, ProductType, OrderType, Validity, OrderKind)):
        return next(m for m in type(value) if m is not value)
    if isinstance(value, Instrument):
        return next(i for i in INSTRUMENTS if i.key != value.key)
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 0.5
    if isinstance(value, str):
        return value + "7"
    if value is None:
        return LegName.ENTRY_LEG
    return value  # legs dict, cache: not rendered


def test_a_cached_order_record_follows_every_change_of_any_field():
    base = Order(
        key="112000000001",
        order_id="112000000001",
        account_id="1000000001",
        instrument=INSTRUMENTS[0],
        txn=TransactionType.BUY,
        product=ProductType.INTRADAY,
        order_type=OrderType.MARKET,
        validity=Validity.DAY,
        quantity=10,
        price=0.0,
        trigger_price=0.0,
        filled_qty=4,
        traded_value=4000.0,
        protection_price=1001.5,
        status=OrderStatus.PART_TRADED,
    )
    changed_fields = 0
    for field in dataclasses.fields(Order):
        if field.name == "wire_cache":
            continue  # the cache itself
        for mpp in (True, False):
            o = dataclasses.replace(base, wire_cache=None)
            order_wire(o, mpp_as_limit=mpp)  # cached now
            setattr(o, field.name, _another_value(getattr(o, field.name)))
            fresh = _compact(reference_wire.order_json(o, mpp_as_limit=mpp)).encode()
            assert order_wires([o], mpp_as_limit=mpp) == [fresh], field.name
            assert order_wire(o, mpp_as_limit=mpp) == fresh, field.name
            changed_fields += (
                fresh != _compact(reference_wire.order_json(base, mpp_as_limit=mpp)).encode()
            )
    assert changed_fields >= 20  # the check above saw real changes, not only no-ops


def test_a_cached_order_record_follows_the_mpp_switch():
    o = Order(
        key="1",
        order_id="1",
        account_id="1000000001",
        instrument=INSTRUMENTS[0],
        txn=TransactionType.BUY,
        product=ProductType.INTRADAY,
        order_type=OrderType.MARKET,
        validity=Validity.DAY,
        quantity=1,
        price=0.0,
        trigger_price=0.0,
        protection_price=1001.5,
    )
    as_limit = order_wire(o, mpp_as_limit=True)
    as_market = order_wire(o, mpp_as_limit=False)
    assert b'"orderType":"LIMIT"' in as_limit and b'"orderType":"MARKET"' in as_market
    assert order_wire(o, mpp_as_limit=True) == as_limit
