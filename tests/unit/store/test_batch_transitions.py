"""``Journal.transitions``: several moves in one transaction, each checked on its own."""

from __future__ import annotations

import pytest

from dhan.codes import OrderStatus
from store import (
    IllegalTransition,
    Intent,
    IntentNotFound,
    IntentState,
    Journal,
    StaleState,
    TransitionRequest,
)
from tests.unit.store.factories import copies, followers, snapshot

S = IntentState


def _claimed(journal: Journal, n: int, order: str = "L1") -> list[Intent]:
    claimed = journal.record_and_claim(snapshot(order), copies(order, n), followers(n))
    assert claimed is not None and len(claimed) == n
    return sorted(claimed, key=lambda i: i.follower)


def _ack(intent: Intent, **fields: object) -> TransitionRequest:
    args: dict[str, object] = {
        "intent_id": intent.id,
        "to": S.WORKING,
        "expect_from": S.SENDING,
        "broker_order_id": f"B{intent.id}",
        "broker_status": OrderStatus.PENDING,
        "applied_version": intent.desired_version,
    }
    return TransitionRequest(**(args | fields))  # type: ignore[arg-type]  # test helper: typed by the dataclass


def test_a_batch_of_acks_commits_every_one_and_returns_them_in_request_order(journal: Journal):
    claimed = _claimed(journal, 4)
    requests = [_ack(i) for i in reversed(claimed)]  # not in id order

    moved = journal.transitions(requests)

    assert [m.id for m in moved if isinstance(m, Intent)] == [r.intent_id for r in requests]
    for intent in claimed:
        stored = journal.intent(intent.id)
        assert (stored.state, stored.broker_order_id, stored.applied_version) == (
            S.WORKING,
            f"B{intent.id}",
            1,
        )
        assert stored.broker_status is OrderStatus.PENDING
        assert stored in moved  # what it returns is what is stored
    kinds = [a for a in journal.audit_after(0) if a.kind == "intent_transition"]
    assert sorted(a.payload["intent_id"] for a in kinds) == sorted(i.id for i in claimed)
    assert {(a.payload["from"], a.payload["to"]) for a in kinds} == {("SENDING", "WORKING")}


def test_a_refused_move_is_returned_as_its_error_and_the_others_still_commit(journal: Journal):
    claimed = _claimed(journal, 4)
    journal.transition(claimed[1].id, S.UNKNOWN)  # moved on since the caller read it
    trail = len(journal.audit_after(0))
    requests = [
        _ack(claimed[0]),
        _ack(claimed[1]),  # stale: it is UNKNOWN now
        TransitionRequest(intent_id=claimed[2].id, to=S.CANCELLING),  # illegal from SENDING
        TransitionRequest(intent_id=999_999, to=S.DONE),  # no such intent
        _ack(claimed[3], applied_version=7),  # beyond the desired version
    ]

    outcomes = journal.transitions(requests)

    assert len(outcomes) == len(requests)
    assert isinstance(outcomes[0], Intent) and outcomes[0].state is S.WORKING
    assert isinstance(outcomes[1], StaleState) and outcomes[1].actual is S.UNKNOWN
    assert isinstance(outcomes[2], IllegalTransition)
    assert isinstance(outcomes[3], IntentNotFound)
    assert isinstance(outcomes[4], ValueError)
    states = [journal.intent(i.id).state for i in claimed]
    assert states == [S.WORKING, S.UNKNOWN, S.SENDING, S.SENDING]
    assert len(journal.audit_after(0)) == trail + 1  # only the move that happened is audited


def test_moves_of_one_intent_apply_in_the_order_given(journal: Journal):
    (intent,) = _claimed(journal, 1)
    requests = [
        _ack(intent),
        TransitionRequest(intent_id=intent.id, to=S.CANCELLING, expect_from=S.WORKING),
        TransitionRequest(intent_id=intent.id, to=S.DONE, expect_from=S.CANCELLING, reason="x"),
        TransitionRequest(intent_id=intent.id, to=S.WORKING),  # DONE is terminal
    ]

    outcomes = journal.transitions(requests)

    assert [o.state for o in outcomes[:3] if isinstance(o, Intent)] == [
        S.WORKING,
        S.CANCELLING,
        S.DONE,
    ]
    assert isinstance(outcomes[3], IllegalTransition)
    assert journal.intent(intent.id).state_reason == "x"


def test_an_empty_batch_does_nothing(journal: Journal):
    assert journal.transitions([]) == []


