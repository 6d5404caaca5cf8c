"""Wall-clock strings in Dhan's format (IST ``YYYY-MM-DD HH:MM:SS``) and monotonic stamps.

The journal uses ``time.monotonic_ns()`` so latency maths never jumps with NTP; the wire uses IST
wall time like Dhan.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

IST = timezone(timedelta(hours=5, minutes=30), "IST")
NO_DATE = "0001-01-01 00:00:00"


def ist_now() -> str:
    return datetime.now(IST).strftime("%Y-%m-%d %H:%M:%S")


def ist_token_validity(hours: float = 24.0) -> str:
    """``tokenValidity`` of ``/profile``: ``DD/MM/YYYY HH:MM``."""
    return (datetime.now(IST) + timedelta(hours=hours)).strftime("%d/%m/%Y %H:%M")


def mono_ns() -> int:
    return time.monotonic_ns()
