"""The supervisor: starts children from specs, restarts them by policy, escalates, stops.

A supervisor is a plain object with one thread of its own and a command queue, not a pykka
actor: pykka's ``ActorRegistry.stop_all()`` (run on any ``BaseException`` in any actor) must
not take the supervisors down with the actors they are there to restart, and a supervisor
needs timed, blocking steps (stop a child within its timeout) that would stall an actor
inbox. All state changes happen on that thread; other threads post commands to it.
"""

from __future__ import annotations

import enum
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pykka

from supervision import events as ev
from supervision.actor import SupervisedActor
from supervision.children import ChildInfo, ChildState, _Child, actor_of
from supervision.clock import Clock, SystemClock
from supervision.context import ChildContext
from supervision.environment import Environment
from supervision.errors import SupervisorStoppedError
from supervision.events import EventBus
from supervision.faults import FAULTS, Faults
from supervision.registry import NameState, Registry
from supervision.specs import (
    Backoff,
    ChildSpec,
    Escalation,
    ExitReason,
    Intensity,
    Restart,
    Strategy,
)
from supervision.timers import Timer, Timers

logger = logging.getLogger(__name__)

T = TypeVar("T")

WATCHDOG_VERDICT = "died without reporting its exit (found by the watchdog)"


class SupervisorOutcome(enum.StrEnum):
    """How a supervisor's life ended (``RUNNING`` while it lives)."""

    RUNNING = "running"
    STOPPED = "stopped"  # stop() was called (by a caller or its parent)
    GAVE_UP = "gave_up"  # restart intensity exceeded with FAIL_UP escalation
    QUARANTINED = "quarantined"  # restart intensity exceeded with QUARANTINE escalation


# -- commands posted to the supervisor's thread ----------------------------------------------


@dataclass(frozen=True, slots=True)
class _Exited:
    child_id: str
    incarnation: int
    reason: ExitReason
    error: str | None


@dataclass(frozen=True, slots=True)
class _RestartDue:
    token: object


@dataclass(frozen=True, slots=True)
class _WatchdogTick:
    pass


@dataclass(frozen=True, slots=True)
class _WatchdogVerdict:
    child_id: str
    incarnation: int


@dataclass(slots=True)
class _Call:
    fn: Callable[[], Any]
    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class _Stop:
    timeout_s: float | None


_Command = _Exited | _RestartDue | _WatchdogTick | _WatchdogVerdict | _Call | _Stop


