"""A leader event re-derives every copy that is not settled for good (issue 19).

A skip for a fact sizing lacks for now (a balance, a lot size, a price) never changes a copy
that exists; a skipped copy that the leader's order now wants is planned again.
"""

from __future__ import annotations

from dhan.codes import OrderStatus
from store import IntentState, Journal
from store.records import TRANSIENT_SKIP_PREFIX
from tests.unit.store.factories import desired, snapshot

S = IntentState


def working_copy(journal: Journal, leader_order_id: str = "L1") -> int:
    journal.record_leader_snapshot(snapshot(leader_order_id), [desired("f1", leader_order_id)])
    (intent,) = journal.intents("f1", leader_order_id=leader_order_id)
    journal.transition(intent.id, S.SENDING)
    journal.transition(intent.id, S.WORKING, broker_order_id="B1", applied_version=1)
    return intent.id


def test_a_transient_skip_never_changes_a_copy_at_the_broker(journal: Journal) -> None:
    intent_id = working_copy(journal)
    waiting = desired(
        "f1",
        quantity=0,
        desired_open=False,
        skip_reason=f"{TRANSIENT_SKIP_PREFIX}capital sizing: balance unknown",
    )
    journal.record_leader_snapshot(snapshot("L1", quantity=12), [waiting])

    intent = journal.intent(intent_id)
    assert intent.state is S.WORKING and intent.desired_open and intent.quantity == 10
    assert intent.desired_version == 1 and intent.skip_reason is None


def test_a_definitive_skip_still_changes_a_copy_at_the_broker(journal: Journal) -> None:
    intent_id = working_copy(journal)
    below = desired("f1", quantity=0, desired_open=False, skip_reason="sized below one lot")
    journal.record_leader_snapshot(snapshot("L1", quantity=1), [below])

    intent = journal.intent(intent_id)
    assert not intent.desired_open and intent.desired_version == 2
    assert journal.intents_needing_action("f1") == [intent]


def test_a_leader_event_on_a_dead_order_leaves_a_transient_skip_unsent(journal: Journal) -> None:
    waiting = desired("f1", quantity=0, desired_open=False, skip_reason=f"{TRANSIENT_SKIP_PREFIX}x")
    journal.record_leader_snapshot(snapshot("L1"), [waiting])
    (intent,) = journal.intents("f1")
    assert intent.state is S.SKIPPED
    journal.record_leader_snapshot(
        snapshot("L1", status=OrderStatus.CANCELLED),
        [desired("f1", quantity=0, desired_open=False)],
    )
    assert journal.intent(intent.id).state is S.SKIPPED
