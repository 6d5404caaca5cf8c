"""ONE_FOR_ALL and REST_FOR_ONE restart the right siblings, in start order."""

from __future__ import annotations

from supervision import (
    ChildExited,
    ChildRestarted,
    ChildStarted,
    ExitReason,
    Registry,
    Strategy,
)
from supervision.testing import EventRecorder
from tests.unit.supervision.conftest import StartTree
from tests.unit.supervision.workers import Journal, worker


def test_one_for_all_stops_every_sibling_and_restarts_all_in_start_order(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder, journal: Journal
) -> None:
    start_tree([worker(n, journal=journal) for n in ("a", "b", "c")], strategy=Strategy.ONE_FOR_ALL)

    registry.tell("b", "crash")

    for name in ("a", "b", "c"):
        recorder.wait_for(ChildRestarted, child_id=name, incarnation=2)
    assert recorder.wait_for(ChildExited, child_id="a").reason is ExitReason.SHUTDOWN
    assert recorder.wait_for(ChildExited, child_id="c").reason is ExitReason.SHUTDOWN
    assert recorder.wait_for(ChildExited, child_id="b").reason is ExitReason.CRASH
    restarts = [e.child_id for e in recorder.of_type(ChildStarted) if e.incarnation == 2]
    assert restarts == ["a", "b", "c"]
    stops = [entry[1] for entry in journal.entries("stop")]
    assert stops == ["c", "a"]  # siblings stopped in reverse start order
    for name in ("a", "b", "c"):
        assert registry.ask(name, "ping", timeout_s=2.0) == ("pong", 2)


def test_rest_for_one_restarts_the_child_and_those_started_after_it(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    start_tree([worker(n) for n in ("a", "b", "c")], strategy=Strategy.REST_FOR_ONE)
    first_a = registry.get("a")

    registry.tell("b", "crash")

    recorder.wait_for(ChildRestarted, child_id="b", incarnation=2)
    recorder.wait_for(ChildRestarted, child_id="c", incarnation=2)
    assert registry.get("a") is first_a
    assert registry.ask("a", "ping", timeout_s=2.0) == ("pong", 1)
    assert recorder.of_type(ChildExited, child_id="a") == []


def test_one_for_one_restarts_only_the_child_that_exited(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    start_tree([worker(n) for n in ("a", "b", "c")])
    registry.tell("b", "crash")
    recorder.wait_for(ChildRestarted, child_id="b", incarnation=2)
    assert registry.ask("a", "ping", timeout_s=2.0) == ("pong", 1)
    assert registry.ask("c", "ping", timeout_s=2.0) == ("pong", 1)
