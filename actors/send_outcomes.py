"""A failed broker call of the follower as a pure function: error -> journal move + follow-up.

``FollowerActor`` asks :func:`after_failed_send` when a place / modify / cancel raises; the
answer names the state the intent goes to and what the actor does next, so every branch of
"could the order have reached Dhan?" (``dhan.errors``) is one row of a table test.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from actors.book_settle import settle_move
from actors.messages import Action
from dhan import errors
from dhan.models import Order
from store.records import Intent, TransitionRequest
from store.states import IntentState

#: The reason of an UNKNOWN intent whose cancel went out: its lookup settles our cancel.
CANCEL_SENT = "cancel sent"


class FollowUp(StrEnum):
    """What the actor does after journaling a failed call."""

    NONE = "none"  #: nothing: the next pass retries (NotSent) or the intent is settled
    LOOK_UP_LATER = "look_up_later"  #: outcome unknown: look the order up after a delay
    THROTTLED = "throttled"  #: count it and tell the limiter Dhan throttled the account
    PAUSE_FOR_TOKEN = "pause_for_token"  #: the token was refused: pause until a new one
    PAUSE_FOR_SOURCE_ADDRESS = "pause_for_source_address"  #: static IP refused: pause
    CHECK_ORDER = "check_order"  #: a refused modify/cancel: read the order, then settle


@dataclass(frozen=True, slots=True)
class FailedSend:
    """The journal move of a failed call (``to`` None: decided after ``CHECK_ORDER``)."""

    to: IntentState | None
    follow_up: FollowUp
    error_code: str | None = None
    error_message: str | None = None
    reason: str | None = None


def after_failed_send(action: Action, exc: errors.DhanError) -> FailedSend:
    """The move and follow-up of a place / modify / cancel that raised ``exc``.

    Sent or maybe sent -> UNKNOWN and a later lookup by correlationId; not sent, throttled,
    token or source address refused -> back to where it was (PLANNED for a place, WORKING
    otherwise), kept to be sent again; any other refusal of a place -> REJECTED; of a modify
    or cancel -> the order is read first (it usually traded or ended meanwhile).
    """
    back = IntentState.PLANNED if action is Action.PLACE else IntentState.WORKING
    if isinstance(exc, (errors.OutcomeUnknown, errors.BadResponse)):
        return FailedSend(
            IntentState.UNKNOWN,
            FollowUp.LOOK_UP_LATER,
            error_code=exc.code,
            error_message=str(exc)[:500],
            # the lookup that settles a cancel of ours checks the leader did not overtake it
            reason=f"{CANCEL_SENT}; its outcome is unknown" if action is Action.CANCEL else None,
        )
    if isinstance(exc, errors.NotSent):
        return FailedSend(back, FollowUp.NONE, error_message=str(exc)[:500])
    if isinstance(exc, errors.RateLimited):
        return FailedSend(back, FollowUp.THROTTLED, error_code=exc.code or "DH-904")
    if isinstance(exc, errors.AuthError):
        return FailedSend(back, FollowUp.PAUSE_FOR_TOKEN, error_code=exc.code)
    if isinstance(exc, errors.StaticIpRefused):
        # every write would fail alike: pause, the intent kept to be sent once fixed
        return FailedSend(back, FollowUp.PAUSE_FOR_SOURCE_ADDRESS, error_code=exc.code)
    if action is Action.PLACE:
        return FailedSend(
            IntentState.REJECTED,
            FollowUp.NONE,
            error_code=exc.code,
            error_message=exc.message[:500],
        )
    return FailedSend(None, FollowUp.CHECK_ORDER)


def after_refused_change(
    intent: Intent, action: Action, exc: errors.DhanError, order: Order | None
) -> TransitionRequest:
    """The move of a refused modify / cancel once its order was read (None: the read failed).

    An order that ended is settled from the broker's view; otherwise the copy stays WORKING
    with the refusal recorded (a refused modify is not tried again for this version).
    """
    if order is not None and order.order_status.is_terminal:
        settled = settle_move(intent, order)
        if settled.error_message is None:
            # the refusal is the record of why the copy kept its old price or size (the
            # content check reads it: ``checker.is_filled_refusal``)
            settled = replace(settled, error_code=exc.code, error_message=exc.message[:500])
        return settled
    return TransitionRequest(
        intent_id=intent.id,
        to=IntentState.WORKING,
        expect_from=intent.state,
        applied_version=intent.desired_version
        if action is Action.MODIFY
        else intent.applied_version,
        error_code=exc.code,
        error_message=exc.message[:500],
        # what the copy has filled decides the next step: a modify refused because the
        # leader cut below our fill ("quantity below traded") means cancel the rest
        filled_qty=order.filled_qty if order is not None else None,
        broker_status=order.order_status if order is not None else None,
    )
