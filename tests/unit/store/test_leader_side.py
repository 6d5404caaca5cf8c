"""The leader side of the journal: one event + its follower intents, atomically and once."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy.exc import IntegrityError

from dhan.codes import LegName, OrderStatus
from store import IntentState, Journal
from tests.unit.store.factories import copies, desired, snapshot


def test_a_new_leader_event_is_recorded_with_a_planned_intent_per_follower(journal: Journal):
    assert journal.record_leader_snapshot(snapshot("L1"), copies("L1", 3)) is True

    assert journal.leader_snapshot("L1") is not None
    intents = journal.intents(leader_order_id="L1")
    assert [i.follower for i in intents] == ["f1", "f2", "f3"]
    assert {i.state for i in intents} == {IntentState.PLANNED}
    assert {(i.desired_version, i.applied_version, i.attempts) for i in intents} == {(1, 0, 0)}


def test_a_duplicated_frame_is_a_no_op(journal: Journal):
    snap = snapshot("L1")
    assert journal.record_leader_snapshot(snap, copies("L1", 2))
    audit_before = journal.audit_after(0)

    changed = replace(snap, price=999.0)  # same dedupe key, whatever the content
    assert journal.record_leader_snapshot(changed, copies("L1", 2, price=999.0)) is False

    assert journal.leader_snapshot("L1") == snap
    assert {i.price for i in journal.intents()} == {100.5}
    assert journal.audit_after(0) == audit_before


def test_the_snapshot_round_trips_every_field(journal: Journal):
    snap = snapshot(
        "L7",
        leg_name=LegName.TARGET_LEG.value,
        parent_order_id="L6",
        is_super=True,
        correlation_id="leader-cid",
        target_price=120.0,
        stop_loss_price=95.0,
        trailing_jump=0.5,
        bo_profit_value=2.0,
        bo_stop_loss_value=1.0,
        avg_price=100.25,
        filled_qty=3,
        trigger_price=99.0,
        updated_at="2026-01-02 10:11:12",
    )
    journal.record_leader_snapshot(snap, [])

    assert journal.leader_snapshot("L7", LegName.TARGET_LEG) == snap


def test_a_newer_snapshot_replaces_the_older_and_updates_the_intents(journal: Journal):
    journal.record_leader_snapshot(snapshot("L1", seq=10), copies("L1", 2))

    assert journal.record_leader_snapshot(
        snapshot("L1", seq=11, price=101.0), copies("L1", 2, price=101.0)
    )

    assert journal.leader_snapshot("L1").price == 101.0  # type: ignore[union-attr]
    assert {(i.price, i.desired_version) for i in journal.intents()} == {(101.0, 2)}


def test_an_older_snapshot_never_overwrites_a_newer_one_nor_its_intents(journal: Journal):
    journal.record_leader_snapshot(
        snapshot("L1", seq=10, price=101.0), copies("L1", 2, price=101.0)
    )

    late = snapshot("L1", seq=9, price=100.0)
    assert journal.record_leader_snapshot(late, copies("L1", 2, price=100.0)) is True

    assert journal.leader_snapshot("L1").price == 101.0  # type: ignore[union-attr]
    assert {(i.price, i.desired_version) for i in journal.intents()} == {(101.0, 1)}
    applied = [a.payload["applied"] for a in journal.audit_after(0) if a.kind == "leader_snapshot"]
    assert applied == [True, False]


def test_the_broker_update_time_orders_snapshots_before_our_receive_seq(journal: Journal):
    socket = snapshot("L1", seq=10, price=101.0, updated_at="2026-01-02 10:00:07")
    journal.record_leader_snapshot(socket, [])
    # a REST answer prepared before the modify arrives later (higher seq) with an older time
    rest = snapshot("L1", seq=11, price=100.0, updated_at="2026-01-02 10:00:05")
    journal.record_leader_snapshot(rest, [])

    assert journal.leader_snapshot("L1").price == 101.0  # type: ignore[union-attr]


def test_a_terminal_snapshot_wins_over_an_open_one_whatever_its_seq(journal: Journal):
    journal.record_leader_snapshot(snapshot("L1", seq=10), [])

    journal.record_leader_snapshot(snapshot("L1", seq=5, status=OrderStatus.CANCELLED), [])

    assert journal.leader_snapshot("L1").status is OrderStatus.CANCELLED  # type: ignore[union-attr]


def test_an_open_snapshot_never_reopens_a_terminal_order(journal: Journal):
    journal.record_leader_snapshot(snapshot("L1", seq=5, status=OrderStatus.TRADED), [])

    journal.record_leader_snapshot(snapshot("L1", seq=10, status=OrderStatus.PENDING), [])

    assert journal.leader_snapshot("L1").status is OrderStatus.TRADED  # type: ignore[union-attr]


def test_a_follower_the_policy_skips_is_recorded_as_skipped_with_its_reason(journal: Journal):
    journal.record_leader_snapshot(
        snapshot("L1"), [desired("f1", skip_reason="segment not allowed")]
    )

    (intent,) = journal.intents("f1")
    assert intent.state is IntentState.SKIPPED
    assert intent.state_reason == intent.skip_reason == "segment not allowed"


def test_a_planned_intent_becomes_skipped_when_the_policy_later_skips_it(journal: Journal):
    journal.record_leader_snapshot(snapshot("L1", seq=1), [desired("f1")])

    journal.record_leader_snapshot(snapshot("L1", seq=2), [desired("f1", skip_reason="paused")])

    (intent,) = journal.intents("f1")
    assert (intent.state, intent.state_reason, intent.desired_version) == (
        IntentState.SKIPPED,
        "paused",
        2,
    )


def test_unchanged_desired_fields_do_not_bump_the_version(journal: Journal):
    journal.record_leader_snapshot(snapshot("L1", seq=1), copies("L1", 2))

    journal.record_leader_snapshot(snapshot("L1", seq=2, filled_qty=3), copies("L1", 2))

    assert {i.desired_version for i in journal.intents()} == {1}
    kinds = [a.kind for a in journal.audit_after(0)]
    assert kinds.count("intent_planned") == 2 and "intent_updated" not in kinds


def test_every_desired_field_counts_as_a_change(journal: Journal):
    journal.record_leader_snapshot(snapshot("L1", seq=1), [desired("f1")])
    changes = {
        "quantity": 20,
        "price": 101.0,
        "trigger_price": 99.0,
        "target_price": 110.0,
        "stop_loss_price": 95.0,
        "trailing_jump": 0.5,
        "bo_profit_value": 1.0,
        "bo_stop_loss_value": 2.0,
        "desired_open": False,
    }
    for seq, (name, value) in enumerate(changes.items(), start=2):
        journal.record_leader_snapshot(snapshot("L1", seq=seq), [desired("f1", **{name: value})])
        (intent,) = journal.intents("f1")
        assert (getattr(intent, name), intent.desired_version) == (value, seq), name


def test_a_terminal_intent_keeps_its_desired_fields(journal: Journal):
    journal.record_leader_snapshot(snapshot("L1", seq=1), [desired("f1")])
    (intent,) = journal.intents("f1")
    journal.transition(intent.id, IntentState.FAILED, reason="bad instrument")

    journal.record_leader_snapshot(snapshot("L1", seq=2, price=101.0), [desired("f1", price=101.0)])

    after = journal.intent(intent.id)
    assert (after.state, after.price, after.desired_version) == (IntentState.FAILED, 100.5, 1)


def test_a_failing_intent_rolls_back_the_whole_event(journal: Journal):
    journal.record_leader_snapshot(snapshot("L1", seq=1), [desired("f1")])
    taken = journal.intents("f1")[0].correlation_id
    clash = desired("f2", "L2", correlation_id=taken)  # a correlationId already in use
    snap = snapshot("L2", seq=2)

    with pytest.raises(IntegrityError):
        journal.record_leader_snapshot(snap, [desired("f1", "L2"), clash])

    assert journal.leader_snapshot("L2") is None
    assert journal.intents(leader_order_id="L2") == []
    # nothing of it was kept, so the same event can be recorded once fixed
    assert journal.record_leader_snapshot(snap, [desired("f1", "L2")]) is True


def test_the_raw_frame_is_stored_with_credentials_redacted(journal: Journal):
    raw = {"OrderNo": "L1", "accessToken": "abc", "nested": {"password": "p"}}
    journal.record_leader_snapshot(snapshot("L1", raw=raw), [])

    stored = journal.leader_snapshot("L1").raw  # type: ignore[union-attr]
    assert stored == {
        "OrderNo": "L1",
        "accessToken": "<redacted>",
        "nested": {"password": "<redacted>"},
    }


def test_legs_of_one_leader_order_are_kept_apart(journal: Journal):
    journal.record_leader_snapshot(snapshot("S1", is_super=True), [])
    journal.record_leader_snapshot(
        snapshot("S1", leg_name="TARGET_LEG", parent_order_id="S1", price=120.0), []
    )
    journal.record_leader_snapshot(
        snapshot("S1", leg_name="STOP_LOSS_LEG", parent_order_id="S1", price=95.0), []
    )

    assert journal.leader_snapshot("S1").price == 100.5  # type: ignore[union-attr]
    assert journal.leader_snapshot("S1", "TARGET_LEG").price == 120.0  # type: ignore[union-attr]
    assert journal.leader_snapshot("S1", "NA").leg_name == ""  # type: ignore[union-attr]
    legs = [s.leg_name for s in journal.leader_snapshots(leader_order_id="S1")]
    assert legs == ["", "STOP_LOSS_LEG", "TARGET_LEG"]


def test_leader_snapshot_without_a_leg_falls_back_to_the_entry_leg(journal: Journal):
    journal.record_leader_snapshot(snapshot("B1", leg_name="ENTRY_LEG"), [])

    assert journal.leader_snapshot("B1").leg_name == "ENTRY_LEG"  # type: ignore[union-attr]
    assert journal.leader_snapshot("nope") is None


def test_open_only_lists_leader_orders_that_are_still_working(journal: Journal):
    journal.record_leader_snapshot(snapshot("L1"), [])
    journal.record_leader_snapshot(snapshot("L2", status=OrderStatus.TRADED), [])
    journal.record_leader_snapshot(snapshot("L3", status=OrderStatus.PART_TRADED), [])

    assert [s.leader_order_id for s in journal.leader_snapshots()] == ["L1", "L2", "L3"]
    assert [s.leader_order_id for s in journal.leader_snapshots(open_only=True)] == ["L1", "L3"]


def test_recording_audits_the_snapshot_and_each_changed_intent(journal: Journal):
    journal.record_leader_snapshot(snapshot("L1", seq=1), copies("L1", 2))
    journal.record_leader_snapshot(snapshot("L1", seq=2, price=101.0), [desired("f1", price=101.0)])

    trail = [(a.kind, a.account) for a in journal.audit_after(0)]
    assert trail == [
        ("leader_snapshot", None),
        ("intent_planned", "f1"),
        ("intent_planned", "f2"),
        ("leader_snapshot", None),
        ("intent_updated", "f1"),
    ]


def test_intents_of_another_leader_order_are_refused_and_nothing_is_recorded(journal: Journal):
    # the event's lock and the claim read-back cover the event's own leader order only
    snap = snapshot("L1", seq=1)

    with pytest.raises(ValueError, match="L2"):
        journal.record_and_claim(snap, [desired("f1", "L1"), desired("f2", "L2")], ["f1", "f2"])

    assert journal.leader_snapshots() == []
    assert journal.intents() == []
    assert journal.audit_after(0) == []
    assert journal.record_leader_snapshot(snap, [desired("f1", "L1")]) is True
