"""Super orders through the leader's REST reconcile (periodic, at connect, after a restart),
run with the simulator's ``super_legs_in_order_book`` both ways: with it on, ``GET /orders``
lists a traded super order's TARGET_LEG and STOP_LOSS_LEG under the entry's orderId, as Dhan's
docs say. A leader's legs are never taken for new leader orders, a follower's legs are never
unexpected, and nothing is copied twice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from copytrader.config import ReconcilePolicy
from copytrader.engine import BrokerEndpoints, Engine
from dhan.codes import ExchangeSegment, OrderType, ProductType, TransactionType
from dhan.correlation import correlation_id_for
from dhan.models import SuperOrderRequest
from dhansim import Simulator
from store.states import IntentState
from tests.integration.engine_harness import LEADER_ID, Rig, wait_until
from tests.integration.test_leader_periodic_reconcile import (
    PERIOD_S,
    reconcile_events,
    reconciles,
    start_quiet_socket_rig,
)

#: BUY 3 at the market's 1600 (the entry trades at once), target 1650, stop 1550.
SUPER_BUY = SuperOrderRequest(
    transaction_type=TransactionType.BUY,
    exchange_segment=ExchangeSegment.NSE_EQ,
    product_type=ProductType.INTRADAY,
    order_type=OrderType.LIMIT,
    security_id="1333",
    quantity=3,
    price=1600.0,
    target_price=1650.0,
    stop_loss_price=1550.0,
)


@pytest.fixture(params=[False, True], ids=["legs_in_super_book_only", "legs_in_order_book"])
def sim(sim: Simulator, request: pytest.FixtureRequest) -> Simulator:
    sim.admin.set_switches(super_legs_in_order_book=request.param)
    return sim


def _legs_listed(sim: Simulator) -> bool:
    return bool(sim.admin.switches()["super_legs_in_order_book"])


def _copied_whole_once(rig: Rig, leader_order_id: str) -> bool:
    """The follower holds exactly one order: the traded super copy, its legs pending at the
    leader's target and stop; and one intent, for the entry."""
    (f,) = rig.cfg.followers
    cid = correlation_id_for(f.name, leader_order_id)
    rows = rig.sim.admin.orders(f.client_id)
    legs = {o.get("legName"): o for o in rows}
    return (
        {o["orderId"] for o in rows} == {legs.get("ENTRY_LEG", {}).get("orderId")}
        and {o.get("correlationId") for o in rows} == {cid}
        and sorted(legs) == ["ENTRY_LEG", "STOP_LOSS_LEG", "TARGET_LEG"]
        and legs["ENTRY_LEG"]["orderStatus"] == "TRADED"
        and legs["ENTRY_LEG"]["filledQty"] == 3
        and legs["TARGET_LEG"]["price"] == 1650.0
        and legs["STOP_LOSS_LEG"]["triggerPrice"] == 1550.0
        and [i.leader_order_id for i in rig.engine.journal.intents(f.name)] == [leader_order_id]
    )


def _leader_orders_journaled(rig: Rig) -> list[tuple[str, str]]:
    return sorted((s.leader_order_id, s.leg_name) for s in rig.engine.journal.leader_snapshots())


def _missed(rig: Rig) -> list[str]:
    return [
        r.payload["leader_order_id"]
        for r in rig.engine.journal.audit_after(0, limit=10_000)
        if r.kind == "leader_order_missed"
    ]


def _wait_for_passes_that_journal_nothing(rig: Rig, timeout_s: float = 10 * PERIOD_S) -> None:
    """Until three periodic passes in a row journal no reconcile event (a difference is
    journaled a pass or two after it is first seen: actors.leader_reconcile.CONFIRM_AFTER_S)."""

    def quiet() -> bool:
        events, passes = reconcile_events(rig), reconciles(rig, "periodic", "ok")
        wait_until(lambda: reconciles(rig, "periodic", "ok") >= passes + 3, 5 * PERIOD_S)
        return reconcile_events(rig) == events

    wait_until(quiet, timeout_s, what="two passes that journal nothing")


def test_a_traded_super_order_the_socket_lost_is_copied_once_by_the_periodic_reconcile(
    sim: Simulator, tmp_path: Path
) -> None:
    rig = start_quiet_socket_rig(
        sim, tmp_path, leader_reconcile_s=PERIOD_S, policy=ReconcilePolicy.COPY_ALL
    )
    try:
        sim.admin.set_faults({"accounts": [LEADER_ID], "socket_stall": True})
        order_id = rig.leader.place_super_order(SUPER_BUY).order_id

        def traded_frame_dropped() -> bool:
            frames = sim.admin.journal(kind="frame", account=LEADER_ID)
            return any(
                f.get("orderNo") == order_id
                and f["result"] == "dropped-stalled"
                and f["status"] == "TRADED"
                for f in frames
            )

        wait_until(traded_frame_dropped, 5.0, what="the leader's TRADED frame dropped")
        sim.admin.clear_faults()
        leader_rows = [o for o in rig.leader.list_orders() if o.order_id == order_id]
        expected = (
            ["ENTRY_LEG", "TARGET_LEG", "STOP_LOSS_LEG"] if _legs_listed(sim) else ["ENTRY_LEG"]
        )
        assert [str(o.leg_name) for o in leader_rows] == expected
        wait_until(lambda: _copied_whole_once(rig, order_id), 2 * PERIOD_S + 5.0, what="copy")
        # more passes read the same book: nothing new is journaled, nothing copied again
        events = reconcile_events(rig)
        passes = reconciles(rig, "periodic", "ok")
        wait_until(lambda: reconciles(rig, "periodic", "ok") >= passes + 3, 6 * PERIOD_S)
        assert reconcile_events(rig) == events
        assert _copied_whole_once(rig, order_id)
        assert _leader_orders_journaled(rig) == [
            (order_id, leg) for leg in ("", "STOP_LOSS_LEG", "TARGET_LEG")
        ]
    finally:
        sim.admin.clear_faults()
        rig.stop()


