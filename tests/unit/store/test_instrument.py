"""The journal's instrument: told of each write transaction, in order, only when set
(store.instrument). Both backends."""

from __future__ import annotations

import threading

import pytest

from store import IllegalTransition, IntentState, Journal
from store.instrument import JournalInstrument
from tests.unit.store.factories import planned_intent_id


class Writes(JournalInstrument):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str, type[BaseException] | None]] = []

    def write_started(self) -> None:
        with self.lock:
            self.calls.append(("started", threading.current_thread().name, None))

    def write_finished(self, error: BaseException | None) -> None:
        with self.lock:
            self.calls.append(
                ("finished", threading.current_thread().name, type(error) if error else None)
            )


def test_each_write_is_started_then_finished_on_the_calling_thread(journal: Journal):
    intent_id = planned_intent_id(journal)
    writes = Writes()
    journal.instrument = writes

    journal.transition(intent_id, IntentState.SENDING)
    journal.append_audit("note", actor="test", account="f1", payload={"k": 1})

    me = threading.current_thread().name
    assert writes.calls == [
        ("started", me, None),
        ("finished", me, None),
        ("started", me, None),
        ("finished", me, None),
    ]


def test_a_failed_write_is_finished_with_its_error(journal: Journal):
    intent_id = planned_intent_id(journal)
    journal.instrument = writes = Writes()

    with pytest.raises(IllegalTransition):
        journal.transition(intent_id, IntentState.WORKING)  # PLANNED -> WORKING is illegal

    me = threading.current_thread().name
    assert writes.calls == [("started", me, None), ("finished", me, IllegalTransition)]
    assert journal.intent(intent_id).state is IntentState.PLANNED


def test_reads_are_not_writes(journal: Journal):
    intent_id = planned_intent_id(journal)
    journal.instrument = writes = Writes()

    journal.intent(intent_id)
    journal.intents(states=[IntentState.PLANNED])
    journal.get_mark("a", "b")

    assert writes.calls == []


def test_concurrent_writes_each_report_on_their_own_thread(journal: Journal):
    journal.instrument = writes = Writes()
    barrier = threading.Barrier(4)

    def write(k: int) -> None:
        barrier.wait()
        journal.append_audit("note", actor="test", account="f1", payload={"k": k})

    threads = [threading.Thread(target=write, args=(k,), name=f"w{k}") for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    for name in ("w0", "w1", "w2", "w3"):
        assert [kind for kind, thread, _e in writes.calls if thread == name] == [
            "started",
            "finished",
        ]


def test_without_an_instrument_nothing_is_called(journal: Journal):
    intent_id = planned_intent_id(journal)
    writes = Writes()
    journal.instrument = writes
    journal.instrument = None

    journal.transition(intent_id, IntentState.SENDING)

    assert journal.instrument is None
    assert writes.calls == []
    assert journal.intent(intent_id).state is IntentState.SENDING
