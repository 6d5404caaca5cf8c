"""PERMANENT, TRANSIENT and TEMPORARY children, and dynamic children, behave as in OTP."""

from __future__ import annotations

import pytest

from supervision import (
    ChildExited,
    ChildRestarted,
    ChildSpec,
    ChildState,
    ChildUnavailable,
    ExitReason,
    NameState,
    Registry,
    Restart,
)
from supervision.testing import EventRecorder
from tests.unit.supervision.conftest import StartTree
from tests.unit.supervision.workers import worker


def test_a_permanent_child_is_restarted_after_a_normal_exit(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    start_tree([worker("w", restart=Restart.PERMANENT)])
    registry.tell("w", "stop_self")
    recorder.wait_for(ChildRestarted, child_id="w", incarnation=2)


def test_a_transient_child_that_exits_normally_is_not_restarted(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    supervisor = start_tree([worker("w", restart=Restart.TRANSIENT)])

    registry.tell("w", "stop_self")
    recorder.wait_for(ChildExited, child_id="w", reason=ExitReason.NORMAL)

    # which_children is answered after the exit was handled, on the supervisor's thread.
    [info] = supervisor.which_children()
    assert info.state is ChildState.STOPPED
    assert info.incarnation == 1
    assert registry.state("w") is NameState.STOPPED
    assert recorder.of_type(ChildRestarted) == []
    with pytest.raises(ChildUnavailable):
        registry.tell("w", "ping")


def test_a_transient_child_that_crashes_is_restarted(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    start_tree([worker("w", restart=Restart.TRANSIENT)])
    registry.tell("w", "crash")
    recorder.wait_for(ChildRestarted, child_id="w", incarnation=2)


def test_a_temporary_child_is_never_restarted_and_leaves_the_tree(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    supervisor = start_tree([worker("keep"), worker("w", restart=Restart.TEMPORARY)])

    registry.tell("w", "crash")
    recorder.wait_for(ChildExited, child_id="w", reason=ExitReason.CRASH)

    assert [info.id for info in supervisor.which_children()] == ["keep"]
    assert registry.state("w") is NameState.UNKNOWN
    assert recorder.of_type(ChildRestarted) == []


def test_a_dynamic_transient_child_can_be_added_and_exits_for_good_once_done(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    supervisor = start_tree([worker("follower")])

    ref = supervisor.start_child(worker("leg.1", restart=Restart.TRANSIENT))
    assert registry.get("leg.1") is ref
    registry.tell("leg.1", "stop_self")
    recorder.wait_for(ChildExited, child_id="leg.1", reason=ExitReason.NORMAL)

    states = {info.id: info.state for info in supervisor.which_children()}
    assert states == {"follower": ChildState.RUNNING, "leg.1": ChildState.STOPPED}


def test_terminate_child_stops_it_without_a_restart_and_forgets_it(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    supervisor = start_tree([worker("a"), worker("b")])
    ref = registry.get("b")

    assert supervisor.terminate_child("b") is True

    assert not ref.is_alive()
    exited = recorder.wait_for(ChildExited, child_id="b")
    assert exited.reason is ExitReason.SHUTDOWN
    assert [info.id for info in supervisor.which_children()] == ["a"]
    assert registry.state("b") is NameState.UNKNOWN
    assert recorder.of_type(ChildRestarted) == []


def test_start_child_reports_a_failing_factory_and_does_not_add_the_child(
    start_tree: StartTree,
) -> None:
    supervisor = start_tree([worker("a")])

    def broken(context: object) -> object:
        raise OSError("cannot build")

    with pytest.raises(OSError, match="cannot build"):
        supervisor.start_child(ChildSpec(id="broken", start=broken))  # type: ignore[arg-type]  # a factory that never returns
    assert [info.id for info in supervisor.which_children()] == ["a"]


def test_a_child_id_can_be_used_only_once_in_a_tree(start_tree: StartTree) -> None:
    supervisor = start_tree([worker("a")])
    with pytest.raises(ValueError, match="already"):
        supervisor.start_child(worker("a"))
