"""Which followers the leader feed hints after journaling leader snapshots, and with what.

The feed hints (``actors.messages.LeaderChanged``) only the followers that have work: their
intents changed or were claimed, a bracket leg moved (their BracketLegActor checks), or the
leader order filled or ended (they check their copy). A TRANSIT -> PENDING frame that changes
no intent wakes nobody. :func:`plan_hints` decides (pure); :func:`tell_hints` tells.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from typing import NamedTuple, Protocol

from actors.messages import HintsTaken, LeaderChanged
from actors.names import follower_name
from store.records import Intent, LeaderOrderSnapshot
from supervision.errors import ChildUnavailable
from supervision.registry import Registry

#: After hinting the followers it claimed copies for, the feed waits (GIL released) until
#: their copies have left, at most this long per claimed follower and this long in all,
#: before its next work (often the same order's next frame): see ``actors.messages.HintsTaken``.
HINT_WAIT_S_PER_FOLLOWER = 0.002
HINT_WAIT_MAX_S = 0.025


class Named(Protocol):
    """A follower as the hint plan sees it (``FollowerSettings`` is one)."""

    @property
    def name(self) -> str: ...


class HintPlan(NamedTuple):
    """The hints for one batch of journaled snapshots."""

    #: every leader order the snapshots name (their own ids, then their entries'), once each
    order_ids: tuple[str, ...]
    #: the leader orders (entries for legs) among them that have fills or have ended
    settled: tuple[str, ...]
    #: per follower to hint, in the followers' order: (name, its claimed intents, whether
    #: its intents changed with the event)
    hints: list[tuple[str, tuple[Intent, ...], bool]]
    #: how many of those followers got claims (each counts down the feed's HintsTaken)
    claims: int


def plan_hints(
    snaps: Sequence[LeaderOrderSnapshot],
    followers: Iterable[Named],
    claimed: Mapping[str, list[Intent]],
    touched: Container[str] | None,
) -> HintPlan:
    """The hints for ``snaps`` just journaled: ``claimed`` the intents claimed per follower,
    ``touched`` the followers whose intents changed (None: count every follower changed)."""
    ids: list[str] = []
    for s in snaps:
        ids.append(s.leader_order_id)
        if s.parent_order_id and s.parent_order_id not in ids:
            ids.append(s.parent_order_id)
    settled = tuple(
        dict.fromkeys(
            s.parent_order_id or s.leader_order_id
            for s in snaps
            if s.is_terminal or s.filled_qty > 0
        )
    )
    legs = any(s.parent_order_id or s.leg_name for s in snaps)
    hints: list[tuple[str, tuple[Intent, ...], bool]] = []
    claims = 0
    for f in followers:
        mine = tuple(claimed.get(f.name, ()))
        changed = bool(mine) or touched is None or f.name in touched
        if changed or legs or settled:
            hints.append((f.name, mine, changed))
            if mine:
                claims += 1
    return HintPlan(tuple(ids), settled, hints, claims)


def hint_wait_s(claimed_followers: int) -> float:
    """How long the feed waits at most for ``claimed_followers`` copies to leave."""
    return min(HINT_WAIT_S_PER_FOLLOWER * claimed_followers, HINT_WAIT_MAX_S)


def tell_hints(
    registry: Registry, plan: HintPlan, received_ns: int, *, verify_claims: bool
) -> HintsTaken | None:
    """Tell each follower of ``plan`` its :class:`LeaderChanged`; ``received_ns`` when the
    leader frame was parsed (0: a reconcile, whose claims the followers verify first).

    Returns, for a live event that claimed copies, what counts the claimed followers whose
    copy has left (the feed waits on it: :class:`HintsTaken`). A follower that cannot be told
    (restarting, quarantined) is counted at once: it converges from the journal on start."""
    taken = HintsTaken(plan.claims) if plan.claims and not verify_claims else None
    for name, mine, changed in plan.hints:
        mark = taken if mine else None
        msg = LeaderChanged(
            plan.order_ids, received_ns, mine, plan.settled, verify_claims, changed, taken=mark
        )
        try:
            registry.tell(follower_name(name), msg)
        except ChildUnavailable:
            if mark is not None:
                mark.take()
    return taken


def once(fn: Callable[[], None]) -> Callable[[], None]:
    """``fn`` that runs on the first call only (a follower tells the feed its hint was
    taken once, whichever of its paths gets there first)."""
    done = False

    def call() -> None:
        nonlocal done
        if not done:
            done = True
            fn()

    return call
