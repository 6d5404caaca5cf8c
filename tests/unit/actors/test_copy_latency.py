"""Replication-latency stamps: whichever of the hint and the ack comes second completes the
measure (``actors.copy_latency``)."""

from __future__ import annotations

import pytest

from actors.copy_latency import CopyLatency

# events: ("hint", leader order ids, received_ns) / ("ack", leader order id, now_ns)
Event = tuple[str, object, int]


@pytest.mark.parametrize(
    ("events", "observed", "open_stamps"),
    [
        # the usual order: the hint, then our ack
        ([("hint", ["L1"], 100), ("ack", "L1", 350)], [250], 0),
        # a tick placed the copy before the hint reached us: the hint completes it
        ([("ack", "L1", 300), ("hint", ["L1"], 100)], [200], 0),
        # a copy never placed (leader ended first): the stamp waits to be forgotten
        ([("hint", ["L1"], 100)], [], 1),
        # a hint claiming two legs of one leader order starts one measure
        ([("hint", ["L1", "L1"], 100), ("ack", "L1", 150), ("ack", "L1", 170)], [50], 1),
        # a second hint of the same order keeps the first frame's time
        ([("hint", ["L1"], 100), ("hint", ["L1"], 200), ("ack", "L1", 300)], [200], 0),
        # two orders measured on their own
        (
            [("hint", ["L1", "L2"], 100), ("ack", "L2", 120), ("ack", "L1", 190)],
            [20, 90],
            0,
        ),
    ],
)
def test_each_copy_is_measured_once_from_the_leader_frame_to_its_ack(
    events: list[Event], observed: list[int], open_stamps: int
) -> None:
    seen: list[int] = []
    latency = CopyLatency(seen.append)
    for kind, what, at in events:
        if kind == "hint":
            latency.hinted(what, at)  # type: ignore[arg-type]  # a list of ids in these rows
        else:
            latency.acked(what, at)  # type: ignore[arg-type]  # one id in these rows
    assert seen == observed
    assert len(latency.leader_seen_ns) + len(latency.acked_ns) == open_stamps


def test_stamps_older_than_the_edge_are_forgotten_and_newer_ones_kept() -> None:
    seen: list[int] = []
    latency = CopyLatency(seen.append)
    latency.hinted(["old-hint"], 100)
    latency.acked("old-ack", 150)
    latency.hinted(["new-hint"], 900)
    latency.acked("new-ack", 950)
    latency.forget_older_than(500)
    assert latency.leader_seen_ns == {"new-hint": 900}
    assert latency.acked_ns == {"new-ack": 950}
    latency.acked("old-hint", 1000)  # its stamp is gone: measured by its own hint, if any
    assert seen == []
