"""Typed records for DhanHQ v2 REST requests and responses.

``dhan.rest`` builds request bodies with ``to_wire()`` and parses every response with
``from_wire()``: unknown keys are ignored, numeric strings are accepted for numbers, enums go
through ``dhan.codes``, and a missing or unparseable required field is a ``BadResponse`` naming
the field and endpoint (never a ``KeyError``). Each field names its wire key once, with
``dhan.fields.wire``; ``from_wire`` and ``to_wire`` are generated from those declarations.
Field meanings: ``../shared/dhanhq-v2.md`` §3-5.
"""

from __future__ import annotations

import math
from typing import Self

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
from dhan.fields import (
    WireRecord,
    WireRequest,
    to_bool,
    to_enum,
    to_float,
    to_int,
    to_str,
    wire,
    wire_record,
    wire_request,
)

__all__ = [
    "BookOrder",
    "ConvertRequest",
    "FundLimits",
    "Holding",
    "ModifyRequest",
    "Order",
    "OrderAck",
    "OrderRequest",
    "Position",
    "Profile",
    "SuperLeg",
    "SuperModifyRequest",
    "SuperOrder",
    "SuperOrderRequest",
    "Trade",
    "to_bool",
    "to_enum",
    "to_float",
    "to_int",
    "to_str",
]


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


@wire_request
class OrderRequest(WireRequest):
    """Body of ``POST /orders`` (``dhanClientId`` is added by the client)."""

    transaction_type: TransactionType = wire("transactionType")
    exchange_segment: ExchangeSegment = wire("exchangeSegment")
    product_type: ProductType = wire("productType")
    order_type: OrderType = wire("orderType")
    validity: Validity = wire("validity")
    security_id: str = wire("securityId")
    quantity: int = wire("quantity")
    price: float = wire("price", default=0.0)  # 0 for MARKET
    #: STOP_LOSS / STOP_LOSS_MARKET (and CO/BO)
    trigger_price: float | None = wire("triggerPrice", default=None)
    disclosed_quantity: int | None = wire("disclosedQuantity", default=None)
    correlation_id: str | None = wire("correlationId", default=None)
    after_market_order: bool = wire("afterMarketOrder", default=False)
    amo_time: AmoTime | None = wire("amoTime", default=None)
    bo_profit_value: float | None = wire("boProfitValue", default=None)
    bo_stop_loss_value: float | None = wire("boStopLossValue", default=None)

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


@wire_request
class ModifyRequest(WireRequest):
    """Body of ``PUT /orders/{id}``. ``quantity`` is the new *total*, not the pending rest."""

    order_type: OrderType = wire("orderType")
    quantity: int = wire("quantity")
    price: float | None = wire("price")
    trigger_price: float | None = wire("triggerPrice")
    validity: Validity = wire("validity")
    leg_name: LegName | None = wire("legName", default=None)  # BO/CO: which leg
    disclosed_quantity: int | None = wire("disclosedQuantity", default=None)

    def __post_init__(self) -> None:
        _check_quantity(self.quantity)
        _check_quantity(self.disclosed_quantity, name="disclosed_quantity")
        _check_price(self.price, name="price")
        _check_price(self.trigger_price, name="trigger_price")


@wire_request
class ConvertRequest(WireRequest):
    """Body of ``POST /positions/convert`` (``dhanClientId`` is added by the client): move
    ``convert_qty`` of a position from one product to another. No order, no socket frame."""

    from_product_type: ProductType = wire("fromProductType")
    to_product_type: ProductType = wire("toProductType")
    exchange_segment: ExchangeSegment = wire("exchangeSegment")
    position_type: PositionType = wire("positionType")
    security_id: str = wire("securityId")
    convert_qty: int = wire("convertQty")

    def __post_init__(self) -> None:
        _check_quantity(self.convert_qty, name="convert_qty")


@wire_request
class SuperOrderRequest(WireRequest):
    """Body of ``POST /super/orders``: entry plus absolute target and stop-loss prices."""

    transaction_type: TransactionType = wire("transactionType")
    exchange_segment: ExchangeSegment = wire("exchangeSegment")
    product_type: ProductType = wire("productType")
    order_type: OrderType = wire("orderType")  # LIMIT or MARKET only
    security_id: str = wire("securityId")
    quantity: int = wire("quantity")
    price: float = wire("price")
    target_price: float = wire("targetPrice")
    stop_loss_price: float = wire("stopLossPrice")
    trailing_jump: float = wire("trailingJump", default=0.0)  # 0 = no trailing
    correlation_id: str | None = wire("correlationId", default=None)

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


