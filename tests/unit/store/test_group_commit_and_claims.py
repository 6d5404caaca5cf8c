"""Claims with the leader event, and SQLite group commit: one fsync for many writers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from store import IllegalTransition, IntentState, Journal
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
