"""Twenty followers with mixed sizing follow a scripted leader; every book ends exactly right.

The leader places, modifies, partially fills, cancels and exits orders of the plain types and
a cover order. Afterwards each follower's book is compared with the book the leader's actions
imply (quantities, prices, triggers, statuses), and no follower order may lack a leader cause.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from copytrader.config import FollowerConfig
from dhan.codes import OrderType, ProductType, TransactionType, Validity
from dhan.correlation import correlation_id_for
from dhan.errors import RateLimited
from dhan.models import ModifyRequest
from dhan.rest import DhanClient
from dhansim import Simulator
from tests.integration.engine_harness import follower_config, limit_buy, start_rig, wait_until


class PacedLeader:
    """The scripted leader's client, kept within Dhan's 10 order calls a second.

    The script waits for the copies between its steps; with copies this fast its own calls
    reached the simulator's limit (DH-904, nothing placed) -- a call refused so is made again.
    """

    def __init__(self, client: DhanClient) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        call = getattr(self.client, name)

        def paced(*args: Any, **kwargs: Any) -> Any:
            def attempt() -> tuple[Any] | None:
                try:
                    return (call(*args, **kwargs),)
                except RateLimited:
                    return None  # refused before anything was placed: the window frees up

            return wait_until(attempt, timeout_s=5.0, interval_s=0.1, what=f"leader {name}")[0]

        return paced


def scaled(f: FollowerConfig, qty: int) -> int:
    if f.sizing.mode == "fixed":
        return f.sizing.quantity
    return math.floor(qty * f.sizing.multiplier + 1e-9)


@pytest.mark.parametrize("mpp_as_limit", [True, False], ids=["mpp_as_limit", "mpp_as_market"])
def test_twenty_followers_end_with_exactly_the_books_the_leader_implies(
    sim: Simulator, tmp_path: Path, mpp_as_limit: bool
) -> None:
    sim.admin.set_switches(mpp_show_as_limit=mpp_as_limit)
    multipliers = [1.0, 2.0, 0.5, 1.5, 3.0]
    followers = [
        follower_config(f"m{i}", f"15000000{i:02d}", multiplier=multipliers[i % 5])
        for i in range(16)
    ] + [follower_config(f"x{i}", f"15000001{i:02d}", fixed=3 + i) for i in range(4)]
    for sec, ltp in (("1333", 1600.0), ("2885", 2400.0), ("11536", 3500.0), ("1594", 1500.0)):
        sim.admin.set_ltp("NSE_EQ", sec, ltp)
    rig = start_rig(sim, tmp_path, followers)
    leader = PacedLeader(rig.leader)
    try:
        expect: dict[str, dict[str, Any]] = {}  # leader order id -> expected follower order

        # 1. a resting limit, then modified (price and quantity)
        a = leader.place_order(limit_buy("1333", quantity=10, price=1500.0)).order_id
        rig.wait_copies(a, lambda _f, c: len(c) == 1)
        leader.modify_order(
            a,
            ModifyRequest(
                OrderType.LIMIT,
                quantity=12,
                price=1510.0,
                trigger_price=None,
                validity=Validity.DAY,
            ),
        )
        expect[a] = {"qty": 12, "price": 1510.0, "status": "PENDING"}

        # 2. placed then cancelled
        b = leader.place_order(limit_buy("1333", quantity=6, price=1400.0)).order_id
        rig.wait_copies(b, lambda _f, c: len(c) == 1)
        leader.cancel_order(b)
        expect[b] = {"qty": 6, "status": "CANCELLED"}

        # 3. a market buy (fills at once), and 4. the exit that closes it
        c = leader.place_order(
            limit_buy("11536", quantity=4, order_type=OrderType.MARKET, price=0.0)
        ).order_id
        expect[c] = {"qty": 4, "status": "TRADED"}
        rig.wait_copies(c, lambda _f, cs: len(cs) == 1 and cs[0]["orderStatus"] == "TRADED")
        d = leader.place_order(
            limit_buy(
                "11536",
                quantity=4,
                order_type=OrderType.MARKET,
                price=0.0,
                transaction_type=TransactionType.SELL,
            )
        ).order_id
        expect[d] = {"qty": 4, "status": "TRADED"}

        # 5. a stop-loss-market sell, its trigger then moved
        e = leader.place_order(
            limit_buy(
                "2885",
                quantity=5,
                order_type=OrderType.STOP_LOSS_MARKET,
                price=0.0,
                trigger_price=2300.0,
                transaction_type=TransactionType.SELL,
                product_type=ProductType.INTRADAY,
            )
        ).order_id
        rig.wait_copies(e, lambda _f, cs: len(cs) == 1)
        leader.modify_order(
            e,
            ModifyRequest(
                OrderType.STOP_LOSS_MARKET,
                quantity=5,
                price=None,
                trigger_price=2310.0,
                validity=Validity.DAY,
            ),
        )
        expect[e] = {"qty": 5, "trigger": 2310.0, "status": "PENDING"}

        # 6. partly filled, then the leader cancels the rest: copies shrink to the traded part
        g = leader.place_order(limit_buy("1594", quantity=10, price=1450.0)).order_id
        rig.wait_copies(g, lambda _f, cs: len(cs) == 1)
        sim.admin.fill(g, quantity=4)
        leader.cancel_order(g)
        expect[g] = {"qty": 4, "status": "PENDING", "min_qty": True}

        # 7. a cover order (entry + compulsory stop in triggerPrice)
        h = leader.place_order(
            limit_buy(
                "1333",
                quantity=2,
                order_type=OrderType.MARKET,
                price=0.0,
                product_type=ProductType.CO,
                trigger_price=1580.0,
            )
        ).order_id
        expect[h] = {"qty": 2, "status": "TRADED"}

        def book_ok(f: FollowerConfig) -> bool:
            book = rig.book(f.client_id)
            entries = [o for o in book if o.get("legName") in (None, "", "ENTRY_LEG", "NA")]
            by_cid = {o["correlationId"]: o for o in entries}
            if len(by_cid) != len(entries):
                return False  # two orders with one correlationId: a duplicate
            for oid, want in expect.items():
                o = by_cid.get(correlation_id_for(f.name, oid))
                qty = scaled(f, want["qty"])
                if o is None or o["quantity"] != qty or o["orderStatus"] != want["status"]:
                    return False
                if "price" in want and o["price"] != want["price"]:
                    return False
                if "trigger" in want and o["triggerPrice"] != want["trigger"]:
                    return False
            return len(by_cid) == len(expect)  # nothing without a leader cause

        for f in followers:
            wait_until(lambda f=f: book_ok(f), 20.0, what=f"book of {f.name}")
        wait_until(lambda: rig.engine.journal.unresolved_count() == 0, 10.0, what="settled")
    finally:
        rig.stop()
