"""``follower_sync.ends_unfilled``: the frames settled at once (a refused copy must be known
before the next exit is sized), as a table over real frames."""

from __future__ import annotations

import pytest

from actors.follower_sync import ends_unfilled
from dhan.order_feed import parse_frame
from tests.unit.dhan.frames import alert


@pytest.mark.parametrize(
    ("status", "traded", "urgent"),
    [
        ("REJECTED", 0, True),
        ("CANCELLED", 0, True),
        ("EXPIRED", 0, True),
        ("CANCELLED", 4, False),  # a part filled: a fill, batched as fills are
        ("TRADED", 10, False),
        ("PENDING", 5, False),
        ("PENDING", 0, False),
        ("TRANSIT", 0, False),
    ],
)
def test_an_end_with_nothing_filled_is_settled_at_once(
    status: str, traded: int, urgent: bool
) -> None:
    update = parse_frame(alert(Status=status, TradedQty=traded, Quantity=10))
    assert update is not None
    assert ends_unfilled(update) is urgent
