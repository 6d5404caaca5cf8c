"""``actors.hints``: whom the leader feed wakes after journaling leader snapshots, with what; the
tells, to followers that keep their hints (a real registry, pykka actors)."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pykka
import pytest

from actors.hints import HINT_WAIT_MAX_S, HintPlan, hint_wait_s, plan_hints, tell_hints
from actors.messages import LeaderChanged
from actors.names import follower_name
from dhan.codes import OrderStatus
from store.records import Intent, LeaderOrderSnapshot
from store.states import IntentState
from supervision.registry import Registry
from tests.unit.actors import copies
from tests.unit.store.factories import snapshot


@dataclass(frozen=True)
class Follower:
    name: str


FOLLOWERS = [Follower("a"), Follower("b"), Follower("c")]


def claim(follower: str, leader_order_id: str = "L1") -> Intent:
    """A copy claimed with the leader event: SENDING, nothing at the broker yet."""
    return copies.intent(
        IntentState.SENDING,
        follower=follower,
        leader_order_id=leader_order_id,
        correlation_id=f"cid-{follower}",
        validity=None,
        price=100.5,
        desired_version=1,
        applied_version=0,
        broker_order_id=None,
        broker_status=None,
        attempts=0,
    )


PENDING = snapshot("L1", status=OrderStatus.PENDING)
PART = snapshot("L1", status=OrderStatus.PART_TRADED, filled_qty=4)
CANCELLED = snapshot("L1", status=OrderStatus.CANCELLED)
TARGET = snapshot("L9", leg_name="TARGET_LEG", parent_order_id="L1")
TARGET_DONE = replace(TARGET, status=OrderStatus.TRADED, filled_qty=10)
A_CLAIM = claim("a")
C_CLAIM = claim("c")


@pytest.mark.parametrize(
    ("snaps", "claimed", "touched", "hints", "settled"),
    [
        # TRANSIT -> PENDING that changed no intent: nobody is woken
        ([PENDING], {}, set(), [], ()),
        # new copies claimed for a and c; b has none (disabled, or sized to nothing)
        (
            [PENDING],
            {"a": [A_CLAIM], "c": [C_CLAIM]},
            {"a", "c"},
            [("a", (A_CLAIM,), True), ("c", (C_CLAIM,), True)],
            (),
        ),
        # a modify: the changed intents are not claimed, only touched
        ([PENDING], {}, {"b"}, [("b", (), True)], ()),
        # no record of who changed: everyone is told their intents changed
        (
            [PENDING],
            {},
            None,
            [("a", (), True), ("b", (), True), ("c", (), True)],
            (),
        ),
        # a fill or an end: every follower checks its copy (changed only where touched)
        (
            [PART],
            {},
            {"a"},
            [("a", (), True), ("b", (), False), ("c", (), False)],
            ("L1",),
        ),
        ([CANCELLED], {}, set(), [("a", (), False), ("b", (), False), ("c", (), False)], ("L1",)),
        # a bracket leg moved: every follower's BracketLegActor checks
        ([TARGET], {}, set(), [("a", (), False), ("b", (), False), ("c", (), False)], ()),
        # a leg's fill settles its entry
        (
            [TARGET_DONE],
            {},
            set(),
            [("a", (), False), ("b", (), False), ("c", (), False)],
            ("L1",),
        ),
    ],
)
def test_only_the_followers_with_work_are_hinted(
    snaps: list[LeaderOrderSnapshot],
    claimed: dict[str, list[Intent]],
    touched: set[str] | None,
    hints: list[tuple[str, tuple[Intent, ...], bool]],
    settled: tuple[str, ...],
) -> None:
    plan = plan_hints(snaps, FOLLOWERS, claimed, touched)
    assert plan.hints == hints
    assert plan.settled == settled
    assert plan.claims == sum(1 for _name, mine, _changed in hints if mine)


def test_the_hint_names_each_snapshots_order_then_its_entry_unless_already_named() -> None:
    snaps = [TARGET, replace(TARGET, leader_order_id="L8", leg_name="STOP_LOSS_LEG"), PART]
    plan = plan_hints(snaps, FOLLOWERS, {}, set())
    assert plan == HintPlan(
        order_ids=("L9", "L1", "L8", "L1"),  # an own id is named as it comes
        settled=("L1",),
        hints=[("a", (), False), ("b", (), False), ("c", (), False)],
        claims=0,
    )


def test_a_claim_for_a_follower_no_longer_configured_is_not_hinted() -> None:
    plan = plan_hints([PENDING], FOLLOWERS[:1], {"a": [A_CLAIM], "gone": [claim("gone")]}, set())
    assert plan.hints == [("a", (A_CLAIM,), True)]
    assert plan.claims == 1


@pytest.mark.parametrize(
    ("claimed_followers", "wait_s"),
    [(0, 0.0), (1, 0.002), (5, 0.010), (12, 0.024), (13, HINT_WAIT_MAX_S), (500, HINT_WAIT_MAX_S)],
)
def test_the_feed_waits_for_claimed_copies_two_ms_each_and_25_ms_at_most(
    claimed_followers: int, wait_s: float
) -> None:
    assert hint_wait_s(claimed_followers) == pytest.approx(wait_s)


class Inbox(pykka.ThreadingActor):
    """A follower that only keeps its hints, and says its claimed copy left."""

    def __init__(self, got: queue.Queue[LeaderChanged]) -> None:
        super().__init__()
        self.got = got

    def on_receive(self, message: Any) -> None:
        self.got.put(message)
        if message.taken is not None:
            message.taken.take()


class Followers:
    """A real registry, and the followers started on it (stopped at teardown)."""

    def __init__(self) -> None:
        self.registry = Registry()
        self.got: queue.Queue[LeaderChanged] = queue.Queue()
        self.refs: list[pykka.ActorRef[Any]] = []

    def start(self, *names: str) -> None:
        for name in names:
            ref = Inbox.start(self.got)
            self.refs.append(ref)
            self.registry.set_running(follower_name(name), ref)


@pytest.fixture
def running() -> Iterator[Followers]:
    followers = Followers()
    yield followers
    for ref in followers.refs:
        ref.stop()


def test_each_follower_gets_its_hint_and_the_feed_waits_only_for_the_claimed_ones(
    running: Followers,
) -> None:
    running.start("a", "b")
    plan = plan_hints([PART], FOLLOWERS[:2], {"a": [A_CLAIM]}, {"a"})
    taken = tell_hints(running.registry, plan, 123, verify_claims=False)
    assert taken is not None and taken.wait(5.0)
    got = running.got
    hints = sorted((got.get(timeout=5.0), got.get(timeout=5.0)), key=lambda m: m.claimed == ())
    assert [(h.claimed, h.changed, h.received_ns, h.settled) for h in hints] == [
        ((A_CLAIM,), True, 123, ("L1",)),
        ((), False, 123, ("L1",)),
    ]
    assert hints[1].taken is None  # nothing claimed: nothing to count


def test_a_follower_that_cannot_be_told_costs_the_feed_no_wait(running: Followers) -> None:
    plan = plan_hints([PENDING], FOLLOWERS, {"a": [A_CLAIM], "c": [C_CLAIM]}, {"a", "c"})
    taken = tell_hints(running.registry, plan, 123, verify_claims=False)  # nobody is running
    assert taken is not None and taken.wait(0.0)


def test_a_reconciles_claims_are_verified_and_not_waited_for(running: Followers) -> None:
    running.start("a")
    plan = plan_hints([PENDING], FOLLOWERS[:1], {"a": [A_CLAIM]}, {"a"})
    assert tell_hints(running.registry, plan, 0, verify_claims=True) is None
    hint = running.got.get(timeout=5.0)
    assert (hint.verify_claims, hint.claimed, hint.taken) == (True, (A_CLAIM,), None)
