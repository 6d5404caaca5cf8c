"""The follower-intent state machine: states and the one table of legal transitions.

Every state change of a follower intent goes through ``Journal.transition``, which checks it
against :data:`TRANSITIONS` and raises ``IllegalTransition`` otherwise. The table::

    happy path:  PLANNED -> SENDING -> WORKING -> (MODIFYING -> WORKING)* -> DONE
    lost answer:             SENDING -> UNKNOWN -> look up by correlationId ->
                                        WORKING | DONE | REJECTED | PLANNED (absent: resend same id)
    leader cancel:                      WORKING -> CANCELLING -> DONE
    terminal (no way out):   DONE  REJECTED  FAILED  SKIPPED

    PLANNED    -> SENDING, SKIPPED, DONE (leader already terminal, nothing to send), FAILED,
                  UNKNOWN (its correlationId is found at the broker at start: adopt it)
    SENDING    -> WORKING (acked, open), DONE (acked, already terminal), UNKNOWN (timeout/5xx),
                  REJECTED (broker rejection, DH code), PLANNED (NotSent: safe to retry)
    UNKNOWN    -> WORKING, DONE, REJECTED (lookup found it), PLANNED (lookup proved it absent:
                  resend with the same correlationId), SENDING
    WORKING    -> MODIFYING, CANCELLING, DONE (filled/cancelled/expired at the broker),
                  WORKING (status refresh)
    MODIFYING  -> WORKING (modify acked, or rejected and recorded), UNKNOWN, DONE
    CANCELLING -> DONE, WORKING (cancel refused: it filled meanwhile), UNKNOWN

Re-planning a copy after a terminal state is never a transition: it is the leader's event
re-deriving the intent in the journal's leader transaction (``store.hot_path``), because the
follower is level-triggered (desired = f(leader), derived again on every leader change):

    SKIPPED -> PLANNED   skipped below one lot or for a fact sizing lacked (``waiting: ...``),
                         and the leader's order now wants a copy (never sent: the same id)
    DONE    -> PLANNED   a plain copy we cancelled, unfilled, because the leader went below one
                         lot, and the leader raised its order again: a new broker order under
                         the copy's next correlationId generation (``dhan.correlation``)

    DONE    -> PLANNED   the same, when the leader raised its order while our cancel was in
                         flight (``Journal.replan_cancelled``, asked by the follower that
                         settled its cancel)

Other skips (filters, ``reconcile_policy``, a follower re-enabled after the order ended) and
other DONE copies (filled, cancelled by the leader or by hand) stay as they are.
"""

from __future__ import annotations

from enum import StrEnum


class IntentState(StrEnum):
    """Where a follower's copy of one leader order (leg) stands."""

    PLANNED = "PLANNED"  # derived from the leader, not sent yet
    SENDING = "SENDING"  # place request about to go out / in flight (durable before the HTTP call)
    WORKING = "WORKING"  # acknowledged by the broker, order open
    MODIFYING = "MODIFYING"  # modify request in flight
    CANCELLING = "CANCELLING"  # cancel request in flight
    UNKNOWN = "UNKNOWN"  # outcome of a request unknown (timeout, reset, 5xx): look it up
    DONE = "DONE"  # settled: filled, cancelled, expired, or nothing to send
    REJECTED = "REJECTED"  # the broker refused it (error_code holds the DH code)
    FAILED = "FAILED"  # we gave up before sending (bad input, policy)
    SKIPPED = "SKIPPED"  # policy says not to copy it (skip_reason says why)

    @property
    def is_terminal(self) -> bool:
        """True when no transition leaves this state."""
        return self in TERMINAL_STATES

    @property
    def is_in_flight(self) -> bool:
        """True while a request's outcome is pending (found at start = crashed mid-request)."""
        return self in IN_FLIGHT_STATES


S = IntentState

#: The legal transitions, ``from -> {to, ...}``. Terminal states map to the empty set.
TRANSITIONS: dict[IntentState, frozenset[IntentState]] = {
    S.PLANNED: frozenset({S.SENDING, S.SKIPPED, S.DONE, S.FAILED, S.UNKNOWN}),
    S.SENDING: frozenset({S.WORKING, S.DONE, S.UNKNOWN, S.REJECTED, S.PLANNED}),
    S.UNKNOWN: frozenset({S.WORKING, S.DONE, S.REJECTED, S.PLANNED, S.SENDING}),
    S.WORKING: frozenset({S.MODIFYING, S.CANCELLING, S.DONE, S.WORKING}),
    S.MODIFYING: frozenset({S.WORKING, S.UNKNOWN, S.DONE}),
    S.CANCELLING: frozenset({S.DONE, S.WORKING, S.UNKNOWN}),
    S.DONE: frozenset(),
    S.REJECTED: frozenset(),
    S.FAILED: frozenset(),
    S.SKIPPED: frozenset(),
}

TERMINAL_STATES: frozenset[IntentState] = frozenset(s for s, out in TRANSITIONS.items() if not out)
IN_FLIGHT_STATES: frozenset[IntentState] = frozenset({S.SENDING, S.MODIFYING, S.CANCELLING})
#: States that need the broker's order id (a modify or cancel addresses it).
NEEDS_BROKER_ORDER_ID: frozenset[IntentState] = frozenset({S.WORKING, S.MODIFYING, S.CANCELLING})


def is_legal(from_state: IntentState, to_state: IntentState) -> bool:
    """True when ``from_state -> to_state`` is in :data:`TRANSITIONS`."""
    return to_state in TRANSITIONS[from_state]
