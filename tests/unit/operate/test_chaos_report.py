"""``ChaosReport.of``: a chaos check's counts by the name of their field, and its one-line
summary (every count, in field order, then the journal's)."""

from __future__ import annotations

from typing import Any

import pytest

from copytrader.chaos import ChaosReport
from copytrader.checker import CheckResult

ZEROS = (
    "leader_orders=0 ok=0 lost=0 duplicated=0 unexpected=0 unresolved=0 both_legs_filled=0 "
    "oco_pending=0 wrong=0 not_copied=0 skipped=0 refused=0 reversed=0 over_closed=0 drift=0"
)


@pytest.mark.parametrize(
    ("counts", "line", "bad"),
    [
        ({}, ZEROS, 0),
        (
            {"leader_orders": 4, "ok": 7, "not_copied": 1},
            ZEROS.replace("leader_orders=0", "leader_orders=4")
            .replace("ok=0", "ok=7")
            .replace("not_copied=0", "not_copied=1"),
            0,
        ),
        (
            {"lost": 1, "duplicated": 2, "unexpected": 3, "unresolved": 4},
            ZEROS.replace("lost=0", "lost=1")
            .replace("duplicated=0", "duplicated=2")
            .replace("unexpected=0", "unexpected=3")
            .replace("unresolved=0", "unresolved=4"),
            10,
        ),
        (
            {"refused": 2, "reversed": 1, "over_closed": 3, "drift": 4},
            ZEROS.replace("refused=0", "refused=2")
            .replace("reversed=0", "reversed=1")
            .replace("over_closed=0", "over_closed=3")
            .replace("drift=0", "drift=4"),
            8,
        ),
        (
            {"both_legs_filled": 1, "oco_pending": 1, "wrong": 5},
            ZEROS.replace("both_legs_filled=0", "both_legs_filled=1")
            .replace("oco_pending=0", "oco_pending=1")
            .replace("wrong=0", "wrong=5"),
            7,
        ),
    ],
)
def test_of_counts_by_name(counts: dict[str, int], line: str, bad: int) -> None:
    journal = CheckResult()
    report = ChaosReport.of(counts, journal, ["p"])
    assert report.line() == f"{line} | journal: {journal.line()}"
    assert (report.bad, report.problems) == (bad, ("p",))


@pytest.mark.parametrize("name", ["lsot", "journal", "problems", "bad"])
def test_a_name_that_is_not_a_count_is_refused(name: str) -> None:
    counts: dict[str, Any] = {name: 1}
    with pytest.raises(ValueError, match=name):
        ChaosReport.of(counts, CheckResult(), ())


@pytest.mark.parametrize(
    ("counts", "journal", "sizing"),
    [
        ({}, {}, 0),
        ({"lost": 1, "duplicated": 1, "wrong": 1}, {"lost": 1}, 0),
        ({"reversed": 1, "over_closed": 2, "drift": 3}, {}, 6),
        ({}, {"reversed": 1, "over_closed": 1, "drift": 1}, 3),
        ({"lost": 1, "reversed": 1}, {"duplicated": 1, "drift": 2}, 3),
    ],
)
def test_sizing_bad_is_the_position_counts_only(
    counts: dict[str, int], journal: dict[str, int], sizing: int
) -> None:
    """The part of ``bad`` a chaos run reports as issue 16's expected failure: positions only,
    never a lost, duplicated or wrong copy."""
    report = ChaosReport.of(counts, CheckResult(**journal), ())
    assert report.sizing_bad == sizing
    assert report.bad - report.sizing_bad == sum(counts.values()) + sum(journal.values()) - sizing
