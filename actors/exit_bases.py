"""The exit basis of each leader order: taken at its first sight, journaled, reused after.

Sizing an exit (``actors.exit_sizing``) needs each account's open quantity the order can reduce
*when the leader placed it*; later events of the order must be sized against the same numbers,
however the positions have moved since (its own fills move them). So the leader feed takes the
basis once, from the journal's positions (``Journal.exposures``: one read for every account),
and journals it in the same transaction as the order's first snapshot (``bases=``); every later
event, also after a restart, reads it back (``Journal.exit_bases``, then a cache).

A plain order the leader placed against no open position of its own is an entry; its basis
(``{"leader": 0}``) is journaled too, so that it stays an entry whatever the positions do
later. Orders that are not plain (CO, BO, super orders, their legs) have no basis.

Used on the leader feed's thread only (``actors.leader_record.LeaderRecorder``).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from actors import exit_sizing
from actors.sizing import ExitBasis
from dhan.codes import OrderType
from store import Journal
from store.records import Exposure, LeaderOrderSnapshot, PositionKey

#: Orders kept in the cache, the most recently used; an older order's basis is read back from
#: the journal (one read). A basis is a dict of every follower (~32 B a follower, probed): the
#: 20,000 orders kept before were ~0.6 MB per follower; the leader's working orders and the
#: ones it changed last are far fewer.
CACHED_ORDERS = 512

logger = logging.getLogger(__name__)


def position_key(snap: LeaderOrderSnapshot) -> PositionKey:
    """The position a leader order trades: its instrument in its product."""
    return PositionKey(str(snap.exchange_segment), snap.security_id, str(snap.product_type))


def sizes_as_exit(snap: LeaderOrderSnapshot) -> bool:
    """True when ``snap`` may be an exit: a plain order of a plain product, not a leg."""
    is_leg = snap.parent_order_id is not None or snap.leg_name not in ("",)
    return exit_sizing.is_exit_candidate(snap.product_type, is_leg)


def basis_from_exposures(
    exposures: Mapping[str, Exposure],
    side: str,
    followers: Sequence[str],
    own_leader_fill: int = 0,
    *,
    immediate: bool = False,
) -> ExitBasis:
    """The basis of an order on ``side`` from each account's exposure.

    ``own_leader_fill``: what the journal's leader position already holds of this very order's
    fills (an order first seen after a position check counted them): the basis is the position
    *before* the order, so they are taken back out.

    ``immediate`` (a MARKET order): it fills before any resting exit can, so only the exits
    about to fill (MARKET) are taken off the positions; the resting ones are planned again
    when its fill moves the position (``LeaderRecorder.replan``). A resting exit the leader
    cancels later would otherwise have turned this order's close into a flip.
    """
    leader = exposures.get(exit_sizing.LEADER)
    if leader is None:
        return ExitBasis(0, {})
    net_before = leader.net_qty + exit_sizing.direction(side) * own_leader_fill
    leader_open = exit_sizing.open_against(
        net_before, side, pending_exit_qty=leader.pending_exit_qty
    )
    # The leader's other open exits already take its whole position (a resting limit, then a
    # market order to get out now): whichever fills first closes it. Sized as an entry, this
    # order would open a position in every follower the first one closes nothing of -- short
    # while the leader is flat. So it is an exit against the position less only the exits
    # about to fill (MARKET), on both sides alike: resting exits may never fill.
    overcommitted = immediate or leader_open <= 0
    if overcommitted:
        leader_open = exit_sizing.open_against(
            net_before, side, pending_exit_qty=leader.pending_market_exit_qty
        )
    if leader_open <= 0:
        return ExitBasis(0, {})
    held: dict[str, int] = {}
    for name in followers:
        e = exposures.get(name)
        if e is None:
            held[name] = 0
            continue
        held[name] = follower_open(e, side, immediate=overcommitted)
    return ExitBasis(leader_open, held)


def unconfirmed_entries(exposures: Mapping[str, Exposure], basis: ExitBasis) -> frozenset[str]:
    """The followers whose open quantity in ``basis`` counts entry copies not yet confirmed
    (``inflight_entry_qty``: about to fill, as far as the journal knows): their exit copies
    are held until the broker has said (``actors.exit_holds``)."""
    return frozenset(
        name
        for name, held in basis.follower_open.items()
        if held > 0 and (e := exposures.get(name)) is not None and e.inflight_entry_qty > 0
    )


def follower_open(e: Exposure, side: str, *, immediate: bool, confirmed: bool = False) -> int:
    """A follower's open quantity against ``side`` from its exposure: for a MARKET order
    (``immediate``: it fills before any resting exit can) less only its exits about to fill,
    else less all its pending exits. ``confirmed``: its entries about to fill left out (what
    the broker has confirmed it holds)."""
    return exit_sizing.open_against(
        e.net_qty,
        side,
        pending_exit_qty=e.pending_market_exit_qty if immediate else e.pending_exit_qty,
        inflight_entry_qty=0 if confirmed else e.inflight_entry_qty,
    )


def keep_confirmed(fresh: ExitBasis, old: ExitBasis | None, keep: frozenset[str]) -> ExitBasis:
    """``fresh`` with the open quantities of the followers in ``keep`` as ``old`` had them
    (those ``old`` names; an order that only now became an exit has nothing to keep)."""
    if old is None or not keep or not fresh.is_exit:
        return fresh
    held = dict(fresh.follower_open)
    for name in keep:
        if name in old.follower_open:
            held[name] = old.follower_open[name]
    return ExitBasis(fresh.leader_open, held)


def basis_from_stored(stored: Mapping[str, int]) -> ExitBasis:
    """The basis journaled for an order (``Journal.exit_bases``)."""
    leader_open = max(0, stored.get(exit_sizing.LEADER, 0))
    if leader_open <= 0:
        return ExitBasis(0, {})
    return ExitBasis(
        leader_open,
        {name: max(0, qty) for name, qty in stored.items() if name != exit_sizing.LEADER},
    )


def as_rows(basis: ExitBasis) -> dict[str, int]:
    """``basis`` as the journal's rows (account -> quantity)."""
    return {exit_sizing.LEADER: basis.leader_open, **dict(basis.follower_open)}


