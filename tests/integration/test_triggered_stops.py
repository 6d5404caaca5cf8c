"""A leader's stop-loss order whose trigger the market crosses before its copies arrive.

The leader's stop triggers and trades; each copy reaches the exchange after the LTP has passed
its trigger, and the exchange refuses it ("Trigger price for a stop-loss sell order should be
below LTP"). The engine places it again, under its next correlationId generation, as what the
leader's stop now is (``dhan.codes.TRIGGERED_FORM``): a stop-loss-market order as a MARKET
order, a stop-limit as a LIMIT at its price. Judged by the broker's books and positions.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from copytrader.commands import _report
from copytrader.engine import BrokerEndpoints
from dhan.codes import OrderStatus, OrderType, TransactionType
from dhan.correlation import correlation_id_for, first_generation_id, generation_of
from dhansim import Simulator
from store.states import IntentState
from tests.integration.engine_harness import follower_config, limit_buy, start_rig, wait_until
from tests.integration.test_position_exits import (
    LTP,
    SEC,
    broker_net,
    buy,
    copy_of,
    filled,
    settled,
)

#: The copies' POST /orders is held this long at the broker: the market moves meanwhile.
COPY_DELAY_MS = 600.0


@pytest.mark.parametrize(
    ("order_type", "price", "ids"),
    [
        (OrderType.STOP_LOSS_MARKET, 0.0, "1710000001"),
        (OrderType.STOP_LOSS, LTP - 30.0, "1710000002"),
    ],
    ids=["sl_market", "sl_limit"],
)
def test_a_stop_triggered_before_its_copy_arrives_is_copied_as_it_now_is(
    sim: Simulator, tmp_path: Path, order_type: OrderType, price: float, ids: str
) -> None:
    sim.admin.set_ltp("NSE_EQ", SEC, LTP)
    f = follower_config("f", ids)
    rig = start_rig(sim, tmp_path, [f])
    try:
        entry = rig.leader.place_order(buy(10)).order_id
        filled(rig, entry)
        settled(rig)
        assert broker_net(sim, f.client_id) == 10

        sim.admin.set_faults(
            {
                "accounts": [f.client_id],
                "per_endpoint": {"POST /orders": {"latency_ms": COPY_DELAY_MS}},
            }
        )
        stop = rig.leader.place_order(
            limit_buy(
                SEC,
                quantity=10,
                price=price,
                order_type=order_type,
                trigger_price=LTP - 10.0,
                transaction_type=TransactionType.SELL,
            )
        ).order_id
        wait_until(
            lambda: rig.leader.get_order(stop).order_status is OrderStatus.PENDING,
            5.0,
            what="the leader's stop accepted",
        )
        sim.admin.set_ltp("NSE_EQ", SEC, LTP - 20.0)  # past the trigger: the leader's stop trades
        filled(rig, stop)

        first = correlation_id_for(f.name, stop)

        def copies() -> list[dict]:
            return [
                o
                for o in rig.book(f.client_id)
                if o.get("correlationId") and first_generation_id(str(o["correlationId"])) == first
            ]

        wait_until(
            lambda: any(o["orderStatus"] == "TRADED" for o in copies()),
            15.0,
            what="the copy placed again and traded",
        )
        sim.admin.clear_faults()
        settled(rig)
        by_generation = {generation_of(str(o["correlationId"])): o for o in copies()}
        assert sorted(by_generation) == [0, 1]
        refused, again = by_generation[0], by_generation[1]
        assert refused["orderStatus"] == "REJECTED"
        assert "Trigger price" in str(refused.get("omsErrorDescription"))
        assert (again["orderStatus"], again["transactionType"], again["quantity"]) == (
            "TRADED",
            "SELL",
            10,
        )
        form = OrderType.MARKET if order_type is OrderType.STOP_LOSS_MARKET else OrderType.LIMIT
        requested = copy_of(rig.engine, "f", stop)
        assert (requested.state, requested.order_type) == (IntentState.DONE, form)
        if form is OrderType.LIMIT:
            assert (again["orderType"], again["price"]) == ("LIMIT", price)
        assert broker_net(sim, f.client_id) == 0 == broker_net(sim, rig.cfg.leader.client_id)
        # ``copytrader reconcile`` judges the copy right: the leader's stop as it now is
        rig.engine.stop()
        report = _report(rig.cfg, BrokerEndpoints(sim.rest_url, sim.order_feed_url))
        assert report.diff is not None
        assert report.diff.problems == []
    finally:
        rig.stop()
