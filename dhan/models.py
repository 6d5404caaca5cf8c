"""Typed records for DhanHQ v2 REST requests and responses.

``dhan.rest`` builds request bodies with ``to_wire()`` and parses every response with
``from_wire()``: unknown keys are ignored, numeric strings are accepted for numbers, enums go
through ``dhan.codes``, and a missing or unparseable required field is a ``BadResponse`` naming
the field and endpoint (never a ``KeyError``). Field meanings: ``../shared/dhanhq-v2.md`` §3-5.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Self, TypeVar

from dhan.codes import (
    AmoTime,
    ExchangeSegment,
    LegName,
    OrderStatus,
    OrderType,
    PositionType,
    ProductType,
    TransactionType,
    Validity,
)
from dhan.correlation import is_valid_correlation_id
from dhan.errors import BadResponse

E = TypeVar("E", bound=StrEnum)


# --- reading wire values ------------------------------------------------------------------


def to_float(value: Any) -> float | None:
    """A JSON number or numeric string as float; ``None`` for null, ``""`` and ``"NA"``.

    Raises ``ValueError`` for anything else (including booleans and NaN/infinity).
    """
    if value is None or isinstance(value, bool):
        if value is None:
            return None
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, int | float):
        try:
            result = float(value)
        except OverflowError:  # an int beyond float range: JSON allows any length
            raise ValueError(f"expected a finite number, got {len(str(value))} digits") from None
    elif isinstance(value, str):
        text = value.strip()
        if text == "" or text.upper() == "NA":
            return None
        result = float(text)
    else:
        raise ValueError(f"expected a number, got {type(value).__name__}")
    if not math.isfinite(result):
        raise ValueError(f"expected a finite number, got {value!r}")
    return result


def to_int(value: Any) -> int | None:
    """A JSON integer (or integral float / numeric string) as int; ``None`` for null/empty."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # exact: a round trip through float would lose digits beyond 2**53
    as_float = to_float(value)
    if as_float is None:
        return None
    if not as_float.is_integer():
        raise ValueError(f"expected an integer, got {value!r}")
    return int(as_float)


def to_str(value: Any) -> str | None:
    """A JSON string (numbers are rendered without a fractional ``.0``); ``None`` for null/""."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected a string, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value if value.strip() else None
    raise ValueError(f"expected a string, got {type(value).__name__}")


def to_bool(value: Any) -> bool | None:
    """A JSON boolean; also ``"true"``/``"false"``/``"1"``/``"0"``/``"Y"``/``"N"``."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1", "y", "yes"):
            return True
        if text in ("false", "0", "n", "no"):
            return False
        if text == "":
            return None
    raise ValueError(f"expected a boolean, got {value!r}")


def to_enum(enum: type[E], value: Any) -> E | None:
    """``value`` as a member of ``enum`` (case-insensitive); ``None`` for null/""."""
    text = to_str(value)
    if text is None:
        return None
    try:
        return enum(text.strip().upper())
    except ValueError:
        raise ValueError(f"unknown {enum.__name__} {text!r}") from None


def _known_amo_time(value: Any) -> AmoTime | None:
    """An order record's ``amoTime``: undocumented there, so a value we do not know is None,
    never a bad response."""
    try:
        return to_enum(AmoTime, value)
    except ValueError:
        return None


