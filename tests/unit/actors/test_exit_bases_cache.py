"""The exit bases' cache keeps the orders used last, not the day's (actors/exit_bases.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.exit_bases import CACHED_ORDERS, ExitBases
from actors.sizing import ExitBasis
from dhan.codes import TransactionType, Validity
from store import Journal
from store.records import LeaderOrderSnapshot
from tests.unit.store.factories import snapshot


def snap(order_id: str) -> LeaderOrderSnapshot:
    """A resting leader SELL LIMIT of 1 x 1333 at 1500."""
    return snapshot(
        order_id,
        dedupe_key=f"test|{order_id}|1",
        seq=1,
        transaction_type=TransactionType.SELL,
        validity=Validity.DAY,
        quantity=1,
        price=1500.0,
    )


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal.open(f"sqlite:///{tmp_path / 'journal.db'}")
    try:
        yield j
    finally:
        j.close()


def test_the_orders_used_last_are_kept_and_a_forgotten_one_is_read_back(
    journal: Journal,
) -> None:
    bases = ExitBases(journal)
    # the first order's basis is journaled (as the leader feed does with its first snapshot)
    first = snap("O-0")
    assert journal.record_leader_snapshot(first, [], bases={"leader": 1, "a": 2})
    assert bases.known(first) == ExitBasis(1, {"a": 2})
    # a day's orders after it: only CACHED_ORDERS are kept; one used again stays
    for n in range(1, CACHED_ORDERS):
        bases.remember(f"O-{n}", ExitBasis(1, {"a": n}))
    bases.remember("O-1", ExitBasis(1, {"a": 1}))  # used again: the most recent
    for n in range(CACHED_ORDERS, CACHED_ORDERS + 10):
        bases.remember(f"O-{n}", ExitBasis(1, {"a": n}))
    assert bases.cached_orders == CACHED_ORDERS
    assert bases.known(snap("O-1")) == ExitBasis(1, {"a": 1})  # kept: used lately
    assert bases.known(snap("O-2")) is None  # forgotten (and never journaled in this test)
    # the first order was forgotten too: its basis comes back from the journal, unchanged
    assert bases.known(first) == ExitBasis(1, {"a": 2})
    assert bases.cached_orders == CACHED_ORDERS
