"""Which rows of the broker's day book a FollowerBook keeps (``kept_rows``, a pure function)."""

from __future__ import annotations

from typing import Any

import pytest

from actors.follower_book import kept_rows


def row(status: Any, order_id: str = "1", cid: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"orderId": order_id, "orderStatus": status, "correlationId": cid, **extra}


@pytest.mark.parametrize(
    ("raw", "wanted", "kept"),
    [
        (row("PENDING"), set(), True),
        (row("TRANSIT"), set(), True),
        (row("PART_TRADED"), set(), True),
        (row("TRIGGERED"), set(), True),
        (row("TRADED"), set(), False),
        (row("CANCELLED"), set(), False),
        (row("REJECTED"), set(), False),
        (row("EXPIRED"), set(), False),
        (row("CLOSED"), set(), False),
        (row("TRADED", order_id="7"), {"7"}, True),
        (row("TRADED", cid="ana-abc"), {"ana-abc"}, True),
        (row("TRADED", order_id="7", cid="ana-abc"), {"8", "ana-xyz"}, False),
        (row("NEW_STATUS_FROM_DHAN"), set(), True),  # unknown: may be live, the parser decides
        (row(None), set(), True),
        ("not an object", set(), True),  # the parser reports it
        (row("TRADED", order_id=["odd"]), {"odd"}, False),  # an odd id is no key, not a crash
        # a bracket's settled entry and legs: a leg without its entry's correlationId is
        # linked only by the book's shape, which needs them all
        (row("TRADED", productType="BO", legName="TARGET_LEG"), set(), True),
        (row("CANCELLED", productType="CO", legName="STOP_LOSS_LEG"), set(), True),
        (row("TRADED", productType="BO"), set(), True),
        (row("TRADED", productType="INTRADAY"), set(), False),
    ],
)  # fmt: skip
def test_an_order_row_is_kept_when_open_or_named(raw: Any, wanted: set[str], kept: bool):
    assert kept_rows([raw], frozenset(wanted)) == ([raw] if kept else [])


def super_row(status: str, *legs: str) -> dict[str, Any]:
    return row(status, legDetails=[{"legName": "TARGET_LEG", "orderStatus": s} for s in legs])


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        (super_row("PENDING"), True),
        (super_row("TRADED", "PENDING", "PENDING"), True),  # entry filled, exits working
        (super_row("TRADED", "TRADED", "CANCELLED"), False),
        (super_row("CLOSED", "TRADED", "CANCELLED"), False),
        (super_row("CANCELLED"), False),
        (super_row("TRADED", "TRIGGERED"), True),
        (row("TRADED", legDetails=["odd"]), True),  # a leg that is not an object: parser's call
    ],
)  # fmt: skip
def test_a_super_order_row_is_kept_while_it_or_one_of_its_legs_is_open(raw: Any, kept: bool):
    assert kept_rows([raw], frozenset(), legs_key="legDetails") == ([raw] if kept else [])


def test_legs_count_only_for_the_book_that_has_them():
    raw = super_row("TRADED", "PENDING")

    assert kept_rows([raw], frozenset()) == []


def test_the_order_of_the_rows_kept_is_the_brokers():
    rows = [row("PENDING", "1"), row("TRADED", "2"), row("PENDING", "3"), row("TRADED", "4")]

    assert [r["orderId"] for r in kept_rows(rows, frozenset({"4"}))] == ["1", "3", "4"]