@wire_request
class SuperModifyRequest(WireRequest):
    """Body of ``PUT /super/orders/{id}``: one leg and that leg's fields.

    ENTRY_LEG: order_type, quantity, price, target_price, stop_loss_price, trailing_jump.
    TARGET_LEG: target_price. STOP_LOSS_LEG: stop_loss_price and trailing_jump (Dhan cancels
    the trail when ``trailingJump`` is missing, so it is always required). Prefer the
    ``entry()`` / ``target()`` / ``stop_loss()`` constructors.
    """

    leg_name: LegName = wire("legName")
    order_type: OrderType | None = wire("orderType", default=None)
    quantity: int | None = wire("quantity", default=None)
    price: float | None = wire("price", default=None)
    target_price: float | None = wire("targetPrice", default=None)
    stop_loss_price: float | None = wire("stopLossPrice", default=None)
    trailing_jump: float | None = wire("trailingJump", default=None)

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


# --- responses ----------------------------------------------------------------------------


@wire_record
class OrderAck(WireRecord):
    """``{"orderId", "orderStatus"}``: the answer to place/modify/cancel. A 200 with
    ``REJECTED`` is a rejection, not an acceptance."""

    order_id: str = wire("orderId")
    order_status: OrderStatus = wire("orderStatus")


@wire_record
class BookOrder(WireRecord):
    """The fields an order-book record (``Order``) and a super-order-book record
    (``SuperOrder``) share: same names, same wire keys."""

    order_id: str = wire("orderId")
    order_status: OrderStatus = wire("orderStatus")
    transaction_type: TransactionType = wire("transactionType")
    exchange_segment: ExchangeSegment = wire("exchangeSegment")
    product_type: ProductType = wire("productType")
    order_type: OrderType = wire("orderType")
    security_id: str = wire("securityId")
    quantity: int = wire("quantity", first=True)
    validity: Validity | None = wire("validity", default=None)
    correlation_id: str | None = wire("correlationId", default=None)
    client_id: str | None = wire("dhanClientId", default=None)
    exchange_order_id: str | None = wire("exchangeOrderId", default=None)
    filled_qty: int = wire("filledQty", default=0, first=True)
    remaining_quantity: int = wire(
        "remainingQuantity",
        default=0,
        read="opt_integer",
        if_missing="quantity - filled_qty",
        first=True,
    )
    price: float = wire("price", default=0.0)
    average_traded_price: float = wire("averageTradedPrice", default=0.0)
    leg_name: LegName | None = wire("legName", default=None, read="opt_leg")
    create_time: str | None = wire("createTime", default=None)
    update_time: str | None = wire("updateTime", default=None)
    oms_error_description: str | None = wire("omsErrorDescription", default=None)
    algo_id: str | None = wire("algoId", default=None)


@wire_record
class Order(BookOrder):
    """One order-book record (``GET /orders``, ``/orders/{id}``, ``/orders/external/{cid}``)."""

    #: the order book also spells it ``filled_qty``: read where ``filledQty`` is absent
    filled_qty: int = wire("filledQty", "filled_qty", default=0, first=True)
    trading_symbol: str | None = wire("tradingSymbol", default=None)
    disclosed_quantity: int = wire("disclosedQuantity", default=0)
    trigger_price: float = wire("triggerPrice", default=0.0)
    after_market_order: bool = wire("afterMarketOrder", default=False)
    #: not in Dhan's documented record: read when present, None when unknown
    amo_time: AmoTime | None = wire("amoTime", default=None, lenient=True)
    bo_profit_value: float = wire("boProfitValue", default=0.0)
    bo_stop_loss_value: float = wire("boStopLossValue", default=0.0)
    exchange_time: str | None = wire("exchangeTime", default=None)
    oms_error_code: str | None = wire("omsErrorCode", default=None)


@wire_record
class SuperLeg(WireRecord):
    """One exit leg of a super order (``legDetails[]``)."""

    order_id: str = wire("orderId")
    leg_name: LegName = wire("legName")
    order_status: OrderStatus = wire("orderStatus")
    transaction_type: TransactionType | None = wire("transactionType", default=None)
    #: wire ``totalQuatity`` (sic); often absent
    total_quantity: int | None = wire("totalQuatity", "totalQuantity", default=None)
    remaining_quantity: int = wire("remainingQuantity", default=0)
    triggered_quantity: int = wire("triggeredQuantity", default=0)
    price: float = wire("price", default=0.0)
    trailing_jump: float = wire("trailingJump", default=0.0)


