"""Polling with a deadline: the tests' only way to wait for something to become true."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], bool], timeout_s: float, poll_s: float = 0.01) -> bool:
    """True as soon as ``predicate()`` is; False when ``timeout_s`` passed first."""
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)  # polling interval, not synchronisation: the predicate decides
