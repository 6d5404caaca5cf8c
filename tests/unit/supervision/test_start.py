"""Starting a tree: children start in order; a factory that fails is an init failure at
first and a crash on a restart; a child's start result is checked."""

from __future__ import annotations

from typing import Any

import pytest

from supervision import (
    ChildContext,
    ChildExited,
    ChildRestarted,
    ChildSpec,
    ChildStarted,
    ExitReason,
    NameState,
    Registry,
    Supervisor,
)
from supervision.testing import EventRecorder
from tests.unit.supervision.conftest import StartTree
from tests.unit.supervision.workers import Journal, Worker, worker


def test_children_start_in_spec_order(start_tree: StartTree, recorder: EventRecorder) -> None:
    start_tree([worker("a"), worker("b"), worker("c")])
    recorder.wait_for(ChildStarted, child_id="c")
    assert [e.child_id for e in recorder.of_type(ChildStarted)] == ["a", "b", "c"]


def test_a_factory_that_fails_at_first_start_fails_start_and_stops_earlier_children(
    start_tree: StartTree, registry: Registry, journal: Journal
) -> None:
    def broken(context: ChildContext) -> Any:
        raise OSError("no config")

    with pytest.raises(OSError, match="no config"):
        start_tree([worker("a", journal=journal), ChildSpec(id="bad", start=broken)])

    assert [entry[1] for entry in journal.entries("stop")] == ["a"]
    assert registry.state("a") is NameState.STOPPED


def test_a_factory_that_fails_on_a_restart_counts_as_a_crash_and_is_retried(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    attempts: list[int] = []

    def flaky(context: ChildContext) -> Any:
        attempts.append(context.incarnation)
        if context.incarnation == 2:
            raise OSError("transient build failure")
        return Worker.start(context)

    start_tree([ChildSpec(id="w", start=flaky)])
    registry.tell("w", "crash")

    failed = recorder.wait_for(ChildExited, child_id="w", incarnation=2)
    assert failed.reason is ExitReason.CRASH
    assert failed.error is not None and "transient build failure" in failed.error
    recorder.wait_for(ChildRestarted, child_id="w", incarnation=3)
    assert attempts == [1, 2, 3]
    assert registry.ask("w", "ping", timeout_s=2.0) == ("pong", 3)


def test_a_start_that_returns_neither_a_ref_nor_a_supervisor_is_refused(
    start_tree: StartTree,
) -> None:
    with pytest.raises(TypeError, match=r"not a pykka\.ActorRef or a Supervisor"):
        start_tree([ChildSpec(id="odd", start=lambda context: "not a ref")])  # type: ignore[arg-type, return-value]  # the mistake under test


def test_a_nested_supervisor_shares_the_parents_clock_registry_and_bus(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    root = start_tree([Supervisor.child_spec("inner", [worker("leaf")])])

    [info] = root.which_children()
    assert info.supervisor is not None
    assert info.supervisor.path == "root/inner"
    assert info.supervisor.registry is registry
    assert registry.ask("leaf", "ping", timeout_s=2.0) == ("pong", 1)
    recorder.wait_for(ChildStarted, supervisor="root/inner", child_id="leaf")
