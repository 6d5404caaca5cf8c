"""Order-update socket frames: ``{"Type":"order_alert","Data":{...}}`` from an order's state.

PascalCase keys and one-letter codes as documented (``dhan.codes`` maps); with the ``quirks``
switch the frame also starts with the camelCase duplicates Dhan's current sample shows and the
status is title-cased (``Cancelled``). The socket enum has no PART_TRADED: a partly filled open
order is sent as ``feed_part_traded_status`` (default PENDING) with ``0 < TradedQty < Quantity``.
"""

from __future__ import annotations

from typing import Any

from dhan.codes import (
    LEG_TO_FEED,
    ORDER_TYPE_TO_FEED,
    PRODUCT_TO_FEED,
    SEGMENT_TO_FEED,
    SUPER_ORDER_REMARK,
    TERMINAL_STATUSES,
    TXN_TO_FEED,
    OrderStatus,
    OrderType,
)
from dhansim.clock import NO_DATE
from dhansim.orders import Order, OrderKind, leg_status
from dhansim.switches import Switches

_BRACKET_KINDS = frozenset(
    {
        OrderKind.CO_ENTRY,
        OrderKind.CO_STOP,
        OrderKind.BO_ENTRY,
        OrderKind.BO_TARGET,
        OrderKind.BO_STOP,
    }
)
_SUPER_KINDS = frozenset({OrderKind.SUPER_ENTRY, OrderKind.SUPER_TARGET, OrderKind.SUPER_STOP})


def feed_status(o: Order, switches: Switches) -> str:
    status = leg_status(o) if o.kind.is_super else o.status
    part = status is OrderStatus.PART_TRADED
    text = switches.feed_part_traded_status if part else status._value_
    return text.title() if switches.quirks else text


def order_alert(o: Order, switches: Switches, ref_ltp: float) -> dict[str, Any]:
    """The frame the order-update socket sends for ``o`` in its current state."""
    inst = o.instrument
    exchange, segment = SEGMENT_TO_FEED[inst.segment]
    kind = o.kind
    # shown_type / shown_price inlined: a protected MARKET order can appear as a LIMIT.
    as_limit = (
        switches.mpp_show_as_limit and o.protection_price and o.order_type is OrderType.MARKET
    )
    leg_name = o.leg_name
    filled = o.filled_qty
    is_open = o.status not in TERMINAL_STATUSES
    series = "EQ" if inst.is_equity else ""
    # A date, as in Dhan's sample: the forever order's validity for an order a forever order
    # created, else the order's own day (a DAY order is good till then).
    good_till = o.good_till or o.create_time[:10]
    data: dict[str, Any] = {
        "Exchange": exchange,
        "Segment": segment,
        "Source": "P",
        "SecurityId": inst.security_id,
        "ClientId": o.account_id,
        "ExchOrderNo": o.exchange_order_id,
        "OrderNo": o.order_id,
        "Product": PRODUCT_TO_FEED[o.product],
        "TxnType": TXN_TO_FEED[o.txn],
        "OrderType": ORDER_TYPE_TO_FEED[OrderType.LIMIT if as_limit else o.order_type],
        "Validity": o.validity._value_,
        "DiscQuantity": o.disclosed_qty,
        "DiscQtyRem": o.disclosed_qty if is_open else 0,
        "RemainingQuantity": o.quantity - filled,
        "Quantity": o.quantity,
        "TradedQty": filled,
        "Price": o.protection_price if as_limit else o.price,
        "TriggerPrice": o.trigger_price,
        "TradedPrice": o.last_fill_price,
        "AvgTradedPrice": round(o.traded_value / filled, 4) if filled else 0.0,
        # A number, as Dhan's field table types it: the entry's order number for a CO/BO
        # entry or leg, 0 for every other order.
        "AlgoOrdNo": int(o.parent_id or o.order_id) if kind in _BRACKET_KINDS else 0,
        "OffMktFlag": "1" if o.after_market else "0",
        "OrderDateTime": o.create_time,
        "ExchOrderTime": o.exchange_time,
        "LastUpdatedTime": o.update_time,
        "Remarks": SUPER_ORDER_REMARK if kind in _SUPER_KINDS else "",
        "MktType": "NL",
        "ReasonDescription": (
            o.oms_error_description if o.status is OrderStatus.REJECTED else "CONFIRMED"
        ),
        "LegNo": LEG_TO_FEED.get(leg_name, 1) if leg_name else 1,
        "Instrument": inst.instrument,
        "Symbol": inst.symbol,
        "DisplayName": inst.display_name,
        "Isin": inst.isin,
        "Series": series,
        "ProductName": o.product._value_,
        "Status": feed_status(o, switches),
        "LotSize": inst.lot_size,
        "Multiplier": 1,
        "StrikePrice": inst.strike_price,
        "ExpiryDate": f"{inst.expiry_date} 14:30:00" if inst.expiry_date else NO_DATE,
        "OptType": inst.option_type or "XX",
        "GoodTillDaysDate": good_till,
        "RefLtp": ref_ltp,
        "TickSize": inst.tick_size,
        "AlgoId": "0",
        "CorrelationId": o.correlation_id,
    }
    if switches.quirks:
        # Dhan's current sample starts with these camelCase duplicates.
        quirky: dict[str, Any] = {
            "series": series,
            "goodTillDaysDate": good_till,
            "instrumentType": inst.instrument,
            "refLtp": ref_ltp,
            "tickSize": inst.tick_size,
            "algoId": "0",
            "multiplier": 1,
        }
        quirky.update(data)
        data = quirky
    return {"Type": "order_alert", "Data": data}