@dataclass(frozen=True, slots=True)
class Taken:
    """An order's basis, and the rows to journal with its snapshot (None: already journaled)."""

    basis: ExitBasis | None
    record: dict[str, int] | None = None
    #: followers whose basis taken now counts entry copies not yet confirmed
    unconfirmed: frozenset[str] = frozenset()


class ExitBases:
    """Each leader order's basis: cached, else journaled, else taken now."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        #: order id -> its journaled basis, least recently used first (``CACHED_ORDERS``)
        self._cache: OrderedDict[str, ExitBasis] = OrderedDict()

    def take(self, snap: LeaderOrderSnapshot, followers: Sequence[str]) -> Taken:
        """The basis of ``snap``'s order; for an order never seen, the rows to journal.

        A follower the journaled basis does not name (added to the config since) gets its
        open quantity now, journaled with this event.
        """
        if not sizes_as_exit(snap):
            return Taken(None)
        order_id = snap.leader_order_id
        cached = self._cached(order_id)
        if cached is not None and (
            not cached.is_exit or all(f in cached.follower_open for f in followers)
        ):
            return Taken(cached)
        stored = self.journal.exit_bases(order_id) if cached is None else as_rows(cached)
        if stored:
            basis = basis_from_stored(stored)
            missing = [f for f in followers if f not in stored]
            if not basis.is_exit or not missing:
                self.remember(order_id, basis)
                return Taken(basis)
            fresh, unconfirmed = self._now(snap, missing)
            merged = ExitBasis(
                basis.leader_open, {**basis.follower_open, **dict(fresh.follower_open)}
            )
            self.remember(order_id, merged)
            return Taken(merged, {f: fresh.follower_open.get(f, 0) for f in missing}, unconfirmed)
        basis, unconfirmed = self._now(snap, followers)
        self.remember(order_id, basis)
        rows = as_rows(basis) if basis.is_exit else {exit_sizing.LEADER: 0}
        if basis.is_exit:
            logger.debug(
                "leader order %s first seen: basis %s, unconfirmed %s",
                order_id,
                rows,
                sorted(unconfirmed),
            )
        return Taken(basis, rows, unconfirmed)

    def known(self, snap: LeaderOrderSnapshot) -> ExitBasis | None:
        """The journaled basis of an order already recorded (re-derivations), or None."""
        if not sizes_as_exit(snap):
            return None
        cached = self._cached(snap.leader_order_id)
        if cached is not None:
            return cached
        stored = self.journal.exit_bases(snap.leader_order_id)
        if not stored:
            return None
        basis = basis_from_stored(stored)
        self.remember(snap.leader_order_id, basis)
        return basis

    def retake(
        self,
        snap: LeaderOrderSnapshot,
        followers: Sequence[str],
        keep: Collection[str] = (),
    ) -> tuple[ExitBasis, ExitBasis | None]:
        """A resting order's basis taken again now, and the one it had (None: none known).

        A follower in ``keep`` (its exit copy is held), or whose new open quantity counts
        entry copies not confirmed yet, keeps the quantity it had: a guess never resizes a
        copy (a follower whose copies wait while it is down counted them all as held). The
        caller journals the new one (``Journal.record_intents(rebase=True)``) and then calls
        :meth:`remember`."""
        fresh, unconfirmed = self._now(snap, followers)
        old = self.known(snap)
        return keep_confirmed(fresh, old, unconfirmed | frozenset(keep)), old

    def followers_now(
        self,
        snap: LeaderOrderSnapshot,
        followers: Sequence[str],
        before_intent_id: int | None = None,
    ) -> tuple[dict[str, int], frozenset[str]]:
        """``followers``' open quantities against ``snap``'s order from the positions now (its
        own copies left out, and with ``before_intent_id`` the copies of leader orders seen
        after it), and those of them that still count unconfirmed entries: a held exit's new
        ``F`` (``actors.exit_holds``; the leader's part of its basis stands). A follower that
        still counts them gets what its confirmed fills hold (:func:`follower_open`,
        ``confirmed``): the hold has waited its longest, and an entry that long unconfirmed
        (its follower down, the broker slow) may yet be refused -- an exit sized from it would
        over-close, one sized without it at worst leaves drift that ``resync`` repairs."""
        side = str(snap.transaction_type)
        exposures = self.journal.exposures(
            position_key(snap),
            side,
            list(followers),
            exclude_leader_order_id=snap.leader_order_id,
            traded=True,
            before_intent_id=before_intent_id,
        )
        immediate = snap.order_type is OrderType.MARKET
        waiting = frozenset(n for n in followers if exposures[n].inflight_entry_qty > 0)
        held = {
            name: follower_open(
                exposures[name], side, immediate=immediate, confirmed=name in waiting
            )
            for name in followers
        }
        return held, waiting

    def _now(
        self, snap: LeaderOrderSnapshot, followers: Sequence[str]
    ) -> tuple[ExitBasis, frozenset[str]]:
        """The basis from the positions now, and the followers it counts unconfirmed entries
        of; a follower's copies of leader orders that have filled count as held (``traded``:
        the leader's fill is known before the copy's)."""
        side = str(snap.transaction_type)
        exposures = self.journal.exposures(
            position_key(snap),
            side,
            [exit_sizing.LEADER, *followers],
            exclude_leader_order_id=snap.leader_order_id,
            traded=True,
        )
        own = self.journal.applied_fill(exit_sizing.LEADER, snap.leader_order_id)
        immediate = snap.order_type is OrderType.MARKET
        basis = basis_from_exposures(exposures, side, followers, own, immediate=immediate)
        return basis, unconfirmed_entries(exposures, basis)

    def _cached(self, order_id: str) -> ExitBasis | None:
        basis = self._cache.get(order_id)
        if basis is not None:
            self._cache.move_to_end(order_id)
        return basis

    def remember(self, order_id: str, basis: ExitBasis) -> None:
        """``basis`` is now the journaled basis of ``order_id`` (cached; the least recently
        used order is forgotten beyond ``CACHED_ORDERS``: the journal has them all)."""
        self._cache[order_id] = basis
        self._cache.move_to_end(order_id)
        while len(self._cache) > CACHED_ORDERS:
            self._cache.popitem(last=False)

    @property
    def cached_orders(self) -> int:
        """Orders whose basis is cached (memory; for tests)."""
        return len(self._cache)
