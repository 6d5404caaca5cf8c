"""Settling the follower's copies from the broker's view, as pure functions.

``FollowerActor`` reads its book (at start to adopt what a previous incarnation sent, on its
ticks to see fills and ends) and asks these which intents moved and to what; the journal writes
and the book reads stay in the actor.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from actors.orders import is_bracket, is_super, matches_desired
from dhan.codes import TRIGGERED_FORM, LegName, OrderStatus
from dhan.models import Order, SuperOrder
from dhan.order_feed import OrderUpdate
from store.records import Intent, LeaderOrderSnapshot, TransitionRequest
from store.states import IntentState

#: The states an intent may be in when its order is found at the broker at start (adopted).
ADOPTABLE = (
    IntentState.PLANNED,
    IntentState.SENDING,
    IntentState.UNKNOWN,
    IntentState.MODIFYING,
    IntentState.CANCELLING,
)


def settle_move(intent: Intent, order: Order) -> TransitionRequest:
    """The transition that records the broker's view of ``intent``'s order."""
    status = order.order_status
    applied = intent.desired_version if matches_desired(intent, order) else intent.applied_version
    if status is OrderStatus.REJECTED and intent.broker_order_id is None:
        to = IntentState.REJECTED
    elif status.is_terminal:
        to = IntentState.DONE
    else:
        to = IntentState.WORKING
    return TransitionRequest(
        intent_id=intent.id,
        to=to,
        expect_from=intent.state,
        broker_order_id=order.order_id,
        broker_status=status,
        filled_qty=order.filled_qty,
        applied_version=applied,
        error_message=order.oms_error_description or None,
    )


#: The broker's words for a stop-loss order refused because the market has already crossed its
#: trigger (dhansim: "Trigger price for a stop-loss buy order should be above LTP"; Dhan's own
#: wording is **U**: any reason naming the trigger and the LTP / last traded price).
_TRIGGER_CROSSED = re.compile(r"trigger.*\b(ltp|last traded price)\b", re.IGNORECASE)


def stop_trigger_crossed(intent: Intent, order: Any) -> bool:
    """Pure: did the broker reject ``intent``'s copy of a stop-loss order (``order``, its
    view), unfilled, because the market had already crossed its trigger? The leader's own
    stop has then triggered (the same market): the copy is placed again as its triggered
    form (``Journal.replace_triggered_stop``)."""
    if getattr(order, "order_status", None) is not OrderStatus.REJECTED:
        return False
    if getattr(order, "filled_qty", 0):
        return False
    return trigger_crossed(intent, getattr(order, "oms_error_description", None))


def trigger_crossed(intent: Intent, reason: str | None) -> bool:
    """Pure: is ``reason`` (the broker's refusal of ``intent``'s copy) the one of a stop-loss
    order whose trigger the market has already crossed?"""
    if intent.order_type not in TRIGGERED_FORM:
        return False
    return _TRIGGER_CROSSED.search(reason or "") is not None


def by_correlation_id(
    orders: Iterable[Order], super_orders: Iterable[SuperOrder] = ()
) -> dict[str, Any]:
    """The broker's orders an intent can be adopted from, by correlationId: entries and plain
    orders (never an exit leg, which shares its entry's correlationId), then super orders."""
    book: dict[str, Any] = {
        o.correlation_id: o
        for o in orders
        if o.correlation_id and o.leg_name in (None, LegName.ENTRY_LEG, LegName.NA)
    }
    for so in super_orders:
        if so.correlation_id:
            book[so.correlation_id] = so
    return book


def order_from_update(u: OrderUpdate) -> Order | None:
    """The broker's view of one order as its order-update frame tells it (the fields a settle
    reads), or None when the frame lacks one ``Order`` needs (a code the feed did not know):
    that order is then settled from the book.

    Pure. The frame's ``TradedQty`` is cumulative, like the book's ``filledQty``; its
    ``ReasonDescription`` is the book's ``omsErrorDescription`` ("CONFIRMED" unless rejected).
    """
    if (
        u.exchange_segment is None
        or u.security_id is None
        or u.product_type is None
        or u.transaction_type is None
        or u.order_type is None
    ):
        return None
    rejected = u.status is OrderStatus.REJECTED
    return Order(
        order_id=u.order_no,
        order_status=u.status,
        transaction_type=u.transaction_type,
        exchange_segment=u.exchange_segment,
        product_type=u.product_type,
        order_type=u.order_type,
        security_id=u.security_id,
        quantity=u.quantity,
        validity=u.validity,
        correlation_id=u.correlation_id,
        client_id=u.client_id,
        exchange_order_id=u.exch_order_no,
        filled_qty=u.traded_qty,
        remaining_quantity=u.remaining_quantity,
        price=u.price,
        average_traded_price=u.avg_traded_price,
        leg_name=u.leg_name,
        update_time=u.last_updated_time,
        oms_error_description=u.reason_description if rejected else None,
        trigger_price=u.trigger_price,
        after_market_order=u.is_amo,
    )


def worth_settling(u: OrderUpdate) -> bool:
    """Pure: can this frame change a copy's journaled state? Fills and ends can; a TRANSIT or
    PENDING frame of an unfilled order cannot (``changed_copies`` would write nothing for it),
    so it costs no journal read."""
    return u.traded_qty > 0 or u.status.is_terminal


def socket_settled(intent: Intent) -> bool:
    """A copy the order socket settles: a plain order or a bracket's entry. A super order's
    state is its book's (``GET /super/orders``: the entry and its legs in one record), which
    no single frame tells: those stay settled from the book."""
    return not is_super(intent)


def copies_updated(
    copies: Iterable[Intent], orders: Iterable[Order]
) -> tuple[list[tuple[Intent, Order]], list[Intent]]:
    """What ``orders`` (from socket frames, oldest first) do to ``copies`` (the follower's
    working and in-flight intents): the WORKING copies they move, and the others they name
    (a modify or cancel in flight: that step owns the row now, so the copy is read from the
    book once it is back, on the next tick).

    Each copy is matched by its correlationId, else by its broker order id; an exit leg's
    frame matches nothing (it shares its entry's correlationId, and a super order's its order
    id: legs are their ``BracketLegActor``'s). The latest frame of an order wins. Only
    a fill or an end is worth a write (``changed_copies``), and a frame with less filled than
    journaled (older than what a book read already recorded) never moves a copy back. A
    super order's copy is left to the book (``socket_settled``).

    Pure.
    """
    by_cid: dict[str, Order] = {}
    by_id: dict[str, Order] = {}
    for o in orders:
        if o.leg_name not in (None, LegName.ENTRY_LEG, LegName.NA):
            continue  # an exit leg's frame (it may carry its entry's order id): the legs' actor's
        by_id[o.order_id] = o
        if o.correlation_id:
            by_cid[o.correlation_id] = o
    moved: list[tuple[Intent, Order]] = []
    later: list[Intent] = []
    for intent in copies:
        if not socket_settled(intent):
            continue
        order = by_cid.get(intent.correlation_id) or by_id.get(intent.broker_order_id or "")
        if order is None:
            continue
        if intent.broker_order_id and order.order_id != intent.broker_order_id:
            continue  # a correlationId reused by another order: not this copy's
        if order.filled_qty < intent.filled_qty:
            continue
        if not (order.order_status.is_terminal or order.filled_qty != intent.filled_qty):
            continue
        if intent.state is IntentState.WORKING:
            moved.append((intent, order))
        else:
            later.append(intent)
    return moved, later


def refresh_names(working: Iterable[Intent]) -> list[str]:
    """What a book read must keep for ``working`` copies: their correlationIds and order ids."""
    working = list(working)
    return [i.correlation_id for i in working] + [
        i.broker_order_id for i in working if i.broker_order_id
    ]


def changed_copies(working: Iterable[Intent], book: Mapping[str, Any]) -> list[tuple[Intent, Any]]:
    """The copies whose order (``book`` by order id) filled more or ended: worth a write.

    TRANSIT -> PENDING is not worth a write; fills and the end of the order are.
    """
    changed = []
    for intent in working:
        order = book.get(intent.broker_order_id or "")
        if order is not None and (
            order.order_status.is_terminal or order.filled_qty != intent.filled_qty
        ):
            changed.append((intent, order))
    return changed


def settled_names(intent: Intent, moved: Intent) -> list[str]:
    """The book rows a settle lets go of: none while the copy works, else its two names."""
    if moved.state is IntentState.WORKING:
        return []
    return [intent.correlation_id, intent.broker_order_id or ""]


def needs_legs(intent: Intent, moved: Intent) -> bool:
    """A bracket copy found (or kept) at the broker gets its BracketLegActor."""
    return is_bracket(intent) and moved.state is not IntentState.REJECTED


def plain_with_ids(working: Iterable[Intent]) -> bool:
    """Only plain orders with an order id can be read one by one: a super order's legs and a
    bracket's are read from the books their callers share."""
    return not any(is_super(i) or is_bracket(i) or not i.broker_order_id for i in working)


def copy_wanted_again(cancelled: Intent) -> bool:
    """After our cancel settled: did the leader raise its order while the cancel was in
    flight (wanted open, a quantity, not skipped, nothing filled)? Then a new copy is due."""
    return (
        cancelled.state is IntentState.DONE
        and cancelled.desired_open
        and cancelled.quantity > 0
        and cancelled.skip_reason is None
        and cancelled.filled_qty == 0
    )


def skip_after_disabled(
    policy: str, intent: Intent, snap: LeaderOrderSnapshot | None, is_exit: bool = False
) -> str | None:
    """Why a copy planned while the follower was disabled is skipped on re-enabling; None:
    it is copied.

    Only a copy never sent (``attempts`` 0: one sent or claimed while enabled is owed whatever
    its leader order did since). ``copy_open`` copies those whose leader order is still open
    and skips the finished ones (never a market buy at today's price for yesterday's fill) but
    an exit (``is_exit``: the order reduced the leader's position; it is sized from the
    follower's own position, so it never sells more than it holds), ``copy_all`` copies them
    all, ``skip`` / ``alert`` none.
    """
    if policy == "copy_all" or intent.attempts:
        return None
    finished = snap is None or snap.is_terminal
    if policy == "copy_open" and (not finished or is_exit):
        return None
    status = "unknown" if snap is None else str(snap.status)
    return f"planned while the follower was disabled (leader order {status}); policy {policy}"
