"""FollowerActor: converges one follower account to f(leader state), level-triggered.

On a hint, on start and on every tick it reads the intents the journal says need action and
places / modifies / cancels through RateLimiter permits. ``SENDING`` (or MODIFYING /
CANCELLING) is committed before each request; an outcome-unknown answer is resolved by looking
the order up by its deterministic correlationId before anything is sent again, so a crash at any
point can neither lose nor duplicate a follower order.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from actors.bracket_leg import BracketLegActor
from actors.decisions import IN_FLIGHT, Step, next_step
from actors.follower_book import FollowerBook, read_one_by_one
from actors.messages import (
    PERMIT_RETRY_S,
    STALE_GRANT_S,
    Action,
    BrokerThrottled,
    CancelPermits,
    LeaderChanged,
    PermitDenied,
    PermitGranted,
    PermitRequest,
    ResolveUnknown,
    SetEnabled,
    Tick,
    UpdateToken,
)
from actors.names import LIMITER, bracket_name
from actors.orders import is_bracket, matches_desired, modify_request, place_request
from actors.rate_windows import AccountWindows
from actors.settings import EngineConfig, FollowerSettings
from actors.telemetry import ActorMetrics
from dhan import errors
from dhan.codes import LegName, OrderStatus
from dhan.models import Order
from dhan.rest import DhanClient
from store import Journal
from store.errors import IntentNotFound, StaleState
from store.records import Intent, TransitionRequest
from store.states import IntentState
from supervision import ChildContext, ChildSpec, Restart, SupervisedActor
from supervision.errors import ChildUnavailable
from supervision.registry import NameState

logger = logging.getLogger(__name__)

#: All open copies are settled from the book every this many ticks (a copy can fill on its
#: own); in between, only the copies of leader orders that filled or ended.
FULL_REFRESH_EVERY_TICKS = 5
#: Passes of one converge at most; whatever still needs a step gets it on the next tick.
MAX_CONVERGE_PASSES = 5
#: A latency stamp whose copy was not placed (or whose hint never came) within this is dropped.
STAMP_TTL_S = 60.0
#: Acks of plain places held for one batched write at most; more are written at once.
MAX_UNJOURNALED_ACKS = 64
#: The follower's journaled ``enabled`` flag ("1" / "0"), a mark of its account.
ENABLED_MARK = "enabled"
#: The reason of an UNKNOWN intent whose cancel went out: its lookup settles our cancel.
CANCEL_SENT = "cancel sent"


class FollowerActor(SupervisedActor):
    """One per follower account; its supervisor restarts it, the journal restores its work."""

    def __init__(
        self,
        context: ChildContext,
        *,
        follower: FollowerSettings,
        client: DhanClient,
        journal: Journal,
        engine: EngineConfig,
        metrics: ActorMetrics,
        book: FollowerBook | None = None,
        windows: AccountWindows | None = None,
        enabled_now: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(context)
        self.follower = follower
        self.name = follower.name
        self.client = client
        self.journal = journal
        self.engine = engine
        self.metrics = metrics
        #: this follower's broker books, shared with its BracketLegActors (the engine passes
        #: one that outlives restarts, so old and new brackets share it too)
        self.book = book or FollowerBook(client, max_age_s=engine.bracket_tick_s / 2)
        #: this account's order-rate windows, shared with the RateLimiterActor: a call that
        #: fits them now goes out at once (no limiter round trip); None = always ask
        self.windows = windows
        #: a restarted actor takes the flag of the last config reload (``enabled_now``), not
        #: the one this follower had when the engine started
        self.enabled = enabled_now() if enabled_now is not None else follower.enabled
        self.paused_reason: str | None = None
        #: paused because Dhan refused our source address (static IP): a token reload does not
        #: lift it; an egress change needs a restart, which starts a new actor
        self.ip_refused = False
        #: intent id -> action requested from the limiter and not yet granted or denied
        #: intent id -> (action, monotonic time asked); a request older than PERMIT_RETRY_S is
        #: asked again (the limiter may have restarted and lost its queue: messages are hints)
        self.awaiting: dict[int, tuple[Action, float]] = {}
        #: leader order id -> monotonic ns the leader frame was parsed (latency metric), from
        #: the hint that claimed our copy; and the reverse, for a copy a tick placed before that
        #: hint reached us: leader order id -> monotonic ns of the broker's ack
        self.leader_seen_ns: dict[str, int] = {}
        self.acked_ns: dict[str, int] = {}
        self._tick_timer: Any = None
        self.ticks = 0
        #: leader orders that filled or ended since the last tick: check our copies of them
        self.refresh_soon: set[str] = set()
        #: SENDING / MODIFYING / CANCELLING intents found at start: a previous incarnation may
        #: have sent them, so they are looked up. A SENDING intent that appears later was
        #: claimed by the leader feed for this incarnation to send (store: ``claim_for``).
        self.stale_in_flight: set[int] = set()
        #: intents this incarnation has sent (or begun to send). A claim (SENDING, no DB check
        #: before the send) is never sent if it is in here: a hint can arrive after a tick
        #: already placed its claim, carrying a stale SENDING copy. Resends of a PLANNED intent
        #: go through the journal's checked SENDING transition instead.
        self.sent: set[int] = set()
        #: intent as read when its permit was requested (saves a read on the hot path; the
        #: leader only changes desired fields meanwhile, which applied_version catches)
        self.requested: dict[int, Intent] = {}
        #: acks of places this incarnation made, not journaled yet (see ``_place``): written in
        #: one transaction before this actor next reads the journal, on its tick, or at stop
        self.unjournaled: list[TransitionRequest] = []
        self._converging = False
        self._converge_again = False
        #: while a claiming hint is handled: tells the leader feed our first copy has left
        self.hint_sent: Callable[[], None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def on_start(self) -> None:
        super().on_start()
        self.stale_in_flight = {i.id for i in self.journal.intents(self.name, states=IN_FLIGHT)}
        self._adopt_from_book()
        # enabled in the config while an earlier run had it disabled: as a SIGHUP would
        self._record_enabled(was=self.journal.get_mark(self.name, ENABLED_MARK) != "0")
        # a random phase: followers started together would otherwise all refresh at once,
        # holding the GIL together just when a leader event needs it
        tick_s = self.engine.follower_tick_s
        self._tick_timer = self.tell_every(tick_s, Tick(), first_s=random.uniform(0.0, tick_s))
        for intent in self.journal.intents(self.name):
            if is_bracket(intent) and intent.broker_order_id is not None:
                legs = self.journal.legs(intent.id)
                if not legs or any(leg.is_open for leg in legs):
                    self._spawn_bracket(intent)
        self._converge()

    def on_stop(self) -> None:
        try:
            self._journal_acks()
        except Exception as exc:  # the journal is closing: the next start looks them up
            logger.warning("follower %s: acks not journaled at stop: %r", self.name, exc)
        with contextlib.suppress(ChildUnavailable):
            self.registry.tell(LIMITER, CancelPermits(reply_to=self.context.child_id))
        super().on_stop()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, LeaderChanged):
            taken = message.taken
            if taken is None:
                self._on_leader_changed(message)
                return None
            # The feed waits (GIL released) until our copy has left: see HintsTaken.
            self.hint_sent = _once(taken.take)
            try:
                self._on_leader_changed(message)
            finally:
                self.hint_sent()  # nothing sent (or it failed): the feed need not wait on us
                self.hint_sent = None
        elif isinstance(message, Tick):
            self._journal_acks()
            self._forget_stale_permit_requests()
            self._forget_old_stamps()
            self.ticks += 1
            if self.ticks % FULL_REFRESH_EVERY_TICKS == 0:
                self._refresh_from_book(None)
            elif self.refresh_soon:
                self._refresh_from_book(self.refresh_soon)
            self.refresh_soon = set()
            self._converge()
        elif isinstance(message, PermitGranted):
            self.awaiting.pop(message.intent_id, None)
            if self._grant_still_good(message):
                self._act(message.intent_id, message.action)
        elif isinstance(message, PermitDenied):
            self.awaiting.pop(message.intent_id, None)
            self.requested.pop(message.intent_id, None)
            self._permit_denied(message)
        elif isinstance(message, ResolveUnknown):
            intent = self._intent(message.intent_id)
            if intent is not None and intent.state is IntentState.UNKNOWN:
                self._lookup(intent)
        elif isinstance(message, UpdateToken):
            self.client.update_token(message.access_token)
            if self.ip_refused:
                return None  # a new token does not change the address we write from
            if self.paused_reason is not None:
                logger.warning("follower %s: token reloaded, resuming", self.name)
                self._audit("follower_resumed", {"reason": "token reloaded"})
            self.paused_reason = None
            self.metrics.follower_paused.labels(self.name).set(0)
            self._converge()
        elif isinstance(message, SetEnabled):
            was = self.enabled
            if message.enabled != was:
                self._audit("follower_enabled" if message.enabled else "follower_disabled", {})
            self.enabled = message.enabled
            self._record_enabled(was=was)
            self._converge()
        else:
            return super().on_receive(message)
        return None

    def _record_enabled(self, *, was: bool) -> None:
        """Journal the ``enabled`` flag (it outlives a restart); on re-enabling, settle the
        copies the follower was owed while disabled (``_catch_up_after_disabled``)."""
        if self.enabled and not was:
            self._catch_up_after_disabled()
        if self.enabled != was or self.journal.get_mark(self.name, ENABLED_MARK) is None:
            self.journal.set_mark(self.name, ENABLED_MARK, "1" if self.enabled else "0")

    def _catch_up_after_disabled(self) -> None:
        """Apply ``engine.reconcile_policy`` to the copies planned while we were disabled.

        They are PLANNED and were never sent (``attempts`` 0: a copy sent or claimed while we
        were enabled is owed whatever its leader order did since). As with a leader order found
        only by a reconcile: ``copy_open`` copies those whose leader order is still open and
        skips the finished ones (never a market buy at today's price for yesterday's fill),
        ``copy_all`` copies them all, ``skip`` / ``alert`` none. A skip is a decision: no later
        leader event revives it.
        """
        policy = self.engine.reconcile_policy
        if policy == "copy_all":
            return
        skipped = 0
        for intent in self.journal.intents(self.name, states=[IntentState.PLANNED]):
            if intent.attempts:
                continue
            snap = self.journal.leader_snapshot(intent.leader_order_id)
            finished = snap is None or snap.is_terminal
            if policy == "copy_open" and not finished:
                continue
            status = "unknown" if snap is None else str(snap.status)
            with contextlib.suppress(StaleState):  # claimed or settled meanwhile: theirs
                self.journal.transition(
                    intent.id,
                    IntentState.SKIPPED,
                    expect_from=IntentState.PLANNED,
                    reason=f"planned while the follower was disabled (leader order {status});"
                    f" policy {policy}",
                )
                skipped += 1
        if skipped:
            logger.warning(
                "follower %s re-enabled: %d leader orders planned while it was disabled not"
                " copied (reconcile_policy %s)",
                self.name,
                skipped,
                policy,
            )
            self._audit("copies_skipped_after_disable", {"count": skipped, "policy": str(policy)})

    def _on_leader_changed(self, message: LeaderChanged) -> None:
        if message.received_ns:
            self._stamp_leader_event(message)
        self.refresh_soon.update(message.settled)
        if message.claimed and message.verify_claims:
            # claims from a reconcile: looked up by correlationId before any send
            self.stale_in_flight.update(i.id for i in message.claimed)
            self._converge()
        elif message.claimed:
            # the fast path: new orders claimed for us in the leader's transaction
            self._take_claims(message.claimed)
        elif message.changed:
            self._converge()
        self._hint_brackets(message.leader_order_ids)

    def _adopt_from_book(self) -> None:
        """At start, match unsettled intents against the broker's book by correlationId.

        Whatever a previous incarnation (or process) sent before it died is adopted instead of
        sent again -- also a PLANNED intent, whose SENDING mark may not have survived a power
        loss. One book read per follower at start; per-intent lookups remain the fallback.
        """
        pending = self.journal.intents(
            self.name,
            states=[
                IntentState.PLANNED,
                IntentState.SENDING,
                IntentState.UNKNOWN,
                IntentState.MODIFYING,
                IntentState.CANCELLING,
            ],
        )
        if not pending:
            return
        needs = [i.correlation_id for i in pending]
        self.book.invalidate()  # what the previous incarnation sent: a copy may predate it
        try:
            book: dict[str, Any] = {
                o.correlation_id: o
                for o in self.book.orders(needs)
                if o.correlation_id and o.leg_name in (None, LegName.ENTRY_LEG, LegName.NA)
            }
            if any(_is_super(i) for i in pending):
                for so in self.book.super_orders(needs):
                    if so.correlation_id:
                        book[so.correlation_id] = so
        except errors.DhanError as exc:
            logger.info(
                "follower %s: book unavailable at start (%s); looking up one by one", self.name, exc
            )
            return
        adopted = 0
        for intent in pending:
            order = book.get(intent.correlation_id)
            if order is None:
                continue
            if intent.state in IN_FLIGHT or intent.state is IntentState.PLANNED:
                intent = self.journal.transition(
                    intent.id,
                    IntentState.UNKNOWN,
                    expect_from=intent.state,
                    reason="found at the broker at start",
                )
            self._settle_from_order(intent, order)
            adopted += 1
        self.book.release(needs)  # the copies still open are named again by each refresh
        if adopted:
            logger.info("follower %s: adopted %d orders found at the broker", self.name, adopted)

    # -- deciding ----------------------------------------------------------------------------

    def _intent(self, intent_id: int) -> Intent | None:
        self._journal_acks()
        try:
            return self.journal.intent(intent_id)
        except IntentNotFound:
            return None

    def _decide(self, intent: Intent) -> Action | Step | None:
        """The next step for ``intent`` (``actors.decisions``: the decision table)."""
        return next_step(
            intent, stale=intent.id in self.stale_in_flight, sent=intent.id in self.sent
        )

    def _take_claims(self, claimed: tuple[Intent, ...]) -> None:
        if self.paused_reason is not None or not self.enabled:
            return  # they stay SENDING-claimed: placed (or looked up) when we resume
        for intent in claimed:
            if self._decide(intent) is Action.PLACE and intent.id not in self.awaiting:
                self._request_permit(intent, Action.PLACE)

    def _converge(self) -> None:
        """Take the next step for every intent that needs one; pass again while a step asks.

        Not re-entrant: a step that calls for another pass (a lookup that found nothing puts
        its intent back to PLANNED) asks for one instead of recursing, because the outer pass
        still holds rows read before that step and must not act on them twice.
        """
        if self._converging:
            self._converge_again = True
            return
        self._converging = True
        try:
            passes = 0
            self._converge_again = True
            while self._converge_again and passes < MAX_CONVERGE_PASSES:
                self._converge_again = False
                passes += 1
                self._converge_pass()
        finally:
            self._converging = False

    def _converge_pass(self) -> None:
        if self.paused_reason is not None or not self.enabled:
            return
        self._journal_acks()
        for intent in self.journal.intents_needing_action(self.name):
            if intent.id in self.awaiting:
                continue
            try:
                self._step(intent)
            except StaleState as exc:
                # the row moved since this pass read it (an earlier step of this pass, or the
                # leader feed changed its desired fields): the next pass reads it afresh
                logger.info("follower %s: %s; looking again", self.name, exc)
                self._converge_again = True

    def _step(self, intent: Intent) -> None:
        step = self._decide(intent)
        if step is None:
            return
        if step is Step.FINISH:
            # settled unsent: a hint still queued with this claim must not send it later
            self.sent.add(intent.id)
            self.journal.transition(
                intent.id,
                IntentState.DONE,
                expect_from=intent.state,
                reason="leader order ended before it was copied",
            )
        elif step is Step.LOOKUP:
            self.stale_in_flight.discard(intent.id)
            if intent.state in IN_FLIGHT:
                # only seen after a crash mid-request: the outcome is unknown
                intent = self.journal.transition(
                    intent.id,
                    IntentState.UNKNOWN,
                    expect_from=intent.state,
                    reason="in flight when the actor restarted",
                )
            self._lookup(intent)
        elif step is Step.GIVE_UP_MODIFY:
            self.journal.transition(
                intent.id,
                IntentState.WORKING,
                expect_from=intent.state,
                applied_version=intent.desired_version,
                error_code="CAP",
                error_message="25 modifications reached: the copy keeps its last price",
            )
            self._audit("modify_cap_reached", {"intent_id": intent.id})
        elif isinstance(step, Action):
            self._request_permit(intent, step)

    def _request_permit(self, intent: Intent, action: Action) -> None:
        """Act now if the account's windows have room, else ask the limiter and wait."""
        if self.windows is not None and self.windows.try_take(
            self.clock.monotonic(), urgent=action is Action.CANCEL
        ):
            self.requested[intent.id] = intent  # _act's copy: spares a read of the claim
            self._act(intent.id, action)
            return
        self._ask_limiter(intent, action)

    def _ask_limiter(self, intent: Intent, action: Action) -> None:
        self.requested[intent.id] = intent
        try:
            self.registry.tell(
                LIMITER,
                PermitRequest(
                    account=self.name,
                    reply_to=self.context.child_id,
                    intent_id=intent.id,
                    action=action,
                    modifications=intent.modifications,
                ),
            )
        except ChildUnavailable:
            self.requested.pop(intent.id, None)
            return  # the limiter is restarting: the next tick asks again
        self.awaiting[intent.id] = (action, time.monotonic())

    def _grant_still_good(self, grant: PermitGranted) -> bool:
        """A permit used late is stamped again (or queued again): it was counted at grant
        time, and sending it now next to the permits granted since could put more calls in
        one broker second than Dhan allows (seen as DH-904 bursts after a slow lookup)."""
        now = self.clock.monotonic()
        if self.windows is None or now - grant.granted_at <= STALE_GRANT_S:
            return True
        urgent = grant.action is Action.CANCEL
        if self.windows.try_take(now, urgent=urgent, overtake=True):
            return True
        intent = self.requested.get(grant.intent_id) or self._intent(grant.intent_id)
        if intent is not None:
            self._ask_limiter(intent, grant.action)
        return False

    def _forget_stale_permit_requests(self) -> None:
        edge = time.monotonic() - PERMIT_RETRY_S
        for intent_id in [k for k, (_a, at) in self.awaiting.items() if at < edge]:
            del self.awaiting[intent_id]
            self.requested.pop(intent_id, None)

    def _permit_denied(self, msg: PermitDenied) -> None:
        intent = self._intent(msg.intent_id)
        if intent is None or intent.state is not IntentState.WORKING:
            return
        self.journal.transition(
            intent.id,
            IntentState.WORKING,
            expect_from=IntentState.WORKING,
            applied_version=intent.desired_version,
            error_code="LIMIT",
            error_message=msg.reason,
        )
        self._audit("permit_denied", {"intent_id": intent.id, "reason": msg.reason})

    # -- acting ------------------------------------------------------------------------------

    def _act(self, intent_id: int, action: Action) -> None:
        cached = self.requested.pop(intent_id, None)
        # The copy read when the permit was asked spares a read only for a claimed place (no
        # one else moves a claim's state); anything else may have moved while the permit was
        # queued (a status refresh ended the order, the leader changed it): read it afresh.
        intent: Intent | None = cached
        if cached is None or action is not Action.PLACE or cached.state is not IntentState.SENDING:
            intent = self._intent(intent_id)
        if intent is None or self.paused_reason is not None or not self.enabled:
            return
        if self._decide(intent) != action:
            return  # the world moved on while we waited for the permit
        if action is Action.PLACE:
            self._place(intent)
        elif action is Action.MODIFY:
            self._modify(intent)
        else:
            self._cancel(intent)

    def _place(self, intent: Intent) -> None:
        self.faults.point("follower.before_send")
        if intent.state is IntentState.SENDING:  # claimed with the leader event
            if intent.id in self.sent or intent.id in self.stale_in_flight:
                return  # already sent by us, or maybe by a previous incarnation: never twice
            self.sent.add(intent.id)
        else:
            intent = self.journal.transition(
                intent.id, IntentState.SENDING, expect_from=intent.state, reason="place"
            )
            self.sent.add(intent.id)
        started = time.monotonic()
        sent = self.hint_sent
        try:
            if intent.leg == "" and _is_super(intent):
                ack = self.client.place_super_order(
                    place_request(intent, super_order=True),  # type: ignore[arg-type]
                    on_sent=sent,
                )
            else:
                ack = self.client.place_order(place_request(intent), on_sent=sent)  # type: ignore[arg-type]
        except errors.DhanError as exc:
            self._send_failed(intent, Action.PLACE, exc, started)
            return
        self.book.invalidate()
        self.faults.point("follower.after_send")
        self._count(Action.PLACE, "ok", started)
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
            return
        seen = self.leader_seen_ns.pop(intent.leader_order_id, 0)
        if seen:
            self._observe_latency(time.monotonic_ns() - seen)
        else:  # placed by a tick before the hint came: the hint completes the measure
            self.acked_ns[intent.leader_order_id] = time.monotonic_ns()
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
            self._spawn_bracket(intent)
            return
        # A plain copy's ack waits for one batched write (``_journal_acks``): writing it here
        # would cost every follower a commit in the middle of a leader order's fan-out, where
        # the other followers are still waiting for the GIL and the journal's writer to send
        # theirs. Until then the journal says SENDING (committed before the send), so a crash
        # in between is resolved as any crash mid-request is: by correlationId, never resent.
        self.unjournaled.append(ack_move)
        if len(self.unjournaled) >= MAX_UNJOURNALED_ACKS:
            self._journal_acks()

    def _modify(self, intent: Intent) -> None:
        assert intent.broker_order_id is not None
        self.faults.point("follower.before_modify")
        intent = self.journal.transition(
            intent.id, IntentState.MODIFYING, expect_from=IntentState.WORKING, reason="modify"
        )
        started = time.monotonic()
        order_id = intent.broker_order_id
        assert order_id is not None
        try:
            if _is_super(intent):
                self.client.modify_super_order(
                    order_id,
                    modify_request(intent, super_leg=LegName.ENTRY_LEG),  # type: ignore[arg-type]
                )
            else:
                self.client.modify_order(order_id, modify_request(intent))  # type: ignore[arg-type]
        except errors.DhanError as exc:
            self._send_failed(intent, Action.MODIFY, exc, started)
            return
        self.book.invalidate()
        self._count(Action.MODIFY, "ok", started)
        self.journal.increment_modifications(intent.id)
        self.journal.transition(
            intent.id,
            IntentState.WORKING,
            expect_from=IntentState.MODIFYING,
            applied_version=intent.desired_version,
        )

    def _cancel(self, intent: Intent) -> None:
        assert intent.broker_order_id is not None
        self.faults.point("follower.before_cancel")
        intent = self.journal.transition(
            intent.id, IntentState.CANCELLING, expect_from=IntentState.WORKING, reason="cancel"
        )
        started = time.monotonic()
        order_id = intent.broker_order_id
        assert order_id is not None
        try:
            if _is_super(intent):
                self.client.cancel_super_order(order_id, LegName.ENTRY_LEG)
            else:
                self.client.cancel_order(order_id)
        except errors.DhanError as exc:
            self._send_failed(intent, Action.CANCEL, exc, started)
            return
        self.book.invalidate()
        self._count(Action.CANCEL, "ok", started)
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
            self.tell_later(self.engine.outcome_lookup_delay_s, ResolveUnknown(intent.id))
            return
        if order is not None:
            moved = self._settle_from_order(intent, order)
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
        if (
            cancelled.state is IntentState.DONE
            and cancelled.desired_open
            and cancelled.quantity > 0
            and cancelled.skip_reason is None
            and cancelled.filled_qty == 0
            and self.journal.replan_cancelled(cancelled.id) is not None
        ):
            logger.info(
                "follower %s: the leader raised order %s while our copy was being cancelled:"
                " placing a new copy",
                self.name,
                cancelled.leader_order_id,
            )
            self._converge()

    def _send_failed(
        self, intent: Intent, action: Action, exc: errors.DhanError, started: float
    ) -> None:
        """Record a failed broker call. Broker rejections are replies, not crashes."""
        back = IntentState.PLANNED if action is Action.PLACE else IntentState.WORKING
        outcome = type(exc).__name__
        self._count(action, outcome, started)
        self._audit(
            "broker_call_failed",
            {
                "intent_id": intent.id,
                "action": str(action),
                "error": outcome,
                "code": exc.code,
                "http_status": exc.http_status,
                "message": exc.message[:200],
            },
        )
        if isinstance(exc, (errors.OutcomeUnknown, errors.BadResponse)):
            self.journal.transition(
                intent.id,
                IntentState.UNKNOWN,
                expect_from=intent.state,
                error_code=exc.code,
                error_message=str(exc)[:500],
                # the lookup that settles a cancel of ours checks the leader did not overtake it
                reason=f"{CANCEL_SENT}; its outcome is unknown"
                if action is Action.CANCEL
                else None,
            )
            self.tell_later(self.engine.outcome_lookup_delay_s, ResolveUnknown(intent.id))
        elif isinstance(exc, errors.NotSent):
            self.journal.transition(
                intent.id, back, expect_from=intent.state, error_message=str(exc)[:500]
            )
        elif isinstance(exc, errors.RateLimited):
            self.metrics.rate_limited.labels(self.name).inc()
            self.journal.transition(
                intent.id, back, expect_from=intent.state, error_code=exc.code or "DH-904"
            )
            with contextlib.suppress(ChildUnavailable):
                self.registry.tell(LIMITER, BrokerThrottled(account=self.name))
        elif isinstance(exc, errors.AuthError):
            self.journal.transition(intent.id, back, expect_from=intent.state, error_code=exc.code)
            self._pause(f"token rejected ({exc.code}): {exc.message[:120]}")
        elif isinstance(exc, errors.StaticIpRefused):
            # every write would fail alike: pause, the intent kept to be sent once fixed
            self.journal.transition(intent.id, back, expect_from=intent.state, error_code=exc.code)
            self._pause_for_source_address(exc)
        elif action is Action.PLACE:
            self.journal.transition(
                intent.id,
                IntentState.REJECTED,
                expect_from=intent.state,
                error_code=exc.code,
                error_message=exc.message[:500],
            )
        else:
            # a refused modify/cancel: usually the order traded or ended meanwhile
            try:
                order = self._fetch(intent)
            except errors.DhanError as lookup_exc:
                # unknown for now: the next book refresh (or the next try) settles it
                self._lookup_failed(lookup_exc)
                order = None
            if order is not None and order.order_status.is_terminal:
                self._settle_from_order(intent, order)
                return
            moved = self.journal.transition(
                intent.id,
                IntentState.WORKING,
                expect_from=intent.state,
                applied_version=intent.desired_version
                if action is Action.MODIFY
                else intent.applied_version,
                error_code=exc.code,
                error_message=exc.message[:500],
                # what the copy has filled decides the next step: a modify refused because
                # the leader cut below our fill ("quantity below traded") means cancel the rest
                filled_qty=order.filled_qty if order is not None else None,
                broker_status=order.order_status if order is not None else None,
            )
            if action is Action.MODIFY and self._decide(moved) is Action.CANCEL:
                self._converge()  # within a pass: one more pass; else a pass now

    def _pause(self, reason: str) -> None:
        if self.paused_reason is None:
            logger.error(
                "follower %s paused: %s -- put a new token in the config or env file, then SIGHUP",
                self.name,
                reason,
            )
            self._audit("follower_paused", {"reason": reason})
        self.paused_reason = reason
        self.metrics.follower_paused.labels(self.name).set(1)

    def _pause_for_source_address(self, exc: errors.StaticIpRefused) -> None:
        self.metrics.static_ip_refused.labels(self.name).inc()
        if self.ip_refused:
            return
        egress = self.follower.egress
        source = egress.source_address if egress is not None else None
        logger.error(
            "follower %s paused: Dhan refused an order write of account %s from source address %s"
            " (%s: %s) -- register that address as the account's static IP with Dhan, or set"
            " egress.source_address to the registered one and restart the engine",
            self.name,
            self.follower.client_id,
            source or "(none configured: the host's default route)",
            exc.code,
            exc.message[:120],
        )
        self._audit(
            "follower_paused",
            {"reason": "static IP refused", "source_address": source, "code": exc.code},
        )
        self.ip_refused = True
        self.paused_reason = f"static IP refused ({exc.code}) from {source or 'default route'}"

    # -- looking up ---------------------------------------------------------------------------

    def _fetch(self, intent: Intent) -> Order | None:
        """The broker's view of the intent's order (by correlationId), None if absent."""
        try:
            return self.client.get_order_by_correlation_id(intent.correlation_id)
        except errors.DhanError as exc:
            logger.info(
                "follower %s: lookup of %s failed: %s", self.name, intent.correlation_id, exc
            )
            raise

    def _lookup_failed(self, exc: errors.DhanError) -> None:
        """A lookup that failed is an unknown outcome to retry later, never a crash; a
        rejected token pauses the follower as it does for any call."""
        if isinstance(exc, errors.AuthError):
            self._pause(f"token rejected during lookup ({exc.code})")

    def _lookup(self, intent: Intent) -> None:
        """Resolve an UNKNOWN intent: found -> settle; absent -> PLANNED (resend, same id)."""
        try:
            order = self._fetch(intent)
        except errors.AuthError as exc:
            self._pause(f"token rejected during lookup ({exc.code})")
            return
        except errors.DhanError:
            self.tell_later(self.engine.outcome_lookup_delay_s, ResolveUnknown(intent.id))
            return
        if order is None:
            if intent.broker_order_id is None:
                self.journal.transition(
                    intent.id,
                    IntentState.PLANNED,
                    expect_from=IntentState.UNKNOWN,
                    reason="lookup: not at the broker, resend with the same correlationId",
                )
                self._converge()
            return
        moved = self._settle_from_order(intent, order)
        if (intent.state_reason or "").startswith(CANCEL_SENT):
            self._replan_if_overtaken(moved)

    def _settle_from_order(self, intent: Intent, order: Order) -> Intent:
        moved = self.journal.transition(**_settle_args(intent, order))
        if is_bracket(intent) and moved.state is not IntentState.REJECTED:
            self._spawn_bracket(intent)
        return moved

    def _refresh_from_book(self, leader_order_ids: set[str] | None) -> None:
        """Settle our open copies (of these leader orders; None: all) from the broker's view.

        Fills and the end of an order end or update intents. The view is one read of the
        follower's book (shared with its brackets, so often already fresh) or, once the day's
        book has grown large next to our few working copies, each copy's own ``GET
        /orders/{id}`` (``read_one_by_one``): decoding the whole day's book to settle a few
        copies was CPU, and allocator churn that grew with the day. Either way one journal
        transaction for every copy that changed: per-copy commits after each leader fill were
        the engine's biggest CPU cost and, holding the GIL in ten threads at once, its copy p99.
        """
        if self.paused_reason is not None:
            return
        self._journal_acks()
        working = self.journal.intents(self.name, states=[IntentState.WORKING])
        if leader_order_ids is not None:
            working = [i for i in working if i.leader_order_id in leader_order_ids]
        if not working:
            return
        # named, so the book keeps their rows once settled (it keeps only open ones otherwise)
        needs = [i.correlation_id for i in working] + [
            i.broker_order_id for i in working if i.broker_order_id
        ]
        try:
            book: dict[str, Any]
            if self._one_by_one(working):
                book = self._read_each(working)
                if self.client.remembered_orders:
                    self.book.forget()  # the last whole read's rows: not held all day
            else:
                book = {o.order_id: o for o in self.book.orders(needs)}
            if any(_is_super(i) for i in working):
                for so in self.book.super_orders(needs):
                    book[so.order_id] = so  # same status fields as an order
        except errors.AuthError as exc:
            self._pause(f"token rejected ({exc.code})")
            return
        except errors.DhanError as exc:
            logger.info("follower %s: order book refresh failed: %s", self.name, exc)
            return
        changed = []
        for intent in working:
            order = book.get(intent.broker_order_id or "")
            # TRANSIT -> PENDING is not worth a write; fills and the end of the order are
            if order is not None and (
                order.order_status.is_terminal or order.filled_qty != intent.filled_qty
            ):
                changed.append((intent, order))
        if not changed:
            return
        outcomes = self.journal.transitions(
            [TransitionRequest(**_settle_args(intent, order)) for intent, order in changed]
        )
        settled: list[str] = []
        for (intent, _order), outcome in zip(changed, outcomes, strict=True):
            if isinstance(outcome, Exception):
                # moved since the read (our own cancel, a lookup): the next refresh sees it
                logger.debug("follower %s: settle of %s skipped: %s", self.name, intent.id, outcome)
                continue
            if outcome.state is not IntentState.WORKING:
                settled += [intent.correlation_id, intent.broker_order_id or ""]
            if is_bracket(intent) and outcome.state is not IntentState.REJECTED:
                self._spawn_bracket(intent)
        self.book.release(settled)  # their rows need not stay in the book (memory)

    def _one_by_one(self, working: list[Intent]) -> bool:
        """Settle ``working`` by a GET each (see ``read_one_by_one``)? Only plain orders: a
        super order's legs and a bracket's are read from the books their callers share."""
        if any(_is_super(i) or is_bracket(i) or not i.broker_order_id for i in working):
            return False
        return read_one_by_one(len(working), self.book.day_rows, self.engine.follower_tick_s)

    def _read_each(self, working: list[Intent]) -> dict[str, Any]:
        """Each copy by its own ``GET /orders/{id}``, by order id. A failed read ends the
        round (a rate limit or an outage fails the rest too): the copies read are settled,
        the others at the next refresh. A rejected token is raised (the caller pauses)."""
        seen: dict[str, Any] = {}
        for intent in working:
            try:
                order = self.client.get_order(intent.broker_order_id or "")
            except errors.AuthError:
                raise
            except errors.DhanError as exc:
                logger.info(
                    "follower %s: read of order %s failed: %s",
                    self.name,
                    intent.broker_order_id,
                    exc,
                )
                break
            seen[order.order_id] = order
        return seen

    def _journal_acks(self) -> None:
        """Write the acks ``_place`` held back, in one transaction (one commit).

        Runs before this actor reads the journal, so it never decides on a copy it has placed
        but not yet recorded (a SENDING intent it sent would otherwise look outcome-unknown).
        A database error propagates: the actor crashes and its successor looks the orders up.
        """
        if not self.unjournaled:
            return
        self.faults.point("follower.before_journal_acks")
        moves, self.unjournaled = self.unjournaled, []
        for move, outcome in zip(moves, self.journal.transitions(moves), strict=True):
            if isinstance(outcome, Exception):
                # settled meanwhile by someone who saw the broker's book: theirs is newer
                logger.info("follower %s: ack of %s not journaled: %s", self.name, move, outcome)

    def _spawn_bracket(self, intent: Intent) -> None:
        """Start the BracketLegActor of ``intent`` under this follower's supervisor (once)."""
        name = bracket_name(self.name, intent.leader_order_id)
        supervisor = self.context.supervisor
        if supervisor is None or self.registry.state(name) is NameState.RUNNING:
            return
        spec = ChildSpec.actor(
            name,
            BracketLegActor,
            follower=self.name,
            intent_id=intent.id,
            client=self.client,
            journal=self.journal,
            engine=self.engine,
            metrics=self.metrics,
            book=self.book,
            restart=Restart.TRANSIENT,
        )
        try:
            supervisor.start_child(spec, timeout_s=2.0)
        except ValueError:
            pass  # already a child (running or settled)
        except Exception as exc:  # the supervisor is stopping: the next start spawns it
            logger.info("follower %s: bracket %s not started: %r", self.name, name, exc)

    def _hint_brackets(self, leader_order_ids: tuple[str, ...]) -> None:
        for oid in leader_order_ids:
            with contextlib.suppress(ChildUnavailable):
                self.registry.tell(bracket_name(self.name, oid), Tick())

    # -- bookkeeping ---------------------------------------------------------------------------

    def _stamp_leader_event(self, message: LeaderChanged) -> None:
        """Start (or finish) the replication-latency measure of the copies this hint claims."""
        for oid in dict.fromkeys(i.leader_order_id for i in message.claimed):
            acked = self.acked_ns.pop(oid, 0)
            if acked:
                self._observe_latency(acked - message.received_ns)
            else:
                self.leader_seen_ns.setdefault(oid, message.received_ns)

    def _observe_latency(self, elapsed_ns: int) -> None:
        self.metrics.replication_latency.labels(self.name).observe(max(elapsed_ns, 0) / 1e9)

    def _forget_old_stamps(self) -> None:
        """Stamps of copies never placed (the leader order ended first, a filter, a crash)."""
        edge = time.monotonic_ns() - int(STAMP_TTL_S * 1e9)
        for stamps in (self.leader_seen_ns, self.acked_ns):
            for oid in [k for k, at in stamps.items() if at < edge]:
                del stamps[oid]

    def _rejection_reason(self, order_id: str) -> str:
        try:
            order = self.client.get_order(order_id)
        except errors.DhanError:
            return "rejected by the broker"
        return order.oms_error_description or "rejected by the broker"

    def _count(self, action: Action, outcome: str, started: float) -> None:
        self.metrics.follower_orders.labels(self.name, str(action), outcome).inc()

    def _audit(self, kind: str, payload: dict[str, Any]) -> None:
        self.journal.append_audit(
            kind, actor=self.context.child_id, account=self.name, payload=payload
        )


def _settle_args(intent: Intent, order: Order) -> dict[str, Any]:
    """The transition that records the broker's view of ``intent``'s order."""
    status = order.order_status
    applied = intent.desired_version if matches_desired(intent, order) else intent.applied_version
    if status is OrderStatus.REJECTED and intent.broker_order_id is None:
        to = IntentState.REJECTED
    elif status.is_terminal:
        to = IntentState.DONE
    else:
        to = IntentState.WORKING
    return {
        "intent_id": intent.id,
        "to": to,
        "expect_from": intent.state,
        "broker_order_id": order.order_id,
        "broker_status": status,
        "filled_qty": order.filled_qty,
        "applied_version": applied,
        "error_message": order.oms_error_description or None,
    }


def _is_super(intent: Intent) -> bool:
    return intent.target_price is not None and intent.stop_loss_price is not None


def _once(fn: Callable[[], None]) -> Callable[[], None]:
    """``fn`` that runs on the first call only."""
    done = False

    def call() -> None:
        nonlocal done
        if not done:
            done = True
            fn()

    return call
