"""resync --apply paces its order writes by engine.max_orders_per_second, as the engine does."""

from __future__ import annotations

import time

import pytest

from copytrader.config import FollowerConfig, Secret, SizingConfig, SizingMode
from copytrader.position_commands import order_tags, pacer


@pytest.mark.parametrize(("per_second", "calls"), [(3, 7), (9, 10)])
def test_the_pacer_lets_no_more_than_the_rate_through_in_any_rolling_second(
    per_second: int, calls: int
) -> None:
    pace = pacer(per_second)
    stamps = []
    for _ in range(calls):
        pace()
        stamps.append(time.monotonic())

    most = max(sum(1 for s in stamps if t <= s < t + 1.0) for t in stamps)
    assert most <= per_second
    batches = -(-calls // per_second)
    assert stamps[-1] - stamps[0] >= (batches - 1) * 1.0


@pytest.mark.parametrize(
    ("algo_id", "expected"),
    [
        (None, {"client_id": "1000000002"}),
        ("ALGO-7", {"client_id": "1000000002", "algo_id": "ALGO-7"}),
    ],
)
def test_a_resync_orders_audit_carries_the_client_id_and_any_algo_id(
    algo_id: str | None, expected: dict[str, str]
) -> None:
    f = FollowerConfig(
        name="alice",
        client_id="1000000002",
        access_token=Secret("alice-secret-token"),
        sizing=SizingConfig(SizingMode.MULTIPLIER),
        algo_id=algo_id,
    )
    tags = order_tags(f)
    assert tags == expected
    assert "alice-secret-token" not in repr(tags)
