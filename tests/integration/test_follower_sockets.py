"""Each follower's own order socket (``FollowerFeedActor``): fills arrive as events and settle
the copies without a book read; every fill in the account (a manual trade too) moves its
journaled position; a dropped socket falls back to the book; positions are checked against
the broker at every connect. Against dhansim over loopback and a real SQLite journal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from copytrader.engine import BrokerEndpoints, Engine
from dhan.codes import OrderType, ProductType, TransactionType
from dhan.rest import DhanClient
from dhansim import Simulator
from store.records import PositionKey
from store.states import IntentState
from tests.integration.engine_harness import (
    Rig,
    build_config,
    follower_config,
    limit_buy,
    start_rig,
    wait_until,
)


def _socket_up(rig: Rig, name: str, connects: int = 1) -> bool:
    status = rig.engine.socket_status[name]
    return status.connected and status.connects >= connects and status.checks_ok >= connects


def _book_reads(sim: Simulator, client_id: str, since_seq: int) -> int:
    """The account's whole-book and one-order reads at the simulator since ``since_seq``."""
    return sum(
        1
        for e in sim.admin.journal(since_seq=since_seq, kind="rest", account=client_id)
        if e["endpoint"] in ("GET /orders", "GET /orders/{order_id}")
    )


def _last_seq(sim: Simulator) -> int:
    entries = sim.admin.journal()
    return int(entries[-1]["seq"]) if entries else 0


def _broker_nets(client: DhanClient) -> dict[PositionKey, int]:
    out: dict[PositionKey, int] = {}
    for p in client.positions():
        key = PositionKey(p.exchange_segment.value, p.security_id, p.product_type.value)
        out[key] = out.get(key, 0) + p.net_qty
    return {k: v for k, v in out.items() if v}


def _journal_nets(rig: Rig, account: str) -> dict[PositionKey, int]:
    return {r.key: r.net_qty for r in rig.engine.journal.positions(account) if r.net_qty}


def _client(sim: Simulator, client_id: str) -> DhanClient:
    return DhanClient(base_url=sim.rest_url, client_id=client_id, access_token=f"tok-{client_id}")


