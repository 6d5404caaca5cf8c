"""A leader's sliced order is copied as a whole, and no copy exceeds the freeze quantity.

NIFTY futures (``52175`` in dhansim's instrument master): lot 65, freeze quantity 1,800, so the
largest order the exchange takes is 1,755 (27 lots). A leader slicing of 40 lots reaches the
engine as two children, 1,755 and 845.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from copytrader.engine import BrokerEndpoints, Engine
from dhan.codes import ExchangeSegment, ProductType
from dhan.rest import DhanClient
from dhansim import Simulator
from dhansim.pytest_plugin import SimAccount
from tests.integration.engine_harness import (
    Rig,
    build_config,
    create_accounts,
    follower_config,
    limit_buy,
    wait_until,
)
from tests.integration.sim_helpers import DhanRest

NIFTY_FUT = "52175"
LOT = 65
FREEZE = 1800
LARGEST_ORDER = 1755

HALF = follower_config("half", "1200000001", multiplier=0.5)
ONE_AND_HALF = follower_config("onehalf", "1200000002", multiplier=1.5)


def _start(sim: Simulator, tmp_path: Path) -> Rig:
    cfg = build_config(sim, tmp_path, [HALF, ONE_AND_HALF])
    freeze = {f"NSE_FNO:{NIFTY_FUT}": FREEZE}
    cfg = replace(cfg, engine=replace(cfg.engine, freeze_quantities=freeze))
    create_accounts(sim, cfg)
    engine = Engine(cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url)).start()
    wait_until(lambda: engine.ready()[0], 10.0, what="engine ready")
    leader = DhanClient(
        base_url=sim.rest_url,
        client_id=cfg.leader.client_id,
        access_token=cfg.leader.access_token.reveal(),
    )
    return Rig(sim=sim, cfg=cfg, engine=engine, leader=leader)


def _leader_rest(rig: Rig) -> DhanRest:
    leader = rig.cfg.leader
    return DhanRest(rig.sim, SimAccount(leader.client_id, leader.access_token.reveal()))


def _slice(rig: Rig, quantity: int, **fields: Any) -> list[str]:
    """The leader's ``POST /orders/slicing``: a resting NIFTY futures limit buy."""
    response = _leader_rest(rig).place(
        "/orders/slicing",
        exchangeSegment="NSE_FNO",
        securityId=NIFTY_FUT,
        productType="MARGIN",
        quantity=quantity,
        price=24900.0,
        **fields,
    )
    assert response.status_code == 200, response.text
    return [str(child["orderId"]) for child in response.json()]


def _orders(rig: Rig, client_id: str, *, live: bool = True) -> list[dict[str, Any]]:
    """The account's NIFTY futures orders (``live``: those not cancelled or rejected)."""
    return [
        o
        for o in rig.book(client_id)
        if o["securityId"] == NIFTY_FUT
        and (not live or o["orderStatus"] not in ("CANCELLED", "REJECTED"))
    ]


def _wait_totals(rig: Rig, expected: dict[str, int]) -> None:
    def totals() -> dict[str, int]:
        return {
            f.name: sum(o["quantity"] for o in _orders(rig, f.client_id)) for f in rig.cfg.followers
        }

    wait_until(lambda: totals() == expected, 10.0, what=f"follower totals {expected}")


@pytest.mark.parametrize("correlation_id", [None, "my-slice-1"], ids=["untagged", "tagged"])
def test_a_leaders_slicing_is_sized_as_a_whole_and_each_copy_fits_the_freeze_quantity(
    sim: Simulator, tmp_path: Path, correlation_id: str | None
) -> None:
    sim.admin.set_ltp("NSE_FNO", NIFTY_FUT, 25000.0)  # the limit rests below the market
    rig = _start(sim, tmp_path)
    try:
        tag = {} if correlation_id is None else {"correlationId": correlation_id}
        children = _slice(rig, 40 * LOT, **tag)
        assert len(children) == 2
        leader_total = sum(o["quantity"] for o in _orders(rig, rig.cfg.leader.client_id))
        assert leader_total == 40 * LOT
        # 0.5 x 40 lots = 20 lots (not 13 + 6 child by child); 1.5 x 40 = 60 lots
        _wait_totals(rig, {"half": 20 * LOT, "onehalf": 60 * LOT})
        for f in rig.cfg.followers:
            sizes = [o["quantity"] for o in _orders(rig, f.client_id)]
            assert all(q <= FREEZE and q % LOT == 0 for q in sizes), (f.name, sizes)
            assert all(o["price"] == 24900.0 for o in _orders(rig, f.client_id))
    finally:
        rig.stop()


def test_a_plain_order_whose_copy_exceeds_the_freeze_quantity_is_copied_as_several_orders(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.admin.set_ltp("NSE_FNO", NIFTY_FUT, 25000.0)
    rig = _start(sim, tmp_path)
    try:
        order = limit_buy(
            NIFTY_FUT,
            quantity=LARGEST_ORDER,
            price=24900.0,
            exchange_segment=ExchangeSegment.NSE_FNO,
            product_type=ProductType.MARGIN,
        )
        rig.leader.place_order(order)
        # 1.5 x 27 lots = 40 lots: one order of 27 lots and one of 13
        _wait_totals(rig, {"half": 13 * LOT, "onehalf": 40 * LOT})
        sizes = sorted(o["quantity"] for o in _orders(rig, ONE_AND_HALF.client_id))
        assert sizes == [13 * LOT, LARGEST_ORDER]
    finally:
        rig.stop()


def test_the_leaders_cancel_of_a_slicing_cancels_every_follower_order_of_it(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.admin.set_ltp("NSE_FNO", NIFTY_FUT, 25000.0)
    rig = _start(sim, tmp_path)
    try:
        children = _slice(rig, 40 * LOT)
        _wait_totals(rig, {"half": 20 * LOT, "onehalf": 60 * LOT})
        for child in children:
            rig.leader.cancel_order(child)

        def all_cancelled() -> bool:
            return all(
                o["orderStatus"] == "CANCELLED"
                for f in rig.cfg.followers
                for o in _orders(rig, f.client_id, live=False)
            )

        wait_until(all_cancelled, 10.0, what="every follower order cancelled")
        assert len(_orders(rig, ONE_AND_HALF.client_id, live=False)) == 3
    finally:
        rig.stop()


def test_the_leaders_re_price_of_a_child_reaches_every_follower_order_of_its_copy(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.admin.set_ltp("NSE_FNO", NIFTY_FUT, 25000.0)
    rig = _start(sim, tmp_path)
    try:
        first, _second = _slice(rig, 40 * LOT)
        _wait_totals(rig, {"half": 20 * LOT, "onehalf": 60 * LOT})
        moved = _leader_rest(rig).modify(first, orderType="LIMIT", price=24950.0)
        assert moved.status_code == 200, moved.text

        def repriced() -> list[tuple[int, float]]:
            return sorted((o["quantity"], o["price"]) for o in _orders(rig, ONE_AND_HALF.client_id))

        # the first child's copy is two orders (1,755 + 845); the second child's is 1,300
        want = [(13 * LOT, 24950.0), (20 * LOT, 24900.0), (LARGEST_ORDER, 24950.0)]
        wait_until(lambda: repriced() == want, 10.0, what="both pieces re-priced")
    finally:
        rig.stop()
