"""Replication-latency stamps: leader frame parsed -> our copy acked by the broker.

The hint that claims a copy carries when the leader frame was parsed; the copy may be placed
after it (the usual case) or, by a tick, before it reached the follower. Whichever comes second
completes the measure and hands the elapsed nanoseconds to ``observe``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

#: A stamp whose copy was not placed (or whose hint never came) within this is dropped.
STAMP_TTL_S = 60.0


class CopyLatency:
    """One follower's open latency measures (used on its actor's thread only)."""

    def __init__(self, observe: Callable[[int], None]) -> None:
        #: called with each completed measure, in ns (may be negative: clocks of two threads)
        self.observe = observe
        #: leader order id -> monotonic ns the leader frame was parsed, from the hint that
        #: claimed our copy
        self.leader_seen_ns: dict[str, int] = {}
        #: leader order id -> monotonic ns of the broker's ack, for a copy a tick placed
        #: before that hint reached us
        self.acked_ns: dict[str, int] = {}

    def hinted(self, leader_order_ids: Iterable[str], received_ns: int) -> None:
        """A hint claimed copies of these leader orders: start (or finish) their measures."""
        for oid in dict.fromkeys(leader_order_ids):
            acked = self.acked_ns.pop(oid, 0)
            if acked:
                self.observe(acked - received_ns)
            else:
                self.leader_seen_ns.setdefault(oid, received_ns)

    def acked(self, leader_order_id: str, now_ns: int) -> None:
        """The broker acked our copy of ``leader_order_id`` at ``now_ns``."""
        seen = self.leader_seen_ns.pop(leader_order_id, 0)
        if seen:
            self.observe(now_ns - seen)
        else:  # placed by a tick before the hint came: the hint completes the measure
            self.acked_ns[leader_order_id] = now_ns

    def forget_older_than(self, edge_ns: int) -> None:
        """Drop stamps of copies never placed (the leader order ended first, a filter, a
        crash) taken before ``edge_ns``."""
        for stamps in (self.leader_seen_ns, self.acked_ns):
            for oid in [k for k, at in stamps.items() if at < edge_ns]:
                del stamps[oid]
