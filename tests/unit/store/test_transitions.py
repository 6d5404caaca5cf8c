"""The follower-intent state machine as the journal enforces it: every legal and illegal move."""

from __future__ import annotations

import itertools

import pytest

from dhan.codes import OrderStatus
from store import (
    IllegalTransition,
    IntentNotFound,
    IntentState,
    Journal,
    StaleState,
)
from store.errors import StaleVersion
from store.states import TERMINAL_STATES, TRANSITIONS
from tests.unit.store.factories import desired, planned_intent_id, snapshot

S = IntentState
#: A legal path from PLANNED to each state (the journal only gets there through transitions).
PATH_TO: dict[IntentState, list[IntentState]] = {
    S.PLANNED: [],
    S.SENDING: [S.SENDING],
    S.WORKING: [S.SENDING, S.WORKING],
    S.MODIFYING: [S.SENDING, S.WORKING, S.MODIFYING],
    S.CANCELLING: [S.SENDING, S.WORKING, S.CANCELLING],
    S.UNKNOWN: [S.SENDING, S.UNKNOWN],
    S.DONE: [S.DONE],
    S.REJECTED: [S.SENDING, S.REJECTED],
    S.FAILED: [S.FAILED],
    S.SKIPPED: [S.SKIPPED],
}
LEGAL = [(a, b) for a, targets in TRANSITIONS.items() for b in sorted(targets)]
ILLEGAL = [(a, b) for a, b in itertools.product(S, S) if b not in TRANSITIONS[a]]


def _intent_in(journal: Journal, state: IntentState) -> int:
    intent_id = planned_intent_id(journal)
    for step in PATH_TO[state]:
        journal.transition(intent_id, step, broker_order_id="B1" if step is S.WORKING else None)
    assert journal.intent(intent_id).state is state
    return intent_id


def test_the_table_names_every_state_and_terminal_states_lead_nowhere():
    assert set(TRANSITIONS) == set(IntentState)
    assert {S.DONE, S.REJECTED, S.FAILED, S.SKIPPED} == TERMINAL_STATES
    assert all(not TRANSITIONS[s] for s in TERMINAL_STATES)


@pytest.mark.parametrize(("from_state", "to_state"), LEGAL, ids=lambda s: str(s))
def test_a_legal_transition_is_committed(journal: Journal, from_state, to_state):
    intent_id = _intent_in(journal, from_state)

    moved = journal.transition(intent_id, to_state, expect_from=from_state, broker_order_id="B9")

    assert moved.state is to_state
    assert journal.intent(intent_id) == moved


@pytest.mark.parametrize(("from_state", "to_state"), ILLEGAL, ids=lambda s: str(s))
def test_an_illegal_transition_raises_and_changes_nothing(journal: Journal, from_state, to_state):
    intent_id = _intent_in(journal, from_state)
    before = journal.intent(intent_id)
    trail = journal.audit_after(0)

    with pytest.raises(IllegalTransition) as raised:
        journal.transition(intent_id, to_state, broker_order_id="B9")

    assert (raised.value.intent_id, raised.value.from_state, raised.value.to_state) == (
        intent_id,
        from_state,
        to_state,
    )
    assert str(from_state) in str(raised.value) and str(to_state) in str(raised.value)
    assert journal.intent(intent_id) == before
    assert journal.audit_after(0) == trail


def test_expect_from_refuses_an_intent_that_moved_on(journal: Journal):
    intent_id = _intent_in(journal, S.SENDING)

    with pytest.raises(StaleState) as raised:
        journal.transition(intent_id, S.WORKING, expect_from=S.PLANNED, broker_order_id="B1")

    assert (raised.value.expected, raised.value.actual) == (S.PLANNED, S.SENDING)
    assert journal.intent(intent_id).state is S.SENDING


def test_expect_version_refuses_an_intent_planned_again_since_it_was_read(journal: Journal):
    # the follower read the copy (unwanted, say) and would end it unsent; the leader feed
    # planned it again meanwhile (a resting exit's size moved): ending it would lose the copy
    intent_id = _intent_in(journal, S.SENDING)
    read = journal.intent(intent_id)
    journal.record_intents(snapshot("L1"), [desired("f1", "L1", quantity=read.quantity + 3)])
    replanned = journal.intent(intent_id)
    assert replanned.desired_version == read.desired_version + 1

    with pytest.raises(StaleVersion) as raised:
        journal.transition(
            intent_id, S.DONE, expect_from=S.SENDING, expect_version=read.desired_version
        )

    assert isinstance(raised.value, StaleState)  # the follower's converge pass reads it again
    assert (raised.value.expected_version, raised.value.actual_version) == (
        read.desired_version,
        replanned.desired_version,
    )
    assert journal.intent(intent_id) == replanned
    moved = journal.transition(
        intent_id, S.DONE, expect_from=S.SENDING, expect_version=replanned.desired_version
    )
    assert moved.state is S.DONE


