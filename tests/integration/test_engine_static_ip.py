"""The engine on Dhan's static-IP rule (simulator switch ``static_ip``): the leader and each
follower registered to its own loopback address and configured with ``egress.source_address``;
every copy lands, and each account's writes reached the simulator from its own address."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import requests

from copytrader.config import EgressConfig
from dhan.rest import DhanClient
from dhansim import Simulator
from tests.integration.engine_harness import (
    LEADER_ID,
    follower_config,
    limit_buy,
    start_rig,
)

#: Linux routes all of 127/8 to lo: each account gets an address of its own.
ADDRESSES = {LEADER_ID: "127.0.0.2", "1200000001": "127.0.0.3", "1200000002": "127.0.0.4",
             "1200000003": "127.0.0.5"}  # fmt: skip


def test_with_static_ip_every_copy_lands_from_each_followers_own_registered_address(
    sim: Simulator, tmp_path: Path
) -> None:
    followers = [
        replace(
            follower_config(name, client_id, multiplier=1.0),
            egress=EgressConfig(source_address=ADDRESSES[client_id]),
        )
        for name, client_id in (("f1", "1200000001"), ("f2", "1200000002"), ("f3", "1200000003"))
    ]
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    sim.admin.set_switches(static_ip=True)
    rig = start_rig(sim, tmp_path, followers)
    leader = DhanClient(
        base_url=sim.rest_url,
        client_id=LEADER_ID,
        access_token=f"tok-{LEADER_ID}",
        source_address=ADDRESSES[LEADER_ID],
    )
    try:
        for client_id, address in ADDRESSES.items():
            registered = requests.post(
                f"{sim.rest_url}/ip/setIP",
                json={"dhanClientId": client_id, "ip": address, "ipFlag": "PRIMARY"},
                headers={"access-token": f"tok-{client_id}"},
                timeout=5,
            )
            assert registered.status_code == 200, registered.text
        refused = requests.post(  # the leader's token, from 127.0.0.1
            f"{sim.rest_url}/orders",
            json={"dhanClientId": LEADER_ID},
            headers={"access-token": f"tok-{LEADER_ID}"},
            timeout=5,
        )
        assert refused.status_code == 400 and "Invalid IP" in refused.text
        acks = [leader.place_order(limit_buy(quantity=q, price=1500.0)) for q in (10, 7)]
        for ack in acks:
            rig.wait_copies(ack.order_id, lambda _f, copies: len(copies) == 1)
        leader.cancel_order(acks[1].order_id)
        rig.wait_copies(
            acks[1].order_id,
            lambda _f, copies: len(copies) == 1 and copies[0]["orderStatus"] == "CANCELLED",
        )
        writes = [
            e
            for e in sim.admin.journal(kind="rest")
            if e["method"] in ("POST", "PUT", "DELETE") and e["endpoint"] != "POST /ip/setIP"
        ]
        served = {(e["account"], e["remote"]) for e in writes if e["status"] in (200, 202)}
        assert served == set(ADDRESSES.items())  # each account wrote from its own address only
        assert [(e["account"], e["remote"]) for e in writes if e["errorCode"]] == [
            (LEADER_ID, "127.0.0.1")  # the deliberate write from elsewhere, refused
        ]
    finally:
        leader.close()
        rig.stop()
