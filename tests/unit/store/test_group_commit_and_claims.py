"""Claims with the leader event, and SQLite group commit: one fsync for many writers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from store import IllegalTransition, Intent, IntentState, Journal, StaleState
from tests.unit.store.factories import copies, followers, snapshot

THREADS = 8


def test_record_and_claim_returns_the_claimed_intents_already_sending(journal: Journal):
    wanted = copies("L1", 4)
    claimed = journal.record_and_claim(snapshot("L1", seq=1), wanted, followers(4)[:3])
    assert claimed is not None
    assert sorted(i.follower for i in claimed) == followers(4)[:3]
    assert {i.state for i in claimed} == {IntentState.SENDING}
    stored = {i.follower: i for i in journal.intents()}
    for intent in claimed:
        assert stored[intent.follower] == intent  # what the hint carries is what is stored
    assert stored[followers(4)[3]].state is IntentState.PLANNED  # not in claim_for


def test_a_duplicated_event_claims_nothing(journal: Journal):
    snap = snapshot("L1", seq=1)
    assert journal.record_and_claim(snap, copies("L1", 2), followers(2))
    assert journal.record_and_claim(snap, copies("L1", 2), followers(2)) is None


def test_skipped_intents_are_never_claimed(journal: Journal):
    wanted = copies("L1", 2, skip_reason="filtered: segment")
    claimed = journal.record_and_claim(snapshot("L1", seq=1), wanted, followers(2))
    assert claimed == []
    assert {i.state for i in journal.intents()} == {IntentState.SKIPPED}


def test_a_claimed_intent_follows_the_normal_state_machine(journal: Journal):
    (claimed,) = journal.record_and_claim(snapshot("L1", seq=1), copies("L1", 1), followers(1))
    assert claimed.attempts == 1
    done = journal.transition(
        claimed.id,
        IntentState.WORKING,
        expect_from=IntentState.SENDING,
        broker_order_id="B1",
        applied_version=1,
    )
    assert done.state is IntentState.WORKING


@pytest.fixture
def sqlite_journal(tmp_path: Path, sqlite_template: Path) -> Journal:
    import shutil

    path = tmp_path / "gc.db"
    shutil.copyfile(sqlite_template, path)
    j = Journal.open(f"sqlite:///{path}")
    yield j
    j.close()


def test_concurrent_writers_share_commits_and_one_failure_rolls_back_only_its_own_work(
    sqlite_journal: Journal,
):
    journal = sqlite_journal
    claimed = journal.record_and_claim(snapshot("L1", seq=1), copies("L1", 40), followers(40))
    assert claimed is not None and len(claimed) == 40
    group = journal._group
    assert group is not None
    before = group.batches
    start = threading.Barrier(THREADS)
    bad_id = claimed[0].id

    def work(chunk: list) -> list[str]:
        start.wait(timeout=10)
        outcomes = []
        for intent in chunk:
            try:
                if intent.id == bad_id:  # illegal: SENDING -> MODIFYING
                    journal.transition(intent.id, IntentState.MODIFYING)
                else:
                    journal.transition(
                        intent.id,
                        IntentState.WORKING,
                        broker_order_id=f"B{intent.id}",
                        applied_version=1,
                    )
                outcomes.append("ok")
            except IllegalTransition:
                outcomes.append("illegal")
        return outcomes

    chunks = [claimed[i::THREADS] for i in range(THREADS)]
    with ThreadPoolExecutor(THREADS) as pool:
        results = [o for r in pool.map(work, chunks) for o in r]
    assert results.count("illegal") == 1 and results.count("ok") == 39
    states = {i.id: i.state for i in journal.intents()}
    assert states[bad_id] is IntentState.SENDING  # its savepoint rolled back, nothing else
    assert sum(s is IntentState.WORKING for s in states.values()) == 39
    assert group.batches - before < 40  # some writers shared a commit
    reopened = Journal.open(journal.url.replace("***", ""))
    try:
        assert sum(i.state is IntentState.WORKING for i in reopened.intents()) == 39
    finally:
        reopened.close()


def test_a_nested_write_on_the_same_thread_joins_the_batch(sqlite_journal: Journal):
    journal = sqlite_journal
    with journal._write():
        # e.g. an operation that appends audit from inside another write
        journal.append_audit("nested", actor="test", account=None, payload={"x": 1})
    assert [a.kind for a in journal.audit_after(0)][-1] == "nested"


def _wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.001)  # polling a condition with a deadline, not synchronisation by sleep
    return predicate()


def _two_joined_writers(
    journal: Journal, first: Callable[[Any], None], second: Callable[[Any], None]
) -> list[BaseException]:
    """``first`` leads a batch and does its work; ``second`` joins that batch while ``first``
    is still working, then does its own. Returns what each raised (in that order)."""
    group = journal._group  # internals: these tests stage one batch of two writers
    assert group is not None
    first_working = threading.Event()
    errors: list[BaseException] = []

    def lead() -> None:
        try:
            with journal._write() as conn:
                first(conn)
                first_working.set()
                joined = _wait_until(lambda: group._open is not None and group._open.members >= 2)
                assert joined, "the second writer never joined the batch"
                if getattr(first, "fails", False):
                    raise RuntimeError("first writer fails after writing")
        except BaseException as exc:
            errors.append(exc)

    def join() -> None:
        assert first_working.wait(10)
        try:
            with journal._write() as conn:
                second(conn)
                if getattr(second, "fails", False):
                    raise RuntimeError("second writer fails after writing")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=lead), threading.Thread(target=join)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return errors


def _move(journal: Journal, intent_id: int, *, fails: bool) -> Callable[[Any], None]:
    def work(conn: Any) -> None:
        journal._hot.transition(conn, intent_id, IntentState.SENDING, None, {}, datetime.now(UTC))

    work.fails = fails  # type: ignore[attr-defined]  # read by _two_joined_writers
    return work


def test_a_first_writer_failing_after_its_writes_is_rolled_back_alone_and_the_batch_goes_on(
    sqlite_journal: Journal,
):
    journal = sqlite_journal
    a, b = (i.id for i in _planned(journal, 2))
    group = journal._group
    assert group is not None
    before = group.batches

    errors = _two_joined_writers(
        journal, _move(journal, a, fails=True), _move(journal, b, fails=False)
    )

    assert [str(e) for e in errors] == ["first writer fails after writing"]
    assert journal.intent(a).state is IntentState.PLANNED  # its write was undone
    assert journal.intent(b).state is IntentState.SENDING  # the joined writer committed
    assert group.batches == before + 1
    moved = [
        r.payload["intent_id"] for r in journal.audit_after(0) if r.kind == "intent_transition"
    ]
    assert moved == [b]


def test_a_writer_failing_after_others_work_undoes_only_its_own(sqlite_journal: Journal):
    journal = sqlite_journal
    a, b = (i.id for i in _planned(journal, 2))

    errors = _two_joined_writers(
        journal, _move(journal, a, fails=False), _move(journal, b, fails=True)
    )

    assert [str(e) for e in errors] == ["second writer fails after writing"]
    assert journal.intent(a).state is IntentState.SENDING
    assert journal.intent(b).state is IntentState.PLANNED


def test_a_refused_transition_writes_nothing_and_costs_no_commit(sqlite_journal: Journal):
    journal = sqlite_journal
    (intent,) = _planned(journal, 1)
    group = journal._group
    assert group is not None
    before = group.batches

    with pytest.raises(StaleState):
        journal.transition(intent.id, IntentState.DONE, expect_from=IntentState.SENDING)

    assert group.batches == before  # nothing changed, nothing committed
    assert journal.transition(intent.id, IntentState.SENDING).state is IntentState.SENDING
    assert group.batches == before + 1


def _planned(journal: Journal, n: int) -> list[Intent]:
    assert journal.record_leader_snapshot(snapshot("P1", seq=1), copies("P1", n))
    return journal.intents(leader_order_id="P1")
