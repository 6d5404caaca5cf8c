"""``actors.hints``: whom the leader feed wakes after journaling leader snapshots, with what."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from actors.hints import HINT_WAIT_MAX_S, HintPlan, hint_wait_s, plan_hints
from dhan.codes import ExchangeSegment, OrderStatus, OrderType, ProductType, TransactionType
from store.records import Intent, LeaderOrderSnapshot
from store.states import IntentState
from tests.unit.store.factories import snapshot

NOW = datetime(2026, 12, 7, tzinfo=UTC)


@dataclass(frozen=True)
class Follower:
    name: str


FOLLOWERS = [Follower("a"), Follower("b"), Follower("c")]


def claim(follower: str, leader_order_id: str = "L1") -> Intent:
    return Intent(
        id=1,
        follower=follower,
        leader_order_id=leader_order_id,
        leg="",
        correlation_id=f"cid-{follower}",
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.LIMIT,
        security_id="1333",
        quantity=10,
        validity=None,
        price=100.5,
        trigger_price=0.0,
        bo_profit_value=None,
        bo_stop_loss_value=None,
        target_price=None,
        stop_loss_price=None,
        trailing_jump=None,
        desired_open=True,
        skip_reason=None,
        state=IntentState.SENDING,
        desired_version=1,
        applied_version=0,
        broker_order_id=None,
        broker_status=None,
        filled_qty=0,
        modifications=0,
        attempts=0,
        error_code=None,
        error_message=None,
        state_reason=None,
        created_at=NOW,
        updated_at=NOW,
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
