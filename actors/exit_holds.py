"""Exit copies held back while the follower's entry in the same position is unconfirmed.

An exit's basis (``actors.exit_bases``) counts a follower's entry copies about to fill (a MARKET
copy, or the copy of a leader order that has filled) as held: the leader's fill is known before
the copy's. When the broker then refuses such an entry (RMS, for funds: Dhan says so in a later
frame), an exit copy already sent closes what the follower never held -- an over-close, a short
where the leader is flat. So the leader feed holds back the exit copy of a follower whose basis
counts unconfirmed entries:

- at the leader order's first sight its copy is journaled SKIPPED with :data:`HELD` (a
  revivable skip, so the hold survives a restart: :meth:`ExitHolds.load` reads it back);
- every :data:`HOLD_CHECK_S` the feed asks :meth:`ExitHolds.release`: a follower whose entries
  are confirmed (filled, refused, cancelled: nothing unconfirmed left in the journal), or whose
  hold is :data:`HOLD_MAX_S` old, or whose leader order ended unfilled, gets its ``F`` taken
  again from the positions now (the leader's part of the basis stands; never above the old
  one; after :data:`HOLD_MAX_S`, from the fills the broker has confirmed only), journaled
  over the old one; the copy sized from it is planned and its follower woken;
- a later exit of the same follower and position waits behind a held one and is released after
  it, so that each sees the one before it as pending; a later *entry on the same side* waits
  too (:data:`HELD_BEHIND`), so the follower's orders on that side keep the leader's order (sent
  at once, a short entry after a held close of a long would fill first, and the close would
  then sell past flat). An entry on the other side goes at once: the held exit's ``F`` is
  never above its first sight's, so a fill of that entry is not closed by it.

The hold costs an exit the time its entry takes to confirm (a fill settles 0.5 s after its
frame; a refusal 50 ms), and only when the two are that close. Used on the leader feed's thread
only (``actors.leader_record.LeaderRecorder``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field

from actors.exit_bases import ExitBases, Taken, position_key
from actors.settings import EngineConfig, FollowerSettings
from actors.sizing import ExitBasis, SizingContext
from actors.slice_groups import copy_intents
from store import IntentState, Journal
from store.records import (
    HELD_PREFIX,
    DesiredIntent,
    LeaderOrderSnapshot,
    PositionKey,
    is_held_skip,
)

logger = logging.getLogger(__name__)

#: The skip reason of a held exit copy.
HELD = f"{HELD_PREFIX}an entry copy of this position is not confirmed by the broker yet"
#: The skip reason of an entry copy queued behind a held exit of its position.
HELD_BEHIND = f"{HELD_PREFIX}an earlier exit copy of this position is held"
#: How often the feed looks whether held copies can go (while any is held).
HOLD_CHECK_S = 0.1
#: Exit orders remembered between a first sight that made no copy and the event that does.
_UNDECIDED = 10_000
#: The longest a copy is held: then it goes, sized from the follower's confirmed fills alone
#: (an entry unconfirmed that long may yet be refused; an exit counting it would over-close).
#: Long: a follower whose confirmations are that late (its order writes queued behind the
#: broker's per-minute limit, its actor restarting) would send the exit that late anyway.
HOLD_MAX_S = 30.0
#: How long a held follower settles its socket's frames at once (``HurrySettles``).
HURRY_S = 5.0


def release_due(
    unconfirmed: bool, held_for_s: float, leader_ended_unfilled: bool, max_s: float = HOLD_MAX_S
) -> bool:
    """True when a held copy may go: nothing of its position is unconfirmed any more, it has
    waited ``max_s``, or its leader order ended with nothing filled (nothing to size)."""
    return leader_ended_unfilled or not unconfirmed or held_for_s >= max_s


def sendable(intent: DesiredIntent) -> bool:
    """True when ``intent`` would be sent as it is (not skipped, wanted, a quantity)."""
    return intent.skip_reason is None and intent.desired_open and intent.quantity > 0


@dataclass
class Hold:
    """The held copies of one leader order."""

    key: PositionKey
    snap: LeaderOrderSnapshot  #: the order's latest snapshot
    followers: set[str]
    since: float = field(default=0.0)
    #: False: an entry queued behind held exits of its position (sent once they have gone)
    is_exit: bool = True
    #: the order's first intent id: only the copies of older intents (leader orders seen
    #: before it) are its entries (read once, at its first release pass)
    first_intent_id: int | None = None
    #: followers held behind an earlier held order of the position with nothing open at
    #: first sight: their F is taken at release without the first sight's cap (the earlier
    #: order's copy, unsent then, may open what this one closes)
    rebase: set[str] = field(default_factory=set)


class ExitHolds:
    """The held exit copies, by leader order, in the order they were held."""

    def __init__(
        self,
        journal: Journal,
        bases: ExitBases,
        engine: EngineConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.journal = journal
        self.bases = bases
        self.engine = engine
        self.clock = clock
        self.holds: dict[str, Hold] = {}
        #: followers held since the feed last asked (:meth:`take_new`): it hurries them
        self.new: set[str] = set()
        #: exit orders whose first sight made no copy: their followers with unconfirmed
        #: entries then, for the event that makes the copies (:meth:`apply`)
        self.undecided: dict[str, frozenset[str]] = {}

    def __bool__(self) -> bool:
        return bool(self.holds)

    def load(self) -> int:
        """Read back the holds a previous incarnation journaled (at the feed's start)."""
        for intent in self.journal.intents(states=[IntentState.SKIPPED]):
            if not is_held_skip(intent.skip_reason):
                continue
            snap = self.journal.leader_snapshot(intent.leader_order_id)
            if snap is None:
                continue
            hold = self.holds.get(snap.leader_order_id)
            if hold is None:
                basis = self.bases.known(snap)
                is_exit = basis is not None and basis.is_exit
                hold = self.holds[snap.leader_order_id] = Hold(
                    position_key(snap), snap, set(), self.clock(), is_exit=is_exit
                )
            hold.followers.add(intent.follower)
        return sum(len(h.followers) for h in self.holds.values())

    def apply(
        self, snap: LeaderOrderSnapshot, taken: Taken, intents: list[DesiredIntent]
    ) -> list[DesiredIntent]:
        """``intents`` with the copies to hold made :data:`HELD` skips.

        Held: the copies already held, and -- when the order's first copies are decided --
        the exit copies of followers whose basis counts unconfirmed entries, or who have an
        earlier exit of the position held. The first copies are decided at the order's first
        sight (``taken.record``), or, when that sight made none (a MARKET order's TRANSIT
        frame: its copies come with its fill), at the first event that makes some, against
        the first sight's basis and its unconfirmed followers (:attr:`undecided`)."""
        order_id = snap.leader_order_id
        hold = self.holds.get(order_id)
        if hold is not None:
            hold.snap = snap
        held = set(hold.followers) if hold is not None else set()
        rebase: set[str] = set()  # held behind with no F at first sight: sized anew
        basis = taken.basis
        deciding: Collection[str] | None = None  # the followers the basis was taken for
        unconfirmed = taken.unconfirmed
        if taken.record is not None:
            deciding = taken.record
        elif order_id in self.undecided and basis is not None:
            unconfirmed = self.undecided.pop(order_id)
            deciding = basis.follower_open
        if deciding is not None and basis is not None:
            if not any(sendable(i) for i in intents):
                if not snap.is_terminal and (basis.is_exit or self.holds):
                    self._undecided(order_id, unconfirmed)
            else:
                key = position_key(snap)
                queued = {
                    name
                    for other_id, other in self.holds.items()
                    if other_id != order_id and other.key == key
                    for name in other.followers
                }
                if basis.is_exit:
                    held |= {
                        name
                        for name in unconfirmed
                        if basis.follower_open.get(name, 0) > 0 and name in deciding
                    }
                    # behind a held order of the position, whatever its F now: the held
                    # order's copy (a flip's open part) is not in the position yet, so an F
                    # of 0 here may be the held copy unsent, not nothing to close
                    behind = {name for name in queued if name in deciding}
                    rebase |= {n for n in behind if basis.follower_open.get(n, 0) <= 0}
                    held |= behind
                else:  # an entry on a held exit's side goes after it: the leader's order
                    side = snap.transaction_type
                    held |= {
                        name
                        for other_id, other in self.holds.items()
                        if other_id != order_id
                        and other.key == key
                        and other.snap.transaction_type == side
                        for name in other.followers
                    }
        if not held:
            return intents
        out: list[DesiredIntent] = []
        holding: set[str] = set()
        reason = (
            HELD
            if (hold.is_exit if hold is not None else bool(basis and basis.is_exit))
            else HELD_BEHIND
        )
        for intent in intents:
            if intent.follower in held and sendable(intent):
                intent = dataclasses.replace(intent, skip_reason=reason)
                holding.add(intent.follower)
            out.append(intent)
        self.new |= holding
        if holding and hold is None:
            is_exit = basis is not None and basis.is_exit
            self.holds[order_id] = Hold(
                position_key(snap),
                snap,
                holding,
                self.clock(),
                is_exit=is_exit,
                rebase=rebase & holding,
            )
            logger.info(
                "leader order %s: %s copies of %s held %s",
                order_id,
                "exit" if is_exit else "entry",
                sorted(holding),
                "until their entries are confirmed" if is_exit else "behind held exits",
            )
        return out

    def _undecided(self, order_id: str, unconfirmed: frozenset[str]) -> None:
        if len(self.undecided) >= _UNDECIDED:
            self.undecided.clear()  # orders that never made copies (refused, cancelled)
        self.undecided[order_id] = unconfirmed

    def held(self, order_id: str) -> frozenset[str]:
        """The followers whose copies of ``order_id`` are held."""
        hold = self.holds.get(order_id)
        return frozenset(hold.followers) if hold is not None else frozenset()

    def take_new(self) -> set[str]:
        """The followers held since the last call (the feed hurries their settles)."""
        new, self.new = self.new, set()
        return new

    def release(
        self,
        followers: Sequence[FollowerSettings],
        ctx: SizingContext,
        touched: set[str],
        only: Collection[str] | None = None,
    ) -> int:
        """Send the held copies that may go (:func:`release_due`), each sized from its
        follower's position now (never above its first sight's); the copies released.
        ``only``: look at these followers' copies alone (they have just settled)."""
        released = 0
        now = self.clock()
        settings = {f.name: f for f in followers}
        blocked: dict[PositionKey, set[str]] = {}  # earlier holds go first
        for order_id, hold in list(self.holds.items()):
            ahead = blocked.setdefault(hold.key, set())
            snap = hold.snap
            names = sorted(n for n in hold.followers - ahead if only is None or n in only)
            ahead |= hold.followers
            if not names:
                continue
            if not hold.is_exit:  # an entry queued behind held exits: they have gone
                released += self._send_entry(hold, names, settings, ctx, touched)
                hold.followers -= set(names)
                ahead -= set(names)
                if not hold.followers:
                    del self.holds[order_id]
                continue
            if hold.first_intent_id is None:
                ids = [i.id for i in self.journal.intents(leader_order_id=order_id)]
                hold.first_intent_id = min(ids) if ids else None
            opens, waiting = self.bases.followers_now(snap, names, hold.first_intent_id)
            ended_unfilled = snap.is_terminal and snap.filled_qty == 0
            due = [n for n in names if release_due(n in waiting, now - hold.since, ended_unfilled)]
            if not due:
                continue
            released += self._send(hold, {n: opens[n] for n in due}, settings, ctx, touched)
            hold.followers -= set(due)
            ahead -= set(due)
            if not hold.followers:
                del self.holds[order_id]
        return released

    def _send(
        self,
        hold: Hold,
        opens: dict[str, int],
        settings: dict[str, FollowerSettings],
        ctx: SizingContext,
        touched: set[str],
    ) -> int:
        snap = hold.snap
        old = self.bases.known(snap)
        if old is None:
            old = ExitBasis(0, {})
        # never more than at first sight: what the follower filled since beyond the entries
        # counted then is a later order's (and a fill both counts cannot close twice) -- but
        # for a follower held behind an earlier held order with nothing open then: that order
        # had not been sent, so the first sight could not see what it opens
        opens = {
            n: q if n in hold.rebase else min(q, old.follower_open.get(n, q))
            for n, q in opens.items()
        }
        basis = ExitBasis(old.leader_open, {**old.follower_open, **opens})
        chosen = [settings[n] for n in opens if n in settings]
        grouped = copy_intents(
            self.journal, snap, chosen, ctx, self.engine.freeze_quantities, basis
        )
        self.journal.record_intents(snap, grouped.intents, touched, bases=opens, rebase=True)
        self.bases.remember(snap.leader_order_id, basis)
        logger.info(
            "leader order %s: held exit copies released for %s (open %s, was %s)",
            snap.leader_order_id,
            sorted(opens),
            opens,
            {n: old.follower_open.get(n) for n in opens},
        )
        return len(chosen)

    def _send_entry(
        self,
        hold: Hold,
        names: Sequence[str],
        settings: dict[str, FollowerSettings],
        ctx: SizingContext,
        touched: set[str],
    ) -> int:
        """Plan the queued entry copies of ``names`` (sized as entries are: no basis)."""
        snap = hold.snap
        chosen = [settings[n] for n in names if n in settings]
        grouped = copy_intents(
            self.journal, snap, chosen, ctx, self.engine.freeze_quantities, self.bases.known(snap)
        )
        self.journal.record_intents(snap, grouped.intents, touched)
        logger.info(
            "leader order %s: entry copies of %s released after the held exits before them",
            snap.leader_order_id,
            sorted(names),
        )
        return len(chosen)

    def keep_held(self, order_id: str, intents: Iterable[DesiredIntent]) -> list[DesiredIntent]:
        """``intents`` of a re-plan with the copies still held kept so."""
        hold = self.holds.get(order_id)
        if hold is None:
            return list(intents)
        reason = HELD if hold.is_exit else HELD_BEHIND
        return [
            dataclasses.replace(i, skip_reason=reason)
            if i.follower in hold.followers and sendable(i)
            else i
            for i in intents
        ]
