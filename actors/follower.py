"""FollowerActor: converges one follower account to f(leader state), level-triggered.

On a hint, on start and on every tick it reads the intents the journal says need action and
places / modifies / cancels through RateLimiter permits. ``SENDING`` (or MODIFYING /
CANCELLING) is committed before each request; an outcome-unknown answer is resolved by looking
the order up by its deterministic correlationId before anything is sent again, so a crash at any
point can neither lose nor duplicate a follower order.

The actor is the glue: its collaborators are the decision table (``decisions``), the permit
ledger (``permits``), the steps that call the broker (``copy_steps``, failures mapped by
``send_outcomes``), book settling (``copy_settler``, ``book_settle``), the pause
(``follower_pause``), latency stamps (``copy_latency``), batched acks (``ack_buffer``) and the
bracket actors (``bracket_spawner``), settling from the socket or the book (``follower_sync``).

Fills and ends of its copies arrive from its own order socket (``FollowerFeedActor``) while
that socket is up, else from its book polled on ticks: ``follower_sync.BookSync``.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from actors.ack_buffer import AckBuffer
from actors.bracket_spawner import BracketSpawner
from actors.copy_latency import STAMP_TTL_S, CopyLatency
from actors.copy_settler import CopySettler
from actors.copy_slippage import CopySlippage
from actors.copy_steps import CopySteps
from actors.decisions import IN_FLIGHT, Step, next_step
from actors.follower_book import FollowerBook
from actors.follower_conversions import ConversionRunner
from actors.follower_pause import FollowerPause
from actors.follower_sync import BookSync
from actors.hints import once
from actors.messages import (
    Action,
    CancelPermits,
    ConvergeNow,
    ConvertPositions,
    FollowerOrderUpdates,
    FollowerSettled,
    FollowerSocketDown,
    FollowerSocketUp,
    HurrySettles,
    LeaderChanged,
    PermitDenied,
    PermitGranted,
    ResolveUnknown,
    SetEnabled,
    SettleFrames,
    SocketStateWanted,
    Tick,
    UpdateToken,
)
from actors.names import LEADER_FEED, LIMITER, follower_feed_name
from actors.orders import is_super
from actors.permits import PermitLedger
from actors.position_check import PositionCheckFailed, check_positions
from actors.rate_windows import AccountWindows
from actors.sent_copies import sends_to_remember
from actors.settings import EngineConfig, FollowerSettings
from actors.telemetry import ActorMetrics
from dhan import errors
from dhan.rest import DhanClient
from store import Journal
from store.errors import IntentNotFound, StaleState
from store.records import Intent
from store.states import IntentState
from supervision import ChildContext, SupervisedActor
from supervision.errors import ChildUnavailable

logger = logging.getLogger(__name__)

#: Passes of one converge at most; whatever still needs a step gets it on the next tick.
MAX_CONVERGE_PASSES = 5
#: The follower's journaled ``enabled`` flag ("1" / "0"), a mark of its account.
ENABLED_MARK = "enabled"


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
        self.name = name = follower.name
        self.client = client
        self.journal = journal
        self.engine = engine
        self.metrics = metrics
        #: this follower's broker books, shared with its BracketLegActors (the engine passes
        #: one that outlives restarts, so old and new brackets share it too)
        self.book = book or FollowerBook(client, max_age_s=engine.bracket_tick_s / 2)
        #: windows: this account's order-rate windows, shared with the RateLimiterActor
        tell_limiter = partial(self.registry.tell, LIMITER)
        self.permits = PermitLedger(name, context.child_id, windows, tell_limiter)
        self.latency = CopyLatency(self._observe_latency)
        self.acks = AckBuffer(journal, name, self.faults)
        egress = follower.egress
        source = egress.source_address if egress is not None else None
        self.pause = FollowerPause(name, follower.client_id, source, metrics, self._audit)
        self.brackets = BracketSpawner(
            context,
            name,
            client=client,
            journal=journal,
            engine=engine,
            metrics=metrics,
            book=self.book,
        )
        self.conversions = ConversionRunner(
            name, client, journal, self._audit, self._check_positions
        )
        #: copy slippage, measured as the settler moves copies to DONE fully filled
        self.slippage = CopySlippage(name, journal, metrics.copy_slippage.labels(name).observe)
        self.settler = CopySettler(
            name,
            client=client,
            journal=journal,
            book=self.book,
            brackets=self.brackets,
            tick_s=engine.follower_tick_s,
            audit=self._audit,
            slippage=self.slippage,
            replanned=lambda: self.actor_ref.tell(ConvergeNow()),
        )
        self.steps = CopySteps(
            name,
            hooks=self,
            client=client,
            journal=journal,
            book=self.book,
            settler=self.settler,
            brackets=self.brackets,
            pause=self.pause,
            acks=self.acks,
            latency=self.latency,
            metrics=metrics,
            faults=self.faults,
            registry=self.registry,
            audit=self._audit,
        )
        #: a restarted actor takes the flag of the last config reload (``enabled_now``), not
        #: the one this follower had when the engine started
        self.enabled = enabled_now() if enabled_now is not None else follower.enabled
        self._tick_timer: Any = None
        #: frames of the follower's order socket, else its book, settle the copies
        self.sync = BookSync(
            settler=self.settler,
            acks=self.acks,
            pause=self.pause,
            tick_s=engine.follower_tick_s,
            tell_later=self.tell_later,
        )
        #: SENDING / MODIFYING / CANCELLING intents found at start: a previous incarnation may
        #: have sent them, so they are looked up. A SENDING intent that appears later was
        #: claimed by the leader feed for this incarnation to send (store: ``claim_for``).
        self.stale_in_flight: set[int] = set()
        #: intents this incarnation has sent (or begun to send). A claim (SENDING, no DB check
        #: before the send) is never sent if it is in here: a hint can arrive after a tick
        #: already placed its claim, carrying a stale SENDING copy. Resends of a PLANNED intent
        #: go through the journal's checked SENDING transition instead.
        #: Bounded: ids no stale copy can reach any more are forgotten on every tick
        #: (``actors.sent_copies``, which says why forgetting them is safe).
        self.sent: set[int] = set()
        #: the highest claim id taken from a hint (``actors.sent_copies``)
        self.hinted_upto = 0
        #: set only during a tick's converge: its first pass prunes ``sent``
        self._prune_sent = False
        self._converging = False
        self._converge_again = False
        #: while a claiming hint is handled: tells the leader feed our first copy has left
        self.hint_sent: Callable[[], None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def on_start(self) -> None:
        super().on_start()
        self.stale_in_flight = {i.id for i in self.journal.intents(self.name, states=IN_FLIGHT)}
        self.settler.adopt()
        # enabled in the config while an earlier run had it disabled: as a SIGHUP would
        self._record_enabled(was=self.journal.get_mark(self.name, ENABLED_MARK) != "0")
        # a random phase: followers started together would otherwise all refresh at once,
        # holding the GIL together just when a leader event needs it
        tick_s = self.engine.follower_tick_s
        self._tick_timer = self.tell_every(tick_s, Tick(), first_s=random.uniform(0.0, tick_s))
        self.brackets.spawn_open()
        self.conversions.adopt()
        self.conversions.run()  # the leader's conversions planned while we were down
        if self.engine.follower_sockets:
            # a restarted follower learns whether its socket is up (the feed tells us)
            with contextlib.suppress(ChildUnavailable):
                self.registry.tell(follower_feed_name(self.name), SocketStateWanted())
        else:
            self._check_positions()  # no socket connects to do it
        self.converge()

    def on_stop(self) -> None:
        try:
            self.acks.flush()
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
            self.hint_sent = once(taken.take)
            try:
                self._on_leader_changed(message)
            finally:
                self.hint_sent()  # nothing sent (or it failed): the feed need not wait on us
                self.hint_sent = None
        elif isinstance(message, Tick):
            self.acks.flush()
            self.permits.forget_stale(time.monotonic())
            self.latency.forget_older_than(time.monotonic_ns() - int(STAMP_TTL_S * 1e9))
            self.sync.tick()
            self.slippage.retry()  # copies filled before their leader's price was journaled
            # the pass below prunes ``sent`` with the intents it reads; only a tick's pass, at
            # the top of a message, where no stale copy of a claim is held further up the stack
            self._prune_sent = bool(self.sent)
            try:
                self.converge()
            finally:
                self._prune_sent = False
        elif isinstance(message, FollowerOrderUpdates):
            self.sync.frames(message.updates)
        elif isinstance(message, ConvergeNow):
            self.converge()
        elif isinstance(message, SettleFrames):
            self.sync.settle_frames()
            if self.sync.hurried():
                self._tell_settled()
        elif isinstance(message, HurrySettles):
            self.sync.hurry(message.for_s)
            self._tell_settled()
        elif isinstance(message, FollowerSocketUp):
            if self.sync.socket_connected():
                self.converge()
        elif isinstance(message, FollowerSocketDown):
            self.sync.socket_lost()
        elif isinstance(message, PermitGranted):
            self.permits.answered(message.intent_id)
            if self._grant_still_good(message):
                self._act(message.intent_id, message.action)
        elif isinstance(message, PermitDenied):
            self.permits.answered(message.intent_id)
            self.permits.take_requested(message.intent_id)
            intent = self._intent(message.intent_id)
            if intent is not None and intent.state is IntentState.WORKING:
                self.steps.permit_denied(intent, message.reason)
        elif isinstance(message, ResolveUnknown):
            intent = self._intent(message.intent_id)
            if intent is not None and intent.state is IntentState.UNKNOWN:
                self.sync.may_have_supers = self.sync.may_have_supers or is_super(intent)
                self.steps.resolve_unknown(intent)
        elif isinstance(message, ConvertPositions):
            self.conversions.run()
        elif isinstance(message, UpdateToken):
            self.client.update_token(message.access_token)
            self.conversions.run()  # one refused for the old token
            if self.pause.token_reloaded():
                self.converge()
        elif isinstance(message, SetEnabled):
            was = self.enabled
            if message.enabled != was:
                self._audit("follower_enabled" if message.enabled else "follower_disabled", {})
            self.enabled = message.enabled
            self._record_enabled(was=was)
            self.converge()
        else:
            return super().on_receive(message)
        return None

    def _tell_settled(self) -> None:
        """The leader feed holds an exit copy of ours until our entries are confirmed: what
        our frames said is journaled now (``actors.exit_holds``)."""
        with contextlib.suppress(ChildUnavailable):  # a restarted feed reads the journal
            self.registry.tell(LEADER_FEED, FollowerSettled(self.name))

    def _record_enabled(self, *, was: bool) -> None:
        """Journal the ``enabled`` flag (it outlives a restart); on re-enabling, skip the copies
        planned while disabled that ``engine.reconcile_policy`` does not copy."""
        if self.enabled and not was:
            self.settler.skip_planned_while_disabled(self.engine.reconcile_policy)
        if self.enabled != was or self.journal.get_mark(self.name, ENABLED_MARK) is None:
            self.journal.set_mark(self.name, ENABLED_MARK, "1" if self.enabled else "0")

    def _on_leader_changed(self, message: LeaderChanged) -> None:
        if message.received_ns:
            self.latency.hinted((i.leader_order_id for i in message.claimed), message.received_ns)
        self.sync.leader_settled(message.settled)
        if message.claimed and message.verify_claims:
            # claims from a reconcile: looked up by correlationId before any send
            self.stale_in_flight.update(i.id for i in message.claimed)
            self.hinted_upto = max(self.hinted_upto, *(i.id for i in message.claimed))
            self.converge()
        elif message.claimed:
            # the fast path: new orders claimed for us in the leader's transaction
            self._take_claims(message.claimed)
        elif message.changed:
            self.converge()
        self.brackets.hint(message.leader_order_ids)

    def _check_positions(self) -> None:
        """Set our journaled positions to the broker's (``actors.position_check``); a failure
        is logged and tried again at the next start."""
        try:
            check_positions(self.client, self.journal, self.name)
        except (errors.DhanError, PositionCheckFailed) as exc:
            logger.warning("position check of %s failed: %s", self.name, exc)

    # -- deciding (FollowerHooks) ----------------------------------------------------------------

    def _intent(self, intent_id: int) -> Intent | None:
        self.acks.flush()
        try:
            return self.journal.intent(intent_id)
        except IntentNotFound:
            return None

    def decide(self, intent: Intent) -> Action | Step | None:
        """The next step for ``intent`` (``actors.decisions``: the decision table)."""
        return next_step(
            intent, stale=intent.id in self.stale_in_flight, sent=intent.id in self.sent
        )

    def look_up_later(self, intent_id: int) -> None:
        self.tell_later(self.engine.outcome_lookup_delay_s, ResolveUnknown(intent_id))

    def _take_claims(self, claimed: tuple[Intent, ...]) -> None:
        upto = self.hinted_upto
        late = False
        for intent in claimed:
            if intent.id <= upto:
                # a claim hinted out of id order: ``sent`` may have forgotten it (see
                # actors.sent_copies); unless still remembered as sent, look it up by its
                # correlationId before any send. Either way it is not placed from this copy.
                if intent.id not in self.sent:
                    self.stale_in_flight.add(intent.id)
                late = True
            elif intent.id > self.hinted_upto:
                self.hinted_upto = intent.id
        if late:
            self.converge()
            claimed = tuple(i for i in claimed if i.id > upto)
        if self.pause.reason is not None or not self.enabled:
            return  # they stay SENDING-claimed: placed (or looked up) when we resume
        awaiting = self.permits.awaiting
        for intent in claimed:
            if self.decide(intent) is Action.PLACE and intent.id not in awaiting:
                self._request_permit(intent, Action.PLACE)

    def converge(self) -> None:
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
        if self.pause.reason is not None or not self.enabled:
            return
        self.acks.flush()
        intents = self.journal.intents_needing_action(self.name)
        if self._prune_sent:
            self._forget_settled_sends(intents)
        for intent in intents:
            if intent.id in self.permits.awaiting:
                continue
            try:
                self._step(intent)
            except StaleState as exc:
                # the row moved since this pass read it (an earlier step of this pass, or the
                # leader feed changed its desired fields): the next pass reads it afresh
                logger.info("follower %s: %s; looking again", self.name, exc)
                self._converge_again = True

    def _forget_settled_sends(self, intents: list[Intent]) -> None:
        """Forget the sent ids no stale copy can reach any more (``actors.sent_copies``);
        ``intents``: the follower's intents needing action, just read after an ack flush --
        every SENDING one among them (``include_in_flight``, the default; no row limit)."""
        self._prune_sent = False
        sending = {i.id for i in intents if i.state is IntentState.SENDING}
        self.sent = sends_to_remember(
            self.sent,
            hinted_upto=self.hinted_upto,
            sending=sending,
            requested=self.permits.requested,
        )

    def _step(self, intent: Intent) -> None:
        step = self.decide(intent)
        if step is None:
            return
        if step is Step.FINISH:
            # settled unsent: a hint still queued with this claim must not send it later
            self.sent.add(intent.id)
            self.steps.finish_unsent(intent)
        elif step is Step.LOOKUP:
            self.stale_in_flight.discard(intent.id)
            self.sync.may_have_supers = self.sync.may_have_supers or is_super(intent)
            self.steps.look_up(intent)
        elif step is Step.GIVE_UP_MODIFY:
            self.steps.give_up_modify(intent)
        elif isinstance(step, Action):
            self._request_permit(intent, step)

    # -- permits and acting ---------------------------------------------------------------------

    def _request_permit(self, intent: Intent, action: Action) -> None:
        """Act now if the account's windows have room, else ask the limiter and wait."""
        if self.permits.fits_now(self.clock.monotonic(), action):
            self._act(intent.id, action, intent)  # the copy just read: spares a read
            return
        self.permits.ask(intent, action)

    def _grant_still_good(self, grant: PermitGranted) -> bool:
        """A late grant is stamped again or, if the windows are full, asked again
        (``PermitLedger.still_good``)."""
        if self.permits.still_good(grant, self.clock.monotonic()):
            return True
        intent = self.permits.requested.get(grant.intent_id) or self._intent(grant.intent_id)
        if intent is not None:
            self.permits.ask(intent, grant.action)
        return False

    def _act(self, intent_id: int, action: Action, cached: Intent | None = None) -> None:
        if cached is None:
            cached = self.permits.take_requested(intent_id)
        # The copy read when the permit was asked spares a read only for a claimed place (no
        # one else moves a claim's state); anything else may have moved while the permit was
        # queued (a status refresh ended the order, the leader changed it): read it afresh.
        intent: Intent | None = cached
        if cached is None or action is not Action.PLACE or cached.state is not IntentState.SENDING:
            intent = self._intent(intent_id)
        if intent is None or self.pause.reason is not None or not self.enabled:
            return
        if self.decide(intent) != action:
            return  # the world moved on while we waited for the permit
        if action is Action.PLACE:
            self._place(intent)
        elif action is Action.MODIFY:
            self.steps.modify(intent)
        else:
            self.steps.cancel(intent)

    def _place(self, intent: Intent) -> None:
        self.faults.point("follower.before_send")
        if intent.state is IntentState.SENDING:  # claimed with the leader event
            if intent.id in self.sent or intent.id in self.stale_in_flight:
                return  # already sent by us, or maybe by a previous incarnation: never twice
        else:
            intent = self.journal.transition(
                intent.id, IntentState.SENDING, expect_from=intent.state, reason="place"
            )
        self.sent.add(intent.id)
        if is_super(intent):
            self.sync.may_have_supers = True
        self.steps.place(intent, self.hint_sent)

    # -- bookkeeping ---------------------------------------------------------------------------

    def _observe_latency(self, elapsed_ns: int) -> None:
        self.metrics.replication_latency.labels(self.name).observe(max(elapsed_ns, 0) / 1e9)

    def _audit(self, kind: str, payload: dict[str, Any]) -> None:
        self.journal.append_audit(
            kind, actor=self.context.child_id, account=self.name, payload=payload
        )
