"""Clocks that can schedule callbacks: the real one and one that tests drive by hand.

Every time-dependent part of a supervision tree (backoff, restart intensity, the watchdog,
actor ticks) reads time and schedules work through one :class:`Clock`, so a test that swaps
in :class:`ManualClock` controls all of it with ``advance(seconds)``.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

logger = logging.getLogger(__name__)


class TimerHandle:
    """A scheduled callback; ``cancel()`` is idempotent and safe from any thread."""

    __slots__ = ("_callback", "_cancelled", "due_s")

    def __init__(self, due_s: float, callback: Callable[[], None]) -> None:
        self.due_s = due_s
        self._callback: Callable[[], None] | None = callback
        self._cancelled = False

    def cancel(self) -> None:
        self._cancelled = True
        self._callback = None  # drop references (actor refs, supervisors) early

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def _fire(self) -> None:
        callback = self._callback
        if self._cancelled or callback is None:
            return
        try:
            callback()
        except Exception:
            # A timer callback only tells an actor or posts to a supervisor; a failure there
            # must not stop other timers.
            logger.exception("timer callback failed")


class Clock(Protocol):
    """Monotonic time in seconds plus a one-shot scheduler.

    Callbacks run on a thread owned by the clock (or, for :class:`ManualClock`, the thread
    that calls ``advance``). They must be quick and non-blocking: tell an actor, post to a
    queue.
    """

    def monotonic(self) -> float: ...

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> TimerHandle: ...


class SystemClock:
    """The real clock: ``time.monotonic`` and one daemon scheduler thread (started lazily)."""

    def __init__(self, name: str = "supervision-clock") -> None:
        self._name = name
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def monotonic(self) -> float:
        return time.monotonic()

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> TimerHandle:
        handle = TimerHandle(time.monotonic() + max(0.0, delay_s), callback)
        with self._cond:
            if self._closed:
                handle.cancel()
                return handle
            heapq.heappush(self._heap, (handle.due_s, next(self._seq), handle))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify()
        return handle

    def close(self) -> None:
        """Cancel every pending timer and end the scheduler thread."""
        with self._cond:
            self._closed = True
            for _, _, handle in self._heap:
                handle.cancel()
            self._heap.clear()
            self._cond.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    if not self._heap:
                        self._cond.wait()
                        continue
                    wait_s = self._heap[0][0] - time.monotonic()
                    if wait_s <= 0:
                        break
                    self._cond.wait(timeout=wait_s)
                if self._closed:
                    return
                _, _, handle = heapq.heappop(self._heap)
            handle._fire()


class ManualClock:
    """A clock for tests: time moves only in :meth:`advance`, which fires due timers.

    Timers fire on the thread that calls ``advance``, in due order; during a callback
    ``monotonic()`` reads that timer's due time. A timer scheduled by a callback fires in
    the same ``advance`` if it falls due within it.
    """

    def __init__(self, start_s: float = 1000.0) -> None:
        self._now_s = start_s
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()
        self._lock = threading.RLock()

    def monotonic(self) -> float:
        with self._lock:
            return self._now_s

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> TimerHandle:
        with self._lock:
            handle = TimerHandle(self._now_s + max(0.0, delay_s), callback)
            heapq.heappush(self._heap, (handle.due_s, next(self._seq), handle))
            return handle

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing every timer that falls due."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            target_s = self._now_s + seconds
        while True:
            with self._lock:
                if not self._heap or self._heap[0][0] > target_s:
                    self._now_s = target_s
                    return
                due_s, _, handle = heapq.heappop(self._heap)
                self._now_s = max(self._now_s, due_s)
            handle._fire()

    def pending_due_s(self) -> list[float]:
        """Due times of the timers not yet fired nor cancelled, earliest first."""
        with self._lock:
            return sorted(due for due, _, handle in self._heap if not handle.cancelled)
