"""When a follower settles its working copies each by its own ``GET /orders/{id}`` instead of
reading the whole day's book (``read_one_by_one``, a pure function)."""

from __future__ import annotations

import pytest

from actors.follower_book import OWN_READS_PER_S, ROWS_PER_OWN_READ, read_one_by_one


@pytest.mark.parametrize(
    ("copies", "day_rows", "tick_s", "one_by_one"),
    [
        (0, 10_000, 2.0, False),  # nothing to settle: nothing to read
        (1, 0, 2.0, False),  # the book never read yet: read it (it says how big it is)
        (1, ROWS_PER_OWN_READ - 1, 2.0, False),  # the morning: the whole book is cheap
        (1, ROWS_PER_OWN_READ, 2.0, True),
        (3, 3 * ROWS_PER_OWN_READ - 1, 2.0, False),
        (3, 3 * ROWS_PER_OWN_READ, 2.0, True),
        (8, 500, 2.0, True),  # a day's book, a tick's worth of copies
        (9, 10_000, 2.0, False),  # more than 4 reads/s: one read of the book instead
        (2, 500, 0.3, False),  # a short tick allows fewer reads per tick...
        (1, 500, 0.3, True),  # ...but always one
    ],
)
def test_copies_are_read_one_by_one_only_when_few_next_to_the_days_book(
    copies: int, day_rows: int, tick_s: float, one_by_one: bool
) -> None:
    assert read_one_by_one(copies, day_rows, tick_s) is one_by_one


def test_reads_one_by_one_stay_well_inside_dhans_20_reads_per_second() -> None:
    for tick_s in (0.1, 0.3, 1.0, 2.0, 5.0, 60.0):
        most = max(c for c in range(1, 1000) if read_one_by_one(c, 10**9, tick_s))
        assert most / tick_s <= max(OWN_READS_PER_S, 1 / tick_s) <= 10
