"""The leader's REST reconcile: today's books read into the journal, because the socket never
replays.

The LeaderFeedActor runs a full pass after every (re)connect and a periodic pass every
``engine.leader_reconcile_s`` while connected. A periodic pass journals only what the journal
lacks, and only once the difference has lasted (:data:`CONFIRM_AFTER_S`). A leader order the
journal has never seen gets ``engine.reconcile_policy``. Deciding what differs is pure
(:func:`confirmed_differences`); reading the books and journaling is :class:`LeaderReconciler`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from actors import slicing
from actors.enrich import SnapshotEnricher
from actors.late_entries import is_entry, late_intents
from actors.leader_record import LeaderRecorder, Recorded
from actors.settings import EngineConfig
from actors.sizing import ExitBasis
from actors.snapshots import (
    bracket_parents,
    snapshot_from_order,
    snapshots_from_super_order,
    super_legs_in,
)
from actors.telemetry import ActorMetrics
from dhan import errors
from dhan.codes import LegName, ProductType
from dhan.models import Order
from dhan.rest import DhanClient
from store import Journal
from store.records import DesiredIntent, LeaderOrderSnapshot, SnapshotSource
from supervision.clock import Clock

logger = logging.getLogger(__name__)

#: A periodic reconcile journals a difference between the REST book and the journal only once
#: it has lasted this long (capped at one period): a frame still on its way -- on the socket or
#: queued behind the tick in this actor's inbox -- settles it first, so an order the socket
#: delivers is never taken for one it missed (and skipped by ``reconcile_policy``), and a book
#: that lags the socket never rolls a journaled change back.
CONFIRM_AFTER_S = 2.0

#: The fields compared to decide whether a REST row says something the journal does not know.
_STATE_FIELDS = (
    "status",
    "filled_qty",
    "quantity",
    "price",
    "trigger_price",
    "order_type",
    "target_price",
    "stop_loss_price",
    "trailing_jump",
    "bo_profit_value",
    "bo_stop_loss_value",
)

#: The journal's latest snapshot of (leader order id, leg name): ``Journal.leader_snapshot``
Journaled = Callable[[str, str], LeaderOrderSnapshot | None]
#: Tells the followers of what a reconcile journaled (their claims to verify first)
HintReconciled = Callable[[Recorded], object]


class LeaderReconciler:
    """Reads the leader's books and journals what the journal lacks (the feed's thread only)."""

    def __init__(
        self,
        *,
        client: DhanClient,
        journal: Journal,
        recorder: LeaderRecorder,
        enricher: SnapshotEnricher,
        engine: EngineConfig,
        metrics: ActorMetrics,
        clock: Clock,
        actor_id: str,
        hint: HintReconciled,
    ) -> None:
        self.client = client
        self.journal = journal
        self.recorder = recorder
        self.enricher = enricher
        self.engine = engine
        self.metrics = metrics
        self.clock = clock
        self.actor_id = actor_id
        self.hint = hint
        #: REST dedupe keys of the last pass known to be in the journal (skipped unread)
        self.settled_keys: set[str] = set()
        #: (order id, leg) -> clock time a periodic pass first saw it differ from the journal
        self.suspects: dict[tuple[str, str], float] = {}

    def reconcile(self) -> None:
        """Journal every leader order of today's books (after a connect). REST errors
        propagate: the books must be read before the feed counts as reconciled."""
        snaps = self.read_books(periodic=False)
        missed, changed = self._journal(snaps)
        self.settled_keys = {snap.dedupe_key for snap in snaps}
        self.suspects = {}
        self.journal.set_mark("leader", "reconciled_at", time.strftime("%Y-%m-%dT%H:%M:%S"))
        logger.info(
            "reconciled the leader: %d orders, %d new to the journal, %d changed",
            len(snaps),
            missed,
            changed,
        )

    def periodic_reconcile(self) -> float:
        """Re-read the books while the socket is up; journal only what the journal lacks.

        Catches frames the socket lost without dropping the connection. A REST error is
        logged and counted, never a crash: the socket is fine, the next pass tries again.
        Returns the delay to the next pass: short while a difference waits to be confirmed
        (see :data:`CONFIRM_AFTER_S`), else the period.
        """
        period_s = self.engine.leader_reconcile_s
        confirm_s = min(CONFIRM_AFTER_S, period_s)
        try:
            snaps = self.read_books(periodic=True)
        except errors.DhanError as exc:
            self.metrics.leader_reconciles.labels("periodic", "error").inc()
            logger.warning(
                "periodic reconcile of the leader failed; next in %.1f s: %s", period_s, exc
            )
            return period_s
        due, self.settled_keys, self.suspects = confirmed_differences(
            snaps,
            self.journal.leader_snapshot,
            self.settled_keys,
            self.suspects,
            self.clock.monotonic(),
            confirm_s,
        )
        self.metrics.leader_reconciles.labels("periodic", "ok").inc()
        if due:
            missed, changed = self._journal(due)
            logger.info(
                "periodic reconcile of the leader: %d orders differed from the journal "
                "(%d new to it), %d journaled",
                len(due),
                missed,
                changed,
            )
        return confirm_s if self.suspects else period_s

    def catch_up_known(self) -> int:
        """After a lost frame: read the books and journal what changed of the orders the
        journal knows (a fill, an end); returns how many. An order it has never seen is left
        to the socket or the periodic pass: taken now, a frame still on its way would find it
        journaled as missed, and ``reconcile_policy`` could leave it uncopied. REST errors
        propagate."""
        due = []
        for snap in self.read_books(periodic=True):
            known = self.journal.leader_snapshot(snap.leader_order_id, snap.leg_name)
            if known is not None and not same_state(snap, known):
                due.append(snap)
        if due:
            self._journal(due)
        return len(due)

    def read_books(self, *, periodic: bool) -> list[LeaderOrderSnapshot]:
        """Today's order book and super-order book as snapshots. REST errors propagate; after
        a connect an unavailable super-order book is skipped, a periodic pass fails instead
        (its super orders would read as plain ones), and learns no first order types."""
        try:
            orders = self.client.list_orders()
        except errors.RateLimited:
            self.metrics.rate_limited.labels("leader").inc()
            raise
        try:
            supers = self.client.list_super_orders()
        except errors.DhanError as exc:
            if isinstance(exc, errors.RateLimited):
                self.metrics.rate_limited.labels("leader").inc()
            if periodic:
                raise
            logger.warning("reconcile: super-order book unavailable: %s", exc)
            supers = []
        super_ids = {so.order_id for so in supers}
        # a super order's exit legs in the main book (as Dhan's docs say) share its orderId:
        # that id is a super order's even when the super-order book could not be read, and is
        # left to a pass that reads it (never taken for a plain order, nor its legs for BO/CO's)
        unread = super_legs_in(orders) - super_ids
        if unread:
            logger.warning(
                "reconcile: super orders %s left for a pass that reads the super-order book",
                ", ".join(sorted(unread)),
            )
            super_ids |= unread
        parents = bracket_parents(orders, journaled_parents(orders, self.journal.leader_snapshot))
        keep_market = self.enricher.keep_market
        snaps: list[LeaderOrderSnapshot] = []
        for o in orders:
            if o.order_id in super_ids:
                continue
            snap = snapshot_from_order(o, parents=parents)
            snaps.append(keep_market(snap, learn=not periodic) if not snap.leg_name else snap)
        for so in supers:
            snaps.extend(snapshots_from_super_order(so))
        snaps.sort(key=chronological)  # stable: an entry before its legs
        return snaps

    def _journal(self, snaps: Sequence[LeaderOrderSnapshot]) -> tuple[int, int]:
        """Journal REST snapshots (``reconcile_policy`` for orders never seen) and hint the
        followers to verify their claims; returns (orders new to the journal, changed)."""
        recorded = self.recorder.record(snaps, self._apply_policy, self._late_entries)
        if recorded.changed:
            self.metrics.leader_events.labels("reconcile").inc(len(recorded.changed))
            self.hint(recorded)
        return recorded.missed, len(recorded.changed)

    def _apply_policy(
        self, snap: LeaderOrderSnapshot, intents: list[DesiredIntent], basis: ExitBasis | None
    ) -> list[DesiredIntent]:
        """Policy for a leader order first seen by reconcile (the socket missed it)."""
        policy = self.engine.reconcile_policy
        reason = missed_order_skip(policy, snap, basis)
        if reason is None:
            return intents
        self.journal.append_audit(
            "leader_order_missed",
            actor=self.actor_id,
            account="leader",
            payload={
                "leader_order_id": snap.leader_order_id,
                "status": str(snap.status),
                "policy": policy,
                "source": str(SnapshotSource.RECONCILE),
            },
        )
        logger.warning("leader order %s %s: not copied", snap.leader_order_id, reason)
        return [replace(i, skip_reason=reason, desired_open=False) for i in intents]

    def _late_entries(
        self, snap: LeaderOrderSnapshot, intents: list[DesiredIntent], basis: ExitBasis | None
    ) -> list[DesiredIntent]:
        """The late-entry rules (``actors.late_entries``) for a leader order first seen by
        reconcile that ``reconcile_policy`` copies: a stale entry skipped, a far one bounded."""
        if missed_order_skip(self.engine.reconcile_policy, snap, basis) is not None:
            return intents  # the policy has decided: not copied
        intents, stale = late_intents(
            snap,
            intents,
            basis,
            max_age_s=self.engine.max_entry_age_s,
            deviation_pct=self.engine.max_entry_deviation_pct,
            now_s=time.time(),
        )
        if stale is not None:
            self.journal.append_audit(
                "leader_order_stale",
                actor=self.actor_id,
                account="leader",
                payload={
                    "leader_order_id": snap.leader_order_id,
                    "status": str(snap.status),
                    "updated_at": snap.updated_at,
                    "max_entry_age_s": self.engine.max_entry_age_s,
                    "reason": stale,
                },
            )
            logger.warning("leader order %s %s: not copied", snap.leader_order_id, stale)
        return intents


def missed_order_skip(
    policy: str, snap: LeaderOrderSnapshot, basis: ExitBasis | None = None
) -> str | None:
    """Why the copies of ``snap``, a leader order only a reconcile found, are skipped under
    ``reconcile_policy`` ``policy``; None when they are copied.

    ``copy_open`` copies what is still open, and an **exit** (``basis`` says the order reduces
    the leader's position; a flip too) even once it has traded: the follower still holds what
    the leader closed, and the exit is sized from the follower's own position, so it never
    sells more than it holds. ``skip`` and ``alert`` are the operator's word: nothing.
    """
    if policy == "copy_all":
        return None
    if policy == "copy_open" and (not snap.is_terminal or not is_entry(snap, basis)):
        return None
    return f"found only by reconcile ({snap.status}); policy {policy}"


def confirmed_differences(
    snaps: Sequence[LeaderOrderSnapshot],
    journaled: Journaled,
    settled_keys: set[str],
    suspects: dict[tuple[str, str], float],
    now_s: float,
    confirm_s: float,
) -> tuple[list[LeaderOrderSnapshot], set[str], dict[tuple[str, str], float]]:
    """Of a periodic pass's ``snaps``: those that differ from the journal and did so
    ``confirm_s`` ago already; and the pass's settled keys and suspects, for the next pass.

    Rows whose key the last pass settled are skipped without a read; a difference seen for the
    first time becomes a suspect (first seen ``now_s``), journaled by a later pass if it is
    still there. A suspect that no longer differs is forgotten.
    """
    settled: set[str] = set()
    still: dict[tuple[str, str], float] = {}
    due: list[LeaderOrderSnapshot] = []
    for snap in snaps:
        if snap.dedupe_key in settled_keys:
            settled.add(snap.dedupe_key)
            continue
        known = journaled(snap.leader_order_id, snap.leg_name)
        if known is not None and same_state(snap, known):
            settled.add(snap.dedupe_key)
            continue
        spot = (snap.leader_order_id, snap.leg_name)
        first_s = suspects.get(spot, now_s)
        if now_s - first_s >= confirm_s:
            due.append(snap)
            settled.add(snap.dedupe_key)
        else:
            still[spot] = first_s
    return due, settled, still


def chronological(snap: LeaderOrderSnapshot) -> tuple[int, tuple[int, int | str]]:
    """Sort key: the order's create time, then its id. Orders the socket missed are journaled
    in the order the leader placed them, so each exit is sized against the position its
    entries left (``actors.exit_bases``), whatever order the book lists them in."""
    created = slicing.created_at_s(snap)
    return (created if created is not None else 2**62, slicing.order_id_key(snap.leader_order_id))


def journaled_parents(orders: Sequence[Order], journaled: Journaled) -> dict[str, str]:
    """Leg order id -> entry order id, as the journal knows it (from the socket's
    ``AlgoOrdNo``), for the BO/CO exit legs of ``orders``: the book itself names no entry."""
    out: dict[str, str] = {}
    for o in orders:
        if o.leg_name not in (LegName.TARGET_LEG, LegName.STOP_LOSS_LEG):
            continue
        if o.product_type not in (ProductType.BO, ProductType.CO):
            continue
        known = journaled(o.order_id, str(o.leg_name))
        if known is not None and known.parent_order_id not in (None, o.order_id):
            assert known.parent_order_id is not None
            out[o.order_id] = known.parent_order_id
    return out


def same_state(rest: LeaderOrderSnapshot, journaled: LeaderOrderSnapshot) -> bool:
    """True if the REST row tells nothing the journal's snapshot does not already say."""
    return all(getattr(rest, name) == getattr(journaled, name) for name in _STATE_FIELDS)
