"""Request validation like Dhan's: JSON bodies of place / modify / super-order calls become typed,
checked requests, or a DH-905 :class:`~dhansim.errors.SimError` naming the bad field.

Only shape and static rules live here (enums, lot and tick size, price/trigger per order type,
correlationId). Rules that need live state (funds, order status, LTP) are in ``exchange``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, TypeVar, cast

from dhan.codes import (
    CORRELATION_ID_MAX_LEN,
    AmoTime,
    ExchangeSegment,
    LegName,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
)
from dhansim.errors import SimError, bad_input
from dhansim.instruments import Instrument, InstrumentMaster

_CID = re.compile(r"[A-Za-z0-9_-]+")  # used with fullmatch: "$" would let "id\n" through
_INT_TEXT = re.compile(r"-?[0-9]+")  # ASCII digits only: int() would take "٣" and choke on "²"
E = TypeVar("E", bound=StrEnum)
_INFINITIES = (float("inf"), float("-inf"))

#: Largest integer field (quantity, disclosedQuantity) accepted: a 32-bit int, as an exchange
#: order carries. Larger values are DH-905 (and cannot overflow the margin maths).
MAX_INT_FIELD = 2_147_483_647
#: Largest price-like field accepted (price, triggerPrice, BO values, super prices): no Indian
#: instrument trades near it, and it keeps tick and margin maths finite.
MAX_PRICE = 1e9

_EQ_ONLY_PRODUCTS = frozenset({ProductType.CNC, ProductType.MTF})
_SUPER_PRODUCTS = frozenset(
    {ProductType.CNC, ProductType.INTRADAY, ProductType.MARGIN, ProductType.MTF}
)
_PRICED = frozenset({OrderType.LIMIT, OrderType.STOP_LOSS})
_TRIGGERED = frozenset({OrderType.STOP_LOSS, OrderType.STOP_LOSS_MARKET})


@dataclass(frozen=True, slots=True)
class PlaceRequest:
    """A checked ``POST /orders`` (or ``/orders/slicing``) body, or an order the broker places
    itself (a square-off, a forever order's trigger). Each field is the
    :class:`~dhansim.orders.Order` field of the same name (see :func:`request_fields`)."""

    instrument: Instrument
    txn: TransactionType
    product: ProductType
    order_type: OrderType
    validity: Validity
    quantity: int
    price: float
    trigger_price: float = 0.0
    disclosed_qty: int = 0
    correlation_id: str = ""
    after_market: bool = False
    amo_time: str = ""
    bo_profit_value: float = 0.0
    bo_stop_loss_value: float = 0.0


@dataclass(frozen=True, slots=True)
class ModifyRequest:
    """A checked ``PUT /orders/{id}`` body; ``None`` keeps the order's current value."""

    order_id: str
    leg_name: LegName | None
    order_type: OrderType | None
    quantity: int | None
    price: float | None
    trigger_price: float | None
    disclosed_qty: int | None
    validity: Validity | None


@dataclass(frozen=True, slots=True)
class SuperPlaceRequest:
    """A checked ``POST /super/orders`` body (prices are absolute; 0 = no such exit leg). Each
    field is the :class:`~dhansim.orders.Order` field of the same name."""

    instrument: Instrument
    txn: TransactionType
    product: ProductType
    order_type: OrderType
    quantity: int
    price: float
    target_price: float
    stop_loss_price: float
    trailing_jump: float
    correlation_id: str


def request_fields(req: PlaceRequest | SuperPlaceRequest) -> dict[str, Any]:
    """A placement's fields by name, the keywords of the :class:`~dhansim.orders.Order` it
    becomes (shallow: ``dataclasses.asdict`` would copy the instrument too)."""
    return {f.name: getattr(req, f.name) for f in fields(req)}


@dataclass(frozen=True, slots=True)
class SuperModifyRequest:
    """A checked ``PUT /super/orders/{id}`` body; ``None`` keeps the current value."""

    order_id: str
    leg_name: LegName
    order_type: OrderType | None
    quantity: int | None
    price: float | None
    target_price: float | None
    stop_loss_price: float | None
    trailing_jump: float | None


# --- field readers -------------------------------------------------------------------------


def require_object(body: Any) -> Mapping[str, Any]:
    if type(body) is not dict and not isinstance(body, Mapping):
        raise bad_input("Request body must be a JSON object")
    return body


def check_client_id(body: Mapping[str, Any], account_id: str) -> None:
    """``dhanClientId`` is required in POST/PUT bodies and must be the token's account."""
    value = body.get("dhanClientId")
    if value is None or value == "":
        raise bad_input("Missing required field: dhanClientId")
    if str(value) != account_id:
        raise bad_input("dhanClientId does not match the client of the access token")


def enum_field(body: Mapping[str, Any], name: str, kind: type[E], *, required: bool) -> E | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise bad_input(f"Missing required field: {name}")
        return None
    if not isinstance(value, str):
        raise bad_input(f"Invalid {name}: {value!r}")
    # kind(value) looks the value up in this same map first; none of these enums has a
    # _missing_ hook, so a miss is the ValueError case. The map holds members of kind.
    member = cast("E | None", kind._value2member_map_.get(value))
    if member is None:
        allowed = ", ".join(m.value for m in kind)
        raise bad_input(f"Invalid {name}: {value!r} (allowed: {allowed})")
    return member


def _required_enum(body: Mapping[str, Any], name: str, kind: type[E]) -> E:
    raw = body.get(name)
    if type(raw) is str:  # the common case: a valid value, found at once
        member = kind._value2member_map_.get(raw)
        if member is not None:
            return cast(E, member)
    value = enum_field(body, name, kind, required=True)
    assert value is not None
    return value


def int_field(body: Mapping[str, Any], name: str) -> int | None:
    value = body.get(name)
    if type(value) is int and -MAX_INT_FIELD <= value <= MAX_INT_FIELD:
        return value  # the common case; everything else takes the checks below
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise bad_input(f"Invalid {name}: must be an integer")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        value = int(value.strip())
    if not isinstance(value, int):
        raise bad_input(f"Invalid {name}: must be an integer")
    if abs(value) > MAX_INT_FIELD:
        raise bad_input(f"Invalid {name}: must be at most {MAX_INT_FIELD}")
    return value


def float_field(body: Mapping[str, Any], name: str) -> float | None:
    value = body.get(name)
    if type(value) is float and 0.0 <= value <= MAX_PRICE:
        return value  # the common case (NaN fails both comparisons); the rest: checks below
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise bad_input(f"Invalid {name}: must be a number")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise bad_input(f"Invalid {name}: must be a number") from None
    if not isinstance(value, int | float) or value != value or value in _INFINITIES:
        raise bad_input(f"Invalid {name}: must be a number")
    if value < 0:
        raise bad_input(f"Invalid {name}: must not be negative")
    if value > MAX_PRICE:  # compared before float(): a huge JSON integer would overflow it
        raise bad_input(f"Invalid {name}: must be at most {MAX_PRICE:.0f}")
    return float(value)


def correlation_id_field(body: Mapping[str, Any]) -> str:
    value = body.get("correlationId")
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise bad_input("Invalid correlationId: must be a string")
    if len(value) > CORRELATION_ID_MAX_LEN:
        raise bad_input(f"correlationId must be at most {CORRELATION_ID_MAX_LEN} characters")
    if not _CID.fullmatch(value):
        raise bad_input("correlationId may contain only letters, digits, '_' and '-'")
    return value


def instrument_field(body: Mapping[str, Any], master: InstrumentMaster) -> Instrument:
    segment = _required_enum(body, "exchangeSegment", ExchangeSegment)
    if segment is ExchangeSegment.IDX_I:
        raise bad_input("Invalid exchangeSegment: IDX_I is not tradable")
    raw = body.get("securityId")
    if raw is None or raw == "" or isinstance(raw, bool):
        raise bad_input("Missing required field: securityId")
    security_id = str(raw).strip()
    instrument = master.get(segment.value, security_id)
    if instrument is None:
        raise bad_input(f"Invalid securityId {security_id} for {segment.value}")
    return instrument


def quantity_rules(qty: int | None, inst: Instrument, name: str = "quantity") -> int:
    if qty is None:
        raise bad_input(f"Missing required field: {name}")
    if qty <= 0:
        raise bad_input(f"{name} must be greater than 0")
    if qty % inst.lot_size:
        raise bad_input(f"{name} should be in multiples of lot size {inst.lot_size}")
    return qty


def tick_rule(value: float, inst: Instrument, name: str) -> None:
    # A positive value below half a tick rounds to 0 ticks: not a multiple either.
    if value and (not inst.on_tick(value) or round(value / inst.tick_size) < 1):
        raise bad_input(f"{name} should be in multiples of tick size {inst.tick_size}")


def price_rules(
    order_type: OrderType, txn: TransactionType, price: float, trigger: float, inst: Instrument
) -> tuple[float, float]:
    """Price/trigger rules per order type; returns the (price, trigger) the order keeps."""
    if order_type in _PRICED and price <= 0:
        raise bad_input(f"price is required and must be greater than 0 for {order_type.value}")
    if order_type in _TRIGGERED and trigger <= 0:
        raise bad_input(f"triggerPrice is required for {order_type.value}")
    if order_type in _PRICED:
        tick_rule(price, inst, "price")
    else:
        price = 0.0  # MARKET / SL-M carry no limit price (the SDK sends 0.0)
    if order_type in _TRIGGERED:
        tick_rule(trigger, inst, "triggerPrice")
    else:
        trigger = 0.0
    if order_type is OrderType.STOP_LOSS:
        if txn is TransactionType.BUY and trigger > price:
            raise bad_input("For a BUY stop-loss order the triggerPrice must not exceed the price")
        if txn is TransactionType.SELL and trigger < price:
            raise bad_input("For a SELL stop-loss order the triggerPrice must not be below price")
    return price, trigger


def disclosed_rules(disclosed: int | None, quantity: int) -> int:
    if not disclosed:
        return 0
    if disclosed < 0 or disclosed > quantity:
        raise bad_input("disclosedQuantity must be between 0 and quantity")
    if disclosed * 100 < quantity * 30:
        raise bad_input("disclosedQuantity must be at least 30% of quantity")
    return disclosed


# --- request parsers -----------------------------------------------------------------------


def parse_place(body: Any, account_id: str, master: InstrumentMaster) -> PlaceRequest:
    body = require_object(body)
    check_client_id(body, account_id)
    correlation_id = correlation_id_field(body)
    txn = _required_enum(body, "transactionType", TransactionType)
    instrument = instrument_field(body, master)
    product = _required_enum(body, "productType", ProductType)
    order_type = _required_enum(body, "orderType", OrderType)
    validity = _required_enum(body, "validity", Validity)
    if product in _EQ_ONLY_PRODUCTS and not instrument.is_equity:
        raise bad_input(f"productType {product.value} is allowed only for equity segments")
    if product is ProductType.MARGIN and instrument.is_equity:
        raise bad_input("productType MARGIN is not allowed for equity segments")
    quantity = quantity_rules(int_field(body, "quantity"), instrument)
    raw_price = float_field(body, "price") or 0.0  # read in this order: the first bad one
    raw_trigger = float_field(body, "triggerPrice") or 0.0  # is the one the error names
    price, trigger = price_rules(order_type, txn, raw_price, raw_trigger, instrument)
    disclosed = disclosed_rules(int_field(body, "disclosedQuantity"), quantity)
    after_market = body.get("afterMarketOrder")
    if after_market is None:
        after_market = False
    if not isinstance(after_market, bool):
        raise bad_input("Invalid afterMarketOrder: must be true or false")
    amo = enum_field(body, "amoTime", AmoTime, required=after_market)
    bo_profit = float_field(body, "boProfitValue") or 0.0
    bo_stop = float_field(body, "boStopLossValue") or 0.0
    if product is ProductType.CO:
        if order_type not in (OrderType.LIMIT, OrderType.MARKET):
            raise bad_input("Cover orders accept only LIMIT or MARKET entries")
        # The CO stop rides in triggerPrice (CL docs) or boStopLossValue (OAS): accept either.
        trigger = raw_trigger or bo_stop
        if trigger <= 0:
            raise bad_input("triggerPrice (the stop-loss) is required for a cover order")
        tick_rule(trigger, instrument, "triggerPrice")
        if order_type is OrderType.LIMIT:
            if txn is TransactionType.BUY and trigger >= price:
                raise bad_input("For a BUY cover order the stop-loss must be below the price")
            if txn is TransactionType.SELL and trigger <= price:
                raise bad_input("For a SELL cover order the stop-loss must be above the price")
    if product is ProductType.BO:
        if order_type not in (OrderType.LIMIT, OrderType.MARKET):
            raise bad_input("Bracket orders accept only LIMIT or MARKET entries")
        if bo_profit <= 0 or bo_stop <= 0:
            raise bad_input("boProfitValue and boStopLossValue are required for a bracket order")
        tick_rule(bo_profit, instrument, "boProfitValue")
        tick_rule(bo_stop, instrument, "boStopLossValue")
    return PlaceRequest(
        instrument=instrument,
        txn=txn,
        product=product,
        order_type=order_type,
        validity=validity,
        quantity=quantity,
        price=price,
        trigger_price=trigger,
        disclosed_qty=disclosed,
        correlation_id=correlation_id,
        after_market=after_market,
        amo_time=amo.value if amo else "",
        bo_profit_value=bo_profit if product is ProductType.BO else 0.0,
        bo_stop_loss_value=bo_stop if product is ProductType.BO else 0.0,
    )


def _path_order_id(body: Mapping[str, Any], order_id: str) -> None:
    value = body.get("orderId")
    if value is not None and value != "" and str(value) != order_id:
        raise bad_input("orderId in the body does not match the order in the path")


def parse_modify(body: Any, account_id: str, order_id: str) -> ModifyRequest:
    body = require_object(body)
    check_client_id(body, account_id)
    _path_order_id(body, order_id)
    return ModifyRequest(
        order_id=order_id,
        leg_name=enum_field(body, "legName", LegName, required=False),
        order_type=enum_field(body, "orderType", OrderType, required=False),
        quantity=int_field(body, "quantity"),
        price=float_field(body, "price"),
        trigger_price=float_field(body, "triggerPrice"),
        disclosed_qty=int_field(body, "disclosedQuantity"),
        validity=enum_field(body, "validity", Validity, required=False),
    )


def super_price_rules(txn: TransactionType, price: float, target: float, stop: float) -> None:
    """BUY needs target > price > stop; SELL the mirror (a 0 means 'no such leg')."""
    if txn is TransactionType.BUY:
        if target and target <= price:
            raise bad_input("For a BUY super order targetPrice must be above the price")
        if stop and stop >= price:
            raise bad_input("For a BUY super order stopLossPrice must be below the price")
    else:
        if target and target >= price:
            raise bad_input("For a SELL super order targetPrice must be below the price")
        if stop and stop <= price:
            raise bad_input("For a SELL super order stopLossPrice must be above the price")


def parse_super_place(body: Any, account_id: str, master: InstrumentMaster) -> SuperPlaceRequest:
    body = require_object(body)
    check_client_id(body, account_id)
    correlation_id = correlation_id_field(body)
    txn = _required_enum(body, "transactionType", TransactionType)
    instrument = instrument_field(body, master)
    product = _required_enum(body, "productType", ProductType)
    if product not in _SUPER_PRODUCTS:
        raise bad_input("productType for a super order must be CNC, INTRADAY, MARGIN or MTF")
    if product in _EQ_ONLY_PRODUCTS and not instrument.is_equity:
        raise bad_input(f"productType {product.value} is allowed only for equity segments")
    order_type = _required_enum(body, "orderType", OrderType)
    if order_type not in (OrderType.LIMIT, OrderType.MARKET):
        raise bad_input("orderType for a super order must be LIMIT or MARKET")
    quantity = quantity_rules(int_field(body, "quantity"), instrument)
    price = float_field(body, "price") or 0.0
    if order_type is OrderType.LIMIT:
        if price <= 0:
            raise bad_input("price is required and must be greater than 0 for LIMIT")
        tick_rule(price, instrument, "price")
    else:
        price = 0.0
    target = float_field(body, "targetPrice") or 0.0
    stop = float_field(body, "stopLossPrice") or 0.0
    jump = float_field(body, "trailingJump") or 0.0
    if target <= 0 and stop <= 0:
        raise bad_input("targetPrice or stopLossPrice is required for a super order")
    tick_rule(target, instrument, "targetPrice")
    tick_rule(stop, instrument, "stopLossPrice")
    tick_rule(jump, instrument, "trailingJump")
    if order_type is OrderType.LIMIT:
        super_price_rules(txn, price, target, stop)
    return SuperPlaceRequest(
        instrument=instrument,
        txn=txn,
        product=product,
        order_type=order_type,
        quantity=quantity,
        price=price,
        target_price=target,
        stop_loss_price=stop,
        trailing_jump=jump,
        correlation_id=correlation_id,
    )


def parse_super_modify(body: Any, account_id: str, order_id: str) -> SuperModifyRequest:
    body = require_object(body)
    check_client_id(body, account_id)
    _path_order_id(body, order_id)
    leg = _required_enum(body, "legName", LegName)
    if leg is LegName.NA:
        raise bad_input("legName must be ENTRY_LEG, TARGET_LEG or STOP_LOSS_LEG")
    order_type = enum_field(body, "orderType", OrderType, required=False)
    if order_type is not None and order_type not in (OrderType.LIMIT, OrderType.MARKET):
        raise bad_input("orderType for a super order must be LIMIT or MARKET")
    return SuperModifyRequest(
        order_id=order_id,
        leg_name=leg,
        order_type=order_type,
        quantity=int_field(body, "quantity"),
        price=float_field(body, "price"),
        target_price=float_field(body, "targetPrice"),
        stop_loss_price=float_field(body, "stopLossPrice"),
        trailing_jump=float_field(body, "trailingJump"),
    )


def parse_json_object(raw: bytes) -> Any:
    """Decode a request body; an empty body is ``{}``; invalid JSON is DH-905."""
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_input("Request body is not valid JSON") from None


__all__ = [
    "ModifyRequest",
    "PlaceRequest",
    "SimError",
    "SuperModifyRequest",
    "SuperPlaceRequest",
    "parse_json_object",
    "parse_modify",
    "parse_place",
    "parse_super_modify",
    "parse_super_place",
]
