"""Environment faults: a shared resource's outage pauses children and is never counted.

The resource here is a flag the probe checks (what a database's health probe would do); the
children, supervisors and the environment's probing thread are the real ones.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from supervision import (
    Backoff,
    ChildExited,
    ChildRestarted,
    Environment,
    EnvironmentDown,
    Escalation,
    ExitReason,
    Intensity,
    NameState,
    Registry,
    Supervisor,
)
from supervision.testing import EventRecorder
from tests.unit.supervision.conftest import StartTree
from tests.unit.supervision.workers import Journal, ResourceDown, worker

FAST = Backoff(initial_s=0.01, factor=2.0, max_s=0.05, jitter=0.0, reset_after_s=30.0)


class Resource:
    """A shared resource that is up or down; its probe raises while it is down."""

    def __init__(self) -> None:
        self.available = threading.Event()
        self.available.set()
        self.probes = 0

    def probe(self) -> None:
        self.probes += 1
        if not self.available.is_set():
            raise ConnectionError("resource unreachable")


@pytest.fixture
def resource() -> Resource:
    return Resource()


@pytest.fixture
def environment(resource: Resource) -> Iterator[Environment]:
    env = Environment("test-environment")
    env.add_resource(
        "db",
        probe=resource.probe,
        classify=lambda exc: "db" if isinstance(exc, ResourceDown) else None,
        backoff=FAST,
    )
    yield env
    env.close()


def test_a_child_failing_for_a_shared_resource_is_not_counted_and_starts_once_it_is_back(
    start_tree: StartTree,
    registry: Registry,
    recorder: EventRecorder,
    resource: Resource,
    environment: Environment,
) -> None:
    group = Supervisor.child_spec(
        "group", [worker("a")], intensity=Intensity(1, 60.0), escalation=Escalation.QUARANTINE
    )
    start_tree([group], intensity=Intensity(1, 60.0), environment=environment)

    for incarnation in (1, 2, 3, 4):  # four outages; the intensity allows one restart
        resource.available.clear()
        registry.tell("a", "resource_down")
        recorder.wait_for(
            ChildExited, child_id="a", incarnation=incarnation, reason=ExitReason.ENVIRONMENT
        )
        assert environment.down().keys() == {"db"}
        assert registry.state("a") is NameState.RESTARTING  # waits; no backoff is running
        resource.available.set()
        recorder.wait_for(ChildRestarted, child_id="a", incarnation=incarnation + 1)
        assert registry.ask("a", "ping", 5.0) == ("pong", incarnation + 1)

    restarts = recorder.of_type(ChildRestarted)
    assert [e.environment for e in restarts] == [True] * 4
    assert registry.state("group") is not NameState.QUARANTINED


def test_while_a_resource_is_down_a_child_handles_no_message_and_resumes_when_it_is_back(
    start_tree: StartTree,
    registry: Registry,
    recorder: EventRecorder,
    resource: Resource,
    environment: Environment,
    journal: Journal,
) -> None:
    start_tree([worker("a", journal=journal)], environment=environment)
    resource.available.clear()
    environment.report_fault("db", "seen down by a sibling")

    with pytest.raises(EnvironmentDown):
        registry.ask("a", "record", 5.0)
    recorder.wait_for(ChildExited, child_id="a", reason=ExitReason.ENVIRONMENT)
    assert journal.entries("handled") == []  # the gate refused it before the handler ran

    resource.available.set()
    recorder.wait_for(ChildRestarted, child_id="a", incarnation=2, environment=True)
    assert registry.ask("a", "record", 5.0) == "recorded"
    assert journal.entries("handled") == [("handled", "a", 2)]


def test_the_environment_probes_a_down_resource_on_a_backoff_and_tells_its_listeners(
    resource: Resource, environment: Environment
) -> None:
    changes: list[tuple[str, bool]] = []
    back = threading.Event()

    def listener(name: str, up: bool, reason: str) -> None:
        changes.append((name, up))
        if up:
            back.set()

    environment.subscribe(listener)
    resource.available.clear()
    environment.report_fault("db", "connection refused")
    assert environment.first_down() == ("db", "connection refused")
    woken = threading.Event()
    environment.when_up(None, woken.set)
    assert not woken.is_set()

    resource.available.set()
    assert back.wait(5.0) and woken.wait(5.0)
    assert changes == [("db", False), ("db", True)]
    assert environment.first_down() is None
    ran = threading.Event()
    environment.when_up(None, ran.set)  # all up: at once
    assert ran.is_set()


def test_a_resource_checked_while_up_is_reported_down_when_its_probe_fails(
    resource: Resource,
) -> None:
    env = Environment("checked")
    down = threading.Event()
    env.subscribe(lambda name, up, reason: None if up else down.set())
    env.add_resource(
        "db", probe=resource.probe, classify=lambda exc: None, backoff=FAST, check_interval_s=0.02
    )
    try:
        resource.available.clear()
        assert down.wait(5.0)
        assert env.down() == {"db": "ConnectionError: resource unreachable"}
    finally:
        env.close()
