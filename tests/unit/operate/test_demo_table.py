"""The demo's table: leader orders and bracket legs, each follower's copy found by correlationId."""

from __future__ import annotations

from typing import Any

from copytrader.demo import render_table
from dhan.correlation import correlation_id_for


def _order(oid: str, status: str, qty: int, **kw: Any) -> dict[str, Any]:
    return {
        "orderId": oid,
        "orderStatus": status,
        "quantity": qty,
        "transactionType": "BUY",
        "productType": "INTRADAY",
        "orderType": "LIMIT",
        "price": 0.0,
        "correlationId": "",
        "legName": None,
        **kw,
    }


LEADER = [
    _order("L1", "PENDING", 5, price=2390.0),
    _order("L2", "TRADED", 10, orderType="LIMIT", requestedOrderType="MARKET", price=1648.0),
    _order("L3", "TRADED", 4, productType="BO", legName="ENTRY_LEG", price=3500.0),
    _order("L5", "CANCELLED", 4, productType="BO", legName="STOP_LOSS_LEG", parentOrderId="L3"),
    _order(
        "L4", "TRADED", 4, productType="BO", legName="TARGET_LEG", parentOrderId="L3", price=3520.0
    ),
]


def _copy(follower: str, leader_id: str, oid: str, status: str, qty: int, **kw: Any) -> dict:
    return _order(oid, status, qty, correlationId=correlation_id_for(follower, leader_id), **kw)


def test_each_copy_sits_in_its_leader_orders_row_with_status_quantity_price_and_latency() -> None:
    books = {
        "ana": [
            _copy("ana", "L1", "A1", "PENDING", 10, price=2390.0),
            _copy("ana", "L3", "A3", "TRADED", 8, productType="BO", legName="ENTRY_LEG"),
            _copy(
                "ana",
                "L3",
                "A4",
                "TRADED",
                8,
                productType="BO",
                legName="TARGET_LEG",
                parentOrderId="A3",
                price=3520.0,
            ),
            _copy(
                "ana",
                "L3",
                "A5",
                "CANCELLED",
                8,
                productType="BO",
                legName="STOP_LOSS_LEG",
                parentOrderId="A3",
            ),
            _order("A9", "PENDING", 1, correlationId="by-hand"),  # no leader cause: not shown
        ],
        "ben": [],
    }
    lines = render_table(LEADER, books, {("L1", "ana"): 0.0123}).splitlines()
    assert lines[0].split() == ["leader", "order", "what", "status", "ana", "ben"]
    rows = [line.split() for line in lines[2:]]
    assert rows == [
        ["L1", "BUY", "LIMIT", "5", "@2390", "PENDING", "PENDING", "10", "@2390", "12ms", "-"],
        ["L2", "BUY", "MARKET", "10", "TRADED", "-", "-"],
        ["L3", "BUY", "BO", "4", "@3500", "TRADED", "TRADED", "8", "-"],
        ["target", "leg", "@3520", "TRADED", "TRADED", "8", "-"],
        ["stop-loss", "leg", "CANCELLED", "CANCELLED", "8", "-"],
    ]


def test_a_super_orders_legs_share_its_id_and_follow_it() -> None:
    leader = [
        _order("S1", "TRADED", 6, legName="ENTRY_LEG", price=810.0),
        _order("S1", "PENDING", 6, legName="STOP_LOSS_LEG", orderType="STOP_LOSS_MARKET"),
        _order("S1", "PENDING", 6, legName="TARGET_LEG", price=830.0),
    ]
    books = {"ana": [_copy("ana", "S1", "C1", "PENDING", 6, legName="TARGET_LEG", price=830.0)]}
    rows = [line.split() for line in render_table(leader, books).splitlines()[2:]]
    assert rows == [
        ["S1", "BUY", "SUPER", "6", "@810", "TRADED", "-"],
        ["target", "leg", "@830", "PENDING", "PENDING", "6", "@830"],
        ["stop-loss", "leg", "PENDING", "-"],
    ]
