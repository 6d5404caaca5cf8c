"""Bracket / super-order legs per follower intent (the ``bracket_order_legs`` table)."""

from __future__ import annotations

import pytest

from dhan.codes import OrderStatus
from store import IntentNotFound, IntentState, Journal
from tests.unit.store.factories import planned_intent_id


def _working_entry(journal: Journal, follower: str = "f1", leader_order_id: str = "L1") -> int:
    intent_id = planned_intent_id(journal, follower, leader_order_id)
    journal.transition(intent_id, IntentState.SENDING)
    journal.transition(intent_id, IntentState.WORKING, broker_order_id="B1", applied_version=1)
    return intent_id


def test_a_new_leg_is_recorded_against_its_entry(journal: Journal):
    entry = _working_entry(journal)

    leg = journal.upsert_leg(
        entry, "TARGET_LEG", order_id="B1-T", status=OrderStatus.PENDING, price=110.0, quantity=10
    )

    assert (leg.intent_id, leg.leg_name, leg.order_id, leg.status) == (
        entry,
        "TARGET_LEG",
        "B1-T",
        OrderStatus.PENDING,
    )
    assert (leg.price, leg.trigger_price, leg.quantity, leg.filled_qty) == (110.0, None, 10, 0)
    assert journal.legs(entry) == [leg]


def test_updating_a_leg_keeps_fields_given_as_none(journal: Journal):
    entry = _working_entry(journal)
    journal.upsert_leg(
        entry, "STOP_LOSS_LEG", order_id="B1-S", status=OrderStatus.PENDING, trigger_price=95.0
    )

    leg = journal.upsert_leg(
        entry, "STOP_LOSS_LEG", order_id=None, status=OrderStatus.TRADED, filled_qty=10
    )

    assert (leg.order_id, leg.trigger_price, leg.status, leg.filled_qty) == (
        "B1-S",
        95.0,
        OrderStatus.TRADED,
        10,
    )
    assert len(journal.legs(entry)) == 1


def test_a_leg_is_audited_only_when_something_changed(journal: Journal):
    entry = _working_entry(journal)
    for _ in range(3):
        journal.upsert_leg(
            entry, "TARGET_LEG", order_id="B1-T", status=OrderStatus.PENDING, price=110.0
        )
    journal.upsert_leg(entry, "TARGET_LEG", order_id=None, status=OrderStatus.PENDING, price=111.0)

    legs = [a.payload for a in journal.audit_after(0) if a.kind == "bracket_leg"]
    assert [p["created"] for p in legs] == [True, False]
    assert {a.account for a in journal.audit_after(0) if a.kind == "bracket_leg"} == {"f1"}


def test_a_leg_of_an_unknown_intent_is_refused(journal: Journal):
    with pytest.raises(IntentNotFound):
        journal.upsert_leg(999, "TARGET_LEG", order_id="X", status=OrderStatus.PENDING)


def test_open_brackets_are_the_entries_with_a_leg_still_open(journal: Journal):
    both_open = _working_entry(journal, "f1", "L1")
    one_open = _working_entry(journal, "f2", "L2")
    settled = _working_entry(journal, "f1", "L3")
    _working_entry(journal, "f1", "L4")  # no legs at all
    for entry in (both_open, one_open, settled):
        journal.upsert_leg(entry, "TARGET_LEG", order_id=None, status=OrderStatus.PENDING)
        journal.upsert_leg(entry, "STOP_LOSS_LEG", order_id=None, status=OrderStatus.TRIGGERED)
    journal.upsert_leg(one_open, "TARGET_LEG", order_id=None, status=OrderStatus.TRADED)
    journal.upsert_leg(settled, "TARGET_LEG", order_id=None, status=OrderStatus.TRADED)
    journal.upsert_leg(settled, "STOP_LOSS_LEG", order_id=None, status=OrderStatus.CANCELLED)

    found = journal.open_brackets()

    assert [(intent.id, [leg.leg_name for leg in legs]) for intent, legs in found] == [
        (both_open, ["STOP_LOSS_LEG", "TARGET_LEG"]),
        (one_open, ["STOP_LOSS_LEG", "TARGET_LEG"]),
    ]
    assert [intent.id for intent, _ in journal.open_brackets("f2")] == [one_open]
    assert journal.open_brackets("f9") == []
