"""Wall-clock strings in Dhan's format (IST ``YYYY-MM-DD HH:MM:SS``) and monotonic stamps.

The journal uses ``time.monotonic_ns()`` so latency maths never jumps with NTP; the wire uses IST
wall time like Dhan.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

IST = timezone(timedelta(hours=5, minutes=30), "IST")
NO_DATE = "0001-01-01 00:00:00"


#: (second, its IST text): formatted once per second, as several orders a millisecond ask for
#: it and ``strftime`` is the costly part. One tuple, replaced whole, so simulators on other
#: threads never see a second paired with another second's text.
_now_cache: tuple[int, str] = (-1, NO_DATE)


def ist_now() -> str:
    global _now_cache
    second = int(time.time())
    cached_second, text = _now_cache
    if second != cached_second:
        # Same clock and truncation as datetime.now(IST).strftime: this whole second's text.
        text = datetime.fromtimestamp(second, IST).strftime("%Y-%m-%d %H:%M:%S")
        _now_cache = (second, text)
    return text


def ist_token_validity(hours: float = 24.0) -> str:
    """``tokenValidity`` of ``/profile``: ``DD/MM/YYYY HH:MM``."""
    return (datetime.now(IST) + timedelta(hours=hours)).strftime("%d/%m/%Y %H:%M")


def mono_ns() -> int:
    return time.monotonic_ns()
