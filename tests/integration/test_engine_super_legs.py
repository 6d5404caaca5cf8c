"""Super orders: every leg field the leader changes reaches the copy -- the stop's trailing jump,
and a pending entry's target and stop. The leader places without a correlationId (Dhan's app)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dhan.codes import (
    ExchangeSegment,
    LegName,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
)
from dhan.correlation import correlation_id_for
from dhan.models import SuperModifyRequest, SuperOrder, SuperOrderRequest
from dhan.rest import DhanClient
from dhansim import Simulator
from tests.integration.engine_harness import Rig, follower_config, start_rig, wait_until


@pytest.fixture(params=[False, True], ids=["legs_in_super_book_only", "legs_in_order_book"])
def sim(sim: Simulator, request: pytest.FixtureRequest) -> Simulator:
    """Each test twice: the super orders' exit legs listed by ``GET /orders`` too (as Dhan's
    docs say) or only under ``/super/orders`` (simulator switch ``super_legs_in_order_book``)."""
    sim.admin.set_switches(super_legs_in_order_book=request.param)
    return sim


def _buy(price: float, target: float, stop: float) -> SuperOrderRequest:
    return SuperOrderRequest(
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.LIMIT,
        security_id="1333",
        quantity=3,
        price=price,
        target_price=target,
        stop_loss_price=stop,
    )


def _copy(client: DhanClient, follower: str, leader_order_id: str) -> SuperOrder | None:
    cid = correlation_id_for(follower, leader_order_id)
    return next((s for s in client.list_super_orders() if s.correlation_id == cid), None)


def _leg(so: SuperOrder | None, leg: LegName) -> Any:
    return None if so is None else so.leg(leg)


def _client(sim: Simulator, rig: Rig) -> DhanClient:
    (f,) = rig.cfg.followers
    return DhanClient(
        base_url=sim.rest_url, client_id=f.client_id, access_token=f.access_token.reveal()
    )


def test_a_trailing_jump_the_leader_adds_to_its_stop_is_copied_so_the_copy_trails_by_itself(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.admin.set_ltp("NSE_EQ", "1333", 1000.0)
    rig = start_rig(sim, tmp_path, [follower_config("tj", "1400000601")])
    follower = _client(sim, rig)
    try:
        leader_id = rig.leader.place_super_order(_buy(1000.0, 1030.0, 980.0)).order_id
        wait_until(
            lambda: (so := _copy(follower, "tj", leader_id)) and so.filled_qty == 3,
            what="the copy's entry traded",
        )
        rig.leader.modify_super_order(leader_id, SuperModifyRequest.stop_loss(985.0, 2.0))

        def stop() -> Any:
            return _leg(_copy(follower, "tj", leader_id), LegName.STOP_LOSS_LEG)

        wait_until(
            lambda: stop().price == 985.0 and stop().trailing_jump == 2.0,
            what="the copy's stop at 985 trailing by 2",
        )
        rig.engine.stop()  # the engine is down: the follower's broker trails the stop itself
        sim.admin.set_ltp("NSE_EQ", "1333", 1010.0)
        sim.admin.set_ltp("NSE_EQ", "1333", 990.0)
        leader_so = next(s for s in rig.leader.list_super_orders() if s.order_id == leader_id)
        copy = _copy(follower, "tj", leader_id)
        assert copy is not None
        assert leader_so.order_status.value == "CLOSED"
        assert copy.order_status is leader_so.order_status
        leader_stop = leader_so.leg(LegName.STOP_LOSS_LEG)
        assert leader_stop is not None and leader_stop.price == 995.0
        assert stop().price == 995.0 and stop().order_status.value == "TRADED"
    finally:
        rig.stop()
        follower.close()


def test_a_target_and_stop_sent_with_an_entry_modify_reach_the_pending_copy(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.admin.set_ltp("NSE_EQ", "1333", 1000.0)
    rig = start_rig(sim, tmp_path, [follower_config("em", "1400000602")])
    follower = _client(sim, rig)
    try:
        leader_id = rig.leader.place_super_order(_buy(995.0, 1020.0, 980.0)).order_id  # rests
        wait_until(lambda: _copy(follower, "em", leader_id), what="the copy")
        rig.leader.modify_super_order(
            leader_id,
            SuperModifyRequest.entry(
                order_type=OrderType.LIMIT,
                quantity=3,
                price=996.0,
                target_price=1025.0,
                stop_loss_price=975.0,
                trailing_jump=1.0,
            ),
        )

        def levels(so: SuperOrder | None) -> tuple[Any, ...]:
            target, stop = _leg(so, LegName.TARGET_LEG), _leg(so, LegName.STOP_LOSS_LEG)
            if so is None or target is None or stop is None:
                return ()
            return (so.order_status, so.price, target.price, stop.price, stop.trailing_jump)

        wait_until(
            lambda: (
                levels(_copy(follower, "em", leader_id))
                == levels(
                    next(s for s in rig.leader.list_super_orders() if s.order_id == leader_id),
                )
                == ((OrderStatus.PENDING, 996.0, 1025.0, 975.0, 1.0))
            ),
            what="the copy's entry, target, stop and jump as the leader's",
        )
    finally:
        rig.stop()
        follower.close()
