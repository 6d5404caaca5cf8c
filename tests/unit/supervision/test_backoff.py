"""Restart delays follow the exponential schedule with jitter, reset after a healthy run,
and never block the supervisor from handling other children."""

from __future__ import annotations

import random

import pytest

from supervision import (
    Backoff,
    ChildRestarted,
    ChildState,
    EventBus,
    Intensity,
    Registry,
    RestartScheduled,
    Supervisor,
    SystemClock,
)
from supervision.testing import EventRecorder
from tests.unit.supervision.conftest import StartTree
from tests.unit.supervision.workers import worker

NO_JITTER = Backoff(initial_s=0.5, factor=2.0, max_s=4.0, jitter=0.0, reset_after_s=60.0)


def test_the_base_delay_doubles_from_initial_up_to_the_cap() -> None:
    backoff = Backoff(initial_s=0.5, factor=2.0, max_s=30.0)
    delays = [backoff.base_delay_s(n) for n in range(9)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert backoff.base_delay_s(10_000) == 30.0  # no float overflow in a long crash loop


def test_jitter_stays_within_twenty_percent_and_varies() -> None:
    backoff = Backoff(initial_s=0.5, factor=2.0, max_s=30.0, jitter=0.2)
    rng = random.Random(7)
    delays = [backoff.delay_s(3, rng) for _ in range(200)]
    assert all(4.0 * 0.8 <= d <= 4.0 * 1.2 for d in delays)
    assert max(delays) - min(delays) > 0.8  # spread, not a constant


@pytest.mark.parametrize(
    "kwargs",
    [{"initial_s": -1.0}, {"factor": 0.5}, {"jitter": 1.0}, {"max_s": 0.1}],
)
def test_an_invalid_backoff_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


def test_restart_delays_follow_the_schedule_under_a_manual_clock(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder, clock
) -> None:
    supervisor = start_tree(
        [worker("w", backoff=NO_JITTER)],
        intensity=Intensity(100, 60.0),
        watchdog_interval_s=None,
    )

    expected = [0.5, 1.0, 2.0, 4.0, 4.0]
    for attempt, delay_s in enumerate(expected, start=1):
        registry.tell("w", "crash")
        scheduled = recorder.wait_for(RestartScheduled, child_id="w", count=attempt)
        assert (scheduled.attempt, scheduled.delay_s) == (attempt, delay_s)
        assert clock.pending_due_s() == [scheduled.at_s + delay_s]

        clock.advance(delay_s - 0.01)
        [info] = supervisor.which_children()
        assert info.state is ChildState.RESTARTING  # not a moment early

        clock.advance(0.01)
        restarted = recorder.wait_for(ChildRestarted, child_id="w", count=attempt)
        assert restarted.delay_s == delay_s
        assert restarted.at_s - scheduled.at_s == pytest.approx(delay_s)
        registry.wait_running("w", 5.0)


def test_the_schedule_resets_after_a_healthy_period(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder, clock
) -> None:
    start_tree(
        [worker("w", backoff=NO_JITTER)],
        intensity=Intensity(100, 60.0),
        watchdog_interval_s=None,
    )
    for attempt in (1, 2):
        registry.tell("w", "crash")
        scheduled = recorder.wait_for(RestartScheduled, child_id="w", count=attempt)
        clock.advance(scheduled.delay_s)
        recorder.wait_for(ChildRestarted, child_id="w", count=attempt)
        registry.wait_running("w", 5.0)

    clock.advance(60.0)  # healthy for reset_after_s
    registry.tell("w", "crash")

    scheduled = recorder.wait_for(RestartScheduled, child_id="w", count=3)
    assert (scheduled.attempt, scheduled.delay_s) == (1, 0.5)


def test_jittered_delays_are_drawn_from_the_supervisors_seeded_generator(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder, clock
) -> None:
    backoff = Backoff(initial_s=0.5, factor=2.0, max_s=30.0, jitter=0.2)
    start_tree(
        [worker("w", backoff=backoff)],
        intensity=Intensity(100, 60.0),
        rng=random.Random(42),
        watchdog_interval_s=None,
    )
    registry.tell("w", "crash")
    scheduled = recorder.wait_for(RestartScheduled, child_id="w")
    assert scheduled.delay_s == backoff.delay_s(0, random.Random(42))
    assert scheduled.delay_s != 0.5


def test_a_child_waiting_out_its_backoff_does_not_delay_another_childs_restart(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder
) -> None:
    slow = Backoff(initial_s=10.0, max_s=10.0, jitter=0.0)
    supervisor = start_tree(
        [worker("slow", backoff=slow), worker("fast")], watchdog_interval_s=None
    )

    registry.tell("slow", "crash")
    recorder.wait_for(RestartScheduled, child_id="slow")
    registry.tell("fast", "crash")

    recorder.wait_for(ChildRestarted, child_id="fast", incarnation=2)
    states = {info.id: info.state for info in supervisor.which_children()}
    assert states == {"slow": ChildState.RESTARTING, "fast": ChildState.RUNNING}


def test_a_small_backoff_on_the_real_clock_restarts_the_child() -> None:
    clock = SystemClock("test-clock")
    bus = EventBus("test-real-events")
    recorder = EventRecorder(bus)
    registry = Registry()
    tiny = Backoff(initial_s=0.01, max_s=0.04, jitter=0.2, reset_after_s=60.0)
    supervisor = Supervisor(
        "real", [worker("w", backoff=tiny)], clock=clock, events=bus, registry=registry
    ).start()
    try:
        for attempt in (1, 2):
            registry.wait_running("w", 5.0).tell("crash")
            restarted = recorder.wait_for(ChildRestarted, child_id="w", count=attempt)
            assert 0.01 * 0.8 * 2 ** (attempt - 1) <= restarted.delay_s
        assert registry.ask("w", "ping", timeout_s=2.0) == ("pong", 3)
    finally:
        supervisor.stop(5.0)
        clock.close()
        bus.close()
