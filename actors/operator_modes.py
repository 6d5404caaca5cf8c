"""Operator modes (``pause`` / ``close-only`` / ``resume``): which new copies a follower gets.

The operator sets a follower's mode in the journal (``Journal.set_operator_mode``, from the
CLI, engine running or not); :class:`OperatorModes` caches them for the leader feed, refreshed
every second by ``actors.operator_mode_watch``. The leader feed asks :func:`apply_modes` when it
records a leader order's intents (``actors.leader_record``). A mode only decides whether a
follower gets a *new* copy, at the leader order's first event the follower has none for:

- ``close_only``: an entry is skipped (``operator: close-only``); an exit is copied; a flip
  (an exit larger than the leader's position) is copied as its close part only;
- ``paused``: every new copy is skipped (``operator: paused``);
- a copy that exists (sent before the mode was set) keeps being mirrored in every mode: the
  leader's modifies and cancels reach it, and its bracket / super legs are the broker's.

Such a skip is a decision that stands: ``resume`` (mode ``normal``) does not revive it.
Pure functions, and a cache that is swapped whole (read on the feed's thread, written on the
watcher's).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from enum import StrEnum

from actors import exit_sizing
from actors.sizing import ExitBasis
from dhan.codes import OrderStatus
from store import Journal
from store.records import (
    OPERATOR_SKIP_PREFIX,
    DesiredIntent,
    FollowerMode,
    LeaderOrderSnapshot,
    OperatorMode,
    is_revivable_skip,
)

#: The skip reasons of a copy an operator's mode kept from being made.
PAUSED_SKIP = f"{OPERATOR_SKIP_PREFIX}paused"
CLOSE_ONLY_SKIP = f"{OPERATOR_SKIP_PREFIX}close-only"

#: Leader statuses after which only the filled part of an order is mirrored (as ``sizing``).
_DEAD = frozenset({OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


class CopyKind(StrEnum):
    """What a leader order does to the leader's position (``actors.exit_sizing``)."""

    ENTRY = "entry"  #: opens or adds (no basis, or the leader held nothing against it)
    EXIT = "exit"  #: only reduces the leader's position
    FLIP = "flip"  #: closes the position and opens the other side with the rest


class ModeDecision(StrEnum):
    """What a mode does to one follower's copy of one leader order."""

    COPY = "copy"  #: as sized
    CLOSE_PART = "close_part"  #: only the part that closes the follower's position
    SKIP = "skip"  #: not copied (the mode's skip reason)


def mode_decision(mode: OperatorMode, kind: CopyKind, *, has_copy: bool) -> ModeDecision:
    """The table: a copy that exists is always mirrored; a new one as the mode allows."""
    if has_copy or mode is OperatorMode.NORMAL:
        return ModeDecision.COPY
    if mode is OperatorMode.PAUSED:
        return ModeDecision.SKIP
    if kind is CopyKind.EXIT:
        return ModeDecision.COPY
    return ModeDecision.CLOSE_PART if kind is CopyKind.FLIP else ModeDecision.SKIP


def skip_reason(mode: OperatorMode) -> str:
    """The recorded skip reason of a copy ``mode`` kept from being made."""
    return PAUSED_SKIP if mode is OperatorMode.PAUSED else CLOSE_ONLY_SKIP


def copy_kind(snap: LeaderOrderSnapshot, basis: ExitBasis | None) -> CopyKind:
    """Entry, exit or flip, from the order's exit basis taken at its first sight."""
    if basis is None or not basis.is_exit:
        return CopyKind.ENTRY
    base = snap.filled_qty if snap.status in _DEAD else snap.quantity
    _close, opening = exit_sizing.split(base, basis.leader_open)
    return CopyKind.FLIP if opening > 0 else CopyKind.EXIT


def close_part(snap: LeaderOrderSnapshot, basis: ExitBasis, follower: str, lot: int) -> int:
    """The follower's part of the close in a flip (what ``close_only`` still copies)."""
    base = snap.filled_qty if snap.status in _DEAD else snap.quantity
    close, _opening = exit_sizing.split(base, basis.leader_open)
    held = basis.follower_open.get(follower, 0)
    return exit_sizing.follower_close(close, basis.leader_open, held, lot)


def _decidable(intent: DesiredIntent) -> bool:
    """A copy a mode may still keep from being made: one to send, or one whose skip the next
    event could revive (a size below a lot, a fact sizing lacked, a held exit)."""
    return intent.skip_reason is None or is_revivable_skip(intent.skip_reason)


def apply_modes(
    snap: LeaderOrderSnapshot,
    intents: Sequence[DesiredIntent],
    basis: ExitBasis | None,
    modes: Mapping[str, OperatorMode],
    has_copy: Collection[str],
    lot: int | None,
) -> list[DesiredIntent]:
    """``intents`` under the followers' modes (``modes``: the followers not normal).

    ``has_copy``: the followers with a journaled intent of this leader order already (their
    copies are mirrored whatever the mode). ``lot``: the instrument's lot (a flip's close part
    is rounded to it; unknown: the copy is skipped).
    """
    if not modes:
        return list(intents)
    kind = copy_kind(snap, basis)
    out: list[DesiredIntent] = []
    left: dict[str, int] = {}  # a flip's close part still to give to the follower's pieces
    for intent in intents:
        mode = modes.get(intent.follower, OperatorMode.NORMAL)
        decision = mode_decision(mode, kind, has_copy=intent.follower in has_copy)
        if decision is ModeDecision.COPY or not _decidable(intent):
            out.append(intent)
            continue
        if decision is ModeDecision.CLOSE_PART and intent.skip_reason is not None:
            # a flip's copy held or waiting: its close must not be lost; when it goes it is
            # sized again whole (a known limit: docs/operations.md, "Operator modes")
            out.append(intent)
            continue
        qty = 0
        if decision is ModeDecision.CLOSE_PART and basis is not None and lot is not None:
            if intent.follower not in left:
                left[intent.follower] = close_part(snap, basis, intent.follower, lot)
            qty = min(intent.quantity, left[intent.follower])
            left[intent.follower] -= qty
        if qty > 0:
            out.append(replace(intent, quantity=qty))
        else:
            out.append(
                replace(intent, quantity=0, desired_open=False, skip_reason=skip_reason(mode))
            )
    return out


class OperatorModes:
    """The followers' journaled modes, cached: :meth:`refresh` reads the table (one query) and
    swaps the whole mapping, so a reader on another thread sees one version or the next."""

    def __init__(self) -> None:
        self._modes: Mapping[str, FollowerMode] = {}

    def refresh(self, journal: Journal) -> list[FollowerMode]:
        """Read the table; the modes that changed since the last refresh."""
        fresh = journal.operator_modes()
        old = self._modes
        self._modes = fresh
        return [m for name, m in sorted(fresh.items()) if old.get(name) != m]

    def mode_of(self, follower: str) -> OperatorMode:
        found = self._modes.get(follower)
        return OperatorMode.NORMAL if found is None else found.mode

    def active(self) -> dict[str, OperatorMode]:
        """The followers whose mode is not normal (empty: every copy as sized)."""
        return {n: m.mode for n, m in self._modes.items() if m.mode is not OperatorMode.NORMAL}

    def all(self) -> Mapping[str, FollowerMode]:
        return self._modes
