"""A leader event re-derives every copy that is not settled for good (issue 19).

A skip for a fact sizing lacks for now (a balance, a lot size, a price) never changes a copy
that exists; a skipped copy that the leader's order now wants is planned again.
"""

from __future__ import annotations

from dhan.codes import OrderStatus
from dhan.correlation import correlation_id_for
from store import DesiredIntent, IntentState, Journal
from store.records import BELOW_ONE_LOT_PREFIX, TRANSIENT_SKIP_PREFIX
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


def below_one_lot(follower: str = "f1", leader_order_id: str = "L1") -> DesiredIntent:
    return desired(
        follower,
        leader_order_id,
        quantity=0,
        desired_open=False,
        skip_reason=f"{BELOW_ONE_LOT_PREFIX}sized 0.5 < 1",
    )


def test_a_copy_skipped_below_one_lot_is_planned_again_when_the_leader_raises_it(
    journal: Journal,
) -> None:
    journal.record_leader_snapshot(snapshot("L1", quantity=1), [below_one_lot()])
    (intent,) = journal.intents("f1")
    assert intent.state is S.SKIPPED

    journal.record_leader_snapshot(snapshot("L1", quantity=6), [desired("f1", quantity=3)])

    again = journal.intent(intent.id)
    assert again.state is S.PLANNED and again.quantity == 3 and again.desired_open
    assert again.skip_reason is None and again.desired_version == 2
    assert again.correlation_id == intent.correlation_id  # never sent: the same id
    assert journal.intents_needing_action("f1") == [again]


def test_a_skip_that_is_a_decision_is_never_undone_by_a_later_leader_event(
    journal: Journal,
) -> None:
    policy = desired(
        "f1",
        desired_open=False,
        skip_reason="found only by reconcile (PENDING); policy skip",
    )
    journal.record_leader_snapshot(snapshot("L1"), [policy])
    journal.record_leader_snapshot(snapshot("L1", quantity=12), [desired("f1", quantity=12)])
    (intent,) = journal.intents("f1")
    assert intent.state is S.SKIPPED and intent.quantity == 10


def cancelled_below_one_lot(journal: Journal, filled: int = 0) -> int:
    intent_id = working_copy(journal)
    journal.record_leader_snapshot(snapshot("L1", quantity=1), [below_one_lot()])
    journal.transition(intent_id, S.CANCELLING)
    journal.transition(intent_id, S.DONE, broker_status=OrderStatus.CANCELLED, filled_qty=filled)
    return intent_id


def test_a_copy_we_cancelled_below_one_lot_gets_a_new_order_under_a_new_id_when_raised(
    journal: Journal,
) -> None:
    intent_id = cancelled_below_one_lot(journal)
    first = journal.intent(intent_id).correlation_id

    journal.record_leader_snapshot(snapshot("L1", quantity=8), [desired("f1", quantity=4)])

    again = journal.intent(intent_id)
    assert again.state is S.PLANNED and again.quantity == 4 and again.desired_open
    assert again.correlation_id == correlation_id_for("f1", "L1", generation=1) != first
    assert again.broker_order_id is None and again.broker_status is None
    assert again.filled_qty == 0 and again.applied_version == 0
    assert journal.intent_by_correlation_id(again.correlation_id) == again

    # and once more: cancelled again, raised again -> generation 2
    journal.transition(intent_id, S.SENDING)
    journal.transition(intent_id, S.WORKING, broker_order_id="B2", applied_version=3)
    journal.record_leader_snapshot(snapshot("L1", quantity=1), [below_one_lot()])
    journal.transition(intent_id, S.CANCELLING)
    journal.transition(intent_id, S.DONE, broker_status=OrderStatus.CANCELLED)
    journal.record_leader_snapshot(snapshot("L1", quantity=6), [desired("f1", quantity=3)])
    assert journal.intent(intent_id).correlation_id == correlation_id_for("f1", "L1", generation=2)


def test_a_copy_that_filled_or_was_cancelled_while_wanted_is_not_placed_again(
    journal: Journal,
) -> None:
    filled = cancelled_below_one_lot(journal, filled=1)
    journal.record_leader_snapshot(snapshot("L1", quantity=8), [desired("f1", quantity=4)])
    assert journal.intent(filled).state is S.DONE

    # cancelled at the broker while the leader still wanted it (by hand): not re-placed
    by_hand = working_copy(journal, "L2")
    journal.transition(by_hand, S.DONE, broker_status=OrderStatus.CANCELLED)
    journal.record_leader_snapshot(snapshot("L2", quantity=12), [desired("f1", "L2", quantity=12)])
    assert journal.intent(by_hand).state is S.DONE


def test_rederiving_plans_a_copy_that_waited_for_a_balance(journal: Journal) -> None:
    waiting = desired(
        "f1",
        quantity=0,
        desired_open=False,
        skip_reason=f"{TRANSIENT_SKIP_PREFIX}capital sizing: balance unknown",
    )
    snap = snapshot("L1")
    journal.record_leader_snapshot(snap, [waiting])
    touched: set[str] = set()

    journal.record_intents(snap, [desired("f1", quantity=10)], touched)

    (intent,) = journal.intents("f1")
    assert intent.state is S.PLANNED and intent.quantity == 10 and touched == {"f1"}


def test_a_copy_whose_cancel_the_leader_overtook_is_planned_again_under_a_new_id(
    journal: Journal,
) -> None:
    intent_id = working_copy(journal)
    journal.record_leader_snapshot(snapshot("L1", quantity=1), [below_one_lot()])
    journal.transition(intent_id, S.CANCELLING)
    # the leader raises its order while our cancel is in flight
    journal.record_leader_snapshot(snapshot("L1", quantity=8), [desired("f1", quantity=4)])
    journal.transition(intent_id, S.DONE, broker_status=OrderStatus.CANCELLED)

    again = journal.replan_cancelled(intent_id)

    assert again is not None and again == journal.intent(intent_id)
    assert again.state is S.PLANNED and again.quantity == 4 and again.broker_order_id is None
    assert again.correlation_id == correlation_id_for("f1", "L1", generation=1)


def test_a_cancelled_copy_that_is_not_wanted_or_filled_is_not_planned_again(
    journal: Journal,
) -> None:
    unwanted = cancelled_below_one_lot(journal)
    assert journal.replan_cancelled(unwanted) is None
    assert journal.intent(unwanted).state is S.DONE

    filled = working_copy(journal, "L2")
    journal.transition(filled, S.CANCELLING)
    journal.transition(filled, S.DONE, broker_status=OrderStatus.CANCELLED, filled_qty=3)
    assert journal.replan_cancelled(filled) is None
