"""Fixtures for the supervision suite: a manual clock, an event recorder, trees to start."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from supervision import ChildSpec, EventBus, ManualClock, Registry, Supervisor
from supervision.testing import EventRecorder
from tests.unit.supervision.workers import Journal

StartTree = Callable[..., Supervisor]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def bus() -> Iterator[EventBus]:
    events = EventBus("test-events")
    yield events
    events.close()


@pytest.fixture
def recorder(bus: EventBus) -> Iterator[EventRecorder]:
    events = EventRecorder(bus)
    yield events
    events.close()


@pytest.fixture
def registry() -> Registry:
    return Registry()


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def start_tree(clock: ManualClock, bus: EventBus, registry: Registry) -> Iterator[StartTree]:
    """Start a root supervisor on the test's clock, bus and registry; stopped at teardown."""
    started: list[Supervisor] = []

    def start(specs: list[ChildSpec], name: str = "root", **kwargs: Any) -> Supervisor:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("events", bus)
        kwargs.setdefault("registry", registry)
        supervisor = Supervisor(name, specs, **kwargs).start()
        started.append(supervisor)
        return supervisor

    yield start
    for supervisor in reversed(started):
        supervisor.stop(timeout_s=5.0)
