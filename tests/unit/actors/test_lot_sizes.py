"""``actors.lot_sizes``: lot sizes learned from frames, journaled (``LOT_SIZES_MARK``), read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.lot_sizes import (
    LOT_SIZES_MARK,
    LotSizeBook,
    format_lot_sizes,
    lot_in_frame,
    parse_lot_sizes,
)
from dhan.codes import ExchangeSegment, OrderStatus
from dhan.order_feed import OrderUpdate
from store import Journal


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


@pytest.mark.parametrize(
    ("raw", "lot"),
    [
        ({"LotSize": 65}, 65),
        ({"LotSize": "75"}, 75),
        ({"lotSize": 30}, 30),
        ({"LotSize": 0, "lotSize": 50}, 50),  # the first spelling empty: the second
        ({"LotSize": 0}, None),
        ({"LotSize": "-5"}, None),
        ({"LotSize": "1.5"}, None),
        ({"LotSize": 2.0}, None),
        ({"LotSize": True}, None),
        ({}, None),
    ],
)
def test_a_frame_teaches_a_positive_whole_lot_size_or_nothing(
    raw: dict[str, Any], lot: int | None
) -> None:
    assert lot_in_frame(raw) == lot


def frame(security_id: str, raw: dict[str, Any]) -> OrderUpdate:
    """A NIFTY option's socket frame with ``raw`` fields."""
    return OrderUpdate(
        order_no="L1",
        status=OrderStatus.PENDING,
        raw_status="Pending",
        quantity=65,
        traded_qty=0,
        remaining_quantity=65,
        exchange_segment=ExchangeSegment.NSE_FNO,
        security_id=security_id,
        raw=raw,
    )


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal.open(f"sqlite:///{tmp_path / 'journal.db'}")
    yield j
    j.close()


def test_a_lot_learned_from_a_frame_is_journaled_once_and_read_back_by_the_next_run(
    journal: Journal,
) -> None:
    shared: dict[tuple[str, str], int] = {("NSE_FNO", "1"): 25}  # from config
    book = LotSizeBook(journal, shared)
    book.learn(frame("52175", {"LotSize": "65"}))
    book.learn(frame("1", {"LotSize": 25}))  # already known: nothing new
    book.learn(frame("2", {}))  # a frame without a lot size
    assert shared == {("NSE_FNO", "1"): 25, ("NSE_FNO", "52175"): 65}
    book.save()
    assert parse_lot_sizes(journal.get_mark("leader", LOT_SIZES_MARK)) == shared
    journal.set_mark("leader", LOT_SIZES_MARK, "{}")
    book.learn(frame("52175", {"LotSize": 65}))
    book.save()  # nothing new since the last save: no write
    assert journal.get_mark("leader", LOT_SIZES_MARK) == "{}"

    journal.set_mark("leader", LOT_SIZES_MARK, format_lot_sizes(shared))
    later: dict[tuple[str, str], int] = {("NSE_FNO", "1"): 50}  # config changed since
    LotSizeBook(journal, later).load()
    assert later == {("NSE_FNO", "1"): 50, ("NSE_FNO", "52175"): 65}  # config wins