def test_a_super_order_the_socket_delivered_gives_the_periodic_reconcile_nothing_to_journal(
    sim: Simulator, tmp_path: Path
) -> None:
    rig = start_quiet_socket_rig(sim, tmp_path, leader_reconcile_s=PERIOD_S)
    try:
        order_id = rig.leader.place_super_order(SUPER_BUY).order_id
        wait_until(lambda: _copied_whole_once(rig, order_id), 10.0, what="copy")
        # the first passes may journal the legs as the super-order book shows them (the socket
        # folds the stop's frame into the entry); then the same book journals nothing more
        stop_leg = (order_id, "STOP_LOSS_LEG")
        wait_until(lambda: stop_leg in _leader_orders_journaled(rig), 6 * PERIOD_S)
        _wait_for_passes_that_journal_nothing(rig)
        events = reconcile_events(rig)
        passes = reconciles(rig, "periodic", "ok")
        wait_until(lambda: reconciles(rig, "periodic", "ok") >= passes + 3, 6 * PERIOD_S)
        assert reconcile_events(rig) == events
        assert _copied_whole_once(rig, order_id)
        assert _missed(rig) == []
        assert {s for s, _leg in _leader_orders_journaled(rig)} == {order_id}
    finally:
        rig.stop()


def test_an_engine_restarted_after_a_super_order_traded_copies_nothing_again(
    sim: Simulator, tmp_path: Path
) -> None:
    # at the restart the connect reconcile reads both books, the legs with them: the leader's
    # legs are its super order's, the follower's legs its copy's
    rig = start_quiet_socket_rig(
        sim, tmp_path, leader_reconcile_s=PERIOD_S, policy=ReconcilePolicy.COPY_ALL
    )
    try:
        order_id = rig.leader.place_super_order(SUPER_BUY).order_id
        wait_until(lambda: _copied_whole_once(rig, order_id), 10.0, what="copy")
        rig.engine.stop()
        rig.engine = Engine(
            rig.cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url)
        ).start()
        wait_until(lambda: rig.engine.ready()[0], 10.0, what="engine ready")
        wait_until(lambda: reconciles(rig, "periodic", "ok") >= 2, 6 * PERIOD_S)
        assert reconciles(rig, "connect", "ok") == 1
        (intent,) = rig.engine.journal.intents(rig.cfg.followers[0].name)
        assert intent.state is IntentState.DONE
        assert _copied_whole_once(rig, order_id)
        assert _missed(rig) == []
        assert {s for s, _leg in _leader_orders_journaled(rig)} == {order_id}
    finally:
        rig.stop()


def test_a_super_order_read_while_the_super_order_book_fails_is_not_copied_as_a_plain_order(
    sim_factory: Callable[..., Simulator], tmp_path: Path
) -> None:
    # the engine starts after the leader's super order traded, and GET /super/orders fails for
    # the connect reconcile: the legs in the main book say the entry is a super order's, so it
    # is copied whole by a later pass, never as a plain order. (Only the legs tell: without
    # them, as with the switch off, a super entry's row looks like a plain order's.)
    sim = sim_factory(super_legs_in_order_book=True)
    rig = start_quiet_socket_rig(
        sim, tmp_path, leader_reconcile_s=0.0, policy=ReconcilePolicy.COPY_ALL
    )
    rig.engine.stop()
    try:
        order_id = rig.leader.place_super_order(SUPER_BUY).order_id
        wait_until(
            lambda: [o.order_status.value for o in rig.leader.list_super_orders()] == ["TRADED"],
            what="the leader's entry traded",
        )
        fails = {"per_endpoint": {"GET /super/orders": {"error_5xx_p": 1.0}}}
        sim.admin.set_faults({"accounts": [LEADER_ID], **fails})
        cfg = replace(rig.cfg, engine=replace(rig.cfg.engine, leader_reconcile_s=PERIOD_S))
        rig.engine = Engine(cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url))
        rig.engine.start()
        wait_until(lambda: reconciles(rig, "connect", "ok") == 1, 10.0, what="connect")
        wait_until(lambda: reconciles(rig, "periodic", "error") >= 2, 6 * PERIOD_S)
        (f,) = rig.cfg.followers
        assert sim.admin.orders(f.client_id) == []
        sim.admin.clear_faults()
        wait_until(lambda: _copied_whole_once(rig, order_id), 4 * PERIOD_S + 5.0, what="copy")
    finally:
        sim.admin.clear_faults()
        rig.stop()
