"""Events reach subscribers on the bus's own thread; a failing subscriber harms nothing."""

from __future__ import annotations

import threading

from supervision import (
    ChildExited,
    ChildRestarted,
    ChildStarted,
    EventBus,
    Registry,
    SupervisionEvent,
)
from supervision.testing import EventRecorder
from tests.unit.supervision.conftest import StartTree
from tests.unit.supervision.workers import worker


def test_a_failing_subscriber_is_logged_and_supervision_goes_on(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder, bus: EventBus, caplog
) -> None:
    def broken(event: SupervisionEvent) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(broken)
    start_tree([worker("w")])

    registry.tell("w", "crash")

    recorder.wait_for(ChildRestarted, child_id="w", incarnation=2)
    assert registry.ask("w", "ping", timeout_s=2.0) == ("pong", 2)
    assert "subscriber failed" in caplog.text


def test_subscribers_run_on_the_bus_thread_not_an_actor_or_supervisor_thread(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    start_tree([worker("w")])
    registry.tell("w", "crash")
    recorder.wait_for(ChildRestarted, child_id="w", incarnation=2)
    assert recorder.delivery_threads == {"test-events"}


def test_every_lifecycle_step_is_published_in_order(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    start_tree([worker("w")])
    registry.tell("w", "crash")
    recorder.wait_for(ChildRestarted, child_id="w", incarnation=2)

    kinds = [type(e).__name__ for e in recorder.events]
    assert kinds == [
        "ChildStarted",
        "ChildExited",
        "RestartScheduled",
        "ChildStarted",
        "ChildRestarted",
    ]


def test_an_unsubscribed_callback_hears_nothing_more(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder, bus: EventBus
) -> None:
    heard: list[SupervisionEvent] = []
    subscription = bus.subscribe(heard.append)
    start_tree([worker("w")])
    recorder.wait_for(ChildStarted, child_id="w")
    subscription.cancel()
    seen = threading.Event()
    bus.subscribe(lambda event: seen.set() if isinstance(event, ChildExited) else None)

    registry.tell("w", "crash")

    assert seen.wait(5.0)
    assert [type(e) for e in heard] == [ChildStarted]
