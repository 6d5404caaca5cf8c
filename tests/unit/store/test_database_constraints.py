"""The journal's uniqueness rules live in the database: plain SQL cannot break them either.

Every rule is checked by writing the forbidden row by hand, around the journal's Python code,
and by racing separate ``Journal`` instances (separate engines and connections, as two worker
processes would be) on one event: the database alone must decide who wins.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from dhan.codes import OrderStatus
from store import IntentState, Journal
from store.models import Base
from tests.unit.store.factories import copies, followers, planned_intent_id, snapshot

WORKERS = 4


def _copy_row(journal: Journal, table: str, row_id: Any, key: str, **changed: Any) -> None:
    """Insert a copy of one row of ``table`` (found by ``key``) with ``changed`` columns."""
    columns = [c.name for c in Base.metadata.tables[table].c if c.name != "id"]
    picked = ", ".join(f":{c}" if c in changed else c for c in columns)
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"SELECT {picked} FROM {table} WHERE {key} = :row_id"
    )
    with journal._engine.begin() as conn:
        conn.execute(text(sql), {"row_id": row_id, **changed})


def _refused(write: Callable[[], None], constraint: str) -> None:
    with pytest.raises(IntegrityError, match=rf"(?i)unique|{constraint}"):
        write()


def test_the_database_refuses_a_second_row_for_one_leader_event(journal: Journal):
    journal.record_leader_snapshot(snapshot("L1", dedupe_key="L1|PENDING|1"), [])

    _refused(
        lambda: _copy_row(journal, "leader_events", "L1|PENDING|1", "dedupe_key", seq=99),
        "uq_leader_events_dedupe_key",
    )


def test_the_database_refuses_a_second_intent_of_one_follower_order_and_leg(journal: Journal):
    intent_id = planned_intent_id(journal)

    _refused(
        lambda: _copy_row(journal, "follower_intents", intent_id, "id", correlation_id="other"),
        "uq_follower_intents_leader_order_id_follower_leg",
    )


def test_the_database_refuses_a_correlation_id_twice(journal: Journal):
    intent_id = planned_intent_id(journal)

    _refused(
        lambda: _copy_row(journal, "follower_intents", intent_id, "id", follower="someone"),
        "uq_follower_intents_correlation_id",
    )


def test_the_database_keeps_bracket_legs_linked_to_a_real_entry_once_per_name(
    journal: Journal,
):
    intent_id = planned_intent_id(journal)
    journal.upsert_leg(intent_id, "TARGET_LEG", order_id="B2", status=OrderStatus.PENDING)
    (leg,) = journal.legs(intent_id)

    _refused(
        lambda: _copy_row(journal, "bracket_order_legs", leg.id, "id"),
        "uq_bracket_order_legs_intent_id_leg_name",
    )
    with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
        _copy_row(journal, "bracket_order_legs", leg.id, "id", intent_id=intent_id + 1000)


def test_separate_journals_recording_one_event_at_once_produce_one_snapshot_and_intent_each(
    journal_url: str,
):
    workers = [Journal.open(journal_url) for _ in range(WORKERS)]
    snap, wanted = snapshot("L1", seq=1), copies("L1", 10)
    start = threading.Barrier(WORKERS)

    def record(worker: Journal) -> bool:
        start.wait(timeout=10)
        return worker.record_leader_snapshot(snap, wanted)

    try:
        with ThreadPoolExecutor(WORKERS) as pool:
            results = list(pool.map(record, workers))
        reader = workers[0]
        assert sorted(results) == [False] * (WORKERS - 1) + [True]
        assert reader.leader_snapshots() == [snap]
        intents = reader.intents()
        assert sorted(i.follower for i in intents) == sorted(followers(10))
        assert {(i.state, i.desired_version) for i in intents} == {(IntentState.PLANNED, 1)}
        assert [a.kind for a in reader.audit_after(0)].count("leader_snapshot") == 1
    finally:
        for worker in workers:
            worker.close()
