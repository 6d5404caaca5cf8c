"""Give the C allocator's free memory back to the system every ``TRIM_EVERY_S`` (glibc).

Over a trading day the engine's threads allocate and free much through glibc's malloc: HTTP
bodies, decoded JSON, SQLite rows, all above Python's small-object allocator (512 bytes). glibc
gives freed memory back to the system only from the top of a heap, so what is freed below a
live block stays resident, in every one of its arenas (up to 8 per core, shared by the
follower threads). ``bench.memory --probe`` (docs/performance.md, "Where a day's memory goes")
measured it: after 500 leader orders at 50 followers, 27 MB of VmRSS was free memory the
allocator kept, ~0.5 MB per follower, and ``malloc_trim(0)`` gave back ~21 MB of it.

So the engine's sampler thread (off the copy path) calls ``malloc_trim(0)`` now and then: it
walks each arena under that arena's lock and returns its free pages (``madvise``), a few
milliseconds (``last_ms``). Elsewhere than glibc (musl, macOS) there is nothing to call and
``tick`` does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

#: Seconds between two trims. Memory freed since the last one stays resident until the next:
#: half a minute of churn at most, against a few ms of the sampler thread's time per trim.
TRIM_EVERY_S = 30.0


def trim_due(now_s: float, last_s: float, every_s: float) -> bool:
    """Pure: whether a trim is due at ``now_s``, the last one (or the start) at ``last_s``.

    One every ``every_s``; a clock that went backwards (it is monotonic; a test's may not be)
    does not hold trims off for ever: the next one is due at once.
    """
    if every_s <= 0:
        return True
    elapsed = now_s - last_s
    return elapsed >= every_s or elapsed < 0


def libc_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        fn = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    trim: Callable[[int], int] = fn
    return trim


class AllocatorTrim:
    """Calls ``malloc_trim(0)`` from ``tick`` once every ``every_s`` (a caller ticks often).

    Not thread-safe: one thread ticks it (the engine's sampler).
    """

    def __init__(
        self,
        every_s: float = TRIM_EVERY_S,
        *,
        clock: Callable[[], float] = time.monotonic,
        trim: Callable[[int], int] | None = None,
    ) -> None:
        self.every_s = every_s
        self._clock = clock
        self._trim = trim if trim is not None else libc_malloc_trim()
        self._last_s = clock()
        self.trims = 0  #: trims run
        self.last_ms = 0.0  #: how long the last one took

    @property
    def available(self) -> bool:
        return self._trim is not None

    def tick(self) -> bool:
        """Trim if one is due; True if it ran."""
        now = self._clock()
        if self._trim is None or not trim_due(now, self._last_s, self.every_s):
            return False
        self._last_s = now
        started = time.perf_counter()
        self._trim(0)
        self.last_ms = (time.perf_counter() - started) * 1000
        self.trims += 1
        logger.debug("malloc_trim: %.1f ms", self.last_ms)
        return True
