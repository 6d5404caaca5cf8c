"""Every way a child can die is noticed, reported with its reason, and followed by a restart."""

from __future__ import annotations

import pykka
import pytest

from supervision import (
    WATCHDOG_VERDICT,
    ChildExited,
    ChildRestarted,
    ExitReason,
    ManualClock,
    Registry,
    SupervisedActor,
)
from supervision.children import actor_of
from supervision.testing import EventRecorder, wait_until
from tests.unit.supervision.conftest import StartTree
from tests.unit.supervision.workers import (
    Escape,
    Journal,
    ValidationProblem,
    plain_worker,
    worker,
)


def test_an_exception_in_a_tell_handler_is_a_crash_followed_by_a_restart(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    start_tree([worker("w")])
    first = registry.get("w")

    registry.tell("w", "crash")

    exited = recorder.wait_for(ChildExited, child_id="w", incarnation=1)
    assert exited.reason is ExitReason.CRASH
    assert exited.error is not None and "boom" in exited.error
    recorder.wait_for(ChildRestarted, child_id="w", incarnation=2)
    assert not first.is_alive()
    assert registry.ask("w", "ping", timeout_s=2.0) == ("pong", 2)


def test_an_exception_on_the_ask_path_reaches_the_caller_and_still_counts_as_a_crash(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    start_tree([worker("w")])
    first = registry.get("w")

    with pytest.raises(RuntimeError, match="boom"):
        registry.ask("w", "crash", timeout_s=2.0)

    exited = recorder.wait_for(ChildExited, child_id="w", incarnation=1)
    assert exited.reason is ExitReason.CRASH
    recorder.wait_for(ChildRestarted, child_id="w", incarnation=2)
    assert not first.is_alive()


def test_an_exception_in_a_proxy_call_is_a_crash(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    start_tree([worker("w")])

    with pytest.raises(ValueError, match="proxy boom"):
        registry.get("w").proxy().explode().get(timeout=2.0)

    exited = recorder.wait_for(ChildExited, child_id="w", incarnation=1)
    assert exited.reason is ExitReason.CRASH
    assert exited.error is not None and "proxy boom" in exited.error
    recorder.wait_for(ChildRestarted, child_id="w", incarnation=2)


def test_a_declared_reply_exception_goes_to_the_caller_and_the_actor_keeps_running(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    start_tree([worker("w")])
    ref = registry.get("w")

    with pytest.raises(ValidationProblem):
        registry.ask("w", "reply_error", timeout_s=2.0)

    assert ref.ask("ping", timeout=2.0) == ("pong", 1)
    assert ref.is_alive()
    assert recorder.of_type(ChildExited) == []


def test_an_exception_in_on_start_is_a_crash_followed_by_a_restart(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder, journal: Journal
) -> None:
    start_tree([worker("w", journal=journal, fail_start_incarnations=frozenset({1}))])

    exited = recorder.wait_for(ChildExited, child_id="w", incarnation=1)
    assert exited.reason is ExitReason.CRASH
    assert exited.error is not None and "on_start failed" in exited.error
    recorder.wait_for(ChildRestarted, child_id="w", incarnation=2)
    assert registry.ask("w", "ping", timeout_s=2.0) == ("pong", 2)
    # on_exit ran for the incarnation whose on_start failed (pykka runs no hook there).
    assert ("exit", "w", 1, ExitReason.CRASH) in journal.entries("exit")


def test_a_base_exception_in_on_start_is_a_crash_of_that_actor_only(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    start_tree(
        [
            worker("sibling"),
            worker("w", fail_start_incarnations=frozenset({1}), start_error=Escape),
        ]
    )
    sibling = registry.get("sibling")

    # pykka guards on_start against Exception only: this one leaves its setup uncaught.
    exited = recorder.wait_for(ChildExited, child_id="w", incarnation=1)
    assert exited.reason is ExitReason.CRASH
    assert exited.error is not None and "Escape" in exited.error
    recorder.wait_for(ChildRestarted, child_id="w", incarnation=2)
    assert registry.ask("w", "ping", timeout_s=2.0) == ("pong", 2)
    assert sibling.ask("ping", timeout=2.0) == ("pong", 1)


def test_an_actor_that_stops_itself_exits_normally_and_a_permanent_one_restarts(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    start_tree([worker("w")])

    registry.tell("w", "stop_self")

    exited = recorder.wait_for(ChildExited, child_id="w", incarnation=1)
    assert exited.reason is ExitReason.NORMAL
    assert exited.error is None
    recorder.wait_for(ChildRestarted, child_id="w", incarnation=2)


def test_a_base_exception_in_a_handler_kills_only_that_actor(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    start_tree([worker("a"), worker("b")])
    sibling = registry.get("b")

    registry.tell("a", "base_exception")

    exited = recorder.wait_for(ChildExited, child_id="a", incarnation=1)
    assert exited.reason is ExitReason.CRASH
    assert exited.error is not None and "Escape" in exited.error
    recorder.wait_for(ChildRestarted, child_id="a", incarnation=2)
    # pykka alone would have run ActorRegistry.stop_all(): the sibling would be dead.
    assert sibling.is_alive()
    assert sibling.ask("ping", timeout=2.0) == ("pong", 1)


def test_the_watchdog_notices_a_dead_actor_that_reported_nothing(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder, clock: ManualClock
) -> None:
    start_tree([plain_worker("plain")], watchdog_interval_s=1.0)
    first = registry.get("plain")

    first.tell("stop_self")
    assert first.actor_stopped.wait(2.0)
    assert recorder.of_type(ChildExited) == []  # a plain pykka actor reports nothing

    clock.advance(1.0)  # one watchdog period

    exited = recorder.wait_for(ChildExited, child_id="plain", incarnation=1)
    assert exited.reason is ExitReason.CRASH
    assert exited.error == WATCHDOG_VERDICT
    recorder.wait_for(ChildRestarted, child_id="plain", incarnation=2)
    assert registry.ask("plain", "ping", timeout_s=2.0) == "pong"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_the_watchdog_notices_a_supervised_actor_whose_thread_ended_without_its_report(
    start_tree: StartTree,
    registry: Registry,
    recorder: EventRecorder,
    clock: ManualClock,
    journal: Journal,
) -> None:
    start_tree(
        [worker("w", journal=journal, escape_exit_incarnations=frozenset({1}))],
        watchdog_interval_s=1.0,
    )
    actor = actor_of(registry.get("w"))  # held, so the watchdog judges this thread
    assert isinstance(actor, SupervisedActor)

    registry.tell("w", "stop_self")  # on_exit then raises past the exit report
    wait_until(lambda: not actor.thread_is_alive(), 5.0)
    assert ("exit", "w", 1, ExitReason.NORMAL) in journal.entries("exit")

    clock.advance(1.0)  # one watchdog period

    exited = recorder.wait_for(ChildExited, child_id="w", incarnation=1)
    # Its own report would have said NORMAL with no error: this exit is the watchdog's.
    assert exited.reason is ExitReason.CRASH
    assert exited.error == WATCHDOG_VERDICT
    recorder.wait_for(ChildRestarted, child_id="w", incarnation=2)
    assert registry.ask("w", "ping", timeout_s=2.0) == ("pong", 2)


def test_the_watchdog_leaves_a_supervised_actors_own_report_in_charge(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder, clock: ManualClock
) -> None:
    start_tree([worker("w")], watchdog_interval_s=1.0)

    registry.tell("w", "stop_self")
    recorder.wait_for(ChildRestarted, child_id="w", incarnation=2)
    clock.advance(1.0)
    clock.advance(1.0)
    registry.ask("w", "ping", timeout_s=2.0)

    exits = recorder.of_type(ChildExited, child_id="w")
    assert [e.reason for e in exits] == [ExitReason.NORMAL]


def test_a_message_left_in_a_crashed_actors_inbox_is_answered_not_lost(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    start_tree([worker("w")])
    ref = registry.get("w")

    ref.tell("crash")
    pending = ref.ask("ping", block=False)

    with pytest.raises(pykka.ActorDeadError):
        pending.get(timeout=2.0)
    recorder.wait_for(ChildRestarted, child_id="w")
