"""Tools for testing code that runs under supervision (product code, used by our own suite).

:class:`EventRecorder` subscribes to an :class:`~supervision.events.EventBus` and lets a
test *wait* for an event with a timeout instead of sleeping; :func:`wait_until` polls a
predicate with a deadline. Pair them with :class:`~supervision.clock.ManualClock`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from supervision.events import EventBus, SupervisionEvent

E = TypeVar("E")


class EventRecorder:
    """Records every event published on a bus; waits for the ones a test expects."""

    def __init__(self, bus: EventBus) -> None:
        self._cond = threading.Condition()
        self._events: list[SupervisionEvent] = []
        self._threads: set[str] = set()
        self._subscription = bus.subscribe(self._record)

    def _record(self, event: SupervisionEvent) -> None:
        with self._cond:
            self._events.append(event)
            self._threads.add(threading.current_thread().name)
            self._cond.notify_all()

    @property
    def events(self) -> list[SupervisionEvent]:
        with self._cond:
            return list(self._events)

    @property
    def delivery_threads(self) -> set[str]:
        """Names of the threads that delivered events to this recorder."""
        with self._cond:
            return set(self._threads)

    def of_type(self, kind: type[E], **fields: Any) -> list[E]:
        """Recorded events of ``kind`` whose attributes equal ``fields``."""
        with self._cond:
            return [e for e in self._events if _matches(e, kind, fields)]  # type: ignore[misc]  # narrowed by _matches

    def wait_for(self, kind: type[E], timeout_s: float = 5.0, count: int = 1, **fields: Any) -> E:
        """Wait until ``count`` events of ``kind`` matching ``fields`` were recorded; return
        the ``count``-th. Raises ``TimeoutError`` listing what was recorded instead.
        """
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                found = [e for e in self._events if _matches(e, kind, fields)]
                if len(found) >= count:
                    return found[count - 1]  # type: ignore[return-value]  # narrowed by _matches
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0:
                    raise TimeoutError(
                        f"no {count}x {kind.__name__}{fields or ''} within {timeout_s} s; "
                        f"recorded: {self._events}"
                    )
                self._cond.wait(remaining_s)

    def close(self) -> None:
        self._subscription.cancel()


def _matches(event: object, kind: type, fields: dict[str, Any]) -> bool:
    return isinstance(event, kind) and all(
        getattr(event, name) == value for name, value in fields.items()
    )


def wait_until(
    predicate: Callable[[], bool], timeout_s: float = 5.0, poll_s: float = 0.005
) -> None:
    """Poll ``predicate`` until it is true; ``TimeoutError`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {timeout_s} s")
        time.sleep(poll_s)  # polling with a deadline, not sleeping as synchronisation
