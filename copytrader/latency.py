"""Copy latency from the simulator's journal: leader frame sent -> follower place received.

Both timestamps come from the simulator's one monotonic clock, so the number includes the
socket hop, the engine and the REST hop -- everything between the broker telling the leader
and the broker hearing from a follower. Used by the demo and by ``bench.fanout``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_PLACE_ENDPOINTS = ("POST /orders", "POST /super/orders")


@dataclass(frozen=True, slots=True)
class CopySample:
    leader_order_id: str
    follower_client_id: str
    latency_s: float


def copy_latencies(
    entries: Iterable[Mapping[str, Any]],
    leader_client_id: str,
    leader_order_of_cid: Callable[[str], str | None],
) -> list[CopySample]:
    """One sample per follower place request whose correlationId maps to a leader order.

    ``leader_order_of_cid`` maps a follower correlationId to its leader order id (the journal's
    intents know it). The first place request per (follower, correlationId) counts: a resend
    after an unknown outcome is not a second copy.
    """
    first_frame: dict[str, int] = {}
    places: list[tuple[str, str, int]] = []
    for e in entries:
        if e.get("kind") == "frame" and e.get("account") == leader_client_id:
            oid = e.get("orderNo")
            if oid and e.get("result", "sent") == "sent" and oid not in first_frame:
                first_frame[str(oid)] = int(e["t_ns"])
        elif (
            e.get("kind") == "rest"
            and e.get("endpoint") in _PLACE_ENDPOINTS
            and e.get("account") != leader_client_id
            and e.get("correlationId")
        ):
            places.append((str(e["account"]), str(e["correlationId"]), int(e["t_ns"])))
    seen: set[tuple[str, str]] = set()
    out: list[CopySample] = []
    for account, cid, t_ns in places:
        if (account, cid) in seen:
            continue
        seen.add((account, cid))
        leader_oid = leader_order_of_cid(cid)
        if leader_oid is None or leader_oid not in first_frame:
            continue
        out.append(CopySample(leader_oid, account, (t_ns - first_frame[leader_oid]) / 1e9))
    return out


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[rank]
