"""CopySlippage against a real SQLite journal: observed once per copy, marked per copy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from actors.copy_slippage import (
    LEADER_PRICE_WAIT_S,
    CopySlippage,
    FilledCopy,
    day_slippage,
    is_full_fill,
)
from actors.slippage import slippage_bps
from dhan.codes import OrderStatus, TransactionType
from store import Journal
from tests.unit.store.factories import snapshot

BUY, SELL = TransactionType.BUY, TransactionType.SELL
AT = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)  # 10:30 IST


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal.open(f"sqlite:///{tmp_path / 'journal.db'}")
    yield j
    j.close()


def recorder(journal: Journal, seen: list[float]) -> CopySlippage:
    return CopySlippage("alice", journal, seen.append, now=lambda: AT)


def test_each_filled_copy_is_observed_and_marked_against_its_leaders_average(
    journal: Journal,
) -> None:
    journal.record_leader_snapshot(snapshot("L1", status=OrderStatus.TRADED, avg_price=100.0), [])
    journal.record_leader_snapshot(
        snapshot("L2", status=OrderStatus.TRADED, transaction_type=SELL, avg_price=250.0), []
    )
    seen: list[float] = []

    measured = recorder(journal, seen).filled(
        [FilledCopy(1, "L1", BUY, 100.2), FilledCopy(2, "L2", SELL, 250.5)]
    )

    assert measured == 2
    assert seen == [pytest.approx(20.0), pytest.approx(-20.0)]
    assert journal.marks("alice", "slippage:20261207:") == {
        "slippage:20261207:1": "20.0000",
        "slippage:20261207:2": "-20.0000",
    }
    summary = day_slippage(journal, "alice", "20261207")
    assert (summary.count, summary.mean_bps) == (2, pytest.approx(0.0))
    assert day_slippage(journal, "alice", "20261208").count == 0
    assert day_slippage(journal, "bob", "20261207").count == 0


def test_a_copy_whose_own_price_is_unknown_is_counted_unpriced_not_observed(
    journal: Journal,
) -> None:
    journal.record_leader_snapshot(snapshot("L1", status=OrderStatus.TRADED, avg_price=100.0), [])
    seen: list[float] = []
    slip = recorder(journal, seen)

    measured = slip.filled(
        [
            FilledCopy(1, "L1", BUY, 0.0),  # the copy's own average unknown
            FilledCopy(2, "L1", SELL, 0.0, leg="TARGET_LEG", leader_avg=100.0),
            FilledCopy(3, "L1", SELL, 99.0, leg="TARGET_LEG", leader_avg=0.0),  # leader leg's
        ]
    )

    assert (measured, seen, slip.unpriced, slip.waiting) == (0, [], 3, {})
    assert journal.marks("alice", "slippage:") == {}


def test_a_copy_filled_before_its_leaders_price_was_journaled_waits_for_it(
    journal: Journal,
) -> None:
    journal.record_leader_snapshot(snapshot("L1", status=OrderStatus.PENDING), [])  # no price
    seen: list[float] = []
    now = [1000.0]
    slip = CopySlippage("alice", journal, seen.append, now=lambda: AT, clock=lambda: now[0])

    measured = slip.filled([FilledCopy(1, "L1", BUY, 101.0), FilledCopy(2, "L9", BUY, 50.0)])
    assert (measured, seen, slip.unpriced, len(slip.waiting)) == (0, [], 0, 2)
    assert slip.retry() == 0  # nothing journaled since: both wait on

    journal.record_leader_snapshot(  # the leader's traded frame, just after the copy's fill
        snapshot("L1", status=OrderStatus.TRADED, avg_price=100.0, filled_qty=10), []
    )
    now[0] += 1.0
    assert slip.retry() == 1
    assert seen == [pytest.approx(100.0)]
    assert journal.marks("alice", "slippage:") == {"slippage:20261207:1": "100.0000"}
    assert list(slip.waiting) == [(2, "")]

    now[0] += LEADER_PRICE_WAIT_S  # L9 never gets a price: dropped, counted unpriced
    assert slip.retry() == 0
    assert (slip.waiting, slip.unpriced, len(seen)) == ({}, 1, 1)


def test_an_exit_leg_is_priced_against_the_leaders_leg_and_marked_apart(journal: Journal) -> None:
    journal.record_leader_snapshot(snapshot("L1", status=OrderStatus.TRADED, avg_price=100.0), [])
    seen: list[float] = []

    recorder(journal, seen).filled(
        [
            FilledCopy(1, "L1", BUY, 100.0),
            FilledCopy(1, "L1", SELL, 109.0, leg="TARGET_LEG", leader_avg=110.0),
        ]
    )

    expected = slippage_bps(SELL, 110.0, 109.0)
    assert seen == [0.0, pytest.approx(expected)]
    assert set(journal.marks("alice", "slippage:20261207:1")) == {
        "slippage:20261207:1",
        "slippage:20261207:1:TARGET_LEG",
    }


def test_the_same_copy_settled_again_overwrites_its_mark(journal: Journal) -> None:
    journal.record_leader_snapshot(snapshot("L1", status=OrderStatus.TRADED, avg_price=100.0), [])
    for _ in range(2):  # e.g. a restart that recorded it again
        recorder(journal, []).filled([FilledCopy(7, "L1", BUY, 101.0)])
    assert day_slippage(journal, "alice", "20261207").count == 1


@pytest.mark.parametrize(
    ("status", "full"),
    [
        (OrderStatus.TRADED, True),
        (OrderStatus.PART_TRADED, False),
        (OrderStatus.CANCELLED, False),
        (OrderStatus.EXPIRED, False),
        (OrderStatus.PENDING, False),
        (None, False),
    ],
)
def test_only_a_traded_order_is_a_full_fill(status: OrderStatus | None, full: bool) -> None:
    assert is_full_fill(status) is full
