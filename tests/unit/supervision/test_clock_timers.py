"""Clocks fire timers when due; actor ticks arrive as messages; timers die with their actor."""

from __future__ import annotations

import threading

from supervision import (
    ChildContext,
    ChildRestarted,
    ManualClock,
    Registry,
    SystemClock,
    Timers,
)
from supervision.testing import EventRecorder, wait_until
from tests.unit.supervision.conftest import StartTree
from tests.unit.supervision.workers import Worker, worker


def test_a_manual_clock_fires_timers_in_due_order_and_not_before() -> None:
    clock = ManualClock(start_s=0.0)
    fired: list[tuple[str, float]] = []
    clock.call_later(2.0, lambda: fired.append(("b", clock.monotonic())))
    clock.call_later(1.0, lambda: fired.append(("a", clock.monotonic())))

    clock.advance(0.999)
    assert fired == []
    clock.advance(1.5)

    assert fired == [("a", 1.0), ("b", 2.0)]
    assert clock.monotonic() == 2.499


def test_a_timer_scheduled_by_a_callback_fires_in_the_same_advance_if_due() -> None:
    clock = ManualClock(start_s=0.0)
    fired: list[float] = []

    def first() -> None:
        fired.append(clock.monotonic())
        clock.call_later(1.0, lambda: fired.append(clock.monotonic()))

    clock.call_later(1.0, first)
    clock.advance(5.0)
    assert fired == [1.0, 2.0]


def test_call_every_repeats_until_cancelled_and_cancel_all_cancels_the_rest() -> None:
    clock = ManualClock(start_s=0.0)
    timers = Timers(clock)
    ticks: list[float] = []
    once: list[float] = []
    repeating = timers.call_every(1.0, lambda: ticks.append(clock.monotonic()))
    timers.call_later(10.0, lambda: once.append(clock.monotonic()))

    clock.advance(3.0)
    repeating.cancel()
    clock.advance(3.0)
    assert ticks == [1.0, 2.0, 3.0]

    timers.cancel_all()
    clock.advance(10.0)
    assert once == []
    assert timers.pending() == 0
    assert clock.pending_due_s() == []


def test_a_timer_made_after_cancel_all_is_born_cancelled() -> None:
    # An actor that arms a timer in on_exit, or is told to after its exit, must not get ticks.
    clock = ManualClock(start_s=0.0)
    timers = Timers(clock)
    timers.cancel_all()
    fired: list[str] = []

    late = timers.call_later(1.0, lambda: fired.append("once"))
    every = timers.call_every(1.0, lambda: fired.append("every"))
    clock.advance(5.0)

    assert fired == []
    assert late.cancelled and every.cancelled
    assert clock.pending_due_s() == []
    assert timers.pending() == 0


def test_a_repeating_timer_can_start_at_a_phase_of_its_own() -> None:
    clock = ManualClock(start_s=0.0)
    timers = Timers(clock)
    ticks: list[float] = []
    timers.call_every(1.0, lambda: ticks.append(clock.monotonic()), first_s=0.25)

    clock.advance(2.5)
    assert ticks == [0.25, 1.25, 2.25]


def test_the_system_clock_fires_a_timer_and_skips_a_cancelled_one() -> None:
    clock = SystemClock("test-clock")
    try:
        fired: list[str] = []
        done = threading.Event()
        cancelled = clock.call_later(0.01, lambda: fired.append("cancelled"))
        clock.call_later(0.005, lambda: fired.append("first"))
        clock.call_later(0.03, done.set)  # due after both: when it fires they are settled
        cancelled.cancel()

        assert done.wait(5.0)
        assert fired == ["first"]
    finally:
        clock.close()


def test_an_actor_tick_arrives_as_a_message_on_the_actors_own_thread(
    start_tree: StartTree, registry: Registry, clock: ManualClock
) -> None:
    start_tree([worker("w")], watchdog_interval_s=None)
    registry.ask("w", "tick_every", timeout_s=2.0)

    for _ in range(3):
        clock.advance(1.0)
        registry.ask("w", "ticks", timeout_s=2.0)  # the tick before it has been handled

    ticks, tick_threads, actor_thread = registry.ask("w", "ticks", timeout_s=2.0)
    assert ticks == 3
    assert tick_threads == {actor_thread}


def test_ticks_of_a_busy_actor_coalesce_instead_of_piling_up_in_its_inbox(
    start_tree: StartTree, registry: Registry, clock: ManualClock
) -> None:
    gate = threading.Event()
    start_tree([worker("w", gate=gate)], watchdog_interval_s=None)
    registry.ask("w", "tick_every", timeout_s=2.0)
    ref = registry.get("w")
    blocked = ref.ask("block", block=False)  # the actor is busy for the next ten periods

    clock.advance(10.0)

    gate.set()
    assert blocked.get(timeout=2.0) == "unblocked"
    ticks, _threads, _actor = registry.ask("w", "ticks", timeout_s=2.0)
    assert ticks == 1  # one waiting tick, not ten
    clock.advance(1.0)  # and the timer still runs
    wait_until(lambda: registry.ask("w", "ticks", timeout_s=2.0)[0] == 2, 2.0)


def test_an_actors_timers_are_cancelled_when_it_crashes(
    start_tree: StartTree, registry: Registry, recorder: EventRecorder, clock: ManualClock
) -> None:
    start_tree([worker("w")], watchdog_interval_s=None)
    registry.ask("w", "tick_every", timeout_s=2.0)
    assert len(clock.pending_due_s()) == 1

    registry.tell("w", "crash")
    recorder.wait_for(ChildRestarted, child_id="w", incarnation=2)

    assert clock.pending_due_s() == []
    assert registry.ask("w", "pending_timers", timeout_s=2.0) == 0


def test_a_supervised_actor_runs_standalone_with_a_detached_context() -> None:
    clock = ManualClock()
    ref = Worker.start(ChildContext.detached("solo", clock=clock))
    try:
        assert ref.ask("ping", timeout=2.0) == ("pong", 1)
        ref.ask("tick_every", timeout=2.0)
        clock.advance(1.0)
        ticks, _, _ = ref.ask("ticks", block=True, timeout=2.0)
        assert ticks == 1
    finally:
        ref.stop(timeout=5.0)
