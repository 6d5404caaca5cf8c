"""engine.max_orders_per_second against dhansim: a burst of leader orders reaches a follower's
account at no more than the configured rate in any rolling second, stamped by the simulator;
each copy's audit record carries the order, the account's client id and its algo ID."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from dhansim import Simulator
from tests.integration.engine_harness import (
    bo_buy,
    follower_config,
    limit_buy,
    move_leader_stop,
    start_rig,
    wait_until,
)

NS = 1_000_000_000


def most_in_any_second(stamps_ns: list[int]) -> int:
    """The largest number of stamps inside any rolling one-second window."""
    stamps_ns = sorted(stamps_ns)
    most, lo = 0, 0
    for hi, t in enumerate(stamps_ns):
        while t - stamps_ns[lo] >= NS:
            lo += 1
        most = max(most, hi - lo + 1)
    return most


@pytest.mark.parametrize(
    ("max_orders_per_second", "algo_id", "burst"),
    [
        (None, None, 27),  # the default, 9: below the exchange's algo threshold
        (4, None, 12),
        (10, "ALGO-7", 30),  # 10 needs the account's registered algo ID (config checks it)
    ],
)  # fmt: skip
def test_a_burst_of_leader_orders_reaches_a_follower_at_no_more_than_the_configured_rate(
    sim: Simulator,
    tmp_path: Path,
    max_orders_per_second: int | None,
    algo_id: str | None,
    burst: int,
) -> None:
    cap = max_orders_per_second or 9
    f = replace(follower_config("f1", "1900000001"), algo_id=algo_id)
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    # the leader's own burst exceeds Dhan's 10/s; the follower's stamps are what is measured
    # (with the simulator's limits off, a follower sending faster would be seen, not refused)
    sim.admin.set_switches(rate_limits=False)
    rig = start_rig(sim, tmp_path, [f], max_orders_per_second=max_orders_per_second)
    try:
        start_ns = time.monotonic_ns()  # the simulator journal's clock (docs/simulator.md)
        ids: list[str] = []
        lock = threading.Lock()

        def place(i: int) -> None:
            oid = rig.leader.place_order(limit_buy(quantity=1, price=1400.0 + i)).order_id
            with lock:
                ids.append(oid)

        # several threads: the leader's orders land well inside one second
        workers = [
            threading.Thread(target=lambda k=k: [place(i) for i in range(k, burst, 3)])
            for k in range(3)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        leader_span_s = (time.monotonic_ns() - start_ns) / NS
        for oid in ids:
            rig.wait_copies(oid, lambda _f, copies: len(copies) == 1, timeout_s=20.0)

        writes = [
            r["t_ns"]
            for r in sim.admin.journal(since_ns=start_ns, kind="rest", account=f.client_id)
            if r["endpoint"] == "POST /orders"
        ]
        assert len(writes) == burst  # each copy placed once
        assert most_in_any_second(writes) <= cap, sorted(writes)
        # it was the cap that spread them: the leader's burst was faster than the cap
        spread_s = (max(writes) - min(writes)) / NS
        batches = -(-burst // cap)  # ceil
        assert leader_span_s < spread_s
        assert spread_s >= (batches - 1) * 1.0, (spread_s, leader_span_s)
        print(f"cap {cap}/s: {burst} copies over {spread_s:.2f} s (leader {leader_span_s:.2f} s)")
    finally:
        rig.stop()


def test_each_copys_audit_record_carries_the_order_the_client_id_and_the_algo_id(
    sim: Simulator, tmp_path: Path
) -> None:
    tagged = replace(follower_config("f1", "1900000001"), algo_id="ALGO-7")
    plain = follower_config("f2", "1900000002")
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    rig = start_rig(sim, tmp_path, [tagged, plain])
    try:
        oid = rig.leader.place_order(limit_buy(quantity=3, price=1450.0)).order_id
        rig.wait_copies(oid, lambda _f, copies: len(copies) == 1)
        trail = Path(rig.cfg.engine.audit_path)

        def records() -> list[dict]:
            if not trail.exists():
                return []
            rows = [json.loads(line) for line in trail.read_text().splitlines()]
            # the copies' records, and the ack (broker order id) of each
            planned = [r for r in rows if r["kind"] in ("intent_planned", "intent_claimed")]
            acked = [r for r in rows if r["payload"].get("broker_order_id")]
            return rows if len(planned) == 2 and len(acked) == 2 else []

        rows = wait_until(records, what="both copies and their acks in the audit trail")
        text = trail.read_text()
        for token in ("tok-1100000000", "tok-1900000001", "tok-1900000002"):
            assert token not in text
        by_account = {
            r["account"]: r for r in rows if r["kind"] in ("intent_planned", "intent_claimed")
        }
        order = {
            "transaction_type": "BUY",
            "exchange_segment": "NSE_EQ",
            "product_type": "INTRADAY",
            "order_type": "LIMIT",
            "security_id": "1333",
            "quantity": 3,
            "price": 1450.0,
        }
        for name, client_id in (("f1", "1900000001"), ("f2", "1900000002")):
            payload = by_account[name]["payload"]
            assert by_account[name]["at"]  # when
            assert payload["leader_order_id"] == oid
            assert payload["client_id"] == client_id
            assert {k: payload["order"][k] for k in order} == order
        assert by_account["f1"]["payload"]["algo_id"] == "ALGO-7"
        assert "algo_id" not in by_account["f2"]["payload"]
        # the outcome: the broker order id of each copy, under the same correlation id
        for name in ("f1", "f2"):
            cid = by_account[name]["payload"]["correlation_id"]
            acks = [
                r
                for r in rows
                if r["account"] == name
                and r["payload"].get("correlation_id") == cid
                and r["payload"].get("broker_order_id")
            ]
            assert acks, name
        rules = [r for r in rows if r["kind"] == "order_rate_rules"]
        assert rules and rules[0]["payload"] == {
            "max_orders_per_second": 9,
            "algo_ids": {"f1": "ALGO-7"},
        }
    finally:
        rig.stop()


def test_the_engines_bracket_leg_writes_are_audited_with_the_leg_order_and_its_new_level(
    sim: Simulator, tmp_path: Path
) -> None:
    from dhan.correlation import correlation_id_for

    sim.admin.set_switches(broker_oco=False)  # the engine cancels the other leg itself
    sim.admin.set_ltp("NSE_EQ", "2885", 1600.0)
    f = follower_config("b1", "1300000001")
    rig = start_rig(sim, tmp_path, [f])
    try:
        entry = rig.leader.place_order(bo_buy())
        cid = correlation_id_for(f.name, entry.order_id)

        def legs() -> dict[str, dict]:
            return {
                o["legName"]: o
                for o in rig.book(f.client_id)
                if o.get("correlationId") == cid
                and o.get("legName") in ("TARGET_LEG", "STOP_LOSS_LEG")
            }

        wait_until(lambda: len(legs()) == 2, what="the follower's exit legs")
        move_leader_stop(rig, 1595.0)
        wait_until(lambda: legs()["STOP_LOSS_LEG"]["triggerPrice"] == 1595.0, what="stop moved")
        sim.admin.set_ltp("NSE_EQ", "2885", 1625.0)  # the target fills; the engine cancels the stop
        wait_until(lambda: legs()["STOP_LOSS_LEG"]["orderStatus"] == "CANCELLED", what="OCO")
        follower_stop = legs()["STOP_LOSS_LEG"]["orderId"]
        trail = Path(rig.cfg.engine.audit_path)

        def calls() -> list[dict]:
            if not trail.exists():
                return []
            rows = [json.loads(line) for line in trail.read_text().splitlines()]
            found = [r["payload"] for r in rows if r["kind"] == "bracket_leg_call"]
            return found if {c["action"] for c in found} >= {"modify", "cancel"} else []

        found = wait_until(calls, what="the leg modify and cancel in the audit trail")
        modify = next(c for c in found if c["action"] == "modify")
        cancel = next(c for c in found if c["action"] == "cancel")
        assert modify["leg"] == cancel["leg"] == "STOP_LOSS_LEG"
        assert modify["order_id"] == cancel["order_id"] == follower_stop
        assert modify["correlation_id"] == cancel["correlation_id"] == cid
        assert modify["level"] == 1595.0 and modify["outcome"] == "ok"
        assert cancel["outcome"] == "ok" and "level" not in cancel
    finally:
        rig.stop()
