"""Intent -> broker request, and broker order -> "does it match the intent?".

The one place that knows which DhanHQ v2 fields each order kind uses, so the FollowerActor and
the BracketLegActor never build request bodies by hand.
"""

from __future__ import annotations

from dhan.codes import AmoTime, LegName, OrderType, ProductType, Validity
from dhan.models import ModifyRequest, Order, OrderRequest, SuperModifyRequest, SuperOrderRequest
from store.records import Intent

_PRICE_TOLERANCE = 1e-6


def is_super(intent: Intent) -> bool:
    """A super order carries absolute target and stop-loss prices."""
    return intent.target_price is not None and intent.stop_loss_price is not None


def is_bracket(intent: Intent) -> bool:
    """CO, BO and super orders have exit legs that a BracketLegActor watches."""
    return intent.product_type in (ProductType.BO, ProductType.CO) or is_super(intent)


def _price(order_type: OrderType, price: float) -> float:
    return 0.0 if order_type in (OrderType.MARKET, OrderType.STOP_LOSS_MARKET) else price


def _trigger(order_type: OrderType, trigger: float) -> float | None:
    if order_type in (OrderType.STOP_LOSS, OrderType.STOP_LOSS_MARKET):
        return trigger
    return None


def place_request(intent: Intent, *, super_order: bool = False) -> OrderRequest | SuperOrderRequest:
    """The place body for ``intent`` (always with its deterministic correlationId)."""
    if super_order:
        assert intent.target_price is not None and intent.stop_loss_price is not None
        return SuperOrderRequest(
            transaction_type=intent.transaction_type,
            exchange_segment=intent.exchange_segment,
            product_type=intent.product_type,
            order_type=intent.order_type,
            security_id=intent.security_id,
            quantity=intent.quantity,
            price=_price(intent.order_type, intent.price),
            target_price=intent.target_price,
            stop_loss_price=intent.stop_loss_price,
            trailing_jump=intent.trailing_jump or 0.0,
            correlation_id=intent.correlation_id,
        )
    trigger = _trigger(intent.order_type, intent.trigger_price)
    if intent.product_type is ProductType.CO and intent.trigger_price:
        trigger = intent.trigger_price  # the cover order's stop travels in triggerPrice
    return OrderRequest(
        transaction_type=intent.transaction_type,
        exchange_segment=intent.exchange_segment,
        product_type=intent.product_type,
        order_type=intent.order_type,
        validity=intent.validity or Validity.DAY,
        security_id=intent.security_id,
        quantity=intent.quantity,
        price=_price(intent.order_type, intent.price),
        trigger_price=trigger,
        correlation_id=intent.correlation_id,
        after_market_order=intent.after_market_order,
        # the socket never says an AMO's time, nor does Dhan's documented order book: OPEN
        amo_time=(intent.amo_time or AmoTime.OPEN) if intent.after_market_order else None,
        bo_profit_value=intent.bo_profit_value if intent.product_type is ProductType.BO else None,
        bo_stop_loss_value=intent.bo_stop_loss_value
        if intent.product_type in (ProductType.BO, ProductType.CO)
        else None,
    )


def modify_request(
    intent: Intent, *, super_leg: LegName | None = None
) -> ModifyRequest | SuperModifyRequest:
    """The modify body that brings the broker order to the intent's desired fields.

    Dhan's modify takes the *total* quantity (not the pending one) and the full field set.
    """
    if super_leg is not None:
        assert super_leg is LegName.ENTRY_LEG, "exit legs are modified by the BracketLegActor"
        assert intent.target_price is not None and intent.stop_loss_price is not None
        return SuperModifyRequest.entry(
            order_type=intent.order_type,
            quantity=intent.quantity,
            price=_price(intent.order_type, intent.price),
            target_price=intent.target_price,
            stop_loss_price=intent.stop_loss_price,
            trailing_jump=intent.trailing_jump or 0.0,
        )
    return ModifyRequest(
        order_type=intent.order_type,
        quantity=intent.quantity,
        price=_price(intent.order_type, intent.price),
        trigger_price=_trigger(intent.order_type, intent.trigger_price),
        validity=intent.validity or Validity.DAY,
    )


def matches_desired(intent: Intent, order: Order) -> bool:
    """True when the broker order already carries the intent's quantity, price and trigger."""
    if order.quantity != intent.quantity:
        return False
    if order.order_type in (OrderType.LIMIT, OrderType.STOP_LOSS) and (
        abs(order.price - intent.price) > _PRICE_TOLERANCE
    ):
        return False
    if order.order_type in (OrderType.STOP_LOSS, OrderType.STOP_LOSS_MARKET):
        return abs(order.trigger_price - intent.trigger_price) <= _PRICE_TOLERANCE
    return True
