"""Children are addressed by stable names that follow restarts; no message is lost silently."""

from __future__ import annotations

import pytest

from supervision import (
    Backoff,
    ChildRestarted,
    ChildUnavailable,
    NameState,
    Registry,
    RestartScheduled,
)
from supervision.testing import EventRecorder
from tests.unit.supervision.conftest import StartTree
from tests.unit.supervision.workers import worker


def test_the_registry_returns_the_new_ref_after_a_restart(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    start_tree([worker("w")])
    first = registry.get("w")

    registry.tell("w", "crash")
    recorder.wait_for(ChildRestarted, child_id="w", incarnation=2)

    second = registry.get("w")
    assert second is not first
    assert second.is_alive()
    assert registry.ask("w", "ping", timeout_s=2.0) == ("pong", 2)


def test_a_message_to_a_restarting_child_raises_in_the_sender(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder, clock
) -> None:
    start_tree([worker("w", backoff=Backoff(initial_s=5.0, jitter=0.0))])

    registry.tell("w", "crash")
    recorder.wait_for(RestartScheduled, child_id="w")

    assert registry.state("w") is NameState.RESTARTING
    with pytest.raises(ChildUnavailable) as raised:
        registry.tell("w", "ping")
    assert raised.value.state == NameState.RESTARTING
    with pytest.raises(ChildUnavailable):
        registry.ask("w", "ping", timeout_s=1.0)

    clock.advance(5.0)
    assert registry.wait_running("w", 5.0).ask("ping", timeout=2.0) == ("pong", 2)


def test_a_message_to_a_child_that_died_unnoticed_raises_rather_than_vanishing(
    start_tree: StartTree, registry: Registry
) -> None:
    start_tree([worker("w", backoff=Backoff(initial_s=5.0, jitter=0.0))])
    ref = registry.get("w")
    ref.tell("stop_self")
    assert ref.actor_stopped.wait(2.0)

    # Whether or not the supervisor has handled the exit yet, the sender is told.
    with pytest.raises(ChildUnavailable):
        registry.tell("w", "ping")


def test_an_unknown_name_is_unavailable(registry: Registry) -> None:
    with pytest.raises(ChildUnavailable, match="unknown"):
        registry.get("nobody")


def test_mailbox_depths_are_reported_per_running_name(
    start_tree: StartTree, registry: Registry
) -> None:
    start_tree([worker("a"), worker("b")])
    assert registry.mailbox_depths() == {"a": 0, "b": 0}