def test_an_unknown_intent_id_raises_intent_not_found(journal: Journal):
    with pytest.raises(IntentNotFound):
        journal.transition(12345, S.SENDING)
    with pytest.raises(IntentNotFound):
        journal.intent(12345)
    with pytest.raises(IntentNotFound):
        journal.increment_modifications(12345)


def test_each_send_counts_one_attempt(journal: Journal):
    intent_id = planned_intent_id(journal)
    journal.transition(intent_id, S.SENDING)
    journal.transition(intent_id, S.UNKNOWN, error_code="DH-908", error_message="timeout")
    journal.transition(intent_id, S.PLANNED, reason="lookup: absent")

    resent = journal.transition(intent_id, S.SENDING, expect_from=S.PLANNED)

    assert resent.attempts == 2
    assert (resent.error_code, resent.error_message) == ("DH-908", "timeout")  # kept for operators


def test_an_ack_records_the_broker_order_and_the_applied_version(journal: Journal):
    intent_id = _intent_in(journal, S.SENDING)

    acked = journal.transition(
        intent_id,
        S.WORKING,
        expect_from=S.SENDING,
        broker_order_id="B42",
        broker_status=OrderStatus.PENDING,
        applied_version=1,
        filled_qty=0,
        reason="placed",
    )

    assert (acked.broker_order_id, acked.broker_status, acked.applied_version) == (
        "B42",
        OrderStatus.PENDING,
        1,
    )
    assert acked.in_sync and acked.state_reason == "placed"


def test_a_rejection_keeps_the_dh_code(journal: Journal):
    intent_id = _intent_in(journal, S.SENDING)

    rejected = journal.transition(
        intent_id, S.REJECTED, error_code="DH-906", error_message="insufficient margin"
    )

    assert (rejected.state, rejected.error_code, rejected.error_message) == (
        S.REJECTED,
        "DH-906",
        "insufficient margin",
    )


def test_a_move_to_another_state_without_a_reason_clears_the_reason_of_the_earlier_state(
    journal: Journal,
):
    intent_id = _intent_in(journal, S.PLANNED)
    journal.transition(intent_id, S.SENDING, reason="claimed for sending with its leader event")
    assert journal.intent(intent_id).state_reason == "claimed for sending with its leader event"

    rejected = journal.transition(
        intent_id, S.REJECTED, error_code=None, error_message="RMS: margin shortfall"
    )

    assert rejected.state_reason is None
    assert journal.intent(intent_id).state_reason is None
    assert journal.intent(intent_id).error_message == "RMS: margin shortfall"


def test_a_move_within_one_state_keeps_its_reason(journal: Journal):
    intent_id = _intent_in(journal, S.WORKING)
    journal.transition(intent_id, S.MODIFYING, reason="modify")
    journal.transition(intent_id, S.WORKING, reason="modified")

    settled = journal.transition(intent_id, S.WORKING, filled_qty=1)

    assert settled.state_reason == "modified"


def test_applied_version_beyond_the_desired_version_is_refused(journal: Journal):
    intent_id = _intent_in(journal, S.SENDING)

    with pytest.raises(ValueError, match="applied_version"):
        journal.transition(intent_id, S.WORKING, broker_order_id="B1", applied_version=2)

    assert journal.intent(intent_id).state is S.SENDING


def test_working_without_a_broker_order_id_is_refused(journal: Journal):
    intent_id = _intent_in(journal, S.SENDING)

    with pytest.raises(ValueError, match="broker order id"):
        journal.transition(intent_id, S.WORKING)


def test_every_transition_is_audited_in_the_same_commit(journal: Journal):
    intent_id = _intent_in(journal, S.SENDING)

    journal.transition(intent_id, S.WORKING, broker_order_id="B1", applied_version=1)

    moves = [a for a in journal.audit_after(0) if a.kind == "intent_transition"]
    assert [(a.payload["from"], a.payload["to"]) for a in moves] == [
        ("PLANNED", "SENDING"),
        ("SENDING", "WORKING"),
    ]
    assert moves[-1].account == "f1" and moves[-1].payload["broker_order_id"] == "B1"


