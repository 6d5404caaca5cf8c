"""A leader's forever order (GTT) on the simulator: the order its trigger creates is copied
once, like any other leader order; the forever order itself is not mirrored."""

from __future__ import annotations

from pathlib import Path

import requests

from dhansim import Simulator
from tests.integration.engine_harness import LEADER_ID, follower_config, start_rig, wait_until


def test_the_order_a_leader_forever_order_creates_is_copied_once_and_the_gtt_is_not(
    sim: Simulator, tmp_path: Path
) -> None:
    followers = [
        follower_config("f1", "1200000001", multiplier=1.0),
        follower_config("f2", "1200000002", multiplier=2.0),
    ]
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    rig = start_rig(sim, tmp_path, followers, leader_reconcile_s=0.05)
    headers = {"access-token": f"tok-{LEADER_ID}", "client-id": LEADER_ID}
    try:
        placed = requests.post(
            f"{sim.rest_url}/forever/orders",
            json={
                "dhanClientId": LEADER_ID,
                "correlationId": "gtt-1",
                "orderFlag": "SINGLE",
                "transactionType": "BUY",
                "exchangeSegment": "NSE_EQ",
                "productType": "CNC",
                "orderType": "LIMIT",
                "validity": "DAY",
                "securityId": "1333",
                "quantity": 4,
                "disclosedQuantity": 0,
                "price": 1500.0,
                "triggerPrice": 1550.0,
            },
            headers=headers,
            timeout=5,
        )
        assert placed.status_code == 200, placed.text
        gtt_id = placed.json()["orderId"]
        # Periodic reconciles of the leader's book pass meanwhile and find nothing to copy.
        placed_seq = sim.admin.journal(kind="rest")[-1]["seq"]

        def leader_book_reads() -> int:
            entries = sim.admin.journal(since_seq=placed_seq, kind="rest", account=LEADER_ID)
            return sum(e["endpoint"] == "GET /orders" for e in entries)

        wait_until(lambda: leader_book_reads() >= 3, what="three leader reconciles")
        for follower in followers:
            assert rig.book(follower.client_id) == []
            forever = requests.get(
                f"{sim.rest_url}/forever/orders",
                headers={"access-token": f"tok-{follower.client_id}"},
                timeout=5,
            ).json()
            assert forever == []  # the GTT itself is not mirrored
        sim.admin.set_ltp("NSE_EQ", "1333", 1549.0)  # falls to the trigger: the GTT fires
        [created] = wait_until(lambda: rig.book(LEADER_ID), what="the GTT's order")
        assert created["orderId"] != gtt_id
        expected = {"f1": 4, "f2": 8}
        rig.wait_copies(
            created["orderId"],
            lambda f, copies: (
                len(copies) == 1
                and (copies[0]["quantity"], copies[0]["price"], copies[0]["productType"])
                == (expected[f.name], 1500.0, "CNC")
            ),
        )
        for follower in followers:  # once, and nothing else
            assert len(rig.book(follower.client_id)) == 1
    finally:
        rig.stop()
