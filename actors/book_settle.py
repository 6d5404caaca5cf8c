"""Settling the follower's copies from the broker's view, as pure functions.

``FollowerActor`` reads its book (at start to adopt what a previous incarnation sent, on its
ticks to see fills and ends) and asks these which intents moved and to what; the journal writes
and the book reads stay in the actor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from actors.orders import is_bracket, is_super, matches_desired
from dhan.codes import LegName, OrderStatus
from dhan.models import Order, SuperOrder
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
    policy: str, intent: Intent, snap: LeaderOrderSnapshot | None
) -> str | None:
    """Why a copy planned while the follower was disabled is skipped on re-enabling; None:
    it is copied.

    Only a copy never sent (``attempts`` 0: one sent or claimed while enabled is owed whatever
    its leader order did since). ``copy_open`` copies those whose leader order is still open
    and skips the finished ones (never a market buy at today's price for yesterday's fill),
    ``copy_all`` copies them all, ``skip`` / ``alert`` none.
    """
    if policy == "copy_all" or intent.attempts:
        return None
    finished = snap is None or snap.is_terminal
    if policy == "copy_open" and not finished:
        return None
    status = "unknown" if snap is None else str(snap.status)
    return f"planned while the follower was disabled (leader order {status}); policy {policy}"
