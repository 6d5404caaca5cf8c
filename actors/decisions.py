"""The follower's decision table as a pure function: intent state -> the next step.

``FollowerActor`` asks :func:`next_step` on every hint, tick and permit; keeping the table out
of the actor makes every row testable without threads or a broker (docs/architecture.md,
"The follower's decision table").
"""

from __future__ import annotations

from enum import StrEnum

from actors.messages import Action
from dhan.codes import MAX_MODIFICATIONS_PER_ORDER
from store.records import Intent
from store.states import IntentState

IN_FLIGHT = (IntentState.SENDING, IntentState.MODIFYING, IntentState.CANCELLING)


class Step(StrEnum):
    """Steps that need no permit (an :class:`~actors.messages.Action` does)."""

    FINISH = "finish"  #: DONE without sending: the leader order ended before the copy
    LOOKUP = "lookup"  #: outcome unknown: find the order by correlationId before anything
    GIVE_UP_MODIFY = "give_up_modify"  #: Dhan's 25 modifications reached: keep the last price


def next_step(
    intent: Intent,
    *,
    stale: bool,
    sent: bool,
    max_modifications: int = MAX_MODIFICATIONS_PER_ORDER,
) -> Action | Step | None:
    """The next step for ``intent``; None: nothing to do.

    ``stale``: a SENDING / MODIFYING / CANCELLING intent found at start (a previous
    incarnation may have sent it). ``sent``: this incarnation has sent (or begun to send) it.
    """
    state = intent.state
    wanted = intent.desired_open and intent.quantity > 0
    if state is IntentState.PLANNED:
        return Action.PLACE if wanted else Step.FINISH
    if state is IntentState.SENDING and not stale and not sent:
        # claimed by the leader feed, not sent by anyone yet -- and, like a PLANNED one,
        # finished unsent if the leader order died meanwhile (its quantity is then 0)
        return Action.PLACE if wanted else Step.FINISH
    if state is IntentState.UNKNOWN or state in IN_FLIGHT:
        return Step.LOOKUP
    if state is IntentState.WORKING:
        if not intent.desired_open:
            return Action.CANCEL
        if intent.filled_qty >= intent.quantity > 0:
            # the leader traded less than we still have open: nothing more to fill
            return Action.CANCEL
        if not intent.in_sync:
            if intent.modifications >= max_modifications:
                return Step.GIVE_UP_MODIFY
            return Action.MODIFY
    return None