class Supervisor:
    """An OTP-style supervisor of pykka actors and of other supervisors.

    Build it, subscribe to its :attr:`events` if needed, then :meth:`start` it. A root
    supervisor (no ``context``) owns the tree's services unless they are passed in; a nested
    one receives them from its parent through ``context`` (see :meth:`child_spec`).
    """

    def __init__(
        self,
        name: str,
        specs: Iterable[ChildSpec] = (),
        *,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        intensity: Intensity = Intensity(),  # noqa: B008 -- frozen, so one shared default is safe
        escalation: Escalation = Escalation.FAIL_UP,
        context: ChildContext | None = None,
        clock: Clock | None = None,
        registry: Registry | None = None,
        events: EventBus | None = None,
        faults: Faults | None = None,
        environment: Environment | None = None,
        on_give_up: Callable[[str], None] | None = None,
        rng: random.Random | None = None,
        watchdog_interval_s: float | None = 1.0,
    ) -> None:
        self.name = name
        self.strategy = strategy
        self.intensity = intensity
        self.escalation = escalation
        self._context = context
        self._initial_specs = tuple(specs)
        self._owned_clock: SystemClock | None = None
        self._owned_events: EventBus | None = None
        if context is not None:
            self.path = context.path
            self.clock: Clock = clock or context.clock
            self.registry = registry or context.registry
            self.events = events or context.events
            self.faults = faults or context.faults
            self.environment = environment or context.environment
        else:
            self.path = name
            if clock is None:
                self._owned_clock = SystemClock(f"{name}-clock")
            self.clock = clock or self._owned_clock  # type: ignore[assignment]  # one of them is set
            self.registry = registry or Registry()
            if events is None:
                self._owned_events = EventBus(f"{name}-events")
            self.events = events or self._owned_events  # type: ignore[assignment]  # one of them is set
            self.faults = faults or FAULTS
            self.environment = environment
        self._on_give_up = on_give_up
        self._rng = rng or random.Random()
        self._watchdog_interval_s = watchdog_interval_s
        self._timers = Timers(self.clock)
        self._watchdog: Timer | None = None

        self._children: list[_Child] = []  # in start order
        self._restart_times_s: list[float] = []
        self._queue: queue.SimpleQueue[_Command] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._done = threading.Event()
        self._outcome = SupervisorOutcome.RUNNING
        self._clean_stop = True

    # -- life cycle --------------------------------------------------------------------------

    def start(self, timeout_s: float = 30.0) -> Supervisor:
        """Start the thread and the initial children (in order); return once they are built.

        A child whose factory raises during this first start makes ``start`` stop the ones
        already started and re-raise (OTP: a supervisor whose init fails does not start).
        """
        if self._thread is not None:
            raise RuntimeError(f"supervisor {self.path} already started")
        self._thread = threading.Thread(target=self._run, name=f"supervisor-{self.path}")
        self._thread.daemon = True  # it holds no resource; actors keep the process alive
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError(f"supervisor {self.path} did not start within {timeout_s} s")
        if self._start_error is not None:
            raise self._start_error
        return self

    def stop(self, timeout_s: float | None = None) -> bool:
        """Stop every child in reverse start order, then the supervisor; True if all stopped.

        Each child gets its spec's ``shutdown_timeout_s``, capped by what remains of
        ``timeout_s`` (default: the sum of the children's timeouts), so the call is bounded.
        A child that does not stop in time is abandoned (logged; Python cannot kill a thread).
        """
        if self._thread is None or self._done.is_set():
            return self._clean_stop
        if threading.current_thread() is self._thread:
            self._shutdown(timeout_s, SupervisorOutcome.STOPPED)
            return self._clean_stop
        self._queue.put(_Stop(timeout_s))
        budget_s = timeout_s if timeout_s is not None else self._default_stop_budget_s()
        self._done.wait(budget_s + 5.0)
        return self._clean_stop and self._done.is_set()

    def wait(self, timeout_s: float | None = None) -> SupervisorOutcome:
        """Block until the supervisor has ended (or ``timeout_s``) and return its outcome.

        The CLI runs the root and exits non-zero when this returns ``GAVE_UP``.
        """
        self._done.wait(timeout_s)
        return self._outcome

    @property
    def outcome(self) -> SupervisorOutcome:
        return self._outcome

    def is_alive(self) -> bool:
        """True while the supervisor's thread runs (and before it is started)."""
        thread = self._thread
        return thread is None or (thread.is_alive() and not self._done.is_set())

    @classmethod
    def child_spec(
        cls,
        id: str,
        specs: Sequence[ChildSpec],
        *,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        intensity: Intensity = Intensity(),  # noqa: B008 -- frozen, so one shared default is safe
        escalation: Escalation = Escalation.FAIL_UP,
        restart: Restart = Restart.PERMANENT,
        backoff: Backoff | None = None,
        shutdown_timeout_s: float = 10.0,
        watchdog_interval_s: float | None = 1.0,
    ) -> ChildSpec:
        """A spec whose child is a nested supervisor over ``specs`` (named ``id``)."""

        def start(context: ChildContext) -> Supervisor:
            return cls(
                id,
                specs,
                strategy=strategy,
                intensity=intensity,
                escalation=escalation,
                context=context,
                watchdog_interval_s=watchdog_interval_s,
            ).start()

        return ChildSpec(
            id=id,
            start=start,
            restart=restart,
            backoff=backoff,
            shutdown_timeout_s=shutdown_timeout_s,
        )

    # -- dynamic children (any thread) -------------------------------------------------------

    def start_child(
        self, spec: ChildSpec, timeout_s: float = 10.0
    ) -> pykka.ActorRef[Any] | Supervisor:
        """Add and start a child; returns its ref (or nested supervisor).

        Raises ``ValueError`` for a duplicate id and re-raises the factory's exception (the
        child is then not added).
        """
        return self._call(lambda: self._add_child(spec), timeout_s)

    def terminate_child(self, child_id: str, timeout_s: float = 10.0) -> bool:
        """Stop a child (a SHUTDOWN exit: not restarted) and remove it; True if it stopped.

        Raises ``KeyError`` for an unknown id.
        """
        return self._call(lambda: self._terminate_child(child_id), timeout_s)

    def which_children(self, timeout_s: float = 10.0) -> list[ChildInfo]:
        """A snapshot of every child, in start order."""
        return self._call(lambda: [child.info() for child in self._children], timeout_s)

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            for spec in self._initial_specs:
                self._add_child(spec)
        except BaseException as exc:
            self._start_error = exc
            self._shutdown(None, SupervisorOutcome.STOPPED, report=False)
            self._ready.set()
            return
        if self._watchdog_interval_s is not None:
            self._watchdog = self._timers.call_every(
                self._watchdog_interval_s, lambda: self._queue.put(_WatchdogTick())
            )
        self._ready.set()
        try:
            while not self._done.is_set():
                self._dispatch(self._queue.get())
        except Exception as exc:  # a bug in this module: fail like a crashed child would
            logger.exception("supervisor %s failed", self.path)
            self._give_up(f"supervisor failed: {exc!r}")

    def _dispatch(self, command: _Command) -> None:
        if isinstance(command, _Exited):
            child = self._find(command.child_id)
            if (
                child is not None
                and child.incarnation == command.incarnation
                and child.state is ChildState.RUNNING
            ):
                self._handle_exit(child, command.reason, command.error)
        elif isinstance(command, _RestartDue):
            self._restart_group(command.token)
        elif isinstance(command, _WatchdogTick):
            self._watch()
        elif isinstance(command, _WatchdogVerdict):
            child = self._find(command.child_id)
            if (
                child is not None
                and child.incarnation == command.incarnation
                and child.state is ChildState.RUNNING
            ):
                self._handle_exit(child, ExitReason.CRASH, WATCHDOG_VERDICT)
        elif isinstance(command, _Call):
            try:
                command.value = command.fn()
            except BaseException as exc:
                command.error = exc
            finally:
                command.done.set()
        elif isinstance(command, _Stop):
            self._shutdown(command.timeout_s, SupervisorOutcome.STOPPED)

    def _call(self, fn: Callable[[], T], timeout_s: float) -> T:
        if threading.current_thread() is self._thread:
            return fn()
        if self._done.is_set() or self._thread is None:
            raise SupervisorStoppedError(f"supervisor {self.path} is not running")
        call = _Call(fn)
        self._queue.put(call)
        deadline = time.monotonic() + timeout_s
        while not call.done.wait(0.05):
            if self._done.is_set():
                raise SupervisorStoppedError(f"supervisor {self.path} stopped")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"supervisor {self.path} did not answer in {timeout_s} s")
        if call.error is not None:
            raise call.error
        return call.value

    # -- starting ----------------------------------------------------------------------------

    def _find(self, child_id: str) -> _Child | None:
        for child in self._children:
            if child.spec.id == child_id:
                return child
        return None

    def _add_child(self, spec: ChildSpec) -> pykka.ActorRef[Any] | Supervisor:
        if self._find(spec.id) is not None:
            raise ValueError(f"supervisor {self.path} already has a child {spec.id!r}")
        self.registry.claim(spec.id, self)
        child = _Child(spec)
        try:
            handle = self._start_incarnation(child)
        except BaseException:
            self.registry.remove(spec.id, self)
            raise
        self._children.append(child)
        return handle

    def _start_incarnation(self, child: _Child) -> pykka.ActorRef[Any] | Supervisor:
        """Build the next incarnation; the factory's exception propagates."""
        child.incarnation += 1
        incarnation = child.incarnation
        child_id = child.spec.id

        def report(reason: ExitReason, error: str | None) -> None:
            self._queue.put(_Exited(child_id, incarnation, reason, error))

        context = ChildContext(
            child_id=child_id,
            incarnation=incarnation,
            supervisor_path=self.path,
            clock=self.clock,
            registry=self.registry,
            events=self.events,
            faults=self.faults,
            reporter=report,
            supervisor=self,
            environment=self.environment,
            needs=child.spec.needs,
        )
        handle = child.spec.start(context)
        if not isinstance(handle, pykka.ActorRef | Supervisor):
            raise TypeError(
                f"start of {child_id!r} returned {type(handle).__name__}, "
                "not a pykka.ActorRef or a Supervisor"
            )
        child.handle = handle
        child.state = ChildState.RUNNING
        child.started_at_s = self.clock.monotonic()
        if isinstance(handle, pykka.ActorRef):
            self.registry.set_running(child_id, handle)
        logger.info("%s: started %s (incarnation %d)", self.path, child_id, incarnation)
        self.events.publish(ev.ChildStarted(self.path, child_id, incarnation, child.started_at_s))
        return handle

    # -- exits and restarts ------------------------------------------------------------------

    def _handle_exit(self, child: _Child, reason: ExitReason, error: str | None) -> None:
        # Chaos: kill this supervisor while it handles a child's exit (named per supervisor,
        # so a plan can pick one). Its own failure ends it like any bug here (see _run).
        self.faults.point(f"supervisor.handle_exit:{self.path}")
        now_s = self.clock.monotonic()
        child.handle = None
        if reason is ExitReason.CRASH:
            logger.warning("%s: %s crashed: %s", self.path, child.spec.id, error)
        else:
            logger.info("%s: %s exited (%s)", self.path, child.spec.id, reason)
        self.events.publish(
            ev.ChildExited(self.path, child.spec.id, child.incarnation, reason, error, now_s)
        )
        if reason is ExitReason.QUARANTINED:
            child.state = ChildState.QUARANTINED  # the subtree gave up; its siblings go on
            return
        restart = child.spec.restart
        if restart is Restart.TEMPORARY or (
            restart is Restart.TRANSIENT and not reason.is_abnormal
        ):
            self._retire(child)
            return
        if reason is ExitReason.ENVIRONMENT and self.environment is not None:
            self._restart_when_up(child, now_s)
            return

        self._restart_times_s = [
            t for t in self._restart_times_s if now_s - t < self.intensity.period_s
        ]
        self._restart_times_s.append(now_s)
        if len(self._restart_times_s) > self.intensity.max_restarts:
            self._give_up(
                f"more than {self.intensity.max_restarts} restarts in "
                f"{self.intensity.period_s} s (last: {child.spec.id} {reason}: {error})"
            )
            return

        group = self._restart_set(child)
        for sibling in reversed(group):
            if sibling is not child and sibling.state is ChildState.RUNNING:
                self._stop_child(sibling, sibling.spec.shutdown_timeout_s)
        token = object()
        delay_s = self._next_delay_s(child, now_s)
        for member in group:
            if member.spec.restart is Restart.TEMPORARY and member is not child:
                self._retire(member)  # OTP: a temporary sibling is not restarted either
                continue
            member.state = ChildState.RESTARTING
            member.restart_token = token
            member.pending_delay_s = delay_s
            member.after_environment = False
            self._mark_name(member, NameState.RESTARTING)
        self.events.publish(
            ev.RestartScheduled(self.path, child.spec.id, child.attempt, delay_s, now_s)
        )
        if delay_s <= 0:
            self._queue.put(_RestartDue(token))
        else:
            self._timers.call_later(delay_s, lambda: self._queue.put(_RestartDue(token)))

    def _restart_when_up(self, child: _Child, now_s: float) -> None:
        """An ENVIRONMENT exit: not the child's fault, so it neither counts toward the
        intensity nor advances the backoff; the group restarts once the resources are up."""
        group = self._restart_set(child)
        for sibling in reversed(group):
            if sibling is not child and sibling.state is ChildState.RUNNING:
                self._stop_child(sibling, sibling.spec.shutdown_timeout_s)
        token = object()
        for member in group:
            if member.spec.restart is Restart.TEMPORARY and member is not child:
                self._retire(member)
                continue
            member.state = ChildState.RESTARTING
            member.restart_token = token
            member.pending_delay_s = 0.0
            member.after_environment = True
            self._mark_name(member, NameState.RESTARTING)
        self.events.publish(
            ev.RestartScheduled(self.path, child.spec.id, child.attempt, 0.0, now_s)
        )
        assert self.environment is not None
        self.environment.when_up(child.spec.needs, lambda: self._queue.put(_RestartDue(token)))

    def _mark_name(self, child: _Child, state: NameState) -> None:
        """Record ``state`` for an actor child's name (supervisor children have none)."""
        if self.registry.state(child.spec.id) is not NameState.UNKNOWN:
            self.registry.set_state(child.spec.id, state)

    def _restart_set(self, child: _Child) -> list[_Child]:
        if self.strategy is Strategy.ONE_FOR_ONE:
            return [child]
        if self.strategy is Strategy.ONE_FOR_ALL:
            return list(self._children)
        index = self._children.index(child)
        return self._children[index:]

    def _next_delay_s(self, child: _Child, now_s: float) -> float:
        backoff = child.spec.backoff
        healthy_s = backoff.reset_after_s if backoff is not None else self.intensity.period_s
        if child.started_at_s is not None and now_s - child.started_at_s >= healthy_s:
            child.attempt = 0
        delay_s = backoff.delay_s(child.attempt, self._rng) if backoff is not None else 0.0
        child.attempt += 1
        return delay_s

    def _restart_group(self, token: object) -> None:
        for child in list(self._children):  # start order
            if self._done.is_set():  # a failed restart below made this supervisor give up
                return
            if child.restart_token is not token or child.state is not ChildState.RESTARTING:
                continue
            child.restart_token = None
            try:
                self._start_incarnation(child)
            except Exception as exc:
                # A factory that fails on restart is a crash of that child: backoff, and it
                # counts toward the intensity. (On the first start it fails start() instead.)
                logger.exception("%s: restart of %s failed", self.path, child.spec.id)
                child.state = ChildState.RUNNING
                self._handle_exit(child, ExitReason.CRASH, f"start failed: {exc!r}")
                continue
            child.restarts += 1
            self.events.publish(
                ev.ChildRestarted(
                    self.path,
                    child.spec.id,
                    child.incarnation,
                    child.attempt,
                    child.pending_delay_s,
                    self.clock.monotonic(),
                    child.after_environment,
                )
            )

    def _retire(self, child: _Child) -> None:
        """The child is done for good: TEMPORARY children leave, others stay STOPPED."""
        child.state = ChildState.STOPPED
        child.handle = None
        if child.spec.restart is Restart.TEMPORARY:
            self._children.remove(child)
            self.registry.remove(child.spec.id, self)
        else:
            self._mark_name(child, NameState.STOPPED)

    # -- the watchdog ------------------------------------------------------------------------

    def _watch(self) -> None:
        for child in self._children:
            if child.state is ChildState.RUNNING and not _handle_alive(child.handle):
                # Judge after anything already queued: a child that reported its own exit
                # just before its thread ended gets that report handled first.
                self._queue.put(_WatchdogVerdict(child.spec.id, child.incarnation))

    # -- stopping ----------------------------------------------------------------------------

    def _stop_child(self, child: _Child, timeout_s: float) -> bool:
        """Stop one child and wait for its thread to end; publishes its SHUTDOWN exit."""
        handle = child.handle
        child.state = ChildState.STOPPING
        clean = True
        deadline = time.monotonic() + max(0.0, timeout_s)
        if isinstance(handle, Supervisor):
            clean = handle.stop(timeout_s)
        elif isinstance(handle, pykka.ActorRef):
            try:
                handle.stop(block=True, timeout=max(0.0, timeout_s))
            except pykka.Timeout:
                clean = False
            actor = actor_of(handle)
            thread = getattr(actor, "_thread", None) if actor is not None else None
            if clean and isinstance(thread, threading.Thread):
                thread.join(max(0.0, deadline - time.monotonic()))
                clean = not thread.is_alive()
        if not clean:
            logger.error(
                "%s: %s did not stop within %.3f s; abandoned",
                self.path,
                child.spec.id,
                timeout_s,
            )
        child.handle = None
        child.state = ChildState.STOPPED
        self._mark_name(child, NameState.STOPPED)
        if handle is not None:
            self.events.publish(
                ev.ChildExited(
                    self.path,
                    child.spec.id,
                    child.incarnation,
                    ExitReason.SHUTDOWN,
                    None,
                    self.clock.monotonic(),
                )
            )
        return clean

    def _terminate_child(self, child_id: str) -> bool:
        child = self._find(child_id)
        if child is None:
            raise KeyError(child_id)
        clean = True
        if child.state is ChildState.RUNNING:
            clean = self._stop_child(child, child.spec.shutdown_timeout_s)
        child.restart_token = None
        self._children.remove(child)
        self.registry.remove(child_id, self)
        return clean

    def _default_stop_budget_s(self) -> float:
        return sum(child.spec.shutdown_timeout_s for child in self._children) or 1.0

    def _stop_all(self, timeout_s: float | None) -> bool:
        budget_s = timeout_s if timeout_s is not None else self._default_stop_budget_s()
        deadline = time.monotonic() + budget_s
        clean = True
        for child in reversed(self._children):
            child.restart_token = None  # a pending restart must not fire after this
            if child.state is ChildState.RUNNING:
                remaining_s = max(0.001, deadline - time.monotonic())
                ok = self._stop_child(child, min(child.spec.shutdown_timeout_s, remaining_s))
                clean = clean and ok
            elif child.state is ChildState.RESTARTING:
                child.state = ChildState.STOPPED
        return clean

    def _shutdown(
        self,
        timeout_s: float | None,
        outcome: SupervisorOutcome,
        *,
        report: bool = True,
        reason: str | None = None,
    ) -> None:
        """Stop the children, end the thread, tell the parent; idempotent."""
        if self._done.is_set():
            return
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._timers.cancel_all()
        clean = self._stop_all(timeout_s)
        name_state = {
            SupervisorOutcome.QUARANTINED: NameState.QUARANTINED,
            SupervisorOutcome.GAVE_UP: (
                NameState.RESTARTING if self._context is not None else NameState.STOPPED
            ),
        }.get(outcome, NameState.STOPPED)
        for child in self._children:
            self._mark_name(child, name_state)
            # Keep the state for senders to read, but let a new incarnation of this
            # supervisor claim the name.
            self.registry.release(child.spec.id, self)
        self._clean_stop = clean
        self._outcome = outcome
        self.events.publish(ev.SupervisorStopped(self.path, clean, self.clock.monotonic()))
        logger.info("%s: stopped (%s, clean=%s)", self.path, outcome, clean)
        self._done.set()
        self._fail_pending_calls()
        if report and self._context is not None:
            exit_reason = {
                SupervisorOutcome.GAVE_UP: ExitReason.CRASH,
                SupervisorOutcome.QUARANTINED: ExitReason.QUARANTINED,
            }.get(outcome, ExitReason.NORMAL)
            self._context.report_exit(exit_reason, reason)
        if self._owned_events is not None:
            self._owned_events.close()
        if self._owned_clock is not None:
            self._owned_clock.close()

    def _give_up(self, reason: str) -> None:
        now_s = self.clock.monotonic()
        if self.escalation is Escalation.QUARANTINE:
            logger.error("%s: quarantined: %s", self.path, reason)
            self.events.publish(ev.Quarantined(self.path, reason, now_s))
            self._shutdown(None, SupervisorOutcome.QUARANTINED, reason=reason)
            return
        logger.error("%s: giving up: %s", self.path, reason)
        self.events.publish(ev.Escalated(self.path, reason, now_s))
        self._shutdown(None, SupervisorOutcome.GAVE_UP, reason=reason)
        if self._context is None and self._on_give_up is not None:
            try:
                self._on_give_up(reason)
            except Exception:
                logger.exception("%s: on_give_up failed", self.path)

    def _fail_pending_calls(self) -> None:
        while True:
            try:
                command = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(command, _Call):
                command.error = SupervisorStoppedError(f"supervisor {self.path} stopped")
                command.done.set()


def _handle_alive(handle: pykka.ActorRef[Any] | Supervisor | None) -> bool:
    """Whether a child still runs, judged without its cooperation (the watchdog's view)."""
    if handle is None:
        return False
    if isinstance(handle, Supervisor):
        return handle.is_alive()
    actor = actor_of(handle)
    if isinstance(actor, SupervisedActor):
        # A supervised actor reports its own exit before its thread ends; only a thread
        # that is gone without that report is a silent death.
        return actor.thread_is_alive()
    # A plain pykka actor reports nothing: its stopped flag is all there is.
    return handle.is_alive() and actor is not None
