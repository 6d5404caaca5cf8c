"""The leader feed's view of slicings: a leader order's follower intents sized with its group.

For an order of a lot-traded segment the feed asks :func:`copy_intents` instead of sizing the
order alone: the journal's snapshots of the same instrument, side and product give the order's
slicing (``actors.slicing.same_slicing``), the children before it give its prior quantity, and
``engine.freeze_quantities`` where each copy is split. Once the order is journaled,
:func:`resize_later_children` re-derives the children after it, whose shares its change moved.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from actors import slicing
from actors.settings import FollowerSettings
from actors.sizing import (
    ExitBasis,
    SizingContext,
    awaits_acceptance,
    desired_intents,
    desired_share_intents,
)
from store import Journal
from store.records import DesiredIntent, LeaderOrderSnapshot

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GroupedIntents:
    """A leader order's intents, and its slicing (ordered by order id; itself included)."""

    intents: list[DesiredIntent]
    group: tuple[LeaderOrderSnapshot, ...]
    #: the order is new to the journal or its mirrored quantity changed: the later
    #: children's shares may have moved (otherwise re-deriving them would write nothing)
    moves_later: bool = False


def copy_intents(
    journal: Journal,
    snap: LeaderOrderSnapshot,
    followers: Sequence[FollowerSettings],
    ctx: SizingContext,
    freeze_quantities: Mapping[str, int],
    basis: ExitBasis | None = None,
) -> GroupedIntents:
    """Every follower's intents for ``snap``, sized as its share of its slicing (an exit:
    from each follower's position, ``basis``)."""
    if not slicing.can_be_sliced(snap):
        return GroupedIntents(desired_intents(snap, followers, ctx, basis), (snap,))
    window = slicing.candidate_window(snap)
    found = (
        []
        if window is None
        else journal.slicing_candidates(snap, slicing.CREATE_TIME_KEYS, *window)
    )
    group = tuple(slicing.same_slicing(snap, found))
    before = next((c for c in found if c.leader_order_id == snap.leader_order_id), None)
    moves = before is None or slicing.base_quantity(before) != slicing.base_quantity(snap)
    intents = _intents(snap, group, followers, ctx, freeze_quantities, basis)
    return GroupedIntents(intents, group, moves)


def resize_later_children(
    journal: Journal,
    snap: LeaderOrderSnapshot,
    grouped: GroupedIntents,
    followers: Sequence[FollowerSettings],
    ctx: SizingContext,
    freeze_quantities: Mapping[str, int],
    touched_out: set[str] | None = None,
    basis_of: Callable[[LeaderOrderSnapshot], ExitBasis | None] = lambda _: None,
) -> None:
    """After ``snap`` is journaled: re-derive the intents of its slicing's later children.

    Their prior quantity includes ``snap``'s, so a child that arrived late, or was cut,
    cancelled or filled, moves their shares. Nothing is read or written when ``snap``'s
    mirrored quantity is what the journal had (a price move, a fill of an open child); the
    journal writes only the intents that changed.
    """
    if not grouped.moves_later:
        return
    mine = slicing.order_id_key(snap.leader_order_id)
    for child in grouped.group:
        if slicing.order_id_key(child.leader_order_id) > mine:
            basis = basis_of(child)
            intents = _intents(child, grouped.group, followers, ctx, freeze_quantities, basis)
            journal.record_intents(child, intents, touched_out)


def _intents(
    snap: LeaderOrderSnapshot,
    group: Sequence[LeaderOrderSnapshot],
    followers: Sequence[FollowerSettings],
    ctx: SizingContext,
    freeze_quantities: Mapping[str, int],
    basis: ExitBasis | None = None,
) -> list[DesiredIntent]:
    key = f"{snap.exchange_segment}:{snap.security_id}"
    freeze = freeze_quantities.get(key)
    if freeze is None:
        _note_unknown_freeze(key)
    prior = slicing.prior_quantity(group, snap.leader_order_id)
    return [
        intent
        for f in followers
        if not awaits_acceptance(snap, f)
        for intent in desired_share_intents(
            snap, f, ctx, prior=prior, freeze_qty=freeze, basis=basis
        )
    ]


@functools.cache
def _note_unknown_freeze(key: str) -> None:
    """Say once per instrument why its copies are not split at a freeze quantity."""
    logger.info(
        "freeze quantity of %s unknown (engine.freeze_quantities): its copies are not split",
        key,
    )
