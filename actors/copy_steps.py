"""The steps of one follower's copies: journal the move, call the broker, journal the answer.

``FollowerActor`` decides which step an intent needs (``decisions``) and when it may take it
(``permits``); ``CopySteps`` takes it. ``SENDING`` / MODIFYING / CANCELLING is committed before
each request; a failed call is journaled as ``send_outcomes`` maps it, and what the actor must
do next (look up later, converge again, pause) goes back through ``FollowerHooks``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from actors.ack_buffer import AckBuffer
from actors.book_settle import copy_wanted_again, needs_legs, trigger_crossed
from actors.bracket_spawner import BracketSpawner
from actors.copy_latency import CopyLatency
from actors.copy_settler import CopySettler
from actors.decisions import IN_FLIGHT, Step
from actors.follower_book import FollowerBook
from actors.follower_pause import FollowerPause
from actors.messages import Action, BrokerThrottled
from actors.names import LIMITER
from actors.orders import is_bracket, is_super, modify_request, place_request
from actors.send_outcomes import CANCEL_SENT, FollowUp, after_failed_send, after_refused_change
from actors.telemetry import ActorMetrics
from dhan import errors
from dhan.codes import LegName, OrderStatus
from dhan.models import Order
from dhan.rest import DhanClient
from store import Journal
from store.records import Intent, TransitionRequest
from store.states import IntentState
from supervision.errors import ChildUnavailable
from supervision.faults import Faults
from supervision.registry import Registry

logger = logging.getLogger(__name__)


class FollowerHooks(Protocol):
    """What a step asks of its ``FollowerActor`` (run on the actor's thread)."""

    def converge(self) -> None:
        """Take the next step of every intent that needs one (another pass if converging)."""

    def decide(self, intent: Intent) -> Action | Step | None:
        """The decision table's next step for ``intent``."""

    def look_up_later(self, intent_id: int) -> None:
        """Resolve this UNKNOWN intent after ``engine.outcome_lookup_delay_s``."""


@dataclass(eq=False, slots=True)
class CopySteps:
    """Takes the steps of one follower's copies (used on its actor's thread only)."""

    account: str
    #: the actor: what a step asks of it
    hooks: FollowerHooks
    client: DhanClient
    journal: Journal
    #: the follower's books, shared with its brackets: invalidated by each write
    book: FollowerBook
    settler: CopySettler
    brackets: BracketSpawner
    pause: FollowerPause
    acks: AckBuffer
    latency: CopyLatency
    metrics: ActorMetrics
    faults: Faults
    registry: Registry
    audit: Callable[[str, dict[str, Any]], None]

    def finish_unsent(self, intent: Intent) -> None:
        """DONE without sending: the leader order ended before it was copied, or the copy is
        not wanted. Refused (``StaleVersion``: the follower reads it again) when the leader
        feed has planned it again since it was read: a re-plan that wants it once more must
        not be ended unsent (CI, a PostgreSQL-outage run: a resting exit's copy planned below
        one lot, then 4, was ended on the first read and never sent)."""
        self.journal.transition(
            intent.id,
            IntentState.DONE,
            expect_from=intent.state,
            expect_version=intent.desired_version,
            reason="leader order ended before it was copied",
        )

    def look_up(self, intent: Intent) -> None:
        """Resolve an intent whose outcome is unknown: found -> settle; absent -> PLANNED."""
        if intent.state in IN_FLIGHT:
            # only seen after a crash mid-request: the outcome is unknown
            intent = self.journal.transition(
                intent.id,
                IntentState.UNKNOWN,
                expect_from=intent.state,
                reason="in flight when the actor restarted",
            )
        self.resolve_unknown(intent)

    def give_up_modify(self, intent: Intent) -> None:
        """Dhan's modification cap reached: the copy keeps its last price."""
        self.journal.transition(
            intent.id,
            IntentState.WORKING,
            expect_from=intent.state,
            applied_version=intent.desired_version,
            error_code="CAP",
            error_message="25 modifications reached: the copy keeps its last price",
        )
        self.audit("modify_cap_reached", {"intent_id": intent.id})

    def permit_denied(self, intent: Intent, reason: str) -> None:
        """The limiter refused a modify / cancel of this WORKING copy: record why."""
        self.journal.transition(
            intent.id,
            IntentState.WORKING,
            expect_from=IntentState.WORKING,
            applied_version=intent.desired_version,
            error_code="LIMIT",
            error_message=reason,
        )
        self.audit("permit_denied", {"intent_id": intent.id, "reason": reason})

    # -- broker writes --------------------------------------------------------------------------

    def place(self, intent: Intent, on_sent: Callable[[], None] | None) -> None:
        """Place ``intent`` (SENDING, committed); ``on_sent`` runs once the request has left."""
        try:
            if intent.leg == "" and is_super(intent):
                ack = self.client.place_super_order(
                    place_request(intent, super_order=True),  # type: ignore[arg-type]
                    on_sent=on_sent,
                )
            else:
                ack = self.client.place_order(place_request(intent), on_sent=on_sent)  # type: ignore[arg-type]
        except errors.DhanError as exc:
            self._failed(intent, Action.PLACE, exc)
            return
        self.book.invalidate()
        self.faults.point("follower.after_send")
        self._count(Action.PLACE, "ok")
        if ack.order_status is OrderStatus.REJECTED:
            reason = self._rejection_reason(ack.order_id)
            self.journal.transition(
                intent.id,
                IntentState.REJECTED,
                expect_from=IntentState.SENDING,
                broker_order_id=ack.order_id,
                broker_status=OrderStatus.REJECTED,
                error_code="REJECTED",
                error_message=reason,
            )
            self._place_triggered(intent, reason)
            return
        self.latency.acked(intent.leader_order_id, time.monotonic_ns())
        ack_move = TransitionRequest(
            intent_id=intent.id,
            to=IntentState.DONE if ack.order_status.is_terminal else IntentState.WORKING,
            expect_from=IntentState.SENDING,
            broker_order_id=ack.order_id,
            broker_status=ack.order_status,
            applied_version=intent.desired_version,
        )
        if is_bracket(intent):
            # its BracketLegActor reads the entry's order id from the journal: write it now
            (outcome,) = self.journal.transitions([ack_move])
            if isinstance(outcome, Exception):
                raise outcome  # as a refused transition always has: the successor looks it up
            self.brackets.spawn(intent)
            return
        # A plain copy's ack waits for one batched write (``AckBuffer``): writing it here would
        # cost every follower a commit in the middle of a leader order's fan-out, where the
        # other followers are still waiting for the GIL and the journal's writer to send
        # theirs. Until then the journal says SENDING (committed before the send), so a crash
        # in between is resolved as any crash mid-request is: by correlationId, never resent.
        if self.acks.hold(ack_move):
            self.acks.flush()

    def modify(self, intent: Intent) -> None:
        """Bring the WORKING copy to the leader's price / quantity."""
        assert intent.broker_order_id is not None
        self.faults.point("follower.before_modify")
        intent = self.journal.transition(
            intent.id, IntentState.MODIFYING, expect_from=IntentState.WORKING, reason="modify"
        )
        order_id = intent.broker_order_id
        assert order_id is not None
        try:
            if is_super(intent):
                self.client.modify_super_order(
                    order_id,
                    modify_request(intent, super_leg=LegName.ENTRY_LEG),  # type: ignore[arg-type]
                )
            else:
                self.client.modify_order(order_id, modify_request(intent))  # type: ignore[arg-type]
        except errors.DhanError as exc:
            self._failed(intent, Action.MODIFY, exc)
            return
        self.book.invalidate()
        self._count(Action.MODIFY, "ok")
        self.journal.increment_modifications(intent.id)
        self.journal.transition(
            intent.id,
            IntentState.WORKING,
            expect_from=IntentState.MODIFYING,
            applied_version=intent.desired_version,
        )

    def cancel(self, intent: Intent) -> None:
        """Cancel the WORKING copy, then settle it from its final status."""
        assert intent.broker_order_id is not None
        self.faults.point("follower.before_cancel")
        intent = self.journal.transition(
            intent.id, IntentState.CANCELLING, expect_from=IntentState.WORKING, reason="cancel"
        )
        order_id = intent.broker_order_id
        assert order_id is not None
        try:
            if is_super(intent):
                self.client.cancel_super_order(order_id, LegName.ENTRY_LEG)
            else:
                self.client.cancel_order(order_id)
        except errors.DhanError as exc:
            self._failed(intent, Action.CANCEL, exc)
            return
        self.book.invalidate()
        self._count(Action.CANCEL, "ok")
        # the final status (cancelled, or traded in the meantime) comes from the next lookup
        try:
            order = self._fetch(intent)
        except errors.DhanError as exc:
            # the cancel went through; only its final status is unknown: look it up later
            self._lookup_failed(exc)
            self.journal.transition(
                intent.id,
                IntentState.UNKNOWN,
                expect_from=IntentState.CANCELLING,
                reason=f"{CANCEL_SENT}; the lookup of its final status failed",
            )
            self.hooks.look_up_later(intent.id)
            return
        if order is not None:
            moved = self.settler.settle(intent, order)
        else:
            moved = self.journal.transition(
                intent.id,
                IntentState.DONE,
                expect_from=IntentState.CANCELLING,
                broker_status=OrderStatus.CANCELLED,
            )
        self._replan_if_overtaken(moved)

    def _replan_if_overtaken(self, cancelled: Intent) -> None:
        """After our cancel settled: if the leader raised its order again while the cancel was
        in flight, the copy is wanted again -- a new broker order (``Journal.replan_cancelled``)."""
        if copy_wanted_again(cancelled) and self.journal.replan_cancelled(cancelled.id) is not None:
            logger.info(
                "follower %s: the leader raised order %s while our copy was being cancelled:"
                " placing a new copy",
                self.account,
                cancelled.leader_order_id,
            )
            self.hooks.converge()

    def _failed(self, intent: Intent, action: Action, exc: errors.DhanError) -> None:
        """Record a failed broker call (``send_outcomes``). Broker rejections are replies,
        not crashes."""
        failed = after_failed_send(action, exc)
        self._count(action, type(exc).__name__)
        self.audit(
            "broker_call_failed",
            {
                "intent_id": intent.id,
                "action": str(action),
                "error": type(exc).__name__,
                "code": exc.code,
                "http_status": exc.http_status,
                "message": exc.message[:200],
            },
        )
        follow_up = failed.follow_up
        if follow_up is FollowUp.THROTTLED:
            self.metrics.rate_limited.labels(self.account).inc()
        if failed.to is not None:
            self.journal.transition(
                intent.id,
                failed.to,
                expect_from=intent.state,
                error_code=failed.error_code,
                error_message=failed.error_message,
                reason=failed.reason,
            )
            if failed.to is IntentState.REJECTED:
                self._place_triggered(intent, exc.message)
        if follow_up is FollowUp.LOOK_UP_LATER:
            self.hooks.look_up_later(intent.id)
        elif follow_up is FollowUp.THROTTLED:
            with contextlib.suppress(ChildUnavailable):
                self.registry.tell(LIMITER, BrokerThrottled(account=self.account))
        elif follow_up is FollowUp.PAUSE_FOR_TOKEN:
            self.pause.for_token(f"token rejected ({exc.code}): {exc.message[:120]}")
        elif follow_up is FollowUp.PAUSE_FOR_SOURCE_ADDRESS:
            assert isinstance(exc, errors.StaticIpRefused)
            self.pause.for_source_address(exc)
        elif follow_up is FollowUp.CHECK_ORDER:
            # a refused modify/cancel: usually the order traded or ended meanwhile
            logger.warning(
                "follower %s: %s of copy %s (order %s, leader order %s) refused by the broker:"
                " %s (%s)",
                self.account,
                action,
                intent.id,
                intent.broker_order_id,
                intent.leader_order_id,
                exc.message[:200],
                exc.code,
            )
            try:
                order = self._fetch(intent)
            except errors.DhanError as lookup_exc:
                # unknown for now: the next book refresh (or the next try) settles it
                self._lookup_failed(lookup_exc)
                order = None
            moved = self.settler.move(after_refused_change(intent, action, exc, order))
            if moved.state is not IntentState.WORKING:  # the order ended: settled
                if needs_legs(intent, moved):
                    self.brackets.spawn(intent)
            elif action is Action.MODIFY and self.hooks.decide(moved) is Action.CANCEL:
                self.hooks.converge()  # within a pass: one more pass; else a pass now

    def _place_triggered(self, intent: Intent, reason: str | None) -> None:
        """A copy of a stop refused because the market had crossed its trigger: the leader's
        stop has triggered too, so the copy goes again as its triggered form."""
        if not trigger_crossed(intent, reason):
            return
        again = self.journal.replace_triggered_stop(intent.id)
        if again is not None:
            logger.info(
                "follower %s: copy of leader order %s placed again as %s %s (its stop's"
                " trigger was crossed before it arrived)",
                self.account,
                intent.leader_order_id,
                again.order_type,
                again.correlation_id,
            )
            self.hooks.converge()

    # -- looking up ---------------------------------------------------------------------------

    def resolve_unknown(self, intent: Intent) -> None:
        """Resolve an UNKNOWN intent: found -> settle; absent -> PLANNED (resend, same id)."""
        try:
            order = self._fetch(intent)
        except errors.AuthError as exc:
            self.pause.for_token(f"token rejected during lookup ({exc.code})")
            return
        except errors.DhanError:
            self.hooks.look_up_later(intent.id)
            return
        if order is None:
            if intent.broker_order_id is None:
                self.journal.transition(
                    intent.id,
                    IntentState.PLANNED,
                    expect_from=IntentState.UNKNOWN,
                    reason="lookup: not at the broker, resend with the same correlationId",
                )
                self.hooks.converge()
            return
        moved = self.settler.settle(intent, order)
        if (intent.state_reason or "").startswith(CANCEL_SENT):
            self._replan_if_overtaken(moved)

    def _fetch(self, intent: Intent) -> Order | None:
        """The broker's view of the intent's order (by correlationId), None if absent."""
        try:
            return self.client.get_order_by_correlation_id(intent.correlation_id)
        except errors.DhanError as exc:
            logger.info(
                "follower %s: lookup of %s failed: %s", self.account, intent.correlation_id, exc
            )
            raise

    def _lookup_failed(self, exc: errors.DhanError) -> None:
        """A lookup that failed is an unknown outcome to retry later, never a crash; a
        rejected token pauses the follower as it does for any call."""
        if isinstance(exc, errors.AuthError):
            self.pause.for_token(f"token rejected during lookup ({exc.code})")

    def _rejection_reason(self, order_id: str) -> str:
        try:
            order = self.client.get_order(order_id)
        except errors.DhanError:
            return "rejected by the broker"
        return order.oms_error_description or "rejected by the broker"

    def _count(self, action: Action, outcome: str) -> None:
        self.metrics.follower_orders.labels(self.account, str(action), outcome).inc()
