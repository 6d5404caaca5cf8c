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
    TXN_TO_FEED,
    OrderStatus,
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


def feed_status(o: Order, switches: Switches) -> str:
    status = leg_status(o) if o.kind.is_super else o.status
    part = status is OrderStatus.PART_TRADED
    text = switches.feed_part_traded_status if part else status.value
    return text.title() if switches.quirks else text


def order_alert(o: Order, switches: Switches, ref_ltp: float) -> dict[str, Any]:
    """The frame the order-update socket sends for ``o`` in its current state."""
    inst = o.instrument
    exchange, segment = SEGMENT_TO_FEED[inst.segment]
    shown = o.shown_type(switches.mpp_show_as_limit)
    algo_ord_no = (o.parent_id or o.order_id) if o.kind in _BRACKET_KINDS else ""
    leg_no = LEG_TO_FEED.get(o.leg_name, 1) if o.leg_name else 1
    data: dict[str, Any] = {}
    if switches.quirks:
        data.update(
            {
                "series": "EQ" if inst.is_equity else "",
                "goodTillDaysDate": NO_DATE,
                "instrumentType": inst.instrument,
                "refLtp": ref_ltp,
                "tickSize": inst.tick_size,
                "algoId": "0",
                "multiplier": 1,
            }
        )
    rejected = o.status is OrderStatus.REJECTED
    reason = o.oms_error_description if rejected else "CONFIRMED"
    data.update(
        {
            "Exchange": exchange,
            "Segment": segment,
            "Source": "P",
            "SecurityId": inst.security_id,
            "ClientId": o.account_id,
            "ExchOrderNo": o.exchange_order_id,
            "OrderNo": o.order_id,
            "Product": PRODUCT_TO_FEED[o.product],
            "TxnType": TXN_TO_FEED[o.txn],
            "OrderType": ORDER_TYPE_TO_FEED[shown],
            "Validity": o.validity.value,
            "DiscQuantity": o.disclosed_qty,
            "DiscQtyRem": o.disclosed_qty if o.is_open else 0,
            "RemainingQuantity": o.remaining,
            "Quantity": o.quantity,
            "TradedQty": o.filled_qty,
            "Price": o.shown_price(switches.mpp_show_as_limit),
            "TriggerPrice": o.trigger_price,
            "TradedPrice": o.last_fill_price,
            "AvgTradedPrice": o.avg_price,
            "AlgoOrdNo": algo_ord_no,
            "OffMktFlag": "1" if o.after_market else "0",
            "OrderDateTime": o.create_time,
            "ExchOrderTime": o.exchange_time,
            "LastUpdatedTime": o.update_time,
            "Remarks": SUPER_ORDER_REMARK if o.kind.is_super else "",
            "MktType": "NL",
            "ReasonDescription": reason,
            "LegNo": leg_no,
            "Instrument": inst.instrument,
            "Symbol": inst.symbol,
            "DisplayName": inst.display_name,
            "Isin": inst.isin,
            "Series": "EQ" if inst.is_equity else "",
            "ProductName": o.product.value,
            "Status": feed_status(o, switches),
            "LotSize": inst.lot_size,
            "Multiplier": 1,
            "StrikePrice": inst.strike_price,
            "ExpiryDate": f"{inst.expiry_date} 14:30:00" if inst.expiry_date else NO_DATE,
            "OptType": inst.option_type or "XX",
            "GoodTillDaysDate": NO_DATE,
            "RefLtp": ref_ltp,
            "TickSize": inst.tick_size,
            "AlgoId": "0",
            "CorrelationId": o.correlation_id,
        }
    )
    return {"Type": "order_alert", "Data": data}
