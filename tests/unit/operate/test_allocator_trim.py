"""The engine gives the C allocator's free memory back every TRIM_EVERY_S (glibc)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from copytrader.allocator import TRIM_EVERY_S, AllocatorTrim, libc_malloc_trim, trim_due


@pytest.mark.parametrize(
    ("now_s", "last_s", "every_s", "due"),
    [
        (100.0, 100.0, 30.0, False),  # just trimmed (or just started)
        (129.9, 100.0, 30.0, False),
        (130.0, 100.0, 30.0, True),  # one period on
        (500.0, 100.0, 30.0, True),  # late (a busy sampler): at once, once
        (90.0, 100.0, 30.0, True),  # a clock that went backwards does not hold trims off
        (100.0, 100.0, 0.0, True),  # no period: every tick
    ],
)
def test_trim_due(now_s: float, last_s: float, every_s: float, due: bool):
    assert trim_due(now_s, last_s, every_s) is due


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ticks_trim_once_a_period_counting_from_the_start():
    clock = _Clock()
    calls: list[int] = []

    def trim(pad: int) -> int:
        calls.append(pad)
        return 1

    allocator = AllocatorTrim(30.0, clock=clock, trim=trim)
    ran = []
    for step in range(0, 95):  # the sampler ticks once a second
        clock.now = 1000.0 + step
        ran.append(allocator.tick())
    assert [s for s, r in enumerate(ran) if r] == [30, 60, 90]
    assert calls == [0, 0, 0]  # pad 0: give back all that can be given
    assert allocator.trims == 3


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(libc_malloc_trim() is None, reason="no glibc malloc_trim here")
def test_a_trim_gives_back_what_threads_freed_below_live_blocks():
    kept: list[bytes] = []

    def churn() -> None:
        # 2 KiB blocks (malloc's, above Python's small-object allocator); every 50th is kept,
        # so the freed ones lie below live blocks, where glibc never gives memory back alone
        blocks = [bytes(2048) for _ in range(40_000)]  # ~80 MB
        kept.extend(blocks[::50])
        del blocks

    worker = threading.Thread(target=churn)  # a thread: its own arena, as a follower's
    worker.start()
    worker.join()
    allocator = AllocatorTrim(0.0)
    before = _rss_kb()
    assert allocator.tick()
    after = _rss_kb()
    assert len(kept) == 800
    assert before - after > 20_000, (before, after)  # kB: most of the ~80 MB came back
    assert allocator.last_ms >= 0.0
    assert TRIM_EVERY_S > 0
