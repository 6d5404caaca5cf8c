"""Exits sized from the follower's position (issue 16), against dhansim over loopback.

Each case drives the leader through its REST API like a trader, and judges the followers by
the broker's own positions (``GET /positions`` of each account), not by the engine's journal:
a follower must end where its position says it should, never short when the leader is flat.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from actors import exit_sizing
from copytrader.config import SizingConfig, SizingMode
from copytrader.engine import BrokerEndpoints, Engine
from dhan.codes import ProductType, TransactionType
from dhan.correlation import correlation_id_for
from dhan.rest import DhanClient
from dhansim import Simulator
from store.records import PositionKey
from store.states import IntentState
from tests.integration.engine_harness import (
    Rig,
    follower_config,
    limit_buy,
    start_rig,
    wait_until,
)

SEC = "1333"
LTP = 1600.0
KEY = PositionKey("NSE_EQ", SEC, "INTRADAY")


def buy(qty: int, **kw: Any) -> Any:
    """A marketable limit BUY (fills at once at the LTP)."""
    return limit_buy(SEC, quantity=qty, price=LTP + 100.0, **kw)


def sell(qty: int, **kw: Any) -> Any:
    """A marketable limit SELL."""
    return limit_buy(
        SEC, quantity=qty, price=LTP - 100.0, transaction_type=TransactionType.SELL, **kw
    )


def broker_net(sim: Simulator, client_id: str, product: str = "INTRADAY") -> int:
    """The account's net position in SEC as the broker reports it."""
    client = DhanClient(base_url=sim.rest_url, client_id=client_id, access_token=f"tok-{client_id}")
    try:
        return sum(
            p.net_qty
            for p in client.positions()
            if p.security_id == SEC and str(p.product_type) == product
        )
    finally:
        client.close()


def journal_net(engine: Engine, account: str, key: PositionKey = KEY) -> int:
    return sum(r.net_qty for r in engine.journal.positions(account) if r.key == key)


def settled(rig: Rig, engine: Engine | None = None) -> None:
    """Wait until every copy is settled and each account's journaled position is the broker's."""
    engine = engine or rig.engine
    wait_until(lambda: engine.journal.unresolved_count() == 0, 15.0, what="copies settled")

    def agree() -> bool:
        return all(
            journal_net(engine, name) == broker_net(rig.sim, cid)
            for name, cid in [("leader", rig.cfg.leader.client_id)]
            + [(f.name, f.client_id) for f in rig.cfg.followers]
        )

    wait_until(agree, 15.0, what="journaled positions equal the broker's")


def filled(rig: Rig, order_id: str) -> None:
    def done() -> bool:
        order = rig.leader.get_order(order_id)
        return order.filled_qty == order.quantity

    wait_until(done, what=f"leader order {order_id} filled")


def copy_of(engine: Engine, follower: str, leader_order_id: str) -> Any:
    """The follower's journaled copy of the leader order (None before it is derived)."""
    found = engine.journal.intents(follower, leader_order_id=leader_order_id)
    assert len(found) <= 1
    return found[0] if found else None


def test_a_follower_whose_entry_was_rejected_for_funds_gets_no_exit(
    sim: Simulator, tmp_path: Path
) -> None:
    rich = follower_config("rich", "1500000001")
    poor = follower_config("poor", "1500000002")
    sim.admin.set_ltp("NSE_EQ", SEC, LTP)
    rig = start_rig(sim, tmp_path, [rich, poor], balances={"1500000002": 100.0})
    try:
        entry = rig.leader.place_order(buy(10)).order_id
        filled(rig, entry)
        wait_until(
            lambda: (
                getattr(copy_of(rig.engine, "poor", entry), "state", None) is IntentState.REJECTED
            ),
            what="the poor follower's entry rejected",
        )
        settled(rig)
        exit_ = rig.leader.place_order(sell(10)).order_id
        filled(rig, exit_)
        settled(rig)
        skipped = copy_of(rig.engine, "poor", exit_)
        assert skipped.state is IntentState.SKIPPED
        assert skipped.skip_reason == exit_sizing.NOTHING_TO_CLOSE
        assert rig.follower_copies(poor, exit_) == []  # nothing sent
        assert broker_net(sim, poor.client_id) == 0  # not short
        assert broker_net(sim, rich.client_id) == 0  # the other follower closed its 10
        assert broker_net(sim, rig.cfg.leader.client_id) == 0
    finally:
        rig.stop()


