"""LeaderFeedActor: the leader's order-update socket -> the journal -> hints to followers.

A feed thread owned by this actor runs ``dhan.order_feed.OrderFeed`` and tells each parsed
update to the actor. The actor journals the snapshot together with every follower's desired
intent in one transaction (deduped), then hints the followers. After every (re)connect, and every
``engine.leader_reconcile_s`` while connected, it reconciles over REST, because the socket never
replays. A dead socket or a missed pong makes it crash on purpose; its supervisor restarts it.
The actor keeps the socket's lifecycle and the glue; its parts, one concern each: ``lot_sizes``
(learned from frames), ``enrich`` (frames -> complete snapshots), ``leader_record`` (the journal
write that claims the copies), ``hints`` (whom to wake), ``leader_reconcile`` (the REST passes).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any

from actors.enrich import SnapshotEnricher
from actors.exit_holds import HOLD_CHECK_S, HURRY_S
from actors.hints import hint_wait_s, plan_hints, tell_hints
from actors.leader_positions import LeaderPositions
from actors.leader_reconcile import LeaderReconciler
from actors.leader_record import LeaderRecorder, Recorded
from actors.lot_sizes import LotSizeBook
from actors.messages import (
    ConvertPositions,
    FeedConnected,
    FeedFailed,
    FollowerSettled,
    HurrySettles,
    LeaderFrameLost,
    LeaderUpdateReceived,
    RederiveWaiting,
    ReleaseSettled,
    ReplanResting,
    Tick,
)
from actors.names import follower_name
from actors.operator_modes import OperatorModes
from actors.position_check import PositionCheckFailed
from actors.settings import EngineConfig, FollowerSettings
from actors.telemetry import ActorMetrics
from dhan import errors
from dhan.order_feed import FeedError, OrderFeed, OrderUpdate
from dhan.rest import DhanClient
from store import Journal
from supervision import ChildContext, SupervisedActor
from supervision.errors import ChildUnavailable
from supervision.timers import Timer

__all__ = ["FeedLost", "FeedStatus", "LeaderFeedActor"]

logger = logging.getLogger(__name__)


class FeedLost(Exception):
    """The leader socket died; raised on purpose so the supervisor restarts the feed."""


class FeedStatus:
    """Readiness facts shared with the health endpoint (written by the feed actor only)."""

    def __init__(self) -> None:
        self.connected = False
        self.reconciled = False
        self.connects = 0
        self.last_error: str | None = None
        #: position checks after a connect that failed (``actors.position_check``)
        self.position_checks_failed = 0
        #: frames skipped as malformed (each read the book at once)
        self.frames_lost = 0


class LeaderFeedActor(SupervisedActor):
    """Owns the leader socket; journals leader snapshots; hints followers."""

    def __init__(
        self,
        context: ChildContext,
        *,
        feed_factory: Callable[[], OrderFeed],
        client: DhanClient,
        journal: Journal,
        followers: Callable[[], Sequence[FollowerSettings]],
        engine: EngineConfig,
        metrics: ActorMetrics,
        lot_sizes: MutableMapping[tuple[str, str], int],
        balances: Mapping[str, float],
        status: FeedStatus,
        modes: OperatorModes | None = None,
    ) -> None:
        super().__init__(context)
        self.feed_factory = feed_factory
        self.followers = followers
        self.engine = engine
        self.metrics = metrics
        self.status = status
        self.feed: OrderFeed | None = None
        self.thread: threading.Thread | None = None
        #: the pending periodic-reconcile tick (one at a time: the next is armed after a pass)
        self.reconcile_timer: Timer | None = None
        #: the next pass over the held copies / resting orders (armed while there are any),
        #: its generation, whether it is the holds' short one, and when resting orders are due
        self.replan_timer: Timer | None = None
        self.replan_generation = 0
        self.replan_fast = False
        self.replan_due = 0.0
        #: followers that said ``FollowerSettled`` since the last ``ReleaseSettled``
        self.settled: set[str] = set()
        self.lots = LotSizeBook(journal, lot_sizes)
        self.enricher = SnapshotEnricher(journal, client)
        self.recorder = LeaderRecorder(journal, followers, engine, lot_sizes, balances, modes)
        self.reconciler = LeaderReconciler(
            client=client,
            journal=journal,
            recorder=self.recorder,
            enricher=self.enricher,
            engine=engine,
            metrics=metrics,
            clock=self.clock,
            actor_id=context.child_id,
            hint=self._hint_reconciled,
        )
        self.positions = LeaderPositions(client, journal, followers, lot_sizes)

    # -- lifecycle ---------------------------------------------------------------------------

    def on_start(self) -> None:
        super().on_start()
        self.lots.load()
        held = self.recorder.holds.load()
        if held:
            logger.info("%d exit copies held by the previous incarnation: released when due", held)
        self.status.connected = False
        self.status.reconciled = False
        self.metrics.feed_connected.set(0)
        self.feed = self.feed_factory()
        ref = self.actor_ref
        feed = self.feed

        def on_update(update: OrderUpdate) -> None:
            ref.tell(LeaderUpdateReceived(update, time.monotonic_ns()))

        def on_connected() -> None:
            ref.tell(FeedConnected())

        def on_malformed() -> None:
            ref.tell(LeaderFrameLost())

        def run() -> None:
            try:
                feed.run(on_update, on_connected, on_malformed)
            except FeedError as exc:
                _tell_quietly(ref, FeedFailed(str(exc)))
            except Exception as exc:  # a bug in the feed must still end in a restart
                logger.exception("leader feed thread crashed")
                _tell_quietly(ref, FeedFailed(repr(exc)))
            else:
                if not feed.closed:
                    _tell_quietly(ref, FeedFailed("feed returned without close()"))

        self.thread = threading.Thread(target=run, name="leader-feed-socket", daemon=True)
        self.thread.start()

    def on_stop(self) -> None:
        self._shut_feed()
        super().on_stop()

    def on_failure(self, *args: Any) -> None:
        self._shut_feed()
        super().on_failure(*args)

    def _shut_feed(self) -> None:
        self.status.connected = False
        self.metrics.feed_connected.set(0)
        if self.feed is not None:
            self.feed.close()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=5.0)

    # -- messages ------------------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, LeaderUpdateReceived):
            self._on_update(message.update, message.received_ns)
        elif isinstance(message, FeedConnected):
            self._on_connected()
        elif isinstance(message, Tick):
            self._on_reconcile_tick()
        elif isinstance(message, RederiveWaiting):
            return self._rederive_waiting()
        elif isinstance(message, FollowerSettled):
            # the followers hurried by one hold answer in a burst: one pass for all of them
            if not self.settled:
                self.actor_ref.tell(ReleaseSettled())
            self.settled.add(message.follower)
        elif isinstance(message, ReleaseSettled):
            settled, self.settled = self.settled, set()
            if self.recorder.holds and settled:
                self._wake(self.recorder.release_held(settled))
                self._arm_replan()
        elif isinstance(message, ReplanResting):
            if message.generation == self.replan_generation:
                self._replan_resting()
        elif isinstance(message, LeaderFrameLost):
            self._on_frame_lost()
        elif isinstance(message, FeedFailed):
            self.status.connected = False
            self.status.last_error = message.reason
            self.metrics.feed_connected.set(0)
            raise FeedLost(f"leader order socket lost: {message.reason}")
        else:
            return super().on_receive(message)
        return None

    def _rederive_waiting(self) -> int:
        """Size again the copies that waited (on this thread, which writes the leader's
        snapshots: a derivation elsewhere could overwrite a newer one); wake their followers."""
        touched = self.recorder.rederive_waiting()
        if touched:
            logger.info("copies that waited for a balance sized again for %s", sorted(touched))
        for name in touched:
            # one restarting converges from the journal on start
            with contextlib.suppress(ChildUnavailable):
                self.registry.tell(follower_name(name), Tick())
        return len(touched)

    def _on_frame_lost(self) -> None:
        """A malformed frame lost some order's update -- perhaps a fill: the exits sized after
        it would see a stale position. Read the book now, before the frames behind it, and
        journal what changed of the orders already known (``catch_up_known``)."""
        if not self.status.reconciled:
            return  # the connect's reconcile is still to come
        self.status.frames_lost += 1
        try:
            self.reconciler.catch_up_known()
        except errors.DhanError as exc:  # the periodic pass reads it again
            logger.warning("reading the leader's book after a lost frame failed: %s", exc)
            self.metrics.leader_reconciles.labels("frame_lost", "error").inc()
            return
        self.metrics.leader_reconciles.labels("frame_lost", "ok").inc()
        self._arm_replan()

    def _replan_resting(self) -> None:
        """Release the held exit copies that may go (``actors.exit_holds``) and, every
        ``REPLAN_S``, plan the resting orders again against the positions now (their
        followers' copies of other orders have filled or been refused since); wake the
        followers whose copies changed."""
        self.replan_timer = None
        touched = self.recorder.release_held()
        now = self.clock.monotonic()
        if now >= self.replan_due:
            self.replan_due = now + REPLAN_S
            touched |= self.recorder.replan_resting()
        self._wake(touched)
        self._arm_replan()

    def _wake(self, followers: set[str]) -> None:
        for name in sorted(followers):
            with contextlib.suppress(ChildUnavailable):
                self.registry.tell(follower_name(name), Tick())

    def _hurry_held(self) -> None:
        """Followers whose exit copies were just held settle their frames now and soon after
        each, telling this feed (``FollowerSettled``): the copies go as soon as the journal
        knows their entries' outcome."""
        for name in sorted(self.recorder.holds.take_new()):
            with contextlib.suppress(ChildUnavailable):
                self.registry.tell(follower_name(name), HurrySettles(HURRY_S))

    def _arm_replan(self) -> None:
        """Arm the next pass: ``HOLD_CHECK_S`` away while copies are held, else ``REPLAN_S``
        while orders rest; a slow timer is replaced by a short one when a hold begins (whose
        followers are hurried). Called after everything that records leader snapshots."""
        self._hurry_held()
        fast = bool(self.recorder.holds)
        if self.replan_timer is not None:
            if not fast or self.replan_fast:
                return
            self.replan_timer.cancel()
        elif not fast and not self.recorder.has_resting():
            return
        self.replan_fast = fast
        self.replan_generation += 1
        self.replan_timer = self.tell_later(
            HOLD_CHECK_S if fast else REPLAN_S, ReplanResting(self.replan_generation)
        )

    def _on_connected(self) -> None:
        self.status.connects += 1
        if self.status.connects > 1 or self.context.incarnation > 1:
            self.metrics.feed_reconnects.inc()
        self.status.connected = True
        self.metrics.feed_connected.set(1)
        # the leader's positions set to the broker's before the reconcile sizes exits against
        # them (the socket has no replay); a failure is counted and tried at the next connect
        self._check_positions()
        self.faults.point("leader_feed.before_reconcile")
        try:
            self.reconciler.reconcile()
        except errors.DhanError:
            # the book is unreadable right after a connect: crash, the restart tries again
            self.metrics.leader_reconciles.labels("connect", "error").inc()
            raise
        self.metrics.leader_reconciles.labels("connect", "ok").inc()
        self.status.reconciled = True
        self._arm_reconcile(self.engine.leader_reconcile_s)
        self._arm_replan()

    # -- socket path ---------------------------------------------------------------------------

    def _on_update(self, u: OrderUpdate, received_ns: int) -> None:
        self.faults.point("leader_feed.on_update")
        if (
            u.exchange_segment is None
            or u.security_id is None
            or u.product_type is None
            or u.transaction_type is None
            or u.order_type is None
        ):
            self.metrics.leader_events.labels("malformed").inc()
            logger.warning("leader frame for order %s lacks instrument fields; skipped", u.order_no)
            return
        self.lots.learn(u)
        snaps = self.enricher.snapshots_for(u, reconciled=self.status.reconciled)
        changed, claimed, touched, _ = self.recorder.record(snaps)
        self._arm_replan()
        if changed:
            plan = plan_hints(changed, self.followers(), claimed, touched)
            taken = tell_hints(self.registry, plan, received_ns, verify_claims=False)
            if taken is not None:
                taken.wait(hint_wait_s(len(claimed)))
            self.metrics.leader_events.labels("socket").inc()
        else:
            self.metrics.leader_events.labels("duplicate").inc()
        self.lots.save()

    def _hint_reconciled(self, recorded: Recorded) -> None:
        """Hint what a reconcile journaled: the followers verify their claims first."""
        plan = plan_hints(recorded.changed, self.followers(), recorded.claimed, recorded.touched)
        tell_hints(self.registry, plan, 0, verify_claims=True)

    # -- REST reconcile -------------------------------------------------------------------------

    def _arm_reconcile(self, delay_s: float) -> None:
        """Tell this actor a Tick for the next periodic pass (none when the period is 0)."""
        if self.engine.leader_reconcile_s <= 0:
            return
        if self.reconcile_timer is not None:
            self.reconcile_timer.cancel()
        self.reconcile_timer = self.tell_later(delay_s, Tick())

    def _on_reconcile_tick(self) -> None:
        if self.reconcile_timer is None:
            return  # not armed (periodic reconcile off, or not connected yet): a stray tick
        self.reconcile_timer = None
        if not self.status.connected:
            return  # the next connect reconciles in full
        self.faults.point("leader_feed.periodic_reconcile")
        delay_s = self.reconciler.periodic_reconcile()
        self._arm_replan()
        if delay_s >= self.engine.leader_reconcile_s:  # not a pass that confirms a difference
            self._check_positions()  # a conversion sends no frame: its only trace is here
        self._arm_reconcile(delay_s)

    def _check_positions(self) -> None:
        """The leader's positions set to the broker's; the followers' parts of a conversion
        found there journaled, and the followers hinted (``actors.leader_positions``)."""
        try:
            converting = self.positions.check()
        except (errors.DhanError, PositionCheckFailed) as exc:
            self.status.position_checks_failed += 1
            logger.warning("position check of the leader failed: %s", exc)
            return
        for name in sorted(converting):
            with contextlib.suppress(ChildUnavailable):  # it sends its marks when it starts
                self.registry.tell(follower_name(name), ConvertPositions())


#: How often the resting orders are planned again while there are any (seconds): a
#: follower's copy refused for funds reaches its resting exits' sizes within this.
REPLAN_S = 1.0


def _tell_quietly(ref: Any, message: Any) -> None:
    try:
        ref.tell(message)
    except Exception:  # the actor is already gone: its supervisor has seen the death
        logger.debug("feed actor gone before %r could be told", message)
