"""A bounded journal of every REST request received and every socket frame sent.

Each entry has a ``seq`` and a monotonic ``t_ns`` (``time.monotonic_ns()``; REST: arrival, with
``t_done_ns`` at the answer; frames: when written). Benchmarks compute copy latency from it. The
ring holds ``size`` entries (default 50,000: about 35 MB when full); older ones fall off and
``dropped`` counts them.
"""

from __future__ import annotations

from collections import deque
from typing import Any

DEFAULT_JOURNAL_SIZE = 50_000


class Journal:
    """Ring buffer of journal entries (plain dicts, JSON-ready)."""

    def __init__(self, size: int = DEFAULT_JOURNAL_SIZE) -> None:
        if size <= 0:
            raise ValueError("journal size must be positive")
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self._seq = 0
        self.size = size

    @property
    def dropped(self) -> int:
        return self._seq - len(self._entries)

    def record(self, entry: dict[str, Any]) -> None:
        self._seq += 1
        entry["seq"] = self._seq
        self._entries.append(entry)

    def query(
        self,
        *,
        since_ns: int | None = None,
        since_seq: int | None = None,
        kind: str | None = None,
        account: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Entries in journal order, filtered; ``limit`` keeps the oldest matching ones."""
        out = []
        for entry in self._entries:
            if since_seq is not None and entry["seq"] <= since_seq:
                continue
            if since_ns is not None and entry["t_ns"] <= since_ns:
                continue
            if kind is not None and entry["kind"] != kind:
                continue
            if account is not None and entry.get("account") != account:
                continue
            out.append(entry)
            if limit is not None and len(out) >= limit:
                break
        return out

    def clear(self) -> None:
        self._entries.clear()