@wire_record
class SuperOrder(BookOrder):
    """One super-order book record (``GET /super/orders``): the entry and its exit legs."""

    legs: tuple[SuperLeg, ...] = wire("legDetails", default=(), first=True)
    ltp: float = wire("ltp", default=0.0)
    trailing_jump: float = wire("trailingJump", default=0.0)

    def leg(self, name: LegName) -> SuperLeg | None:
        return next((leg for leg in self.legs if leg.leg_name is name), None)


@wire_record
class Trade(WireRecord):
    """One fill (``GET /trades``, ``/trades/{order-id}``)."""

    order_id: str = wire("orderId")
    transaction_type: TransactionType = wire("transactionType")
    exchange_segment: ExchangeSegment = wire("exchangeSegment")
    security_id: str = wire("securityId")
    traded_quantity: int = wire("tradedQuantity")
    traded_price: float = wire("tradedPrice")
    product_type: ProductType | None = wire("productType", default=None)
    order_type: OrderType | None = wire("orderType", default=None)
    exchange_order_id: str | None = wire("exchangeOrderId", default=None)
    exchange_trade_id: str | None = wire("exchangeTradeId", default=None)
    trading_symbol: str | None = wire("tradingSymbol", default=None)
    create_time: str | None = wire("createTime", default=None)
    update_time: str | None = wire("updateTime", default=None)
    exchange_time: str | None = wire("exchangeTime", default=None)


@wire_record
class Position(WireRecord):
    """One row of ``GET /positions``."""

    security_id: str = wire("securityId")
    exchange_segment: ExchangeSegment = wire("exchangeSegment")
    product_type: ProductType = wire("productType")
    net_qty: int = wire("netQty")
    position_type: PositionType | None = wire("positionType", default=None)
    trading_symbol: str | None = wire("tradingSymbol", default=None)
    buy_qty: int = wire("buyQty", default=0)
    sell_qty: int = wire("sellQty", default=0)
    buy_avg: float = wire("buyAvg", default=0.0)
    sell_avg: float = wire("sellAvg", default=0.0)
    cost_price: float = wire("costPrice", default=0.0)
    realized_profit: float = wire("realizedProfit", default=0.0)
    unrealized_profit: float = wire("unrealizedProfit", default=0.0)
    multiplier: int = wire("multiplier", default=1)
    day_buy_qty: int = wire("dayBuyQty", default=0)
    day_sell_qty: int = wire("daySellQty", default=0)
    carry_forward_buy_qty: int = wire("carryForwardBuyQty", default=0)
    carry_forward_sell_qty: int = wire("carryForwardSellQty", default=0)


@wire_record
class Holding(WireRecord):
    """One row of ``GET /holdings``: delivery shares of earlier days (``availableQty`` is what
    can be sold now; dhanhq-v2.md 5.2)."""

    security_id: str = wire("securityId")
    exchange: str | None = wire("exchange", default=None)
    trading_symbol: str | None = wire("tradingSymbol", default=None)
    isin: str | None = wire("isin", default=None)
    total_qty: int = wire("totalQty", default=0)
    dp_qty: int = wire("dpQty", default=0)
    t1_qty: int = wire("t1Qty", default=0)
    available_qty: int = wire("availableQty", default=0)
    collateral_qty: int = wire("collateralQty", default=0)
    avg_cost_price: float = wire("avgCostPrice", default=0.0)


@wire_record
class FundLimits(WireRecord):
    """``GET /fundlimit``. The wire spells it ``availabelBalance``; both spellings are read."""

    available_balance: float = wire("availabelBalance", "availableBalance")
    client_id: str | None = wire("dhanClientId", default=None)
    sod_limit: float = wire("sodLimit", default=0.0)
    collateral_amount: float = wire("collateralAmount", default=0.0)
    receivable_amount: float = wire("receiveableAmount", "receivableAmount", default=0.0)
    utilized_amount: float = wire("utilizedAmount", default=0.0)
    blocked_payout_amount: float = wire("blockedPayoutAmount", default=0.0)
    withdrawable_balance: float = wire("withdrawableBalance", default=0.0)


@wire_record
class Profile(WireRecord):
    """``GET /profile``: a cheap token check (``token_validity`` is ``DD/MM/YYYY HH:MM``)."""

    client_id: str = wire("dhanClientId")
    token_validity: str | None = wire("tokenValidity", default=None)
    active_segment: str | None = wire("activeSegment", default=None)
    ddpi: str | None = wire("ddpi", default=None)
    mtf: str | None = wire("mtf", default=None)
    data_plan: str | None = wire("dataPlan", default=None)
    data_validity: str | None = wire("dataValidity", default=None)
