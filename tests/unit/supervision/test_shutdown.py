"""Shutdown stops children in reverse start order, within a bounded time."""

from __future__ import annotations

import threading
import time

from supervision import (
    Backoff,
    ChildExited,
    ExitReason,
    ManualClock,
    NameState,
    Registry,
    RestartScheduled,
    Supervisor,
    SupervisorOutcome,
    SupervisorStopped,
)
from supervision.testing import EventRecorder
from tests.unit.supervision.conftest import StartTree
from tests.unit.supervision.workers import Journal, worker


def test_children_stop_in_reverse_start_order_including_dynamic_and_nested_ones(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder, journal: Journal
) -> None:
    nested = Supervisor.child_spec(
        "nested", [worker("n1", journal=journal), worker("n2", journal=journal)]
    )
    root = start_tree([worker("a", journal=journal), nested, worker("b", journal=journal)])
    root.start_child(worker("c", journal=journal))

    assert root.stop(timeout_s=10.0) is True

    stops = [entry[1] for entry in journal.entries("stop")]
    assert stops == ["c", "b", "n2", "n1", "a"]
    assert root.outcome is SupervisorOutcome.STOPPED
    recorder.wait_for(SupervisorStopped, supervisor="root", clean=True)
    for name in ("a", "b", "c", "n1", "n2"):
        assert registry.state(name) is NameState.STOPPED
    exits = recorder.of_type(ChildExited, supervisor="root")
    assert {e.reason for e in exits} == {ExitReason.SHUTDOWN}


def test_a_child_that_will_not_stop_is_abandoned_within_the_bound(
    start_tree: StartTree, registry: Registry
) -> None:
    gate = threading.Event()
    root = start_tree([worker("quick"), worker("stuck", gate=gate, shutdown_timeout_s=0.2)])
    stuck = registry.get("stuck")
    stuck.tell("block")

    started = time.monotonic()
    clean = root.stop(timeout_s=1.0)
    elapsed_s = time.monotonic() - started

    assert clean is False
    assert elapsed_s < 1.0
    assert root.outcome is SupervisorOutcome.STOPPED
    gate.set()  # let the abandoned thread finish
    assert stuck.actor_stopped.wait(5.0)


def test_a_restart_pending_at_shutdown_never_happens(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder, clock: ManualClock
) -> None:
    root = start_tree([worker("w", backoff=Backoff(initial_s=5.0, jitter=0.0))])
    registry.tell("w", "crash")
    recorder.wait_for(RestartScheduled, child_id="w")

    root.stop(timeout_s=5.0)

    assert clock.pending_due_s() == []  # the backoff timer was cancelled, not left to fire
    clock.advance(10.0)
    assert registry.state("w") is NameState.STOPPED
    assert recorder.of_type(ChildExited, child_id="w", incarnation=2) == []
