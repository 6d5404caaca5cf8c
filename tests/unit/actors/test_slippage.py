"""Copy slippage: the signed bps of a follower's fill against its leader's (actors.slippage)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from actors.slippage import (
    SlippageSummary,
    day_prefix,
    day_summary,
    mark_name,
    mark_value,
    slippage_bps,
    trading_day,
)
from dhan.codes import TransactionType

BUY, SELL = TransactionType.BUY, TransactionType.SELL


@pytest.mark.parametrize(
    ("side", "leader", "follower", "expected"),
    [
        (BUY, 100.0, 100.0, 0.0),  # same price: no slippage
        (BUY, 100.0, 101.0, 100.0),  # paid 1 % more: worse
        (BUY, 100.0, 99.5, -50.0),  # paid less: better
        (SELL, 100.0, 99.0, 100.0),  # received 1 % less: worse
        (SELL, 100.0, 100.25, -25.0),  # received more: better
        (BUY, 2500.0, 2500.5, 2.0),  # half a rupee on 2500: 2 bps
        (SELL, 2500.0, 2500.5, -2.0),
        ("BUY", 200.0, 201.0, 50.0),  # the wire's spelling of the side
        ("SELL", 200.0, 199.0, 50.0),
        (BUY, 0.0, 101.0, None),  # the leader's price unknown
        (SELL, 100.0, 0.0, None),  # the follower's price unknown
        (BUY, -1.0, 100.0, None),
        (BUY, float("nan"), 100.0, None),
        (SELL, 100.0, float("inf"), None),
    ],
)
def test_slippage_is_signed_so_that_positive_is_worse_for_the_follower(
    side: TransactionType | str, leader: float, follower: float, expected: float | None
) -> None:
    got = slippage_bps(side, leader, follower)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


@pytest.mark.parametrize(
    ("at", "day"),
    [
        (datetime(2026, 12, 7, 18, 29, 59, tzinfo=UTC), "20261207"),  # 23:59:59 IST
        (datetime(2026, 12, 7, 18, 30, 0, tzinfo=UTC), "20261208"),  # 00:00 IST next day
        (datetime(2026, 12, 7, 3, 45, tzinfo=UTC), "20261207"),  # 09:15 IST: the open
    ],
)
def test_the_day_is_the_ist_trading_day(at: datetime, day: str) -> None:
    assert trading_day(at) == day


@pytest.mark.parametrize(
    ("day", "intent_id", "leg", "name"),
    [
        ("20261207", 42, "", "slippage:20261207:42"),
        ("20261207", 42, "TARGET_LEG", "slippage:20261207:42:TARGET_LEG"),
        ("20261207", 987654321012, "STOP_LOSS_LEG", "slippage:20261207:987654321012:STOP_LOSS_LEG"),
    ],
)
def test_one_mark_per_copy_within_the_marks_name_column(
    day: str, intent_id: int, leg: str, name: str
) -> None:
    assert mark_name(day, intent_id, leg) == name
    assert name.startswith(day_prefix(day))
    assert len(name) <= 64  # account_marks.name is a String(64)


def test_a_day_prefix_does_not_match_a_longer_day_or_another_day() -> None:
    assert not mark_name("20261208", 1).startswith(day_prefix("20261207"))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], SlippageSummary(0, None, None, None)),
        ([mark_value(12.5)], SlippageSummary(1, 12.5, 12.5, 12.5)),
        (
            [mark_value(v) for v in (-10.0, 0.0, 4.0, 30.0)],
            SlippageSummary(4, 6.0, 2.0, 30.0),
        ),
        (["5", "not a number", "nan", "-5"], SlippageSummary(2, 0.0, 0.0, 5.0)),
    ],
)
def test_the_days_summary(values: list[str], expected: SlippageSummary) -> None:
    assert day_summary(values) == expected


@pytest.mark.parametrize(
    ("summary", "line"),
    [
        (SlippageSummary(0, None, None, None), "no filled copy with both prices known"),
        (
            SlippageSummary(3, 1.25, -0.5, 12.0),
            "3 copies, mean +1.2 bps, median -0.5 bps, worst +12.0 bps",
        ),
    ],
)
def test_the_summary_line(summary: SlippageSummary, line: str) -> None:
    assert summary.line() == line


def test_a_mark_value_reads_back_to_the_same_bps_to_a_hundredth() -> None:
    assert float(mark_value(-33.333333)) == pytest.approx(-33.3333, abs=1e-9)