def test_a_batch_is_one_commit_and_durable_when_it_returns(tmp_path, sqlite_template):
    import shutil

    path = tmp_path / "batch.db"
    shutil.copyfile(sqlite_template, path)
    journal = Journal.open(f"sqlite:///{path}")
    try:
        claimed = _claimed(journal, 6)
        group = journal._group  # internals: the SQLite group committer counts its commits
        assert group is not None
        before = group.batches
        journal.transitions([_ack(i) for i in claimed])
        assert group.batches == before + 1
    finally:
        journal.close()
    reopened = Journal.open(f"sqlite:///{path}")
    try:
        assert {i.state for i in reopened.intents()} == {S.WORKING}
    finally:
        reopened.close()


def test_a_batch_of_only_refusals_commits_nothing(journal: Journal):
    (intent,) = _claimed(journal, 1)
    trail = journal.audit_after(0)

    outcomes = journal.transitions([TransitionRequest(intent_id=intent.id, to=S.MODIFYING)])

    assert isinstance(outcomes[0], IllegalTransition)
    assert journal.intent(intent.id) == intent
    assert journal.audit_after(0) == trail


def test_an_unknown_target_state_is_refused_in_its_slot(journal: Journal):
    (intent,) = _claimed(journal, 1)
    bad = TransitionRequest(intent_id=intent.id, to="LIMBO")  # type: ignore[arg-type]  # the point of the test
    outcomes = journal.transitions([bad, _ack(intent)])
    assert isinstance(outcomes[0], ValueError)
    assert isinstance(outcomes[1], Intent) and outcomes[1].state is S.WORKING


@pytest.mark.parametrize("width", [1, 10])
def test_a_single_transition_and_a_batch_record_the_same_row(journal: Journal, width: int):
    claimed = _claimed(journal, width + 1)
    one = journal.transition(
        claimed[0].id,
        S.WORKING,
        expect_from=S.SENDING,
        broker_order_id=f"B{claimed[0].id}",
        broker_status=OrderStatus.PENDING,
        applied_version=1,
    )
    batch = journal.transitions([_ack(i) for i in claimed[1:]])
    for moved in [one, *batch]:
        assert isinstance(moved, Intent)
        stored = journal.intent(moved.id)
        assert stored == moved
        assert (stored.state, stored.attempts, stored.error_code) == (S.WORKING, 1, None)


def test_two_batches_over_the_same_intents_in_opposite_orders_both_finish(journal: Journal):
    import threading

    claimed = _claimed(journal, 20)
    start = threading.Barrier(2)
    results: dict[str, list[object]] = {}
    errors: list[BaseException] = []

    def run(name: str, intents: list[Intent]) -> None:
        try:
            start.wait(timeout=10)
            results[name] = list(journal.transitions([_ack(i) for i in intents]))
        except BaseException as exc:  # a deadlock on PostgreSQL would land here
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=("up", claimed)),
        threading.Thread(target=run, args=("down", claimed[::-1])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert errors == []
    moved = [o for r in results.values() for o in r if isinstance(o, Intent)]
    stale = [o for r in results.values() for o in r if isinstance(o, StaleState)]
    assert len(moved) == 20 and len(stale) == 20  # each intent moved once, by one batch
    assert {journal.intent(i.id).state for i in claimed} == {S.WORKING}


def test_marks_given_with_a_batch_commit_with_it_whatever_each_requests_outcome(
    journal: Journal,
):
    claimed = _claimed(journal, 2)
    ok, stale = claimed
    marks = {f"slippage:20261207:{ok.id}": "1.5000", f"slippage:20261207:{stale.id}": "-2.0000"}

    moved = journal.transitions([_ack(ok), _ack(stale, expect_from=S.WORKING)], marks=("f1", marks))

    assert isinstance(moved[0], Intent) and isinstance(moved[1], StaleState)
    assert journal.marks("f1", "slippage:") == marks
    assert journal.marks("f2", "slippage:") == {}


def test_a_batch_that_raises_commits_neither_its_moves_nor_its_marks(
    journal: Journal,
):
    (intent,) = _claimed(journal, 1)
    bad = _ack(intent, broker_status="NOT A STATUS")  # raised inside the transaction

    with pytest.raises(ValueError, match="NOT A STATUS"):
        journal.transitions([bad], marks=("f1", {"slippage:20261207:1": "3.0000"}))

    assert journal.marks("f1", "slippage:") == {}
    assert journal.intent(intent.id).state is S.SENDING
