"""F&O lot sizes across restarts: the order book carries none, only the socket's frames do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actors.lot_sizes import LOT_SIZES_MARK
from copytrader.config import FollowerConfig
from copytrader.engine import BrokerEndpoints, Engine
from dhan.codes import ExchangeSegment, ProductType
from dhan.models import OrderRequest
from dhansim import Simulator
from store import Journal
from tests.integration.engine_harness import Rig, follower_config, limit_buy, start_rig, wait_until

NIFTY_FUT = "52175"  # lot 65 in the simulator's bundled master


def _fno_buy(quantity: int, price: float) -> OrderRequest:
    return limit_buy(
        NIFTY_FUT,
        quantity=quantity,
        price=price,
        exchange_segment=ExchangeSegment.NSE_FNO,
        product_type=ProductType.MARGIN,
    )


def _restart(rig: Rig, sim: Simulator) -> Engine:
    engine = Engine(rig.cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url)).start()
    wait_until(lambda: engine.ready()[0], 10.0, what="restarted engine ready")
    return engine


def _open_copy(rig: Rig, follower: FollowerConfig, leader_order_id: str) -> dict[str, Any] | None:
    copies = rig.follower_copies(follower, leader_order_id)
    return copies[0] if len(copies) == 1 and copies[0]["orderStatus"] == "PENDING" else None


def test_a_restart_keeps_the_copies_of_open_fno_orders_and_copies_those_placed_while_down(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("lots", "1400000301")
    sim.admin.set_ltp("NSE_FNO", NIFTY_FUT, 25000.0)
    rig = start_rig(sim, tmp_path, [f])
    engine = rig.engine
    try:
        resting = rig.leader.place_order(_fno_buy(130, 24900.0)).order_id
        wait_until(lambda: _open_copy(rig, f, resting), what="copy of the F&O order")
        rig.engine.stop()
        engine = _restart(rig, sim)
        wait_until(lambda: engine.journal.unresolved_count() == 0, what="settled after restart")
        (intent,) = engine.journal.intents(f.name, leader_order_id=resting)
        assert intent.desired_open and intent.skip_reason is None and intent.quantity == 130
        assert _open_copy(rig, f, resting) is not None, rig.follower_copies(f, resting)
        engine.stop()
        # placed while the engine is down: the connect reconcile sizes it with the journaled lot
        missed = rig.leader.place_order(_fno_buy(65, 24800.0)).order_id
        engine = _restart(rig, sim)
        copy = wait_until(lambda: _open_copy(rig, f, missed), what="copy of the missed order")
        assert copy["quantity"] == 65
        assert _open_copy(rig, f, resting) is not None
    finally:
        engine.stop()
        rig.leader.close()


def test_an_unknown_lot_size_never_cancels_a_live_copy(sim: Simulator, tmp_path: Path) -> None:
    f = follower_config("nolot", "1400000302")
    sim.admin.set_ltp("NSE_FNO", NIFTY_FUT, 25000.0)
    rig = start_rig(sim, tmp_path, [f])
    engine = rig.engine
    try:
        resting = rig.leader.place_order(_fno_buy(130, 24900.0)).order_id
        wait_until(lambda: _open_copy(rig, f, resting), what="copy of the F&O order")
        rig.engine.stop()
        # the lot is forgotten (a journal from before lot sizes were kept, a damaged mark)
        with Journal.open(rig.cfg.store.url) as journal:
            journal.set_mark("leader", LOT_SIZES_MARK, "{}")
        engine = _restart(rig, sim)
        wait_until(lambda: engine.feed_status.reconciled, what="connect reconcile")
        wait_until(lambda: engine.journal.unresolved_count() == 0, what="settled after restart")
        (intent,) = engine.journal.intents(f.name, leader_order_id=resting)
        assert intent.desired_open and intent.skip_reason is None, intent
        assert _open_copy(rig, f, resting) is not None, rig.follower_copies(f, resting)
        # the next frame brings the lot back; a leader cancel still reaches the copy
        rig.leader.cancel_order(resting)
        wait_until(
            lambda: [c["orderStatus"] for c in rig.follower_copies(f, resting)] == ["CANCELLED"],
            what="copy cancelled with the leader's order",
        )
    finally:
        engine.stop()
        rig.leader.close()
