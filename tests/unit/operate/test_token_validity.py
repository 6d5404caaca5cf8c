"""``tokenValidity`` of ``GET /profile`` read as an instant: Dhan writes IST wall-clock time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from copytrader.token_watch import parse_token_validity


def test_the_documented_format_is_read_as_india_standard_time() -> None:
    expected = datetime(2025, 3, 30, 10, 7, tzinfo=UTC).timestamp()  # 15:37 IST = 10:07 UTC
    assert parse_token_validity("30/03/2025 15:37") == expected


@pytest.mark.parametrize(
    "text",
    ["30/03/2025 15:37:00", "2025-03-30 15:37:00", "2025-03-30T15:37:00", " 30/03/2025 15:37 "],
)
def test_seconds_and_iso_dates_are_tolerated(text: str) -> None:
    assert parse_token_validity(text) == datetime(2025, 3, 30, 10, 7, tzinfo=UTC).timestamp()


def test_an_explicit_offset_is_honoured() -> None:
    expected = datetime(2025, 3, 30, 15, 37, tzinfo=UTC).timestamp()
    assert parse_token_validity("2025-03-30T15:37:00+00:00") == expected


@pytest.mark.parametrize("text", [None, "", "soon", "31/02/2025 10:00", "NA"])
def test_an_unreadable_validity_is_none_never_an_exception(text: str | None) -> None:
    assert parse_token_validity(text) is None
