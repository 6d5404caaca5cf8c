"""The engine on Dhan's static-IP rule (simulator switch ``static_ip``): the leader and each
follower registered to its own loopback address and configured with ``egress.source_address``;
every copy lands, and each account's writes reached the simulator from its own address. A
follower configured with the wrong address is refused: paused alone, named in one log line,
counted, never retried in a loop; restarted with its registered address it places what it owes."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from copytrader.config import EgressConfig
from copytrader.engine import BrokerEndpoints, Engine
from dhan.rest import DhanClient
from dhansim import Simulator
from store.states import IntentState
from tests.integration.engine_harness import (
    LEADER_ID,
    follower_config,
    limit_buy,
    start_rig,
    wait_until,
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


def _register(sim: Simulator, client_id: str, address: str) -> None:
    registered = requests.post(
        f"{sim.rest_url}/ip/setIP",
        json={"dhanClientId": client_id, "ip": address, "ipFlag": "PRIMARY"},
        headers={"access-token": f"tok-{client_id}"},
        timeout=5,
    )
    assert registered.status_code == 200, registered.text


@pytest.mark.parametrize("error_code", ["DH-905", "DH-911"])
def test_a_follower_writing_from_an_unregistered_address_is_paused_alone_until_restarted_right(
    sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture, error_code: str
) -> None:
    good = [
        replace(
            follower_config(name, client_id, multiplier=1.0),
            egress=EgressConfig(source_address=ADDRESSES[client_id]),
        )
        for name, client_id in (("f1", "1200000001"), ("f2", "1200000002"), ("f3", "1200000003"))
    ]
    registered, wrong = "127.0.0.6", "127.0.0.7"
    f4 = replace(
        follower_config("f4", "1200000004", multiplier=2.0),
        egress=EgressConfig(source_address=wrong),
    )
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    sim.admin.set_switches(static_ip=True, static_ip_error_code=error_code)
    caplog.set_level(logging.ERROR, logger="actors.follower")
    rig = start_rig(sim, tmp_path, [*good, f4])
    restarted: Engine | None = None
    try:
        for client_id, address in ADDRESSES.items():
            if client_id != LEADER_ID:
                _register(sim, client_id, address)
        _register(sim, f4.client_id, registered)
        # the leader needs no static IP: it only reads and listens
        acks = [rig.leader.place_order(limit_buy(quantity=q, price=1500.0)) for q in (10, 7)]
        rig.wait_copies(acks[0].order_id, lambda _f, c: len(c) == 1, followers=good)

        def refused() -> float | None:
            return rig.engine.metrics.registry.get_sample_value(
                "copytrader_static_ip_refused_total", {"follower": "f4"}
            )

        wait_until(lambda: refused() == 1.0, what="f4's refusal counted")
        rig.wait_copies(acks[1].order_id, lambda _f, c: len(c) == 1, followers=good)
        # f4 owes both copies: the refused one back to PLANNED, the next one claimed for it
        # (SENDING, not sent while paused); neither REJECTED
        owed = {IntentState.PLANNED, IntentState.SENDING}
        wait_until(
            lambda: [i.state in owed for i in rig.engine.journal.intents("f4")] == [True] * 2,
            what="f4's two intents owed",
        )
        assert IntentState.PLANNED in {i.state for i in rig.engine.journal.intents("f4")}
        f4_writes = [
            e
            for e in sim.admin.journal(kind="rest")
            if e["account"] == f4.client_id and e["method"] in ("POST", "PUT", "DELETE")
            and e["endpoint"] != "POST /ip/setIP"
        ]  # fmt: skip
        assert [(e["remote"], e["errorCode"]) for e in f4_writes] == [(wrong, error_code)]
        assert refused() == 1.0
        assert rig.book(f4.client_id) == []
        lines = [r.getMessage() for r in caplog.records if "static IP" in r.getMessage()
                 or "source address" in r.getMessage()]  # fmt: skip
        assert len(lines) == 1, lines
        assert f4.client_id in lines[0] and wrong in lines[0] and "f4" in lines[0]
        assert "tok-" not in caplog.text
        # the others keep copying while f4 is paused
        leader_cancel = rig.leader.cancel_order(acks[1].order_id)
        assert leader_cancel is not None
        rig.wait_copies(
            acks[1].order_id,
            lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "CANCELLED",
            followers=good,
        )
        # the fix: f4's egress set to its registered address, then a restart (egress is not
        # reloadable): it places the copy it still owes, once, from that address
        rig.engine.stop()
        fixed = replace(f4, egress=EgressConfig(source_address=registered))
        cfg = replace(rig.cfg, followers=(*good, fixed))
        restarted = Engine(cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url))
        restarted.start()
        rig.wait_copies(
            acks[0].order_id,
            lambda _f, c: len(c) == 1 and c[0]["quantity"] == 20,
            followers=[fixed],
            timeout_s=15.0,
        )
        wait_until(lambda: restarted.journal.unresolved_count() == 0, what="settled")
        assert [o["correlationId"] for o in rig.book(f4.client_id)] == [
            c["correlationId"] for c in rig.follower_copies(fixed, acks[0].order_id)
        ]  # the cancelled leader order is not copied after the fact
        served = {
            e["remote"]
            for e in sim.admin.journal(kind="rest")
            if e["account"] == f4.client_id and e["method"] == "POST" and e["status"] == 200
            and e["endpoint"] == "POST /orders"
        }  # fmt: skip
        assert served == {registered}
    finally:
        if restarted is not None:
            restarted.stop()
            rig.leader.close()
        else:
            rig.stop()
