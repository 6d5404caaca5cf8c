"""Per-account sliding-window rate limits, as Dhan enforces them (-> DH-904).

Order APIs: 10/s, 250/min, 1000/h, 7000/day (``dhan.codes.ORDER_RATE_LIMITS``); reads: 20/s.
Only admitted requests count: a refused request does not extend the wait. Each window keeps a
deque of admission times pruned from the left, so a check is O(1) amortised.
"""

from __future__ import annotations

from collections import deque

from dhan.codes import ORDER_RATE_LIMITS

READ_RATE_LIMITS: tuple[tuple[float, int], ...] = ((1.0, 20),)
#: Market quote (``/marketfeed/*``): 1 request a second.
QUOTE_RATE_LIMITS: tuple[tuple[float, int], ...] = ((1.0, 1),)

_WINDOW_NAMES = {1.0: "second", 60.0: "minute", 3600.0: "hour", 86400.0: "day"}


class SlidingWindows:
    """A set of (window seconds, max requests) limits over one request stream."""

    def __init__(self, limits: tuple[tuple[float, int], ...] = ORDER_RATE_LIMITS) -> None:
        self._limits = limits
        self._stamps: list[deque[float]] = [deque() for _ in limits]

    def try_acquire(self, now_s: float) -> str | None:
        """Admit one request at ``now_s`` (monotonic seconds), or name the window that is full."""
        for (window_s, limit), stamps in zip(self._limits, self._stamps, strict=True):
            horizon = now_s - window_s
            while stamps and stamps[0] <= horizon:
                stamps.popleft()
            if len(stamps) >= limit:
                per = _WINDOW_NAMES.get(window_s, f"{window_s:g} s")
                return f"{limit} per {per}"
        for stamps in self._stamps:
            stamps.append(now_s)
        return None

    def reset(self) -> None:
        for stamps in self._stamps:
            stamps.clear()
