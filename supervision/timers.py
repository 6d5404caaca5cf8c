"""Per-owner timers on a :class:`~supervision.clock.Clock`, cancelled together on stop.

An actor gets one :class:`Timers` as ``self.timers``: ``tell_later`` / ``tell_every`` deliver
a tick as a *message* to the actor, so its handlers stay single-threaded; every timer it
made is cancelled when the actor exits, on any path.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pykka

from supervision.clock import Clock, TimerHandle
from supervision.errors import MailboxFull

logger = logging.getLogger(__name__)


class Timer:
    """A one-shot or repeating timer made by :class:`Timers`; ``cancel()`` stops it."""

    __slots__ = ("_cancelled", "_current", "_lock", "_owner")

    def __init__(self, owner: Timers) -> None:
        self._owner = owner
        self._lock = threading.Lock()
        self._current: TimerHandle | None = None
        self._cancelled = False

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._current is not None:
                self._current.cancel()
                self._current = None
        self._owner._forget(self)

    def _arm(self, clock: Clock, delay_s: float, fire: Callable[[], None]) -> None:
        with self._lock:
            if not self._cancelled:
                self._current = clock.call_later(delay_s, fire)


class Timers:
    """Timers owned by one component; :meth:`cancel_all` cancels every one still pending."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._live: set[Timer] = set()
        self._closed = False

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> Timer:
        """Run ``fn`` once after ``delay_s`` on the clock's thread (keep it quick)."""
        timer = self._new_timer()

        def fire() -> None:
            self._forget(timer)
            if not timer.cancelled:
                fn()

        timer._arm(self.clock, delay_s, fire)
        return timer

    def call_every(
        self, interval_s: float, fn: Callable[[], None], *, first_s: float | None = None
    ) -> Timer:
        """Run ``fn`` every ``interval_s`` until cancelled; the first run after ``first_s``
        (default: one interval).

        The next run is scheduled after ``fn`` returns, so slow callbacks do not pile up.
        """
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        timer = self._new_timer()

        def fire() -> None:
            if timer.cancelled:
                return
            try:
                fn()
            finally:
                timer._arm(self.clock, interval_s, fire)

        timer._arm(self.clock, interval_s if first_s is None else max(0.0, first_s), fire)
        return timer

    def tell_later(self, delay_s: float, ref: pykka.ActorRef[Any], message: Any) -> Timer:
        """Tell ``message`` to ``ref`` once after ``delay_s``."""

        def tick() -> None:
            _tell_tick(ref, message)

        return self.call_later(delay_s, tick)

    def tell_every(
        self,
        interval_s: float,
        ref: pykka.ActorRef[Any],
        message: Any,
        *,
        coalesce: bool = False,
        first_s: float | None = None,
    ) -> Timer:
        """Tell ``message`` to ``ref`` every ``interval_s`` until cancelled or ``ref`` dies.

        ``coalesce``: send it wrapped in a :class:`PeriodicTick` and skip a period while the
        previous one still waits in the inbox, so an actor slower than its period does not
        build a backlog of ticks (which would also delay its stop by the whole backlog). The
        receiver must unwrap it (:class:`~supervision.SupervisedActor` does).
        """
        holder: list[Timer] = []
        pending = threading.Event()

        def tick() -> None:
            if coalesce:
                if pending.is_set():
                    return
                pending.set()
                delivered = _tell_tick(ref, PeriodicTick(message, pending))
            else:
                delivered = _tell_tick(ref, message)
            if not delivered:
                holder[0].cancel()

        timer = self.call_every(interval_s, tick, first_s=first_s)
        holder.append(timer)
        return timer

    def cancel_all(self) -> None:
        """Cancel every pending timer; later ``call_*`` calls return cancelled timers."""
        with self._lock:
            self._closed = True
            live = list(self._live)
            self._live.clear()
        for timer in live:
            timer.cancel()

    def pending(self) -> int:
        """How many timers are armed and not cancelled."""
        with self._lock:
            return len(self._live)

    def _new_timer(self) -> Timer:
        timer = Timer(self)
        with self._lock:
            if self._closed:
                timer._cancelled = True
            else:
                self._live.add(timer)
        return timer

    def _forget(self, timer: Timer) -> None:
        with self._lock:
            self._live.discard(timer)


class PeriodicTick:
    """A coalesced periodic message: the receiver calls :meth:`unwrap` when it dequeues it."""

    __slots__ = ("message", "pending")

    def __init__(self, message: Any, pending: threading.Event) -> None:
        self.message = message
        self.pending = pending

    def unwrap(self) -> Any:
        """The message; the timer may send the next one from now on."""
        self.pending.clear()
        return self.message

    def __repr__(self) -> str:
        return f"PeriodicTick({self.message!r})"


def _tell_tick(ref: pykka.ActorRef[Any], message: Any) -> bool:
    """Deliver one tick; False when the actor is gone (the timer should stop)."""
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        return False
    except MailboxFull:
        # A tick is a wake-up hint; the next one carries the same information.
        logger.warning("tick %r dropped: mailbox of %s is full", message, ref)
        if isinstance(message, PeriodicTick):
            message.pending.clear()
    return True
