"""Order and trade records of the simulated order book, and their Dhan REST JSON shapes.

An :class:`Order` is the broker's mutable state for one order (or one leg of a CO/BO/super
order); only the exchange module mutates it, on the simulator's event-loop thread.
:class:`Trade` is an immutable fill. ``*_json`` functions render Dhan's field names and casing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from operator import attrgetter, is_
from typing import Any

from dhan.codes import (
    TERMINAL_STATUSES,
    LegName,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
)
from dhansim.clock import NO_DATE
from dhansim.instruments import Instrument


class OrderKind(StrEnum):
    """What an order is within its family (plain, or a leg of CO / BO / super order)."""

    PLAIN = "PLAIN"
    CO_ENTRY = "CO_ENTRY"
    CO_STOP = "CO_STOP"
    BO_ENTRY = "BO_ENTRY"
    BO_TARGET = "BO_TARGET"
    BO_STOP = "BO_STOP"
    SUPER_ENTRY = "SUPER_ENTRY"
    SUPER_TARGET = "SUPER_TARGET"
    SUPER_STOP = "SUPER_STOP"

    @property
    def is_exit_leg(self) -> bool:
        return self in _EXIT_LEGS

    @property
    def is_super(self) -> bool:
        return self in (OrderKind.SUPER_ENTRY, OrderKind.SUPER_TARGET, OrderKind.SUPER_STOP)


_EXIT_LEGS = frozenset(
    {
        OrderKind.CO_STOP,
        OrderKind.BO_TARGET,
        OrderKind.BO_STOP,
        OrderKind.SUPER_TARGET,
        OrderKind.SUPER_STOP,
    }
)


@dataclass(slots=True)
class Order:
    """One order or leg. Mutable on purpose: it *is* the broker's live state for that order."""

    key: str  # unique inside one simulator: orderId, or "orderId:LEG" for super-order legs
    order_id: str
    account_id: str
    instrument: Instrument
    txn: TransactionType
    product: ProductType
    order_type: OrderType  # as requested (MARKET stays MARKET here; see shown_type)
    validity: Validity
    quantity: int
    price: float
    trigger_price: float
    kind: OrderKind = OrderKind.PLAIN
    correlation_id: str = ""
    disclosed_qty: int = 0
    after_market: bool = False
    amo_time: str = ""
    bo_profit_value: float = 0.0
    bo_stop_loss_value: float = 0.0
    leg_name: LegName | None = None
    parent_id: str = ""  # entry orderId of a CO/BO leg (AlgoOrdNo)
    trailing_jump: float = 0.0
    target_price: float = 0.0  # super orders: the TARGET leg's price (kept on the entry too)
    stop_loss_price: float = 0.0  # super orders: the STOP_LOSS leg's trigger
    status: OrderStatus = OrderStatus.TRANSIT
    filled_qty: int = 0
    traded_value: float = 0.0
    last_fill_price: float = 0.0
    triggered: bool = False
    protection_price: float = 0.0  # MPP band price of a MARKET / triggered SL-M order
    exchange_order_id: str = ""
    create_time: str = NO_DATE
    update_time: str = NO_DATE
    exchange_time: str = NO_DATE
    oms_error_code: str = ""
    oms_error_description: str = ""
    modifications: int = 0
    margin_per_unit: float = 0.0
    legs: dict[LegName, Order] = field(default_factory=dict)  # CO/BO/super exit legs by name
    filling: bool = False  # a partial-fill sequence is scheduled
    trail_anchor: float = 0.0  # super stop leg: price at which the trigger last moved
    rms_reject: str = ""  # set at placement when RMS will reject it (rms_reject_as_order)
    by_request: bool = True  # placed by a client request (not a broker-made child leg)
    good_till: str = ""  # YYYY-MM-DD validity of the forever order that created this order
    forever_id: str = ""  # the forever order that created this order, if any
    placed_before_trade: int = 0  # the next trade id when it was placed (admin view only)
    # (mpp_as_limit, _WIRE_STATE of the order, its JSON): see order_wire.
    wire_cache: tuple[bool, tuple[Any, ...], bytes] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled_qty

    @property
    def avg_price(self) -> float:
        return round(self.traded_value / self.filled_qty, 4) if self.filled_qty else 0.0

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL_STATUSES  # OrderStatus.is_open, one call less

    def shown_type(self, mpp_as_limit: bool) -> OrderType:
        """The order type the book shows: a protected MARKET order can appear as LIMIT."""
        if mpp_as_limit and self.protection_price and self.order_type is OrderType.MARKET:
            return OrderType.LIMIT
        return self.order_type

    def shown_price(self, mpp_as_limit: bool) -> float:
        if mpp_as_limit and self.protection_price and self.order_type is OrderType.MARKET:
            return self.protection_price
        return self.price


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill of one order (or leg)."""

    trade_id: str
    order_key: str
    order_id: str
    account_id: str
    instrument: Instrument
    txn: TransactionType
    product: ProductType
    order_type: OrderType
    quantity: int
    price: float
    time: str
    exchange_order_id: str
    leg_name: LegName | None
    #: MPP band price of the MARKET order this fill belongs to (0: not a protected MARKET).
    band_price: float = 0.0


_OPTION_NAME = {"CE": "CALL", "PE": "PUT"}


def _drv(inst: Instrument) -> dict[str, Any]:
    return {
        "drvExpiryDate": f"{inst.expiry_date} 14:30:00" if inst.expiry_date else NO_DATE,
        "drvOptionType": _OPTION_NAME.get(inst.option_type),
        "drvStrikePrice": inst.strike_price,
    }


def order_json(o: Order, *, mpp_as_limit: bool) -> dict[str, Any]:
    """The order record of ``GET /orders`` and ``GET /orders/{id}`` (Dhan's field names)."""
    inst = o.instrument
    # shown_type / shown_price inlined: a protected MARKET order can appear as a LIMIT.
    as_limit = mpp_as_limit and o.protection_price and o.order_type is OrderType.MARKET
    filled = o.filled_qty
    return {
        "dhanClientId": o.account_id,
        "orderId": o.order_id,
        "exchangeOrderId": o.exchange_order_id,
        "correlationId": o.correlation_id,
        "orderStatus": o.status._value_,
        "transactionType": o.txn._value_,
        "exchangeSegment": inst.segment._value_,
        "productType": o.product._value_,
        "orderType": "LIMIT" if as_limit else o.order_type._value_,
        "validity": o.validity._value_,
        "tradingSymbol": inst.symbol,
        "securityId": inst.security_id,
        "quantity": o.quantity,
        "disclosedQuantity": o.disclosed_qty,
        "price": o.protection_price if as_limit else o.price,
        "triggerPrice": o.trigger_price,
        "afterMarketOrder": o.after_market,
        "boProfitValue": o.bo_profit_value,
        "boStopLossValue": o.bo_stop_loss_value,
        "legName": o.leg_name._value_ if o.leg_name else None,
        "createTime": o.create_time,
        "updateTime": o.update_time,
        "exchangeTime": o.exchange_time,
        "omsErrorCode": o.oms_error_code or None,
        "omsErrorDescription": o.oms_error_description or None,
        "algoId": "",
        "remainingQuantity": o.quantity - filled,
        "averageTradedPrice": round(o.traded_value / filled, 4) if filled else 0.0,
        "filledQty": filled,
        "drvExpiryDate": f"{inst.expiry_date} 14:30:00" if inst.expiry_date else NO_DATE,
        "drvOptionType": _OPTION_NAME.get(inst.option_type),
        "drvStrikePrice": inst.strike_price,
    }


#: Every field of an Order that ``order_json`` reads. While each of them is still the very same
#: object (all are immutable values), the order renders to the same JSON.
_WIRE_STATE = attrgetter(
    "account_id",
    "order_id",
    "exchange_order_id",
    "correlation_id",
    "status",
    "txn",
    "instrument",
    "product",
    "order_type",
    "protection_price",
    "validity",
    "quantity",
    "disclosed_qty",
    "price",
    "trigger_price",
    "after_market",
    "bo_profit_value",
    "bo_stop_loss_value",
    "leg_name",
    "create_time",
    "update_time",
    "exchange_time",
    "oms_error_code",
    "oms_error_description",
    "filled_qty",
    "traded_value",
)


def order_wire(o: Order, *, mpp_as_limit: bool) -> bytes:
    """``order_json`` as compact JSON bytes, cached on the order until any field it reads is
    reassigned (a book of a thousand orders is re-rendered only where orders changed)."""
    state = _WIRE_STATE(o)
    cached = o.wire_cache
    if cached is not None and cached[0] is mpp_as_limit and all(map(is_, state, cached[1])):
        return cached[2]
    record = order_json(o, mpp_as_limit=mpp_as_limit)
    text = json.dumps(record, separators=(",", ":")).encode()
    o.wire_cache = (mpp_as_limit, state, text)
    return text


def order_wires(orders: Iterable[Order], *, mpp_as_limit: bool) -> list[bytes]:
    """``order_wire`` of each order: the same check inlined, as a book has many orders."""
    out = []
    for o in orders:
        cached = o.wire_cache
        if (
            cached is not None
            and cached[0] is mpp_as_limit
            and all(map(is_, _WIRE_STATE(o), cached[1]))
        ):
            out.append(cached[2])
        else:
            out.append(order_wire(o, mpp_as_limit=mpp_as_limit))
    return out


def trade_json(t: Trade, *, mpp_as_limit: bool) -> dict[str, Any]:
    """One fill of ``GET /trades``; a protected MARKET order's fill shows LIMIT with
    ``mpp_as_limit``, as the order itself does in the book and on the socket."""
    inst = t.instrument
    as_limit = mpp_as_limit and t.band_price and t.order_type is OrderType.MARKET
    record: dict[str, Any] = {
        "dhanClientId": t.account_id,
        "orderId": t.order_id,
        "exchangeOrderId": t.exchange_order_id,
        "exchangeTradeId": t.trade_id,
        "transactionType": t.txn.value,
        "exchangeSegment": inst.segment.value,
        "productType": t.product.value,
        "orderType": OrderType.LIMIT.value if as_limit else t.order_type.value,
        "tradingSymbol": inst.symbol,
        "customSymbol": inst.display_name,
        "securityId": inst.security_id,
        "tradedQuantity": t.quantity,
        "tradedPrice": t.price,
        "createTime": t.time,
        "updateTime": t.time,
        "exchangeTime": t.time,
    }
    record.update(_drv(inst))
    return record


def super_order_json(entry: Order, ltp: float, *, mpp_as_limit: bool) -> dict[str, Any]:
    """One record of ``GET /super/orders``: the entry leg plus ``legDetails`` of the exits."""
    inst = entry.instrument
    record: dict[str, Any] = {
        "dhanClientId": entry.account_id,
        "orderId": entry.order_id,
        "correlationId": entry.correlation_id,
        "orderStatus": super_status(entry).value,
        "transactionType": entry.txn.value,
        "exchangeSegment": inst.segment.value,
        "productType": entry.product.value,
        "orderType": entry.shown_type(mpp_as_limit).value,
        "validity": entry.validity.value,
        "tradingSymbol": inst.symbol,
        "securityId": inst.security_id,
        "quantity": entry.quantity,
        "remainingQuantity": entry.remaining,
        "ltp": ltp,
        "price": entry.shown_price(mpp_as_limit),
        "afterMarketOrder": entry.after_market,
        "legName": LegName.ENTRY_LEG.value,
        "trailingJump": entry.trailing_jump,
        "exchangeOrderId": entry.exchange_order_id,
        "createTime": entry.create_time,
        "updateTime": entry.update_time,
        "exchangeTime": entry.exchange_time,
        "omsErrorDescription": entry.oms_error_description or "",
        "averageTradedPrice": entry.avg_price,
        "filledQty": entry.filled_qty,
        "algoId": "",
        "legDetails": [_leg_detail(entry, leg) for leg in _exit_legs(entry)],
    }
    return record


def _exit_legs(entry: Order) -> list[Order]:
    return [entry.legs[n] for n in (LegName.TARGET_LEG, LegName.STOP_LOSS_LEG) if n in entry.legs]


def _leg_detail(entry: Order, leg: Order) -> dict[str, Any]:
    is_stop = leg.leg_name is LegName.STOP_LOSS_LEG
    return {
        "orderId": entry.order_id,
        "legName": leg.leg_name.value if leg.leg_name else None,
        "transactionType": leg.txn.value,
        "totalQuatity": leg.quantity,  # sic: Dhan's spelling in the super-order book sample
        "remainingQuantity": leg.remaining,
        "triggeredQuantity": leg.filled_qty,
        "price": leg.trigger_price if is_stop else leg.price,
        "orderStatus": leg_status(leg).value,
        "trailingJump": leg.trailing_jump if is_stop else 0.0,
    }


def leg_status(leg: Order) -> OrderStatus:
    """A super-order exit leg's status: TRIGGERED once a stop has fired and is still open."""
    if leg.status.is_open and leg.triggered:
        return OrderStatus.TRIGGERED
    return leg.status


def super_status(entry: Order) -> OrderStatus:
    """A super order's status: the entry's, or CLOSED once the entry traded and an exit traded."""
    if entry.status is OrderStatus.TRADED:
        exits = _exit_legs(entry)
        if any(leg.status is OrderStatus.TRADED for leg in exits):
            return OrderStatus.CLOSED
    return entry.status
