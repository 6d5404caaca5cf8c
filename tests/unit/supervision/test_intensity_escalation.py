"""Restart intensity, escalation up a nested tree, giving up at the root, quarantine."""

from __future__ import annotations

import threading

import pytest

from supervision import (
    ChildExited,
    ChildRestarted,
    ChildSpec,
    ChildState,
    ChildUnavailable,
    Escalated,
    Escalation,
    ExitReason,
    Intensity,
    ManualClock,
    NameState,
    Quarantined,
    Registry,
    Supervisor,
    SupervisorOutcome,
    SupervisorStopped,
)
from supervision.testing import EventRecorder
from tests.unit.supervision.conftest import StartTree
from tests.unit.supervision.workers import worker


class GiveUp:
    """The root's on_give_up: records the reason instead of exiting the test process."""

    def __init__(self) -> None:
        self.called = threading.Event()
        self.reasons: list[str] = []

    def __call__(self, reason: str) -> None:
        self.reasons.append(reason)
        self.called.set()


def test_more_restarts_than_the_intensity_allows_stops_the_children_and_gives_up(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    give_up = GiveUp()
    root = start_tree([worker("a"), worker("b")], intensity=Intensity(2, 60.0), on_give_up=give_up)
    sibling = registry.get("b")

    for incarnation in (1, 2):
        registry.tell("a", "crash")
        recorder.wait_for(ChildRestarted, child_id="a", incarnation=incarnation + 1)
    assert not give_up.called.is_set()
    registry.tell("a", "crash")  # the third restart within 60 s is one too many

    assert give_up.called.wait(5.0)
    assert "more than 2 restarts" in give_up.reasons[0]
    assert root.wait(5.0) is SupervisorOutcome.GAVE_UP
    recorder.wait_for(Escalated, supervisor="root")
    recorder.wait_for(SupervisorStopped, supervisor="root")
    assert not sibling.is_alive()
    assert recorder.of_type(ChildRestarted, child_id="a", incarnation=4) == []


def test_restarts_spread_wider_than_the_period_do_not_escalate(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder, clock: ManualClock
) -> None:
    root = start_tree([worker("a")], intensity=Intensity(1, 60.0), watchdog_interval_s=None)

    for incarnation in (1, 2, 3):
        registry.tell("a", "crash")
        recorder.wait_for(ChildRestarted, child_id="a", incarnation=incarnation + 1)
        clock.advance(61.0)

    assert root.outcome is SupervisorOutcome.RUNNING
    assert recorder.of_type(Escalated) == []


def test_a_nested_supervisor_that_gives_up_is_restarted_by_its_parent(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    inner = Supervisor.child_spec("inner", [worker("leaf")], intensity=Intensity(0, 60.0))
    root = start_tree([worker("top"), inner], intensity=Intensity(5, 60.0))
    top = registry.get("top")

    registry.tell("leaf", "crash")

    recorder.wait_for(Escalated, supervisor="root/inner")
    exited = recorder.wait_for(ChildExited, supervisor="root", child_id="inner")
    assert exited.reason is ExitReason.CRASH
    recorder.wait_for(ChildRestarted, supervisor="root", child_id="inner", incarnation=2)
    assert registry.wait_running("leaf", 5.0).ask("ping", timeout=2.0) == ("pong", 1)
    assert top.is_alive()
    assert root.outcome is SupervisorOutcome.RUNNING


def test_escalation_climbs_a_nested_tree_to_the_root_which_gives_up(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    give_up = GiveUp()
    middle = Supervisor.child_spec(
        "middle",
        [Supervisor.child_spec("inner", [worker("leaf")], intensity=Intensity(0, 60.0))],
        intensity=Intensity(0, 60.0),
    )
    root = start_tree([middle], intensity=Intensity(0, 60.0), on_give_up=give_up)

    registry.tell("leaf", "crash")

    assert give_up.called.wait(5.0)
    assert root.wait(5.0) is SupervisorOutcome.GAVE_UP
    for path in ("root/middle/inner", "root/middle", "root"):
        recorder.wait_for(Escalated, supervisor=path)
    assert registry.state("leaf") is not NameState.RUNNING


def test_a_quarantined_follower_subtree_stops_while_its_siblings_keep_running(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    give_up = GiveUp()

    def follower(account: str) -> ChildSpec:
        return Supervisor.child_spec(
            f"follower.{account}",
            [worker(f"orders.{account}"), worker(f"legs.{account}")],
            intensity=Intensity(1, 60.0),
            escalation=Escalation.QUARANTINE,
        )

    root = start_tree(
        [worker("audit"), follower("F1"), follower("F2")],
        intensity=Intensity(0, 60.0),
        on_give_up=give_up,
    )
    f1_legs = registry.get("legs.F1")

    registry.tell("orders.F1", "crash")
    recorder.wait_for(ChildRestarted, child_id="orders.F1", incarnation=2)
    registry.tell("orders.F1", "crash")

    quarantined = recorder.wait_for(Quarantined, supervisor="root/follower.F1")
    assert "more than 1 restarts" in quarantined.reason
    exited = recorder.wait_for(ChildExited, supervisor="root", child_id="follower.F1")
    assert exited.reason is ExitReason.QUARANTINED
    states = {info.id: info.state for info in root.which_children()}
    assert states == {
        "audit": ChildState.RUNNING,
        "follower.F1": ChildState.QUARANTINED,
        "follower.F2": ChildState.RUNNING,
    }
    assert not f1_legs.is_alive()
    assert registry.ask("orders.F2", "ping", timeout_s=2.0) == ("pong", 1)
    assert registry.ask("audit", "ping", timeout_s=2.0) == ("pong", 1)
    with pytest.raises(ChildUnavailable, match="quarantined"):
        registry.tell("orders.F1", "ping")
    # A quarantine does not count toward the root's intensity of zero restarts.
    assert root.outcome is SupervisorOutcome.RUNNING
    assert not give_up.called.is_set()
