"""Acks of plain places held for one batched write (``actors.ack_buffer``), on a real SQLite
journal: written together, a refused one left to whoever settled it, nothing lost to a fault."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.ack_buffer import MAX_UNJOURNALED_ACKS, AckBuffer
from store import IntentState, Journal
from store.records import Intent, TransitionRequest
from supervision.faults import ChaosFault, FaultPlan, Faults
from tests.unit.store.factories import copies, snapshot

S = IntentState


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal.open(f"sqlite:///{tmp_path / 'journal.db'}")
    try:
        yield j
    finally:
        j.close()


def claimed(journal: Journal, n: int) -> list[Intent]:
    """``n`` copies of one leader order, claimed (SENDING) for followers f1..fn."""
    names = [f"f{k}" for k in range(1, n + 1)]
    got = journal.record_and_claim(snapshot("L1", seq=1), copies("L1", n), names)
    assert got is not None and len(got) == n
    return sorted(got, key=lambda i: i.id)


def ack(intent: Intent, k: int) -> TransitionRequest:
    return TransitionRequest(
        intent_id=intent.id,
        to=S.WORKING,
        expect_from=S.SENDING,
        broker_order_id=f"B-{k}",
        applied_version=intent.desired_version,
    )


def test_held_acks_are_written_together_at_the_flush(journal: Journal) -> None:
    intents = claimed(journal, 3)
    buffer = AckBuffer(journal, "f", Faults())
    for k, intent in enumerate(intents):
        assert buffer.hold(ack(intent, k)) is False
    assert {i.state for i in journal.intents()} == {S.SENDING}  # nothing written yet
    buffer.flush()
    assert [(i.state, i.broker_order_id) for i in journal.intents()] == [
        (S.WORKING, "B-0"),
        (S.WORKING, "B-1"),
        (S.WORKING, "B-2"),
    ]
    assert buffer.held == []


def test_the_buffer_asks_for_a_write_when_it_holds_the_maximum(journal: Journal) -> None:
    (intent,) = claimed(journal, 1)
    buffer = AckBuffer(journal, "f", Faults())
    full = [buffer.hold(ack(intent, 0)) for _ in range(MAX_UNJOURNALED_ACKS)]
    assert full == [False] * (MAX_UNJOURNALED_ACKS - 1) + [True]


def test_an_ack_settled_meanwhile_by_someone_else_is_left_to_them(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = claimed(journal, 2)
    journal.transition(first.id, S.UNKNOWN, expect_from=S.SENDING, reason="looked up")
    buffer = AckBuffer(journal, "f", Faults())
    buffer.hold(ack(first, 0))
    buffer.hold(ack(second, 1))
    caplog.set_level(logging.INFO, logger="actors.ack_buffer")
    buffer.flush()
    states = {i.id: i.state for i in journal.intents()}
    assert states == {first.id: S.UNKNOWN, second.id: S.WORKING}
    assert "not journaled" in caplog.text


def test_a_fault_before_the_write_keeps_the_acks_and_writes_nothing(journal: Journal) -> None:
    (intent,) = claimed(journal, 1)
    faults = Faults()
    faults.arm(FaultPlan(seed=1, at_hits={"follower.before_journal_acks": [1]}))
    buffer = AckBuffer(journal, "f", faults)
    buffer.hold(ack(intent, 0))
    with pytest.raises(ChaosFault):
        buffer.flush()
    assert journal.intent(intent.id).state is S.SENDING  # a successor looks it up
    buffer.flush()  # the second hit is not armed
    assert journal.intent(intent.id).state is S.WORKING


def test_an_empty_buffer_flushes_without_a_write_or_a_fault_point(journal: Journal) -> None:
    faults = Faults()
    faults.arm(FaultPlan(seed=1, at_hits={"follower.before_journal_acks": [1]}))
    AckBuffer(journal, "f", faults).flush()
    assert faults.seen_points() == set()