def test_a_copys_fills_arrive_by_the_follower_socket_and_settle_it_without_a_book_read(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("sock", "1200000801")
    sim.admin.set_ltp("NSE_EQ", "1333", 1500.0)
    rig = start_rig(sim, tmp_path, [f])
    try:
        wait_until(lambda: _socket_up(rig, f.name), what="the follower socket up")
        oid = rig.leader.place_order(limit_buy("1333", quantity=10, price=1490.0)).order_id
        rig.wait_copies(oid, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "PENDING")
        (copy,) = rig.follower_copies(f, oid)
        journal = rig.engine.journal

        def copy_state() -> tuple[Any, ...]:
            (i,) = [i for i in journal.intents(f.name) if i.leader_order_id == oid]
            return (i.state, i.filled_qty)

        wait_until(lambda: copy_state() == (IntentState.WORKING, 0), what="the copy working")
        since = _last_seq(sim)
        sim.admin.fill(copy["orderId"], quantity=4, price=1490.0)
        wait_until(lambda: copy_state() == (IntentState.WORKING, 4), what="the partial fill")
        sim.admin.fill(copy["orderId"], quantity=6, price=1490.0)
        wait_until(lambda: copy_state() == (IntentState.DONE, 10), what="the copy settled")
        # learned from the socket: the follower read no book for it (nor did its check)
        assert _book_reads(sim, f.client_id, since) == 0
        key = PositionKey("NSE_EQ", "1333", "INTRADAY")
        wait_until(lambda: _journal_nets(rig, f.name) == {key: 10}, what="the position")
    finally:
        rig.stop()


def test_a_manual_order_in_the_follower_account_moves_its_journaled_position(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("manual", "1200000802")
    sim.admin.set_ltp("NSE_EQ", "11536", 3500.0)
    rig = start_rig(sim, tmp_path, [f])
    own = _client(sim, f.client_id)
    try:
        wait_until(lambda: _socket_up(rig, f.name), what="the follower socket up")
        sell = limit_buy(
            "11536",
            quantity=7,
            price=0.0,
            order_type=OrderType.MARKET,
            transaction_type=TransactionType.SELL,
        )
        own.place_order(sell)
        key = PositionKey("NSE_EQ", "11536", "INTRADAY")
        wait_until(lambda: _journal_nets(rig, f.name) == {key: -7}, what="the manual sale")
        assert _broker_nets(own) == {key: -7}
        assert rig.engine.journal.intents(f.name) == []  # not a copy: nothing to settle
    finally:
        own.close()
        rig.stop()


def test_the_follower_socket_dropped_mid_burst_fills_are_learned_from_the_book(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("burst", "1200000803")
    sim.admin.set_ltp("NSE_EQ", "1333", 1500.0)
    rig = start_rig(sim, tmp_path, [f])
    own = _client(sim, f.client_id)
    try:
        wait_until(lambda: _socket_up(rig, f.name), what="the follower socket up")
        leader_orders = [
            rig.leader.place_order(limit_buy("1333", quantity=5 + n, price=1480.0)).order_id
            for n in range(6)
        ]
        journal = rig.engine.journal

        def working() -> list[Any]:
            rows = [i for i in journal.intents(f.name) if i.state is IntentState.WORKING]
            return rows if len(rows) == len(leader_orders) else []

        copies = wait_until(working, what="every copy working")
        # the burst: fills before, during and after the drop of every order socket
        for n, copy in enumerate(copies):
            if n == 2:
                assert sim.admin.drop_order_sockets() >= 2  # the leader's and the follower's
            sim.admin.fill(copy.broker_order_id or "", price=1480.0)

        def all_done() -> bool:
            rows = journal.intents(f.name)
            return all(i.state is IntentState.DONE and i.filled_qty == i.quantity for i in rows)

        wait_until(all_done, 15.0, what="every copy settled")
        wait_until(lambda: _socket_up(rig, f.name, connects=2), what="the socket back")
        key = PositionKey("NSE_EQ", "1333", "INTRADAY")
        total = sum(5 + n for n in range(6))
        wait_until(lambda: _journal_nets(rig, f.name) == {key: total}, what="no drift")
        assert _broker_nets(own) == {key: total}
        assert rig.engine.socket_status[f.name].failures >= 1
    finally:
        own.close()
        rig.stop()


@pytest.mark.parametrize("sockets", [True, False], ids=["by_the_first_connect", "at_start"])
def test_positions_are_checked_at_start_carried_ones_included(
    sim: Simulator, tmp_path: Path, sockets: bool
) -> None:
    f = follower_config("carry", "1200000804")
    cfg = build_config(sim, tmp_path, [f], follower_sockets=sockets)
    holdings = [{"exchange": "NSE", "securityId": "1333", "totalQty": 40, "availableQty": 40}]
    sim.admin.create_account(cfg.leader.client_id, cfg.leader.access_token.reveal(), 1e8)
    sim.admin.create_account(f.client_id, f.access_token.reveal(), 1e8, holdings)
    engine = Engine(cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url)).start()
    try:
        wait_until(lambda: engine.ready()[0], what="engine ready")
        key = PositionKey("NSE_EQ", "1333", ProductType.CNC.value)

        def checked() -> list[Any]:
            return [
                (r.net_qty, r.carried_qty, r.checked_at is not None)
                for r in engine.journal.positions(f.name)
                if r.key == key
            ]

        wait_until(lambda: checked() == [(40, 40, True)], what="the carried position checked")
        if sockets:
            assert engine.socket_status[f.name].checks_ok >= 1
    finally:
        engine.stop()


def test_without_follower_sockets_the_follower_polls_its_book(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("poll", "1200000805")
    sim.admin.set_ltp("NSE_EQ", "1333", 1500.0)
    rig = start_rig(sim, tmp_path, [f], follower_sockets=False)
    try:
        assert rig.engine.socket_status == {}
        assert sim.admin.socket_count(f.client_id) == 0
        oid = rig.leader.place_order(limit_buy("1333", quantity=3, price=1490.0)).order_id
        rig.wait_copies(oid, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "PENDING")
        (copy,) = rig.follower_copies(f, oid)
        sim.admin.fill(copy["orderId"], price=1490.0)
        journal = rig.engine.journal
        wait_until(
            lambda: (
                [(i.state, i.filled_qty) for i in journal.intents(f.name)]
                == [(IntentState.DONE, 3)]
            ),
            what="the copy settled from the book",
        )
    finally:
        rig.stop()


def test_a_renewed_follower_token_reconnects_its_socket_with_it(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("renew", "1200000806")
    sim.admin.set_ltp("NSE_EQ", "1333", 1500.0)
    rig = start_rig(sim, tmp_path, [f])
    try:
        wait_until(lambda: _socket_up(rig, f.name), what="the follower socket up")
        sim.admin.rotate_token(f.client_id, "renewed-token-Qz7")
        rig.engine.apply_token(f.name, "renewed-token-Qz7")
        wait_until(lambda: _socket_up(rig, f.name, connects=2), what="reconnected, checked")
        oid = rig.leader.place_order(limit_buy("1333", quantity=2, price=1490.0)).order_id
        rig.wait_copies(oid, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "PENDING")
        (copy,) = rig.follower_copies(f, oid)
        since = _last_seq(sim)
        sim.admin.fill(copy["orderId"], price=1490.0)
        journal = rig.engine.journal
        wait_until(
            lambda: (
                [(i.state, i.filled_qty) for i in journal.intents(f.name)]
                == [(IntentState.DONE, 2)]
            ),
            what="settled from the new socket",
        )
        assert _book_reads(sim, f.client_id, since) == 0
        assert rig.engine.socket_status[f.name].failures == 0  # replaced, not lost
    finally:
        rig.stop()