class _Fields:
    """Reads one wire object; every failure becomes a ``BadResponse`` naming the field."""

    __slots__ = ("_d", "_endpoint", "_where")

    def __init__(self, d: Any, *, endpoint: str | None, where: str) -> None:
        if not isinstance(d, Mapping):
            raise BadResponse(
                f"{where or 'body'}: expected a JSON object, got {type(d).__name__}",
                endpoint=endpoint,
            )
        self._d = d
        self._endpoint = endpoint
        self._where = where

    def _name(self, key: str) -> str:
        return f"{self._where}.{key}" if self._where else key

    def _fail(self, key: str, why: str) -> BadResponse:
        return BadResponse(f"{self._name(key)}: {why}", endpoint=self._endpoint)

    def raw(self, *keys: str) -> Any:
        """The first of ``keys`` present with a non-null value (aliases, misspellings)."""
        for key in keys:
            value = self._d.get(key)
            if value is not None:
                return value
        return None

    def _convert(self, keys: tuple[str, ...], fn: Any, required: bool) -> Any:
        value = self.raw(*keys)
        try:
            result = fn(value)
        except ValueError as exc:
            raise self._fail(keys[0], str(exc)) from None
        if result is None and required:
            raise self._fail(keys[0], "missing")
        return result

    def text(self, *keys: str) -> str:
        result: str = self._convert(keys, to_str, True)
        return result

    def opt_text(self, *keys: str) -> str | None:
        result: str | None = self._convert(keys, to_str, False)
        return result

    def integer(self, *keys: str, default: int | None = None) -> int:
        result: int | None = self._convert(keys, to_int, default is None)
        if result is None:
            assert default is not None  # _convert raised "missing" when there is no default
            return default
        return result

    def opt_integer(self, *keys: str) -> int | None:
        result: int | None = self._convert(keys, to_int, False)
        return result

    def number(self, *keys: str, default: float | None = None) -> float:
        result: float | None = self._convert(keys, to_float, default is None)
        if result is None:
            assert default is not None  # _convert raised "missing" when there is no default
            return default
        return result

    def opt_number(self, *keys: str) -> float | None:
        result: float | None = self._convert(keys, to_float, False)
        return result

    def flag(self, *keys: str, default: bool = False) -> bool:
        result: bool | None = self._convert(keys, to_bool, False)
        return default if result is None else result

    def enum(self, enum: type[E], *keys: str) -> E:
        result: E = self._convert(keys, lambda v: to_enum(enum, v), True)
        return result

    def opt_enum(self, enum: type[E], *keys: str) -> E | None:
        result: E | None = self._convert(keys, lambda v: to_enum(enum, v), False)
        return result

    def opt_leg(self, *keys: str) -> LegName | None:
        """A leg name; ``""``/``"NA"`` (no leg) become ``None``."""
        leg = self.opt_enum(LegName, *keys)
        return None if leg is LegName.NA else leg

    def items(self, key: str) -> list[Any]:
        value = self._d.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._fail(key, f"expected a list, got {type(value).__name__}")
        return value


def _omit_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _check_quantity(quantity: int | None, *, name: str = "quantity") -> None:
    if quantity is not None and (isinstance(quantity, bool) or quantity <= 0):
        raise ValueError(f"{name} must be a positive integer, got {quantity!r}")