def test_modifications_are_counted_per_intent(journal: Journal):
    intent_id = _intent_in(journal, S.WORKING)

    counts = [journal.increment_modifications(intent_id) for _ in range(3)]

    assert counts == [1, 2, 3]
    assert journal.intent(intent_id).modifications == 3


def test_intents_needing_action_are_planned_unknown_in_flight_or_out_of_sync(journal: Journal):
    wanted = {}
    for n, state in enumerate(S):
        wanted[state] = planned_intent_id(journal, "f1", f"L{n}")
        for step in PATH_TO[state]:
            journal.transition(wanted[state], step, broker_order_id="B1", applied_version=1)
    # a WORKING copy whose leader moved on
    journal.record_leader_snapshot(snapshot("LX", seq=10**6), [desired("f1", "LX")])
    stale = journal.intents("f1", leader_order_id="LX")[0].id
    journal.transition(stale, S.SENDING)
    journal.transition(stale, S.WORKING, broker_order_id="BX", applied_version=1)
    journal.record_leader_snapshot(snapshot("LX", seq=10**6 + 1), [desired("f1", "LX", price=99.0)])

    on_start = {i.id for i in journal.intents_needing_action("f1")}
    on_tick = {i.id for i in journal.intents_needing_action("f1", include_in_flight=False)}

    expected = {wanted[s] for s in (S.PLANNED, S.UNKNOWN, S.SENDING, S.MODIFYING, S.CANCELLING)}
    assert on_start == expected | {stale}
    assert on_tick == {wanted[S.PLANNED], wanted[S.UNKNOWN], stale}
    assert journal.intents_needing_action("f2") == []


def test_unresolved_counts_open_work_but_not_settled_copies(journal: Journal):
    for n, state in enumerate(S):
        intent_id = planned_intent_id(journal, "f1", f"L{n}")
        for step in PATH_TO[state]:
            journal.transition(intent_id, step, broker_order_id="B1", applied_version=1)

    # PLANNED, SENDING, MODIFYING, CANCELLING, UNKNOWN; WORKING is in sync; terminals are done
    assert journal.unresolved_count() == 5


def test_unresolved_counts_only_the_followers_asked_for(journal: Journal):
    planned_intent_id(journal, "f1", "L1")
    planned_intent_id(journal, "f2", "L2")
    planned_intent_id(journal, "f2", "L3")

    assert journal.unresolved_count() == 3
    assert journal.unresolved_count(["f2"]) == 2
    assert journal.unresolved_count(["f1", "f3"]) == 1
    assert journal.unresolved_count([]) == 0


def test_intents_filter_by_follower_state_and_leader_order(journal: Journal):
    a = planned_intent_id(journal, "f1", "L1")
    b = planned_intent_id(journal, "f2", "L2")
    journal.transition(b, S.SENDING)

    assert [i.id for i in journal.intents()] == [a, b]
    assert [i.id for i in journal.intents("f2")] == [b]
    assert [i.id for i in journal.intents(states=[S.SENDING])] == [b]
    assert [i.id for i in journal.intents(states=[S.PLANNED], leader_order_id="L1")] == [a]
    assert journal.intents(states=[]) == []


def test_an_intent_is_found_by_its_correlation_id(journal: Journal):
    intent_id = planned_intent_id(journal)
    cid = journal.intent(intent_id).correlation_id

    assert journal.intent_by_correlation_id(cid).id == intent_id  # type: ignore[union-attr]
    assert journal.intent_by_correlation_id("nope") is None


def test_a_working_copy_that_filled_its_desired_quantity_still_needs_action(journal: Journal):
    # the leader cut its order below what the copy had filled: the applied version is current
    # (the refused modify was recorded) but the rest of the copy must still be cancelled
    journal.record_leader_snapshot(snapshot("LC", seq=1), [desired("f1", "LC", quantity=4)])
    intent_id = journal.intents("f1", leader_order_id="LC")[0].id
    journal.transition(intent_id, S.SENDING)
    journal.transition(intent_id, S.WORKING, broker_order_id="BC", applied_version=1)
    assert journal.intents_needing_action("f1") == []
    assert journal.unresolved_count() == 0

    journal.transition(intent_id, S.WORKING, filled_qty=6, broker_status=OrderStatus.PART_TRADED)

    assert [i.id for i in journal.intents_needing_action("f1", include_in_flight=False)] == [
        intent_id
    ]
    assert journal.unresolved_count() == 1
