"""Many threads on one journal: the database, not Python, decides who wins."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from store import IntentState, Journal
from tests.unit.store.factories import copies, followers, snapshot

THREADS = 8


def test_threads_recording_the_same_leader_event_produce_one_snapshot_and_one_intent_each(
    journal: Journal,
):
    snap = snapshot("L1", seq=1)
    wanted = copies("L1", 10)
    start = threading.Barrier(THREADS)

    def record() -> bool:
        start.wait(timeout=10)
        return journal.record_leader_snapshot(snap, wanted)

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda _: record(), range(THREADS)))

    assert sorted(results) == [False] * (THREADS - 1) + [True]
    assert journal.leader_snapshots() == [snap]
    intents = journal.intents()
    assert sorted(i.follower for i in intents) == sorted(followers(10))
    assert {(i.state, i.desired_version) for i in intents} == {(IntentState.PLANNED, 1)}
    assert [a.kind for a in journal.audit_after(0)].count("leader_snapshot") == 1


def test_threads_recording_different_events_lose_none(journal: Journal):
    per_thread = 15
    start = threading.Barrier(THREADS)

    def record(t: int) -> None:
        start.wait(timeout=10)
        for n in range(per_thread):
            assert journal.record_leader_snapshot(snapshot(f"L{t}-{n}"), copies(f"L{t}-{n}", 2))

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(record, range(THREADS)))

    assert len(journal.leader_snapshots()) == THREADS * per_thread
    assert len(journal.intents()) == THREADS * per_thread * 2
    assert journal.integrity_check() == []


def test_a_drain_by_id_sees_every_audit_entry_while_writers_commit(journal: Journal):
    writers, per_writer = 6, 60
    done = threading.Event()
    drained: list[int] = []

    def write(w: int) -> list[int]:
        return [
            journal.append_audit("k", actor=f"w{w}", account=None, payload={"n": n})
            for n in range(per_writer)
        ]

    def drain() -> None:
        # what the AuditActor does: read after the cursor, advance the cursor, repeat
        while True:
            finished = done.is_set()
            batch = journal.audit_after(drained[-1] if drained else 0, limit=7)
            drained.extend(r.id for r in batch)
            if finished and not batch:
                return

    drainer = threading.Thread(target=drain)
    drainer.start()
    with ThreadPoolExecutor(writers) as pool:
        written = [i for ids in pool.map(write, range(writers)) for i in ids]
    done.set()
    drainer.join(timeout=30)

    assert not drainer.is_alive()
    assert drained == sorted(written)