def test_a_half_filled_then_cancelled_entry_is_closed_by_the_leaders_exit_of_its_half(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("half", "1500000011")
    sim.admin.set_ltp("NSE_EQ", SEC, LTP)
    rig = start_rig(sim, tmp_path, [f])
    try:
        entry = rig.leader.place_order(limit_buy(SEC, quantity=100, price=LTP - 50.0)).order_id
        rig.wait_copies(entry, lambda _f, c: len(c) == 1 and c[0]["quantity"] == 100)
        sim.admin.fill(entry, quantity=50)
        (copy,) = rig.follower_copies(f, entry)
        sim.admin.fill(copy["orderId"], quantity=50)
        rig.leader.cancel_order(entry)
        rig.wait_copies(entry, lambda _f, c: c[0]["orderStatus"] in ("CANCELLED", "TRADED"))
        settled(rig)
        assert broker_net(sim, f.client_id) == 50
        exit_ = rig.leader.place_order(sell(50)).order_id
        rig.wait_copies(exit_, lambda _f, c: len(c) == 1 and c[0]["quantity"] == 50)
        filled(rig, exit_)
        settled(rig)
        assert broker_net(sim, f.client_id) == 0
    finally:
        rig.stop()


def test_a_fixed_follower_scaling_out_in_three_steps_ends_flat_never_short(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("fix5", "1500000021", fixed=5)
    sim.admin.set_ltp("NSE_EQ", SEC, LTP)
    rig = start_rig(sim, tmp_path, [f])
    try:
        entry = rig.leader.place_order(buy(30)).order_id
        filled(rig, entry)
        settled(rig)
        assert broker_net(sim, f.client_id) == 5
        seen = [5]
        for _ in range(3):
            exit_ = rig.leader.place_order(sell(10)).order_id
            filled(rig, exit_)
            settled(rig)
            seen.append(broker_net(sim, f.client_id))
        assert seen == [5, 4, 2, 0]  # 5 x 10/30 -> 1, 4 x 10/20 -> 2, then the rest
        assert broker_net(sim, rig.cfg.leader.client_id) == 0
    finally:
        rig.stop()


def test_a_capital_follower_whose_balance_halved_between_entry_and_exit_ends_flat(
    sim: Simulator, tmp_path: Path
) -> None:
    f = replace(
        follower_config("cap", "1500000031"),
        sizing=SizingConfig(SizingMode.CAPITAL, capital_multiplier=1.0),
    )
    sim.admin.set_ltp("NSE_EQ", SEC, LTP)
    # the follower has half the leader's capital: it buys 5 of the leader's 10
    rig = start_rig(
        sim, tmp_path, [f], balances={"1100000000": 2_000_000.0, "1500000031": 1_000_000.0}
    )
    try:
        wait_until(lambda: "cap" in rig.engine.balances, what="the follower's balance read")
        entry = rig.leader.place_order(buy(10)).order_id
        filled(rig, entry)
        settled(rig)
        assert broker_net(sim, f.client_id) == 5
        # the follower's free balance halves: it spends it on another instrument by hand
        own = DhanClient(
            base_url=sim.rest_url, client_id=f.client_id, access_token=f"tok-{f.client_id}"
        )
        try:
            sim.admin.set_ltp("NSE_EQ", "11536", 4000.0)
            own.place_order(
                limit_buy("11536", quantity=60, price=4100.0, product_type=ProductType.CNC)
            )
        finally:
            own.close()
        exit_ = rig.leader.place_order(sell(10)).order_id
        filled(rig, exit_)
        settled(rig)
        assert broker_net(sim, f.client_id) == 0
    finally:
        rig.stop()


def test_a_leader_flip_from_long_to_short_flips_a_double_follower(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("x2", "1500000041", multiplier=2.0)
    sim.admin.set_ltp("NSE_EQ", SEC, LTP)
    rig = start_rig(sim, tmp_path, [f])
    try:
        entry = rig.leader.place_order(buy(10)).order_id
        filled(rig, entry)
        settled(rig)
        assert broker_net(sim, f.client_id) == 20
        flip = rig.leader.place_order(sell(20)).order_id
        rig.wait_copies(flip, lambda _f, c: len(c) == 1 and c[0]["quantity"] == 40)
        filled(rig, flip)
        settled(rig)
        assert broker_net(sim, rig.cfg.leader.client_id) == -10
        assert broker_net(sim, f.client_id) == -20
    finally:
        rig.stop()


def test_an_exit_after_a_restart_between_entry_and_exit_is_sized_from_the_position(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("rs", "1500000051", fixed=3)
    sim.admin.set_ltp("NSE_EQ", SEC, LTP)
    rig = start_rig(sim, tmp_path, [f])
    entry = rig.leader.place_order(buy(9)).order_id
    filled(rig, entry)
    settled(rig)
    assert broker_net(sim, f.client_id) == 3
    rig.engine.stop()
    engine = Engine(rig.cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url)).start()
    try:
        wait_until(lambda: engine.ready()[0], what="engine ready")
        assert journal_net(engine, "rs") == 3  # the journal kept it
        exit_ = rig.leader.place_order(sell(3)).order_id  # a third of the leader's 9
        wait_until(
            lambda: (
                [
                    o["quantity"]
                    for o in rig.book(f.client_id)
                    if o.get("correlationId") == correlation_id_for("rs", exit_)
                ]
                == [1]
            ),
            what="the exit copy: a third of the follower's 3 (fixed sizing would send 3)",
        )
        filled(rig, exit_)
        settled(rig, engine)
        assert broker_net(sim, f.client_id) == 2
    finally:
        engine.stop()
        rig.leader.close()
