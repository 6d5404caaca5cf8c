"""Leader snapshots -> the journal, each with every follower's desired intents, claimed.

Both ways the feed learns of a leader order -- a socket frame and a REST reconcile -- journal
it here: each snapshot with the intents sized for every follower (as a share of its slicing,
``actors.slice_groups``) in one transaction that claims the enabled followers' copies
(``Journal.record_and_claim``, deduped by the snapshot's key). What is returned tells the
feed whom to hint (``actors.hints``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import NamedTuple

from actors.exit_bases import ExitBases, as_rows, position_key, sizes_as_exit
from actors.exit_holds import ExitHolds
from actors.operator_modes import OperatorModes, apply_modes
from actors.settings import EngineConfig, FollowerSettings
from actors.sizing import ExitBasis, SizingContext, lot_size_for
from actors.slice_groups import copy_intents, resize_later_children
from store import IntentState, Journal
from store.records import (
    DesiredIntent,
    Intent,
    LeaderOrderSnapshot,
    PositionKey,
    is_transient_skip,
)

logger = logging.getLogger(__name__)

#: What becomes of the intents of a leader order the journal has never seen (REST reconcile),
#: given its exit basis (None or ``leader_open`` 0: an entry): the missed-order policy, then
#: the late-entry rules
MissedPolicy = Callable[
    [LeaderOrderSnapshot, list[DesiredIntent], ExitBasis | None], list[DesiredIntent]
]
LatePolicy = MissedPolicy


class Recorded(NamedTuple):
    """The outcome of journaling a batch of snapshots."""

    #: the snapshots new to the journal (a duplicate frame is not)
    changed: list[LeaderOrderSnapshot]
    #: per follower, the intents claimed for it (SENDING: it places them on its hint)
    claimed: dict[str, list[Intent]]
    #: the followers whose intents were inserted or changed
    touched: set[str]
    #: plain leader orders the journal had never seen (counted only with a ``missed`` policy)
    missed: int


class LeaderRecorder:
    """Journals leader snapshots with the followers' intents (the feed actor's thread only)."""

    def __init__(
        self,
        journal: Journal,
        followers: Callable[[], Sequence[FollowerSettings]],
        engine: EngineConfig,
        lot_sizes: Mapping[tuple[str, str], int],
        balances: Mapping[str, float],
        modes: OperatorModes | None = None,
    ) -> None:
        self.journal = journal
        #: the operator's modes (``actors.operator_modes``), refreshed by their watcher
        self.modes = modes or OperatorModes()
        self.followers = followers
        self.engine = engine
        self.lot_sizes = lot_sizes
        self.balances = balances
        #: each plain order's exit basis (``actors.exit_bases``): taken at first sight
        self.bases = ExitBases(journal)
        #: plain leader orders open with nothing filled, by position, with their latest
        #: snapshot: planned again when the leader's position there moves (:meth:`replan`)
        self.resting: dict[PositionKey, dict[str, LeaderOrderSnapshot]] = {}
        #: exit copies held while an entry of their position is unconfirmed
        self.holds = ExitHolds(journal, self.bases, engine)

    def record(
        self,
        snaps: Sequence[LeaderOrderSnapshot],
        missed: MissedPolicy | None = None,
        late: LatePolicy | None = None,
    ) -> Recorded:
        """Journal ``snaps`` in order, claiming the enabled followers' copies. ``missed``
        (a reconcile) decides the intents of a plain order the journal has never seen, then
        ``late`` (``actors.late_entries``), told the order's exit basis."""
        ctx = SizingContext(lot_sizes=self.lot_sizes, balances=self.balances)
        followers = self.followers()
        claim = [f.name for f in followers if f.enabled]
        changed: list[LeaderOrderSnapshot] = []
        claimed: dict[str, list[Intent]] = {}
        touched: set[str] = set()
        unseen = 0
        freeze = self.engine.freeze_quantities
        names = [f.name for f in followers]
        for snap in snaps:
            known = (
                self.journal.leader_snapshot(snap.leader_order_id, snap.leg_name)
                if missed is not None
                else None
            )
            taken = self.bases.take(snap, names)
            grouped = copy_intents(self.journal, snap, followers, ctx, freeze, taken.basis)
            moded = self.moded(snap, grouped.intents, taken.basis, ctx)
            intents = self.holds.apply(snap, taken, self.sizable(snap, moded, ctx))
            if missed is not None and known is None and not (snap.parent_order_id or snap.leg_name):
                unseen += 1
                intents = missed(snap, intents, taken.basis)
                if late is not None:
                    intents = late(snap, intents, taken.basis)
            got = self.journal.record_and_claim(snap, intents, claim, touched, bases=taken.record)
            if got is not None:
                resize_later_children(
                    self.journal, snap, grouped, followers, ctx, freeze, touched, self.bases.known
                )
                changed.append(snap)
                for intent in got:
                    claimed.setdefault(intent.follower, []).append(intent)
                if self._track(snap):
                    self.replan(position_key(snap), followers, ctx, touched)
        return Recorded(changed, claimed, touched, unseen)

    def moded(
        self,
        snap: LeaderOrderSnapshot,
        intents: list[DesiredIntent],
        basis: ExitBasis | None,
        ctx: SizingContext,
    ) -> list[DesiredIntent]:
        """``intents`` under the operator's modes (``actors.operator_modes``): only while a
        follower is not normal does it read which followers have a copy already (one query)."""
        active = self.modes.active()
        if not any(i.follower in active for i in intents):
            return intents
        has_copy = {i.follower for i in self.journal.intents(leader_order_id=snap.leader_order_id)}
        return apply_modes(snap, intents, basis, active, has_copy, lot_size_for(snap, ctx))

    def _track(self, snap: LeaderOrderSnapshot) -> bool:
        """Keep :attr:`resting` current with ``snap``; True when the leader's position there
        may have moved (``snap`` carries a fill)."""
        if not sizes_as_exit(snap):
            return False
        key = position_key(snap)
        orders = self.resting.setdefault(key, {})
        if snap.is_terminal or snap.filled_qty > 0:
            orders.pop(snap.leader_order_id, None)
        else:
            orders[snap.leader_order_id] = snap
        return snap.filled_qty > 0

    def has_resting(self) -> bool:
        return any(self.resting.values())

    def replan_resting(self) -> set[str]:
        """:meth:`replan` at every position with resting orders; the followers touched."""
        ctx = SizingContext(lot_sizes=self.lot_sizes, balances=self.balances)
        followers = self.followers()
        touched: set[str] = set()
        for key in list(self.resting):
            if not self.resting[key]:
                del self.resting[key]
                continue
            self.replan(key, followers, ctx, touched)
        return touched

    def replan(
        self,
        key: PositionKey,
        followers: Sequence[FollowerSettings],
        ctx: SizingContext,
        touched: set[str],
    ) -> int:
        """Plan again each resting order at ``key`` whose basis the leader's position has
        moved since it was taken (the orders it names; returns how many changed).

        A resting order's copy is sized from the positions when the leader placed it; when it
        fills, the leader's position may be another (a buy filled meanwhile, an exit before
        it). What the leader's order does is decided when it fills: a SELL placed against 7
        long that fills against 11 long only closes. So while it rests, every fill at its
        position takes its basis again; a copy whose size changes is modified (or cancelled,
        or planned again), as for a leader modify. A copy that fills before the new size
        reaches it keeps the old one (the broker filled both orders at once)."""
        changed = 0
        names = [f.name for f in followers]
        for order_id, snap in list(self.resting.get(key, {}).items()):
            fresh, old = self.bases.retake(snap, names, self.holds.held(order_id))
            if old is not None and as_rows(old) == as_rows(fresh):
                continue
            grouped = copy_intents(
                self.journal, snap, followers, ctx, self.engine.freeze_quantities, fresh
            )
            rows = as_rows(fresh)
            intents = self.holds.keep_held(order_id, grouped.intents)
            self.journal.record_intents(snap, intents, touched, bases=rows, rebase=True)
            self.bases.remember(order_id, fresh)
            changed += 1
            logger.info(
                "leader order %s resting: planned again (basis %s -> %s)",
                order_id,
                None if old is None else as_rows(old),
                rows,
            )
        return changed

    def release_held(self, only: Collection[str] | None = None) -> set[str]:
        """Send the held exit copies whose entries are confirmed (``actors.exit_holds``; of
        follower ``only``, when named); the followers touched."""
        ctx = SizingContext(lot_sizes=self.lot_sizes, balances=self.balances)
        touched: set[str] = set()
        self.holds.release(self.followers(), ctx, touched, only)
        return touched

    def rederive_waiting(self) -> set[str]:
        """Size again every copy skipped for a fact sizing lacked (``waiting: ...``), from its
        leader order's latest snapshot; the followers whose copies changed."""
        waiting: dict[str, set[str]] = {}
        for intent in self.journal.intents(states=[IntentState.SKIPPED]):
            if is_transient_skip(intent.skip_reason):
                waiting.setdefault(intent.leader_order_id, set()).add(intent.follower)
        ctx = SizingContext(lot_sizes=self.lot_sizes, balances=self.balances)
        touched: set[str] = set()
        for leader_order_id, names in waiting.items():
            snap = self.journal.leader_snapshot(leader_order_id)
            if snap is None:
                continue
            followers = [f for f in self.followers() if f.name in names]
            grouped = copy_intents(
                self.journal,
                snap,
                followers,
                ctx,
                self.engine.freeze_quantities,
                self.bases.known(snap),
            )
            self.journal.record_intents(snap, grouped.intents, touched)
        return touched

    def sizable(
        self, snap: LeaderOrderSnapshot, intents: list[DesiredIntent], ctx: SizingContext
    ) -> list[DesiredIntent]:
        """Without the instrument's lot size nothing can be sized *now*: that says nothing of
        whether a copy should exist. A follower's journaled intent (a live copy) is left as it
        is; only a follower with none gets the skip, so that the order is visibly not copied.
        A leader order that ended with nothing filled needs no size: its copies must go."""
        if not intents or lot_size_for(snap, ctx) is not None:
            return intents
        if snap.is_terminal and snap.filled_qty == 0:
            return intents
        have = {i.follower for i in self.journal.intents(leader_order_id=snap.leader_order_id)}
        kept = [i for i in intents if i.follower not in have]
        logger.warning(
            "leader order %s: lot size of %s:%s unknown; %d journaled copies left as they are",
            snap.leader_order_id,
            snap.exchange_segment,
            snap.security_id,
            len(intents) - len(kept),
        )
        return kept
