"""Forever orders (GTT, ``/forever/orders``): SINGLE and OCO, armed (``CONFIRM``) until the LTP
crosses a leg's trigger; then a normal order is placed with its own orderId (in the book and on
the socket, its ``GoodTillDaysDate`` the forever order's validity) and the forever order is done.

A leg's trigger direction is fixed when it is armed: a trigger at or above the LTP fires when the
LTP rises to it, one below when the LTP falls to it (the usual GTT rule; Dhan documents none,
**U**). In an OCO, whichever leg fires first creates its order and the other is cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from dhan.codes import LegName, OrderStatus, OrderType, ProductType, TransactionType, Validity
from dhansim.clock import IST, ist_now
from dhansim.errors import bad_input
from dhansim.instruments import Instrument, InstrumentMaster
from dhansim.validation import (
    check_client_id,
    correlation_id_field,
    disclosed_rules,
    enum_field,
    float_field,
    instrument_field,
    int_field,
    quantity_rules,
    require_object,
    tick_rule,
)

E = TypeVar("E", bound=StrEnum)
FLAGS = ("SINGLE", "OCO")
#: Products of a forever order: CNC and MTF (Dhan's create table), MARGIN for F&O (**U**).
PRODUCTS = frozenset({ProductType.CNC, ProductType.MTF, ProductType.MARGIN})
#: How long a forever order stays valid (**U**: one year, as GTTs usually are).
VALIDITY_DAYS = 365


@dataclass(slots=True)
class ForeverLeg:
    """One trigger of a forever order: TARGET_LEG (SINGLE, or the OCO's first) or STOP_LOSS_LEG."""

    name: LegName
    quantity: int
    price: float
    trigger_price: float
    rising: bool = True  # fires when LTP >= trigger (else when LTP <= trigger)

    def crossed(self, ltp: float) -> bool:
        return ltp >= self.trigger_price if self.rising else ltp <= self.trigger_price


@dataclass(slots=True)
class ForeverOrder:
    """One forever order of one account."""

    order_id: str
    account_id: str
    flag: str
    instrument: Instrument
    txn: TransactionType
    product: ProductType
    order_type: OrderType
    validity: Validity
    disclosed_qty: int
    correlation_id: str
    legs: list[ForeverLeg]
    status: OrderStatus = OrderStatus.CONFIRM
    create_time: str = field(default_factory=ist_now)
    update_time: str = ""
    good_till: str = ""  # YYYY-MM-DD
    fired_leg: LegName | None = None
    order_placed: str = ""  # orderId of the order a trigger created
    rejection: str = ""

    @property
    def is_armed(self) -> bool:
        return self.status is OrderStatus.CONFIRM

    def leg(self, name: LegName) -> ForeverLeg:
        for leg in self.legs:
            if leg.name is name:
                return leg
        raise bad_input(f"legName {name.value} is not part of this {self.flag} forever order")

    def records(self) -> list[dict[str, Any]]:
        """Its records of ``GET /forever/orders``: one per leg (a SINGLE shows ENTRY_LEG, as
        Dhan's sample; the OCO's two legs TARGET_LEG and STOP_LOSS_LEG, **U**)."""
        inst = self.instrument
        out = []
        for leg in self.legs:
            name = LegName.ENTRY_LEG if self.flag == "SINGLE" else leg.name
            out.append(
                {
                    "dhanClientId": self.account_id,
                    "orderId": self.order_id,
                    "correlationId": self.correlation_id,
                    "orderStatus": self.status.value,
                    "transactionType": self.txn.value,
                    "exchangeSegment": inst.segment.value,
                    "productType": self.product.value,
                    "orderType": self.flag,  # sic: Dhan's list carries SINGLE / OCO here
                    "tradingSymbol": inst.symbol,
                    "securityId": inst.security_id,
                    "quantity": leg.quantity,
                    "price": leg.price,
                    "triggerPrice": leg.trigger_price,
                    "legName": name.value,
                    "createTime": self.create_time,
                    "updateTime": self.update_time or None,
                    "exchangeTime": None,
                    "drvExpiryDate": f"{inst.expiry_date} 14:30:00" if inst.expiry_date else None,
                    "drvOptionType": {"CE": "CALL", "PE": "PUT"}.get(inst.option_type),
                    "drvStrikePrice": inst.strike_price,
                }
            )
        return out


def _required_enum(body: Any, name: str, kind: type[E]) -> E:
    value = enum_field(body, name, kind, required=True)
    assert value is not None  # required=True raises instead of answering None
    return value


def good_till_date(days: int = VALIDITY_DAYS) -> str:
    return (datetime.now(IST) + timedelta(days=days)).strftime("%Y-%m-%d")


def _leg_prices(
    body: Any, order_type: OrderType, inst: Instrument, suffix: str
) -> tuple[float, float]:
    price = float_field(body, f"price{suffix}") or 0.0
    trigger = float_field(body, f"triggerPrice{suffix}") or 0.0
    if order_type is OrderType.LIMIT:
        if price <= 0:
            raise bad_input(f"price{suffix} is required and must be greater than 0 for LIMIT")
        tick_rule(price, inst, f"price{suffix}")
    else:
        price = 0.0
    if trigger <= 0:
        raise bad_input(f"triggerPrice{suffix} is required for a forever order")
    tick_rule(trigger, inst, f"triggerPrice{suffix}")
    return price, trigger


def _order_type(body: Any, name: str = "orderType") -> OrderType:
    order_type = _required_enum(body, name, OrderType)
    if order_type not in (OrderType.LIMIT, OrderType.MARKET):
        raise bad_input("orderType of a forever order must be LIMIT or MARKET")
    return order_type


def parse_forever_place(
    body: Any, account_id: str, master: InstrumentMaster, order_id: str
) -> ForeverOrder:
    """``POST /forever/orders``: a checked, not yet armed forever order."""
    body = require_object(body)
    check_client_id(body, account_id)
    correlation_id = correlation_id_field(body)
    flag = body.get("orderFlag")
    if flag not in FLAGS:
        raise bad_input(f"Invalid orderFlag: {flag!r} (allowed: SINGLE, OCO)")
    txn = _required_enum(body, "transactionType", TransactionType)
    inst = instrument_field(body, master)
    product = _required_enum(body, "productType", ProductType)
    if product not in PRODUCTS:
        raise bad_input("productType of a forever order must be CNC or MTF (MARGIN for F&O)")
    if product in (ProductType.CNC, ProductType.MTF) and not inst.is_equity:
        raise bad_input(f"productType {product.value} is allowed only for equity segments")
    if product is ProductType.MARGIN and inst.is_equity:
        raise bad_input("productType MARGIN is not allowed for equity segments")
    order_type = _order_type(body)
    validity = _required_enum(body, "validity", Validity)
    quantity = quantity_rules(int_field(body, "quantity"), inst)
    disclosed = disclosed_rules(int_field(body, "disclosedQuantity"), quantity)
    price, trigger = _leg_prices(body, order_type, inst, "")
    legs = [ForeverLeg(LegName.TARGET_LEG, quantity, price, trigger)]
    if flag == "OCO":
        quantity1 = quantity_rules(int_field(body, "quantity1"), inst, "quantity1")
        price1, trigger1 = _leg_prices(body, order_type, inst, "1")
        legs.append(ForeverLeg(LegName.STOP_LOSS_LEG, quantity1, price1, trigger1))
    return ForeverOrder(
        order_id=order_id,
        account_id=account_id,
        flag=flag,
        instrument=inst,
        txn=txn,
        product=product,
        order_type=order_type,
        validity=validity,
        disclosed_qty=disclosed,
        correlation_id=correlation_id,
        legs=legs,
        good_till=good_till_date(),
    )


def apply_forever_modify(fo: ForeverOrder, body: Any, account_id: str) -> ForeverLeg:
    """``PUT /forever/orders/{id}``: change one leg (price, quantity, trigger) and the order's
    type, validity and disclosed quantity; returns the changed leg (its direction is re-armed
    by the caller)."""
    body = require_object(body)
    check_client_id(body, account_id)
    value = body.get("orderId")
    if value not in (None, "") and str(value) != fo.order_id:
        raise bad_input("orderId in the body does not match the order in the path")
    flag = body.get("orderFlag")
    if flag not in (None, "") and flag != fo.flag:
        raise bad_input(f"orderFlag {flag!r} does not match this {fo.flag} forever order")
    leg = fo.leg(_required_enum(body, "legName", LegName))
    order_type = enum_field(body, "orderType", OrderType, required=False) or fo.order_type
    if order_type not in (OrderType.LIMIT, OrderType.MARKET):
        raise bad_input("orderType of a forever order must be LIMIT or MARKET")
    inst = fo.instrument
    quantity = quantity_rules(int_field(body, "quantity") or leg.quantity, inst)
    price_in = float_field(body, "price")
    trigger_in = float_field(body, "triggerPrice")
    price = leg.price if price_in is None else price_in
    trigger = leg.trigger_price if trigger_in is None else trigger_in
    if order_type is OrderType.LIMIT:
        if price <= 0:
            raise bad_input("price is required and must be greater than 0 for LIMIT")
        tick_rule(price, inst, "price")
    else:
        price = 0.0
    if trigger <= 0:
        raise bad_input("triggerPrice is required for a forever order")
    tick_rule(trigger, inst, "triggerPrice")
    disclosed_in = int_field(body, "disclosedQuantity")
    disclosed = disclosed_rules(
        fo.disclosed_qty if disclosed_in is None else disclosed_in, quantity
    )
    validity = enum_field(body, "validity", Validity, required=False) or fo.validity
    fo.order_type, fo.validity, fo.disclosed_qty = order_type, validity, disclosed
    leg.quantity, leg.price, leg.trigger_price = quantity, price, trigger
    fo.update_time = ist_now()
    return leg
