"""Sliding-window order-rate accounting per account, and the DH-904 backoff.

Pure bookkeeping with an injected clock, so the RateLimiterActor stays a thin message loop and
the arithmetic is unit-tested without threads. Dhan's order-API limits are per account:
10/s, 250/min, 1000/h, 7000/day (``dhan.codes.ORDER_RATE_LIMITS``). The engine keeps each
account's per-second rate *below* 10 by default (``engine.max_orders_per_second``, 9:
:func:`order_rate_limits`): 10 or more orders a second is the exchange's threshold for a
registered algo (docs/operations.md, "Compliance").
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from dhan.codes import ORDER_RATE_LIMITS

#: Each window is held this much longer than the broker's: a permit is stamped when granted,
#: the broker stamps the request when it arrives, and a request delayed on its way (a busy
#: thread, a slow socket) followed by a quick one would otherwise crowd the broker's window.
DEFAULT_MARGIN_S = 0.1
#: A DH-904 shrinks the allowance at most to this fraction of Dhan's limits.
MIN_SCALE = 0.25
#: Each quiet period this long after the last DH-904 doubles the allowance back towards 1.
RECOVER_STEP_S = 15.0
#: Windows this short (Dhan's per-second one) are the ones a DH-904 shrinks.
BURST_WINDOW_S = 2.0


def order_rate_limits(
    max_per_second: int, limits: tuple[tuple[float, int], ...] = ORDER_RATE_LIMITS
) -> tuple[tuple[float, int], ...]:
    """``limits`` with the per-second window lowered to ``max_per_second``.

    Never raised above the broker's own per-second limit (a higher value would only earn
    DH-904s); the minute / hour / day windows stay the broker's.
    """
    if max_per_second < 1:
        raise ValueError(f"max_per_second must be >= 1, got {max_per_second}")
    return tuple(
        (span_s, min(limit, max_per_second) if span_s <= 1.0 else limit) for span_s, limit in limits
    )


@dataclass(slots=True)
class _Window:
    span_s: float
    limit: int
    stamps: deque[float] = field(default_factory=deque)

    def prune(self, now: float) -> None:
        edge = now - self.span_s
        while self.stamps and self.stamps[0] <= edge:
            self.stamps.popleft()

    def wait_s(self, now: float, limit: int) -> float:
        """Seconds until one more call fits (0 when it fits now)."""
        self.prune(now)
        if len(self.stamps) < limit:
            return 0.0
        # the oldest stamp that must leave the window for the count to drop below the limit
        return self.stamps[len(self.stamps) - limit] + self.span_s - now


@dataclass(slots=True)
class AccountWindows:
    """The windows of one account, plus a throttle that DH-904 answers tighten.

    Long-lived: the engine keeps one per account across RateLimiterActor restarts, so a
    restarted limiter still knows what its predecessor granted (a fresh window would grant a
    second full minute's worth and the broker would answer DH-904).

    Shared: the limiter and the account's own FollowerActor (its fast path,
    :meth:`try_take`) both use it, each under :attr:`lock`.
    """

    windows: list[_Window]
    #: Multiplier on the per-second limit (1.0 normally; halved by each DH-904 episode,
    #: restored when quiet).
    scale: float = 1.0
    #: No grants before this time (backoff after a DH-904).
    paused_until: float = 0.0
    backoff_s: float = 0.0
    last_throttle: float = float("-inf")
    #: the scale right after the last DH-904 (recovery doubles it per quiet step)
    throttled_scale: float = 1.0
    #: requests of this account waiting in the limiter's queue (kept by the limiter): while
    #: any wait, the fast path must not overtake them
    queued: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def dhan_defaults(
        cls,
        limits: tuple[tuple[float, int], ...] = ORDER_RATE_LIMITS,
        *,
        margin_s: float = DEFAULT_MARGIN_S,
    ) -> AccountWindows:
        return cls(windows=[_Window(span_s + margin_s, limit) for span_s, limit in limits])

    def wait_s(self, now: float, *, urgent: bool = False) -> float:
        """Seconds until one more order call is allowed (0 = now).

        ``urgent`` (a cancel: it only lowers risk) waits out a DH-904 pause but is measured
        against Dhan's full limits, not the shrunken allowance, so one-cancels-other does not
        queue behind a slowed-down account's places.
        """
        self._maybe_recover(now)
        wait = max(0.0, self.paused_until - now)
        scale = 1.0 if urgent else self.scale
        for w in self.windows:
            # the shrink paces bursts (the per-second window); shrinking the minute / hour /
            # day budgets too would leave a follower minutes behind after one DH-904 storm
            limit = max(1, int(w.limit * scale)) if w.span_s <= BURST_WINDOW_S else w.limit
            wait = max(wait, w.wait_s(now, limit))
        return wait

    def take(self, now: float) -> None:
        for w in self.windows:
            w.stamps.append(now)

    def try_take(self, now: float, *, urgent: bool = False, overtake: bool = False) -> bool:
        """Take one call now if it fits and nothing of this account waits in the limiter.

        The follower's fast path: a copy that fits Dhan's windows goes out without a round
        trip through the RateLimiterActor; otherwise the caller asks the limiter and waits.
        ``overtake``: ignore the queue (a permit granted earlier, re-stamped because it is
        used late, was at the head of that queue already).
        """
        with self.lock:
            if (self.queued and not overtake) or self.wait_s(now, urgent=urgent) > 0:
                return False
            self.take(now)
            return True

    def throttled(
        self, now: float, *, initial_backoff_s: float = 1.0, max_backoff_s: float = 15.0
    ) -> None:
        """The broker said DH-904: halve the allowance and pause, doubling on repeats.

        Answers that arrive while the account is already paused belong to the same episode
        (calls that were on their way when the first DH-904 came back) and change nothing: a
        burst of ten rejected calls is one signal, not ten halvings.
        """
        if now < self.paused_until:
            return
        self._maybe_recover(now)
        repeat = now - self.last_throttle < 10.0
        self.backoff_s = min(max_backoff_s, self.backoff_s * 2 if repeat else initial_backoff_s)
        self.backoff_s = max(self.backoff_s, initial_backoff_s)
        self.scale = max(MIN_SCALE, self.scale / 2)
        self.throttled_scale = self.scale
        self.paused_until = now + self.backoff_s
        self.last_throttle = now

    def _maybe_recover(self, now: float) -> None:
        if self.scale >= 1.0:
            return
        steps = int((now - self.last_throttle) // RECOVER_STEP_S)
        if steps > 0:
            self.scale = min(1.0, self.throttled_scale * 2.0**steps)
            if self.scale >= 1.0:
                self.backoff_s = 0.0
