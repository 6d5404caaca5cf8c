"""Super orders: copied whole, their target / stop moves mirrored, one-cancels-other enforced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dhan.codes import ExchangeSegment, LegName, OrderType, ProductType, TransactionType
from dhan.correlation import correlation_id_for
from dhan.models import SuperModifyRequest, SuperOrderRequest
from dhan.rest import DhanClient
from dhansim import Simulator
from store import IntentState
from tests.integration.engine_harness import follower_config, start_rig, wait_until


@pytest.fixture(params=[False, True], ids=["legs_in_super_book_only", "legs_in_order_book"])
def sim(sim: Simulator, request: pytest.FixtureRequest) -> Simulator:
    """Each test twice: the super orders' exit legs listed by ``GET /orders`` too (as Dhan's
    docs say) or only under ``/super/orders`` (simulator switch ``super_legs_in_order_book``)."""
    sim.admin.set_switches(super_legs_in_order_book=request.param)
    return sim


#: The leader's super order in these tests: BUY 4 at 810, target 830, stop 800.
SUPER_BUY = SuperOrderRequest(
    transaction_type=TransactionType.BUY,
    exchange_segment=ExchangeSegment.NSE_EQ,
    product_type=ProductType.INTRADAY,
    order_type=OrderType.LIMIT,
    security_id="3045",
    quantity=4,
    price=810.0,
    target_price=830.0,
    stop_loss_price=800.0,
)


def _super(client: DhanClient, cid: str) -> Any:
    return next((s for s in client.list_super_orders() if s.correlation_id == cid), None)


def test_a_super_order_is_copied_its_target_move_mirrored_and_its_stop_cancelled_by_the_engine(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.admin.set_switches(broker_oco=False)
    sim.admin.set_ltp("NSE_EQ", "3045", 810.0)
    followers = [
        follower_config("s1", "1800000001"),
        follower_config("s2", "1800000002", multiplier=2),
    ]
    rig = start_rig(sim, tmp_path, followers)
    clients = {
        f.name: DhanClient(
            base_url=sim.rest_url, client_id=f.client_id, access_token=f.access_token.reveal()
        )
        for f in followers
    }
    try:
        ack = rig.leader.place_super_order(SUPER_BUY)
        cids = {f.name: correlation_id_for(f.name, ack.order_id) for f in followers}
        for f in followers:
            so = wait_until(
                lambda f=f: _super(clients[f.name], cids[f.name]), what=f"{f.name} super"
            )
            assert so.quantity == (4 if f.name == "s1" else 8)
        rig.leader.modify_super_order(ack.order_id, SuperModifyRequest.target(835.0))

        def target_of(name: str) -> float | None:
            so = _super(clients[name], cids[name])
            leg = so.leg(LegName.TARGET_LEG) if so else None
            return leg.price if leg else None

        for f in followers:
            wait_until(lambda f=f: target_of(f.name) == 835.0, what=f"{f.name} target moved")
        sim.admin.set_ltp("NSE_EQ", "3045", 836.0)  # targets fill; the broker does not OCO

        def stop_status(name: str) -> str | None:
            so = _super(clients[name], cids[name])
            leg = so.leg(LegName.STOP_LOSS_LEG) if so else None
            return str(leg.order_status) if leg else None

        for f in followers:
            wait_until(
                lambda f=f: stop_status(f.name) == "CANCELLED", what=f"{f.name} stop cancelled"
            )
        sim.admin.set_ltp("NSE_EQ", "3045", 790.0)  # would have hit the stops
        for f in followers:
            assert stop_status(f.name) == "CANCELLED"
    finally:
        for c in clients.values():
            c.close()
        rig.stop()


def test_a_target_and_stop_moved_after_the_followers_entry_traded_are_still_mirrored(
    sim: Simulator, tmp_path: Path
) -> None:
    # Once the follower's entry has traded its intent is DONE and the journal no longer
    # updates it: the moves must reach the follower's legs from the leader's leg snapshots.
    sim.admin.set_ltp("NSE_EQ", "3045", 810.0)
    follower = follower_config("s1", "1800000001")
    rig = start_rig(sim, tmp_path, [follower])
    client = DhanClient(
        base_url=sim.rest_url,
        client_id=follower.client_id,
        access_token=follower.access_token.reveal(),
    )
    try:
        ack = rig.leader.place_super_order(SUPER_BUY)
        cid = correlation_id_for(follower.name, ack.order_id)
        wait_until(
            lambda: (
                [i.state for i in rig.engine.journal.intents(follower.name)] == [IntentState.DONE]
            ),
            what="the follower's entry traded and its intent done",
        )
        rig.leader.modify_super_order(ack.order_id, SuperModifyRequest.target(835.0))
        rig.leader.modify_super_order(ack.order_id, SuperModifyRequest.stop_loss(805.0, 0.0))

        def levels() -> tuple[float | None, float | None]:
            so = _super(client, cid)
            target = so.leg(LegName.TARGET_LEG) if so else None
            stop = so.leg(LegName.STOP_LOSS_LEG) if so else None
            return (target.price if target else None, stop.price if stop else None)

        wait_until(lambda: levels() == (835.0, 805.0), what="target and stop moved")
    finally:
        client.close()
        rig.stop()
