"""``unfilled_and_open``: the frames a follower's socket may drop before parsing them.

It must say True only when the parse would agree (a TRANSIT / PENDING order with nothing
traded); anything it is unsure of is parsed, so a False is always safe."""

from __future__ import annotations

import json

import pytest

from actors.book_settle import worth_settling
from dhan.order_feed import parse_frame, unfilled_and_open
from tests.unit.dhan.frames import SAMPLE_DATA, alert


@pytest.mark.parametrize(
    ("case", "frame", "skipped"),
    [
        ("transit, nothing traded", alert(Status="TRANSIT", TradedQty=0), True),
        ("pending, nothing traded", alert(Status="PENDING", TradedQty=0), True),
        ("title case, as Dhan's quirks", alert(Status="Pending", TradedQty=0), True),
        ("a string zero", alert(Status="TRANSIT", TradedQty="0"), True),
        (
            "pending with a part filled (Dhan's part-traded)",
            alert(Status="PENDING", TradedQty=5),
            False,
        ),
        ("pending, 10 traded (not 0)", alert(Status="PENDING", TradedQty=10), False),
        ("traded", alert(Status="TRADED", TradedQty=0), False),
        ("rejected unfilled: an end", alert(Status="REJECTED", TradedQty=0), False),
        ("cancelled unfilled: an end", alert(Status="CANCELLED", TradedQty=0), False),
        (
            "no TradedQty: unsure",
            json.dumps({"Type": "order_alert", "Data": {"Status": "PENDING"}}),
            False,
        ),
        ("not JSON", "garbage", False),
    ],
)
def test_a_frame_is_skipped_only_when_the_parse_would_drop_it(
    case: str, frame: str, skipped: bool
) -> None:
    assert unfilled_and_open(frame) is skipped, case
    assert unfilled_and_open(frame.encode()) is skipped, case
    if skipped:  # the parse agrees: the follower would drop it
        update = parse_frame(frame)
        assert update is not None and not worth_settling(update), case


def test_the_sample_frame_with_its_own_values_is_parsed() -> None:
    assert SAMPLE_DATA["TradedQty"] != 0 or SAMPLE_DATA["Status"] not in ("TRANSIT", "PENDING")
    assert unfilled_and_open(alert()) is False
