"""Fault points: inert when disarmed, deterministic per seed, raising an Exception."""

from __future__ import annotations

import contextlib
import threading

import pytest

from supervision import (
    ChaosFault,
    ChildExited,
    ChildRestarted,
    EventBus,
    ExitReason,
    FaultFired,
    FaultPlan,
    Faults,
    Intensity,
    ManualClock,
    Registry,
    Supervisor,
)
from supervision.testing import EventRecorder
from tests.unit.supervision.conftest import StartTree
from tests.unit.supervision.workers import worker

POINTS = ("follower.before_send", "follower.after_send", "feed.on_frame")


def run_hits(faults: Faults, rounds: int = 200) -> list[FaultFired]:
    for _ in range(rounds):
        for name in POINTS:
            with contextlib.suppress(ChaosFault):
                faults.point(name)
    return faults.fired()


def test_a_chaos_fault_is_an_exception_not_a_base_exception() -> None:
    assert issubclass(ChaosFault, Exception)


def test_a_disarmed_point_never_raises() -> None:
    faults = Faults()
    for _ in range(1000):
        faults.point("follower.before_send")
    assert faults.fired() == []


def test_the_same_seed_kills_at_the_same_points_and_hits() -> None:
    plan = FaultPlan(seed=1234, probabilities={"follower.before_send": 0.1, "feed.on_frame": 0.05})
    first, second = Faults(), Faults()
    first.arm(plan)
    second.arm(plan)

    fired_first = run_hits(first)
    fired_second = run_hits(second)

    assert fired_first == fired_second
    assert len(fired_first) > 5  # the plan really fires
    assert {f.point for f in fired_first} <= {"follower.before_send", "feed.on_frame"}


def test_a_different_seed_kills_elsewhere() -> None:
    probabilities = {"follower.before_send": 0.1, "feed.on_frame": 0.1}
    one, other = Faults(), Faults()
    one.arm(FaultPlan(seed=1, probabilities=probabilities))
    other.arm(FaultPlan(seed=2, probabilities=probabilities))
    assert run_hits(one) != run_hits(other)


def test_faults_at_a_point_do_not_depend_on_hits_at_other_points() -> None:
    plan = FaultPlan(seed=99, probabilities={"follower.before_send": 0.2, "feed.on_frame": 0.5})
    alone, interleaved = Faults(), Faults()
    alone.arm(plan)
    interleaved.arm(plan)
    for _ in range(100):
        for faults, extra in ((alone, 0), (interleaved, 3)):
            for _ in range(extra):
                with contextlib.suppress(ChaosFault):
                    faults.point("feed.on_frame")
            with contextlib.suppress(ChaosFault):
                faults.point("follower.before_send")

    def at_send(faults: Faults) -> list[FaultFired]:
        return [f for f in faults.fired() if f.point == "follower.before_send"]

    assert at_send(alone) == at_send(interleaved)


def test_an_explicit_schedule_kills_at_the_third_hit() -> None:
    faults = Faults()
    faults.arm(FaultPlan(seed=0, at_hits={"follower.before_send": [3]}))

    faults.point("follower.before_send")
    faults.point("follower.before_send")
    with pytest.raises(ChaosFault) as raised:
        faults.point("follower.before_send")
    faults.point("follower.before_send")

    assert (raised.value.point, raised.value.hit) == ("follower.before_send", 3)
    assert faults.fired() == [FaultFired("follower.before_send", 3)]


def test_disarming_makes_points_inert_again() -> None:
    faults = Faults()
    faults.arm(FaultPlan(seed=0, probabilities={"x": 1.0}))
    with pytest.raises(ChaosFault):
        faults.point("x")
    faults.disarm()
    faults.point("x")
    assert faults.fired() == [FaultFired("x", 1)]


def test_counting_is_exact_when_many_threads_hit_one_point() -> None:
    faults = Faults()
    faults.arm(FaultPlan(seed=0, at_hits={"p": range(1, 401, 4)}))
    errors: list[int] = []

    def hammer() -> None:
        for _ in range(100):
            try:
                faults.point("p")
            except ChaosFault as fault:
                errors.append(fault.hit)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10.0)
    assert sorted(errors) == list(range(1, 401, 4))


def test_an_invalid_plan_is_refused() -> None:
    with pytest.raises(ValueError):
        FaultPlan(seed=0, probabilities={"p": 1.5})
    with pytest.raises(ValueError):
        FaultPlan(seed=0, at_hits={"p": [0]})


def test_a_fault_in_a_supervised_handler_crashes_only_that_actor_which_restarts(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    faults = Faults()
    faults.arm(FaultPlan(seed=0, at_hits={"worker.handle": [2]}))
    start_tree([worker("w"), worker("bystander")], faults=faults)

    assert registry.ask("w", "fault", timeout_s=2.0) == "ok"
    with pytest.raises(ChaosFault):
        registry.ask("w", "fault", timeout_s=2.0)

    exited = recorder.wait_for(ChildExited, child_id="w")
    assert exited.reason is ExitReason.CRASH
    assert exited.error is not None and "ChaosFault" in exited.error
    recorder.wait_for(ChildRestarted, child_id="w", incarnation=2)
    assert registry.ask("w", "fault", timeout_s=2.0) == "ok"
    assert registry.ask("bystander", "ping", timeout_s=2.0) == ("pong", 1)


def crashes_under(plan: FaultPlan, messages: int = 30) -> list[int]:
    """Ask a supervised worker ``messages`` times under ``plan``; the numbers of the asks
    that its fault point killed (each crash is awaited as a restart before the next ask)."""
    faults = Faults()
    faults.arm(plan)
    bus = EventBus("fault-run-events")
    recorder = EventRecorder(bus)
    registry = Registry()
    root = Supervisor(
        "fault-run",
        [worker("w")],
        clock=ManualClock(),
        events=bus,
        registry=registry,
        faults=faults,
        intensity=Intensity(messages, 60.0),
        watchdog_interval_s=None,
    ).start()
    crashes: list[int] = []
    try:
        for n in range(messages):
            try:
                registry.ask("w", "fault", timeout_s=2.0)
            except ChaosFault:
                crashes.append(n)
                # the restart is published after the registry holds the new incarnation
                recorder.wait_for(ChildRestarted, child_id="w", count=len(crashes))
    finally:
        root.stop(timeout_s=5.0)
        bus.close()
    return crashes


def test_a_plan_with_the_same_seed_kills_a_supervised_actor_at_the_same_messages() -> None:
    plan = FaultPlan(seed=2024, probabilities={"worker.handle": 0.2})

    first = crashes_under(plan)
    second = crashes_under(plan)
    other = crashes_under(FaultPlan(seed=2025, probabilities={"worker.handle": 0.2}))

    assert first == second
    assert len(first) >= 2  # the plan really kills
    assert other != first
