"""Lifecycle events of a supervision tree and the bus that delivers them to subscribers.

Every start, exit, restart, escalation and quarantine is published as a frozen record.
Subscribers (metrics, the audit trail, tests) run on the bus's own dispatcher thread --
never an actor's or a supervisor's -- in publication order; a failing subscriber is logged.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from supervision.specs import ExitReason

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChildStarted:
    """A child incarnation was built and handed to its supervisor."""

    supervisor: str  # path of the supervisor, e.g. "root/followers.F1"
    child_id: str
    incarnation: int  # 1 for the first start, +1 for every restart
    at_s: float  # clock.monotonic() when it happened


@dataclass(frozen=True, slots=True)
class ChildExited:
    """A child incarnation ended."""

    supervisor: str
    child_id: str
    incarnation: int
    reason: ExitReason
    error: str | None  # repr of the exception for a crash; None otherwise
    at_s: float


@dataclass(frozen=True, slots=True)
class RestartScheduled:
    """The supervisor decided to restart a child and armed its backoff timer."""

    supervisor: str
    child_id: str
    attempt: int  # consecutive restarts since the child was last healthy, from 1
    delay_s: float
    at_s: float


@dataclass(frozen=True, slots=True)
class ChildRestarted:
    """A child was started again after an exit."""

    supervisor: str
    child_id: str
    incarnation: int
    attempt: int
    delay_s: float  # the backoff that was waited before this start
    at_s: float
    #: True: it had exited ENVIRONMENT and waited for the resources, not a backoff
    environment: bool = False


@dataclass(frozen=True, slots=True)
class Escalated:
    """A supervisor exceeded its restart intensity, stopped its children and gave up."""

    supervisor: str
    reason: str
    at_s: float


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A supervisor with QUARANTINE escalation stopped its subtree; its parent lives on."""

    supervisor: str
    reason: str
    at_s: float


@dataclass(frozen=True, slots=True)
class SupervisorStopped:
    """A supervisor's thread ended; all its children were asked to stop first."""

    supervisor: str
    clean: bool  # every child stopped within its timeout
    at_s: float


SupervisionEvent = (
    ChildStarted
    | ChildExited
    | RestartScheduled
    | ChildRestarted
    | Escalated
    | Quarantined
    | SupervisorStopped
)
Subscriber = Callable[[SupervisionEvent], None]


class Subscription:
    """Handle returned by :meth:`EventBus.subscribe`; ``cancel()`` unsubscribes."""

    __slots__ = ("_bus", "_callback")

    def __init__(self, bus: EventBus, callback: Subscriber) -> None:
        self._bus = bus
        self._callback = callback

    def cancel(self) -> None:
        self._bus._unsubscribe(self)


class EventBus:
    """Fan-out of supervision events on one dispatcher thread (started lazily, daemon)."""

    _STOP = object()

    def __init__(self, name: str = "supervision-events") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._subscriptions: list[Subscription] = []
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False

    def subscribe(self, callback: Subscriber) -> Subscription:
        """Call ``callback(event)`` for every event published from now on."""
        subscription = Subscription(self, callback)
        with self._lock:
            self._subscriptions.append(subscription)
        return subscription

    def publish(self, event: SupervisionEvent) -> None:
        """Queue ``event`` for delivery; never blocks, never raises."""
        with self._lock:
            if self._closed:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        self._queue.put(event)

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued, then end the dispatcher thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        self._queue.put(self._STOP)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=timeout_s)

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            if event is self._STOP:
                return
            with self._lock:
                subscriptions = list(self._subscriptions)
            for subscription in subscriptions:
                try:
                    subscription._callback(event)  # type: ignore[arg-type]  # only events are queued besides _STOP
                except Exception:
                    logger.exception("supervision event subscriber failed on %r", event)
