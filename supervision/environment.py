"""Shared resources whose outage is an environment fault, not a child's bug.

A database that is down, a full disk: every child that needs it fails, and restarting them
faster fixes nothing. Counting those exits toward a supervisor's restart intensity would
quarantine a follower for the store's fault, or make the root give up and the process exit.
An :class:`Environment` is shared by a whole tree (``Supervisor(environment=...)``, passed down
through the :class:`~supervision.context.ChildContext`) and holds, per named resource:

* a ``classify(exc) -> resource | None`` hook: the exceptions that mean "this resource is
  unavailable" (the resource's own layer decides, e.g. ``store.errors.StoreUnavailable``);
* a ``probe()`` that returns when the resource works and raises while it does not;
* its state: up, or down with a one-line reason.

How an outage runs::

    a child fails with a classified exception, or a periodic probe fails
      -> the resource is down: subscribers are told (metrics, readiness, logs);
         every supervised actor that needs it exits ENVIRONMENT at its next message
         (it handles nothing more: a message may mean a send that cannot be journaled)
      -> its supervisor does not count the exit and schedules no backoff: it waits
    the environment's thread probes the resource with a backoff, for as long as it takes
      -> the probe passes: the resource is up, subscribers are told, waiting children start

Only the environment's thread marks a resource up (a passing probe); anyone may mark it down.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from supervision.specs import Backoff

logger = logging.getLogger(__name__)

#: ``classify(exc)``: the name of the resource ``exc`` says is unavailable, or None.
Classifier = Callable[[BaseException], str | None]
#: ``listener(resource, up, reason)``: runs on the environment's thread (or the reporter's).
Listener = Callable[[str, bool, str], None]

#: How deep ``fault_of`` follows ``__cause__`` / ``__context__`` (an error re-raised as another).
_CAUSE_DEPTH = 5


@dataclass(slots=True)
class _Resource:
    name: str
    probe: Callable[[], object]
    classify: Classifier
    backoff: Backoff
    check_interval_s: float | None
    down_reason: str | None = None
    down_since_s: float | None = None
    attempt: int = 0
    next_probe_s: float = 0.0
    waiters: list[Callable[[], None]] = field(default_factory=list)


class Environment:
    """The named shared resources of a supervision tree and their health.

    ``check_interval_s`` (per resource): while up, probe it this often, so an outage is seen
    (and reported) even when no child happens to use the resource; None: only children's
    failures reveal it. While down, it is probed on ``backoff`` (from the first failure; a
    resource that fails again soon after coming back continues the backoff where it was).
    """

    def __init__(self, name: str = "environment") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._resources: dict[str, _Resource] = {}
        self._listeners: list[Listener] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        self._rng = random.Random()

    # -- set up ------------------------------------------------------------------------------

    def add_resource(
        self,
        name: str,
        *,
        probe: Callable[[], object],
        classify: Classifier,
        backoff: Backoff = Backoff(initial_s=0.2, factor=2.0, max_s=5.0, reset_after_s=30.0),  # noqa: B008 -- frozen
        check_interval_s: float | None = None,
    ) -> None:
        """Declare a resource; starts the probing thread with the first one."""
        with self._lock:
            if name in self._resources:
                raise ValueError(f"environment {self.name} already has a resource {name!r}")
            self._resources[name] = _Resource(name, probe, classify, backoff, check_interval_s)
            self._resources[name].next_probe_s = time.monotonic() + (check_interval_s or 0.0)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"{self.name}-probe", daemon=True
                )
                self._thread.start()
            self._wake.notify_all()

    def subscribe(self, listener: Listener) -> None:
        """``listener(resource, up, reason)`` on every change of a resource's state."""
        with self._lock:
            self._listeners.append(listener)

    def close(self) -> None:
        """Stop probing (waiters are not called)."""
        with self._lock:
            self._closed = True
            self._wake.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)

    # -- queries (any thread; cheap) ---------------------------------------------------------

    @property
    def resources(self) -> tuple[str, ...]:
        return tuple(self._resources)

    def fault_of(self, exc: BaseException | None) -> str | None:
        """The resource ``exc`` (or an exception it was raised from) says is unavailable."""
        seen = 0
        while exc is not None and seen < _CAUSE_DEPTH:
            for resource in tuple(self._resources.values()):
                if resource.classify(exc) == resource.name:
                    return resource.name
            exc = exc.__cause__ or exc.__context__
            seen += 1
        return None

    def down(self) -> dict[str, str]:
        """Every resource that is down, with its reason."""
        return {
            r.name: r.down_reason
            for r in tuple(self._resources.values())
            if r.down_reason is not None
        }

    def first_down(self, needs: frozenset[str] | None = None) -> tuple[str, str] | None:
        """A resource among ``needs`` (None: any) that is down, with its reason; or None.

        Lock-free: an actor calls this before each message it handles.
        """
        for r in tuple(self._resources.values()):
            reason = r.down_reason
            if reason is not None and (needs is None or r.name in needs):
                return r.name, reason
        return None

    def is_up(self, name: str) -> bool:
        r = self._resources.get(name)
        return r is None or r.down_reason is None

    # -- changes -------------------------------------------------------------------------------

    def report_fault(self, name: str, reason: str) -> None:
        """A child (or anyone) found ``name`` unavailable: mark it down until a probe passes."""
        with self._lock:
            r = self._resources.get(name)
            if r is None:
                raise KeyError(name)
            if r.down_reason is not None:
                return
            now = time.monotonic()
            healthy_s = now - r.down_since_s if r.down_since_s is not None else None
            if healthy_s is None or healthy_s >= r.backoff.reset_after_s:
                r.attempt = 0
            else:  # back only briefly: probe it later than last time
                r.attempt += 1
            r.down_reason = reason
            r.down_since_s = now
            r.next_probe_s = now + r.backoff.delay_s(r.attempt, self._rng)
            listeners = tuple(self._listeners)
            self._wake.notify_all()
        logger.warning("%s unavailable: %s", name, reason)
        self._tell(listeners, name, False, reason)

    def when_up(self, names: frozenset[str] | None, callback: Callable[[], None]) -> None:
        """Run ``callback`` once every resource of ``names`` (None: all) is up: at once if
        they are, else on the environment's thread when the last comes back. Keep it quick."""
        with self._lock:
            down = [
                r
                for r in self._resources.values()
                if r.down_reason is not None and (names is None or r.name in names)
            ]
            if down:
                pending = _Countdown(len(down), callback)
                for r in down:
                    r.waiters.append(pending.one_up)
                return
        callback()

    # -- the probing thread --------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._closed:
                    now = time.monotonic()
                    due = [r for r in self._resources.values() if self._due(r, now)]
                    if due:
                        break
                    wait_s = min(
                        (
                            r.next_probe_s - now
                            for r in self._resources.values()
                            if r.down_reason is not None or r.check_interval_s is not None
                        ),
                        default=None,
                    )
                    self._wake.wait(None if wait_s is None else max(0.0, wait_s))
                if self._closed:
                    return
            for r in due:
                self._probe(r)

    @staticmethod
    def _due(r: _Resource, now: float) -> bool:
        if r.down_reason is None and r.check_interval_s is None:
            return False
        return now >= r.next_probe_s

    def _probe(self, r: _Resource) -> None:
        try:
            r.probe()
        except Exception as exc:
            reason = _one_line(exc)
            with self._lock:
                if r.down_reason is None:
                    listeners: tuple[Listener, ...] = ()
                    r.down_since_s = time.monotonic()
                    r.attempt = 0
                    listeners = tuple(self._listeners)
                    logger.warning("%s unavailable: %s", r.name, reason)
                else:
                    listeners = ()
                    r.attempt += 1
                r.down_reason = reason
                r.next_probe_s = time.monotonic() + r.backoff.delay_s(r.attempt, self._rng)
            self._tell(listeners, r.name, False, reason)
            return
        with self._lock:
            was_down = r.down_reason is not None
            waiters: list[Callable[[], None]] = []
            if was_down:
                down_s = time.monotonic() - (r.down_since_s or time.monotonic())
                r.down_reason = None
                r.down_since_s = time.monotonic()  # up since: a quick relapse keeps the backoff
                waiters, r.waiters = r.waiters, []
            r.next_probe_s = time.monotonic() + (r.check_interval_s or 0.0)
            listeners = tuple(self._listeners) if was_down else ()
        if was_down:
            logger.warning("%s available again after %.1f s", r.name, down_s)
            self._tell(listeners, r.name, True, "ok")
        for waiter in waiters:
            try:
                waiter()
            except Exception:
                logger.exception("%s: a waiter for %s failed", self.name, r.name)

    def _tell(self, listeners: tuple[Listener, ...], name: str, up: bool, reason: str) -> None:
        for listener in listeners:
            try:
                listener(name, up, reason)
            except Exception:
                logger.exception("%s: a listener failed", self.name)


class _Countdown:
    """Calls ``callback`` once ``count`` resources have come back."""

    def __init__(self, count: int, callback: Callable[[], None]) -> None:
        self._left = count
        self._callback = callback
        self._lock = threading.Lock()

    def one_up(self) -> None:
        with self._lock:
            self._left -= 1
            fire = self._left == 0
        if fire:
            self._callback()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
