"""The order renderers as they were before the fast versions in ``dhansim.orders`` and
``dhansim.frames`` (kept verbatim, only these imports added): the reference that
``test_wire_renderings`` holds the fast ones to, byte for byte."""

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
from dhansim.instruments import Instrument
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


def _drv(inst: Instrument) -> dict[str, Any]:
    option = {"CE": "CALL", "PE": "PUT"}.get(inst.option_type)
    return {
        "drvExpiryDate": f"{inst.expiry_date} 14:30:00" if inst.expiry_date else NO_DATE,
        "drvOptionType": option,
        "drvStrikePrice": inst.strike_price,
    }


def order_json(o: Order, *, mpp_as_limit: bool) -> dict[str, Any]:
    """The order record of ``GET /orders`` and ``GET /orders/{id}`` (Dhan's field names)."""
    inst = o.instrument
    record: dict[str, Any] = {
        "dhanClientId": o.account_id,
        "orderId": o.order_id,
        "exchangeOrderId": o.exchange_order_id,
        "correlationId": o.correlation_id,
        "orderStatus": o.status.value,
        "transactionType": o.txn.value,
        "exchangeSegment": inst.segment.value,
        "productType": o.product.value,
        "orderType": o.shown_type(mpp_as_limit).value,
        "validity": o.validity.value,
        "tradingSymbol": inst.symbol,
        "securityId": inst.security_id,
        "quantity": o.quantity,
        "disclosedQuantity": o.disclosed_qty,
        "price": o.shown_price(mpp_as_limit),
        "triggerPrice": o.trigger_price,
        "afterMarketOrder": o.after_market,
        "boProfitValue": o.bo_profit_value,
        "boStopLossValue": o.bo_stop_loss_value,
        "legName": o.leg_name.value if o.leg_name else None,
        "createTime": o.create_time,
        "updateTime": o.update_time,
        "exchangeTime": o.exchange_time,
        "omsErrorCode": o.oms_error_code or None,
        "omsErrorDescription": o.oms_error_description or None,
        "algoId": "",
        "remainingQuantity": o.remaining,
        "averageTradedPrice": o.avg_price,
        "filledQty": o.filled_qty,
    }
    record.update(_drv(inst))
    return record


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
    algo_ord_no = int(o.parent_id or o.order_id) if o.kind in _BRACKET_KINDS else 0
    good_till = o.good_till or o.create_time[:10]
    leg_no = LEG_TO_FEED.get(o.leg_name, 1) if o.leg_name else 1
    data: dict[str, Any] = {}
    if switches.quirks:
        data.update(
            {
                "series": "EQ" if inst.is_equity else "",
                "goodTillDaysDate": good_till,
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
            "GoodTillDaysDate": good_till,
            "RefLtp": ref_ltp,
            "TickSize": inst.tick_size,
            "AlgoId": "0",
            "CorrelationId": o.correlation_id,
        }
    )
    return {"Type": "order_alert", "Data": data}