def _check_price(price: float | None, *, name: str) -> None:
    if price is not None and (not math.isfinite(price) or price < 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {price!r}")


def _check_correlation_id(cid: str | None) -> None:
    if cid is not None and not is_valid_correlation_id(cid):
        raise ValueError(f"correlation_id must be <= 30 chars of [A-Za-z0-9_-], got {cid!r}")


# --- requests -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """Body of ``POST /orders`` (``dhanClientId`` is added by the client)."""

    transaction_type: TransactionType
    exchange_segment: ExchangeSegment
    product_type: ProductType
    order_type: OrderType
    validity: Validity
    security_id: str
    quantity: int
    price: float = 0.0  # 0 for MARKET
    trigger_price: float | None = None  # STOP_LOSS / STOP_LOSS_MARKET (and CO/BO)
    disclosed_quantity: int | None = None
    correlation_id: str | None = None
    after_market_order: bool = False
    amo_time: AmoTime | None = None
    bo_profit_value: float | None = None
    bo_stop_loss_value: float | None = None

    def __post_init__(self) -> None:
        if not self.security_id:
            raise ValueError("security_id must be non-empty")
        _check_quantity(self.quantity)
        _check_quantity(self.disclosed_quantity, name="disclosed_quantity")
        _check_price(self.price, name="price")
        _check_price(self.trigger_price, name="trigger_price")
        _check_price(self.bo_profit_value, name="bo_profit_value")
        _check_price(self.bo_stop_loss_value, name="bo_stop_loss_value")
        _check_correlation_id(self.correlation_id)
        if self.order_type in (OrderType.STOP_LOSS, OrderType.STOP_LOSS_MARKET) and (
            self.trigger_price is None
        ):
            raise ValueError(f"{self.order_type} needs a trigger_price")

    def to_wire(self) -> dict[str, Any]:
        return _omit_none(
            {
                "transactionType": self.transaction_type.value,
                "exchangeSegment": self.exchange_segment.value,
                "productType": self.product_type.value,
                "orderType": self.order_type.value,
                "validity": self.validity.value,
                "securityId": self.security_id,
                "quantity": self.quantity,
                "price": float(self.price),
                "triggerPrice": self.trigger_price,
                "disclosedQuantity": self.disclosed_quantity,
                "correlationId": self.correlation_id,
                "afterMarketOrder": self.after_market_order,
                "amoTime": self.amo_time.value if self.amo_time else None,
                "boProfitValue": self.bo_profit_value,
                "boStopLossValue": self.bo_stop_loss_value,
            }
        )


@dataclass(frozen=True, slots=True)
class ModifyRequest:
    """Body of ``PUT /orders/{id}``. ``quantity`` is the new *total*, not the pending rest."""

    order_type: OrderType
    quantity: int
    price: float | None
    trigger_price: float | None
    validity: Validity
    leg_name: LegName | None = None  # BO/CO: which leg
    disclosed_quantity: int | None = None

    def __post_init__(self) -> None:
        _check_quantity(self.quantity)
        _check_quantity(self.disclosed_quantity, name="disclosed_quantity")
        _check_price(self.price, name="price")
        _check_price(self.trigger_price, name="trigger_price")

    def to_wire(self) -> dict[str, Any]:
        return _omit_none(
            {
                "orderType": self.order_type.value,
                "legName": self.leg_name.value if self.leg_name else None,
                "quantity": self.quantity,
                "price": self.price,
                "triggerPrice": self.trigger_price,
                "disclosedQuantity": self.disclosed_quantity,
                "validity": self.validity.value,
            }
        )


@dataclass(frozen=True, slots=True)
class SuperOrderRequest:
    """Body of ``POST /super/orders``: entry plus absolute target and stop-loss prices."""

    transaction_type: TransactionType
    exchange_segment: ExchangeSegment
    product_type: ProductType
    order_type: OrderType  # LIMIT or MARKET only
    security_id: str
    quantity: int
    price: float
    target_price: float
    stop_loss_price: float
    trailing_jump: float = 0.0  # 0 = no trailing
    correlation_id: str | None = None

    def __post_init__(self) -> None:
        if not self.security_id:
            raise ValueError("security_id must be non-empty")
        if self.order_type not in (OrderType.LIMIT, OrderType.MARKET):
            raise ValueError(f"a super order's entry is LIMIT or MARKET, not {self.order_type}")
        if self.product_type in (ProductType.CO, ProductType.BO):
            raise ValueError(f"a super order cannot have product {self.product_type}")
        _check_quantity(self.quantity)
        for name in ("price", "target_price", "stop_loss_price", "trailing_jump"):
            _check_price(getattr(self, name), name=name)
        _check_correlation_id(self.correlation_id)

    def to_wire(self) -> dict[str, Any]:
        return _omit_none(
            {
                "correlationId": self.correlation_id,
                "transactionType": self.transaction_type.value,
                "exchangeSegment": self.exchange_segment.value,
                "productType": self.product_type.value,
                "orderType": self.order_type.value,
                "securityId": self.security_id,
                "quantity": self.quantity,
                "price": float(self.price),
                "targetPrice": float(self.target_price),
                "stopLossPrice": float(self.stop_loss_price),
                "trailingJump": float(self.trailing_jump),
            }
        )


@dataclass(frozen=True, slots=True)
class SuperModifyRequest:
    """Body of ``PUT /super/orders/{id}``: one leg and that leg's fields.

    ENTRY_LEG: order_type, quantity, price, target_price, stop_loss_price, trailing_jump.
    TARGET_LEG: target_price. STOP_LOSS_LEG: stop_loss_price and trailing_jump (Dhan cancels
    the trail when ``trailingJump`` is missing, so it is always required). Prefer the
    ``entry()`` / ``target()`` / ``stop_loss()`` constructors.
    """

    leg_name: LegName
    order_type: OrderType | None = None
    quantity: int | None = None
    price: float | None = None
    target_price: float | None = None
    stop_loss_price: float | None = None
    trailing_jump: float | None = None

    @classmethod
    def entry(
        cls,
        *,
        order_type: OrderType,
        quantity: int,
        price: float,
        target_price: float,
        stop_loss_price: float,
        trailing_jump: float,
    ) -> Self:
        return cls(
            LegName.ENTRY_LEG,
            order_type=order_type,
            quantity=quantity,
            price=price,
            target_price=target_price,
            stop_loss_price=stop_loss_price,
            trailing_jump=trailing_jump,
        )

    @classmethod
    def target(cls, target_price: float) -> Self:
        return cls(LegName.TARGET_LEG, target_price=target_price)

    @classmethod
    def stop_loss(cls, stop_loss_price: float, trailing_jump: float) -> Self:
        return cls(
            LegName.STOP_LOSS_LEG, stop_loss_price=stop_loss_price, trailing_jump=trailing_jump
        )

    def __post_init__(self) -> None:
        needed = {
            LegName.ENTRY_LEG: (
                "order_type",
                "quantity",
                "price",
                "target_price",
                "stop_loss_price",
                "trailing_jump",
            ),
            LegName.TARGET_LEG: ("target_price",),
            LegName.STOP_LOSS_LEG: ("stop_loss_price", "trailing_jump"),
        }.get(self.leg_name)
        if needed is None:
            raise ValueError(f"a super order has no leg {self.leg_name}")
        all_fields = (
            "order_type",
            "quantity",
            "price",
            "target_price",
            "stop_loss_price",
            "trailing_jump",
        )
        for name in all_fields:
            value = getattr(self, name)
            if name in needed and value is None:
                raise ValueError(f"modifying {self.leg_name} needs {name}")
            if name not in needed and value is not None:
                raise ValueError(f"{name} cannot be modified on {self.leg_name}")
        _check_quantity(self.quantity)
        for name in ("price", "target_price", "stop_loss_price", "trailing_jump"):
            _check_price(getattr(self, name), name=name)

    def to_wire(self) -> dict[str, Any]:
        return _omit_none(
            {
                "legName": self.leg_name.value,
                "orderType": self.order_type.value if self.order_type else None,
                "quantity": self.quantity,
                "price": self.price,
                "targetPrice": self.target_price,
                "stopLossPrice": self.stop_loss_price,
                "trailingJump": self.trailing_jump,
            }
        )


# --- responses ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderAck:
    """``{"orderId", "orderStatus"}``: the answer to place/modify/cancel. A 200 with
    ``REJECTED`` is a rejection, not an acceptance."""

    order_id: str
    order_status: OrderStatus

    @classmethod
    def from_wire(cls, d: Any, endpoint: str | None = None, where: str = "") -> Self:
        f = _Fields(d, endpoint=endpoint, where=where)
        return cls(order_id=f.text("orderId"), order_status=f.enum(OrderStatus, "orderStatus"))


@dataclass(frozen=True, slots=True)
class Order:
    """One order-book record (``GET /orders``, ``/orders/{id}``, ``/orders/external/{cid}``)."""

    order_id: str
    order_status: OrderStatus
    transaction_type: TransactionType
    exchange_segment: ExchangeSegment
    product_type: ProductType
    order_type: OrderType
    security_id: str
    quantity: int
    validity: Validity | None = None
    correlation_id: str | None = None
    client_id: str | None = None
    exchange_order_id: str | None = None
    trading_symbol: str | None = None
    filled_qty: int = 0
    remaining_quantity: int = 0
    disclosed_quantity: int = 0
    price: float = 0.0
    trigger_price: float = 0.0
    average_traded_price: float = 0.0
    after_market_order: bool = False
    amo_time: AmoTime | None = None  # not in Dhan's documented record: read when present
    bo_profit_value: float = 0.0
    bo_stop_loss_value: float = 0.0
    leg_name: LegName | None = None
    create_time: str | None = None
    update_time: str | None = None
    exchange_time: str | None = None
    oms_error_code: str | None = None
    oms_error_description: str | None = None
    algo_id: str | None = None

    @classmethod
    def from_wire(cls, d: Any, endpoint: str | None = None, where: str = "") -> Self:
        f = _Fields(d, endpoint=endpoint, where=where)
        quantity = f.integer("quantity")
        filled = f.integer("filledQty", "filled_qty", default=0)
        remaining = f.opt_integer("remainingQuantity")
        return cls(
            order_id=f.text("orderId"),
            order_status=f.enum(OrderStatus, "orderStatus"),
            transaction_type=f.enum(TransactionType, "transactionType"),
            exchange_segment=f.enum(ExchangeSegment, "exchangeSegment"),
            product_type=f.enum(ProductType, "productType"),
            order_type=f.enum(OrderType, "orderType"),
            security_id=f.text("securityId"),
            quantity=quantity,
            validity=f.opt_enum(Validity, "validity"),
            correlation_id=f.opt_text("correlationId"),
            client_id=f.opt_text("dhanClientId"),
            exchange_order_id=f.opt_text("exchangeOrderId"),
            trading_symbol=f.opt_text("tradingSymbol"),
            filled_qty=filled,
            remaining_quantity=quantity - filled if remaining is None else remaining,
            disclosed_quantity=f.integer("disclosedQuantity", default=0),
            price=f.number("price", default=0.0),
            trigger_price=f.number("triggerPrice", default=0.0),
            average_traded_price=f.number("averageTradedPrice", default=0.0),
            after_market_order=f.flag("afterMarketOrder"),
            amo_time=_known_amo_time(f.raw("amoTime")),
            bo_profit_value=f.number("boProfitValue", default=0.0),
            bo_stop_loss_value=f.number("boStopLossValue", default=0.0),
            leg_name=f.opt_leg("legName"),
            create_time=f.opt_text("createTime"),
            update_time=f.opt_text("updateTime"),
            exchange_time=f.opt_text("exchangeTime"),
            oms_error_code=f.opt_text("omsErrorCode"),
            oms_error_description=f.opt_text("omsErrorDescription"),
            algo_id=f.opt_text("algoId"),
        )


@dataclass(frozen=True, slots=True)
class SuperLeg:
    """One exit leg of a super order (``legDetails[]``)."""

    order_id: str
    leg_name: LegName
    order_status: OrderStatus
    transaction_type: TransactionType | None = None
    total_quantity: int | None = None  # wire ``totalQuatity`` (sic); often absent
    remaining_quantity: int = 0
    triggered_quantity: int = 0
    price: float = 0.0
    trailing_jump: float = 0.0

    @classmethod
    def from_wire(cls, d: Any, endpoint: str | None = None, where: str = "") -> Self:
        f = _Fields(d, endpoint=endpoint, where=where)
        return cls(
            order_id=f.text("orderId"),
            leg_name=f.enum(LegName, "legName"),
            order_status=f.enum(OrderStatus, "orderStatus"),
            transaction_type=f.opt_enum(TransactionType, "transactionType"),
            total_quantity=f.opt_integer("totalQuatity", "totalQuantity"),
            remaining_quantity=f.integer("remainingQuantity", default=0),
            triggered_quantity=f.integer("triggeredQuantity", default=0),
            price=f.number("price", default=0.0),
            trailing_jump=f.number("trailingJump", default=0.0),
        )


@dataclass(frozen=True, slots=True)
class SuperOrder:
    """One super-order book record (``GET /super/orders``): the entry and its exit legs."""

    order_id: str
    order_status: OrderStatus
    transaction_type: TransactionType
    exchange_segment: ExchangeSegment
    product_type: ProductType
    order_type: OrderType
    security_id: str
    quantity: int
    legs: tuple[SuperLeg, ...] = ()
    validity: Validity | None = None
    correlation_id: str | None = None
    client_id: str | None = None
    exchange_order_id: str | None = None
    filled_qty: int = 0
    remaining_quantity: int = 0
    price: float = 0.0
    ltp: float = 0.0
    trailing_jump: float = 0.0
    average_traded_price: float = 0.0
    leg_name: LegName | None = None
    create_time: str | None = None
    update_time: str | None = None
    oms_error_description: str | None = None
    algo_id: str | None = None

    def leg(self, name: LegName) -> SuperLeg | None:
        return next((leg for leg in self.legs if leg.leg_name is name), None)

    @classmethod
    def from_wire(cls, d: Any, endpoint: str | None = None, where: str = "") -> Self:
        f = _Fields(d, endpoint=endpoint, where=where)
        quantity = f.integer("quantity")
        filled = f.integer("filledQty", default=0)
        remaining = f.opt_integer("remainingQuantity")
        prefix = f"{where}.legDetails" if where else "legDetails"
        legs = tuple(
            SuperLeg.from_wire(item, endpoint, f"{prefix}[{i}]")
            for i, item in enumerate(f.items("legDetails"))
        )
        return cls(
            order_id=f.text("orderId"),
            order_status=f.enum(OrderStatus, "orderStatus"),
            transaction_type=f.enum(TransactionType, "transactionType"),
            exchange_segment=f.enum(ExchangeSegment, "exchangeSegment"),
            product_type=f.enum(ProductType, "productType"),
            order_type=f.enum(OrderType, "orderType"),
            security_id=f.text("securityId"),
            quantity=quantity,
            legs=legs,
            validity=f.opt_enum(Validity, "validity"),
            correlation_id=f.opt_text("correlationId"),
            client_id=f.opt_text("dhanClientId"),
            exchange_order_id=f.opt_text("exchangeOrderId"),
            filled_qty=filled,
            remaining_quantity=quantity - filled if remaining is None else remaining,
            price=f.number("price", default=0.0),
            ltp=f.number("ltp", default=0.0),
            trailing_jump=f.number("trailingJump", default=0.0),
            average_traded_price=f.number("averageTradedPrice", default=0.0),
            leg_name=f.opt_leg("legName"),
            create_time=f.opt_text("createTime"),
            update_time=f.opt_text("updateTime"),
            oms_error_description=f.opt_text("omsErrorDescription"),
            algo_id=f.opt_text("algoId"),
        )


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill (``GET /trades``, ``/trades/{order-id}``)."""

    order_id: str
    transaction_type: TransactionType
    exchange_segment: ExchangeSegment
    security_id: str
    traded_quantity: int
    traded_price: float
    product_type: ProductType | None = None
    order_type: OrderType | None = None
    exchange_order_id: str | None = None
    exchange_trade_id: str | None = None
    trading_symbol: str | None = None
    create_time: str | None = None
    update_time: str | None = None
    exchange_time: str | None = None

    @classmethod
    def from_wire(cls, d: Any, endpoint: str | None = None, where: str = "") -> Self:
        f = _Fields(d, endpoint=endpoint, where=where)
        return cls(
            order_id=f.text("orderId"),
            transaction_type=f.enum(TransactionType, "transactionType"),
            exchange_segment=f.enum(ExchangeSegment, "exchangeSegment"),
            security_id=f.text("securityId"),
            traded_quantity=f.integer("tradedQuantity"),
            traded_price=f.number("tradedPrice"),
            product_type=f.opt_enum(ProductType, "productType"),
            order_type=f.opt_enum(OrderType, "orderType"),
            exchange_order_id=f.opt_text("exchangeOrderId"),
            exchange_trade_id=f.opt_text("exchangeTradeId"),
            trading_symbol=f.opt_text("tradingSymbol"),
            create_time=f.opt_text("createTime"),
            update_time=f.opt_text("updateTime"),
            exchange_time=f.opt_text("exchangeTime"),
        )


@dataclass(frozen=True, slots=True)
class Position:
    """One row of ``GET /positions``."""

    security_id: str
    exchange_segment: ExchangeSegment
    product_type: ProductType
    net_qty: int
    position_type: PositionType | None = None
    trading_symbol: str | None = None
    buy_qty: int = 0
    sell_qty: int = 0
    buy_avg: float = 0.0
    sell_avg: float = 0.0
    cost_price: float = 0.0
    realized_profit: float = 0.0
    unrealized_profit: float = 0.0
    multiplier: int = 1
    day_buy_qty: int = 0
    day_sell_qty: int = 0
    carry_forward_buy_qty: int = 0
    carry_forward_sell_qty: int = 0

    @classmethod
    def from_wire(cls, d: Any, endpoint: str | None = None, where: str = "") -> Self:
        f = _Fields(d, endpoint=endpoint, where=where)
        return cls(
            security_id=f.text("securityId"),
            exchange_segment=f.enum(ExchangeSegment, "exchangeSegment"),
            product_type=f.enum(ProductType, "productType"),
            net_qty=f.integer("netQty"),
            position_type=f.opt_enum(PositionType, "positionType"),
            trading_symbol=f.opt_text("tradingSymbol"),
            buy_qty=f.integer("buyQty", default=0),
            sell_qty=f.integer("sellQty", default=0),
            buy_avg=f.number("buyAvg", default=0.0),
            sell_avg=f.number("sellAvg", default=0.0),
            cost_price=f.number("costPrice", default=0.0),
            realized_profit=f.number("realizedProfit", default=0.0),
            unrealized_profit=f.number("unrealizedProfit", default=0.0),
            multiplier=f.integer("multiplier", default=1),
            day_buy_qty=f.integer("dayBuyQty", default=0),
            day_sell_qty=f.integer("daySellQty", default=0),
            carry_forward_buy_qty=f.integer("carryForwardBuyQty", default=0),
            carry_forward_sell_qty=f.integer("carryForwardSellQty", default=0),
        )


@dataclass(frozen=True, slots=True)
class FundLimits:
    """``GET /fundlimit``. The wire spells it ``availabelBalance``; both spellings are read."""

    available_balance: float
    client_id: str | None = None
    sod_limit: float = 0.0
    collateral_amount: float = 0.0
    receivable_amount: float = 0.0
    utilized_amount: float = 0.0
    blocked_payout_amount: float = 0.0
    withdrawable_balance: float = 0.0

    @classmethod
    def from_wire(cls, d: Any, endpoint: str | None = None, where: str = "") -> Self:
        f = _Fields(d, endpoint=endpoint, where=where)
        return cls(
            available_balance=f.number("availabelBalance", "availableBalance"),
            client_id=f.opt_text("dhanClientId"),
            sod_limit=f.number("sodLimit", default=0.0),
            collateral_amount=f.number("collateralAmount", default=0.0),
            receivable_amount=f.number("receiveableAmount", "receivableAmount", default=0.0),
            utilized_amount=f.number("utilizedAmount", default=0.0),
            blocked_payout_amount=f.number("blockedPayoutAmount", default=0.0),
            withdrawable_balance=f.number("withdrawableBalance", default=0.0),
        )


@dataclass(frozen=True, slots=True)
class Profile:
    """``GET /profile``: a cheap token check (``token_validity`` is ``DD/MM/YYYY HH:MM``)."""

    client_id: str
    token_validity: str | None = None
    active_segment: str | None = None
    ddpi: str | None = None
    mtf: str | None = None
    data_plan: str | None = None
    data_validity: str | None = None

    @classmethod
    def from_wire(cls, d: Any, endpoint: str | None = None, where: str = "") -> Self:
        f = _Fields(d, endpoint=endpoint, where=where)
        return cls(
            client_id=f.text("dhanClientId"),
            token_validity=f.opt_text("tokenValidity"),
            active_segment=f.opt_text("activeSegment"),
            ddpi=f.opt_text("ddpi"),
            mtf=f.opt_text("mtf"),
            data_plan=f.opt_text("dataPlan"),
            data_validity=f.opt_text("dataValidity"),
        )
