"""Builders of journal records for the store tests: a leader order and its follower copies."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

from dhan.codes import ExchangeSegment, OrderStatus, OrderType, ProductType, TransactionType
from dhan.correlation import correlation_id_for
from store import DesiredIntent, Journal, LeaderOrderSnapshot, SnapshotSource

_seq = itertools.count(1)


def snapshot(
    leader_order_id: str = "L1",
    *,
    status: OrderStatus = OrderStatus.PENDING,
    seq: int | None = None,
    dedupe_key: str | None = None,
    **fields: Any,
) -> LeaderOrderSnapshot:
    """A leader LIMIT BUY of 10 x security 1333 at 100.5 (override any field)."""
    seq = next(_seq) if seq is None else seq
    base = LeaderOrderSnapshot(
        leader_order_id=leader_order_id,
        dedupe_key=dedupe_key or f"{leader_order_id}|{status}|{seq}",
        source=SnapshotSource.SOCKET,
        status=status,
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.LIMIT,
        security_id="1333",
        quantity=10,
        price=100.5,
        seq=seq,
        raw={"OrderNo": leader_order_id, "Status": str(status)},
    )
    return replace(base, **fields)


def desired(
    follower: str = "f1", leader_order_id: str = "L1", leg: str = "", **fields: Any
) -> DesiredIntent:
    """The desired copy of ``leader_order_id`` for ``follower`` (override any field)."""
    base = DesiredIntent(
        follower=follower,
        leader_order_id=leader_order_id,
        leg=leg,
        correlation_id=correlation_id_for(follower, leader_order_id, leg),
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.LIMIT,
        security_id="1333",
        quantity=10,
        price=100.5,
    )
    return replace(base, **fields)


def followers(n: int) -> list[str]:
    return [f"f{i}" for i in range(1, n + 1)]


def copies(leader_order_id: str = "L1", n: int = 3, **fields: Any) -> list[DesiredIntent]:
    """One desired copy per follower f1..fn."""
    return [desired(f, leader_order_id, **fields) for f in followers(n)]


def planned_intent_id(journal: Journal, follower: str = "f1", leader_order_id: str = "L1") -> int:
    """Record a fresh leader order with one copy for ``follower``; return the intent id."""
    assert journal.record_leader_snapshot(
        snapshot(leader_order_id), [desired(follower, leader_order_id)]
    )
    intent = journal.intents(follower, leader_order_id=leader_order_id)
    assert len(intent) == 1
    return intent[0].id
