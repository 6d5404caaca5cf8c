"""``actors.lot_sizes``: lot sizes learned from frames, journaled (``LOT_SIZES_MARK``), read back."""

from __future__ import annotations

import pytest

from actors.lot_sizes import format_lot_sizes, parse_lot_sizes


def test_lot_sizes_read_back_what_was_written() -> None:
    lots = {("NSE_FNO", "52175"): 65, ("NSE_FNO", "52176"): 30, ("MCX_COMM", "1"): 100}
    assert parse_lot_sizes(format_lot_sizes(lots)) == lots


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, {}),
        ("", {}),
        ("not json", {}),
        ("[65]", {}),
        (
            '{"NSE_FNO:52175": 65, "NSE_FNO:1": 0, "bad": 5, "NSE_FNO:2": "30"}',
            {("NSE_FNO", "52175"): 65},
        ),
    ],
)
def test_a_missing_or_damaged_lot_size_mark_yields_only_the_sound_entries(
    text: str | None, expected: dict[tuple[str, str], int]
) -> None:
    assert parse_lot_sizes(text) == expected
