"""BO legs across an engine restart, for a leader trading from Dhan's app (no correlationId).

The order book names no leg's entry; the restart's reconcile must still link the leader's legs
to their entry, so that leg moves made while the engine was down reach the followers' legs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from copytrader.config import FollowerConfig
from copytrader.engine import BrokerEndpoints, Engine
from dhan.codes import LegName, OrderType, ProductType, Validity
from dhan.correlation import correlation_id_for
from dhan.models import ModifyRequest
from dhansim import Simulator
from tests.integration.engine_harness import Rig, follower_config, limit_buy, start_rig, wait_until


def _follower_legs(rig: Rig, f: FollowerConfig, leader_order_id: str) -> dict[str, Any]:
    cid = correlation_id_for(f.name, leader_order_id)
    return {
        o["legName"]: o
        for o in rig.book(f.client_id)
        if o.get("correlationId") == cid and o.get("legName") in ("TARGET_LEG", "STOP_LOSS_LEG")
    }


def _leader_leg(rig: Rig, entry_id: str, leg: str) -> dict[str, Any]:
    return next(
        o
        for o in rig.book(rig.cfg.leader.client_id)
        if o.get("parentOrderId") == entry_id and o.get("legName") == leg
    )


def _move_target(rig: Rig, entry_id: str, price: float) -> None:
    leg = _leader_leg(rig, entry_id, "TARGET_LEG")
    rig.leader.modify_order(
        leg["orderId"],
        ModifyRequest(
            order_type=OrderType.LIMIT,
            quantity=leg["quantity"],
            price=price,
            trigger_price=None,
            validity=Validity.DAY,
            leg_name=LegName.TARGET_LEG,
        ),
    )


def _place_bo(rig: Rig, price: float) -> str:
    entry = rig.leader.place_order(  # as from Dhan's app: no correlationId
        limit_buy(
            quantity=4,
            price=price,
            product_type=ProductType.BO,
            bo_profit_value=10.0,
            bo_stop_loss_value=5.0,
        )
    )
    assert rig.leader.get_order(entry.order_id).correlation_id is None
    return entry.order_id


def _restart(rig: Rig, sim: Simulator) -> Engine:
    engine = Engine(rig.cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url)).start()
    wait_until(lambda: engine.ready()[0], 10.0, what="restarted engine ready")
    return engine


def _target_price(rig: Rig, f: FollowerConfig, entry_id: str) -> float | None:
    legs = _follower_legs(rig, f, entry_id)
    return legs["TARGET_LEG"]["price"] if "TARGET_LEG" in legs else None


def test_a_leg_move_made_while_the_engine_was_down_reaches_the_follower_after_a_restart(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("bo1", "1400000401")
    sim.admin.set_ltp("NSE_EQ", "1333", 1000.0)
    rig = start_rig(sim, tmp_path, [f])
    engine = rig.engine
    try:
        entry_id = _place_bo(rig, 1000.0)
        wait_until(lambda: len(_follower_legs(rig, f, entry_id)) == 2, what="follower legs")
        _move_target(rig, entry_id, 1009.0)
        wait_until(lambda: _target_price(rig, f, entry_id) == 1009.0, what="target at 1009")
        rig.engine.stop()
        _move_target(rig, entry_id, 1006.0)  # while the engine is down
        engine = _restart(rig, sim)
        wait_until(lambda: _target_price(rig, f, entry_id) == 1006.0, what="target at 1006")
        sim.admin.set_ltp("NSE_EQ", "1333", 1006.0)  # both targets fill: both flat
        wait_until(
            lambda: _follower_legs(rig, f, entry_id)["TARGET_LEG"]["orderStatus"] == "TRADED",
            what="follower target filled",
        )
        wait_until(
            lambda: _follower_legs(rig, f, entry_id)["STOP_LOSS_LEG"]["orderStatus"] == "CANCELLED",
            what="follower stop cancelled",
        )
    finally:
        engine.stop()
        rig.leader.close()


def test_legs_made_while_the_engine_was_down_are_linked_to_their_entry_by_the_books_shape(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("bo2", "1400000402")
    sim.admin.set_ltp("NSE_EQ", "1333", 1000.0)
    rig = start_rig(sim, tmp_path, [f])
    engine = rig.engine
    try:
        entry_id = _place_bo(rig, 995.0)  # rests below the market
        wait_until(lambda: len(rig.follower_copies(f, entry_id)) == 1, what="follower entry")
        rig.engine.stop()
        sim.admin.set_ltp("NSE_EQ", "1333", 995.0)  # both entries fill: legs made while down
        wait_until(lambda: len(_follower_legs(rig, f, entry_id)) == 2, what="follower legs")
        _move_target(rig, entry_id, 1008.0)
        engine = _restart(rig, sim)
        wait_until(lambda: _target_price(rig, f, entry_id) == 1008.0, what="target at 1008")
        leg_id = _leader_leg(rig, entry_id, "TARGET_LEG")["orderId"]
        snap = engine.journal.leader_snapshot(leg_id, "TARGET_LEG")
        assert snap is not None and snap.parent_order_id == entry_id
    finally:
        engine.stop()
        rig.leader.close()
