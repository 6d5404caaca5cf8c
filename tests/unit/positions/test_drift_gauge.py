"""The drift gauge on a real SQLite journal: set from the journal's copies and positions,
moved by a fill that is no copy, and its series gone with a follower no longer sampled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from copytrader.drift import DriftGauge
from copytrader.metrics import Metrics
from dhan.codes import ExchangeSegment, OrderStatus, OrderType, ProductType, TransactionType
from dhan.correlation import correlation_id_for
from store import DesiredIntent, IntentState, Journal, LeaderOrderSnapshot, SnapshotSource
from store.records import OrderFill, PositionKey, TransitionRequest

KEY = PositionKey("NSE_EQ", "1333", "INTRADAY")
SECURITY = "NSE_EQ:1333:INTRADAY"


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal.open(f"sqlite:///{tmp_path / 'journal.db'}")
    try:
        yield j
    finally:
        j.close()


def _copied(journal: Journal, followers: list[str], oid: str = "9001", qty: int = 10) -> None:
    """A leader MARKET BUY of ``qty`` traded, each follower's copy filled."""
    snap = LeaderOrderSnapshot(
        leader_order_id=oid,
        dedupe_key=f"{oid}-traded",
        source=SnapshotSource.SOCKET,
        status=OrderStatus.TRADED,
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.MARKET,
        security_id="1333",
        quantity=qty,
        filled_qty=qty,
        seq=1,
    )
    desired = [
        DesiredIntent(
            follower=f,
            leader_order_id=oid,
            correlation_id=correlation_id_for(f, oid),
            transaction_type=TransactionType.BUY,
            exchange_segment=ExchangeSegment.NSE_EQ,
            product_type=ProductType.INTRADAY,
            order_type=OrderType.MARKET,
            security_id="1333",
            quantity=qty,
        )
        for f in followers
    ]
    claimed = journal.record_and_claim(snap, desired, followers) or []
    journal.transitions(
        [
            r
            for n, i in enumerate(claimed)
            for r in (
                TransitionRequest(
                    intent_id=i.id,
                    to=IntentState.WORKING,
                    broker_order_id=f"B-{n}",
                    applied_version=i.desired_version,
                ),
                TransitionRequest(intent_id=i.id, to=IntentState.DONE, filled_qty=qty),
            )
        ]
    )


def _value(registry: CollectorRegistry, follower: str) -> float | None:
    return registry.get_sample_value(
        "copytrader_position_drift", {"follower": follower, "security": SECURITY}
    )


def test_the_gauge_follows_the_journal(journal: Journal) -> None:
    metrics = Metrics(process=False)
    gauge = DriftGauge(metrics.position_drift)
    _copied(journal, ["ana", "ben"])
    rows = gauge.sample(journal, ["ana", "ben"], {})
    assert {(r.follower, r.expected, r.actual) for r in rows} == {("ana", 10, 10), ("ben", 10, 10)}
    assert _value(metrics.registry, "ana") == 0.0 and _value(metrics.registry, "ben") == 0.0

    # a fill in ben's account that is no copy (the follower's socket applies it)
    journal.apply_fills("ben", [OrderFill("M-1", KEY, "SELL", 4)])
    gauge.sample(journal, ["ana", "ben"], {})
    assert _value(metrics.registry, "ben") == -4.0 and _value(metrics.registry, "ana") == 0.0

    # ana no longer sampled (disabled): her series goes, ben's stays
    gauge.sample(journal, ["ben"], {})
    assert _value(metrics.registry, "ana") is None and _value(metrics.registry, "ben") == -4.0


def test_a_failing_sample_keeps_the_last_values_and_says_so_once(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics(process=False)
    gauge = DriftGauge(metrics.position_drift)
    _copied(journal, ["ana"])
    journal.apply_fills("ana", [OrderFill("M-1", KEY, "BUY", 2)])
    gauge.sample_logged(journal, ["ana"], {})
    assert _value(metrics.registry, "ana") == 2.0
    journal.close()  # every read now fails
    with caplog.at_level("DEBUG", logger="copytrader.drift"):
        gauge.sample_logged(journal, ["ana"], {})
        gauge.sample_logged(journal, ["ana"], {})
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "position drift not computed" in warnings[0].getMessage()
    assert _value(metrics.registry, "ana") == 2.0


def test_an_unchanged_journal_is_not_computed_again_for_up_to_a_minute(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    gauge = DriftGauge(Metrics(process=False).position_drift)
    _copied(journal, ["ana"])
    first = gauge.sample(journal, ["ana"], {})
    assert gauge.sample(journal, ["ana"], {}) == first
    assert (gauge.computed, gauge.skipped) == (1, 1)

    journal.apply_fills("ana", [OrderFill("M-1", KEY, "BUY", 1)])  # a position moved
    (row,) = gauge.sample(journal, ["ana"], {})
    assert row.drift == 1 and gauge.computed == 2

    # a copy claimed and not settled yet: the positions are the same, the copies are not
    _copied_unsettled(journal, "ana")
    gauge.sample(journal, ["ana"], {})
    assert gauge.computed == 3

    gauge.sample(journal, ["ana"], {})
    assert (gauge.computed, gauge.skipped) == (3, 2)
    monkeypatch.setattr("copytrader.drift.FULL_EVERY_S", 0.0)  # a minute has passed
    gauge.sample(journal, ["ana"], {})
    assert gauge.computed == 4


def _copied_unsettled(journal: Journal, follower: str) -> None:
    oid = "9002"
    snap = LeaderOrderSnapshot(
        leader_order_id=oid,
        dedupe_key=f"{oid}-pending",
        source=SnapshotSource.SOCKET,
        status=OrderStatus.PENDING,
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.LIMIT,
        security_id="1333",
        quantity=5,
        price=1500.0,
        seq=2,
    )
    intent = DesiredIntent(
        follower=follower,
        leader_order_id=oid,
        correlation_id=correlation_id_for(follower, oid),
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.LIMIT,
        security_id="1333",
        quantity=5,
        price=1500.0,
    )
    assert journal.record_and_claim(snap, [intent], [follower])
