"""Nemesis on the broker side: dhansim's faults cycle while a random leader trades.

Phases, in a seeded order: latency spikes, 5xx (JSON and gateway HTML), read timeouts held
longer than the engine's read timeout (executed or not), accept-then-drop, DH-904 storms on
the followers' REST calls; malformed frames and a stall on the leader's order socket; and the
leader socket cut outright. After the last phase the faults are cleared and the engine must
settle with every invariant intact.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

import pytest

from copytrader.chaos import DEFAULT_WEIGHTS, RandomLeader, RatePacer
from copytrader.engine import BrokerEndpoints, Engine
from dhan.rest import DhanClient
from dhansim import Simulator
from tests.chaos.rig import (
    STOP_TIMEOUT_S,
    assert_clean,
    chaos_balances,
    chaos_config,
    chaos_followers,
    exit_brackets,
    settle_and_check,
    wait_for,
)
from tests.integration.engine_harness import LEADER_ID, create_accounts, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

#: The engine's read timeout in the chaos config is 1 s: held requests outlast it.
HOLD_S = 1.6
_WRITES = ("POST /orders", "PUT /orders/{order_id}", "DELETE /orders/{order_id}")


def _on_writes(**faults: Any) -> dict[str, Any]:
    return {
        "per_endpoint": {endpoint: dict(faults) for endpoint in (*_WRITES, "POST /super/orders")}
    }


def phases(followers: list[str]) -> dict[str, dict[str, Any] | None]:
    """Name -> fault plan (``None``: cut the order sockets instead)."""
    rest = {"accounts": followers}
    return {
        "latency spike": {**rest, "latency_ms": 400, "jitter_ms": 300},
        "5xx json": {**rest, **_on_writes(error_5xx_p=0.4)},
        "5xx gateway html": {**rest, "error_5xx_p": 0.3, "error_5xx_html": True},
        "read timeout, not executed": {**rest, **_on_writes(timeout_p=0.4, timeout_hold_s=HOLD_S)},
        "read timeout, executed": {
            **rest,
            **_on_writes(timeout_p=0.4, timeout_hold_s=HOLD_S, timeout_after_processing=True),
        },
        "lookup timeouts": {
            **rest,
            "per_endpoint": {
                "GET /orders/external/{correlation_id}": {
                    "timeout_p": 0.5,
                    "timeout_hold_s": HOLD_S,
                },
                "POST /orders": {"accept_then_drop_p": 0.3},
            },
        },
        "accept then drop": {**rest, **_on_writes(accept_then_drop_p=0.4)},
        "DH-904 storm": {**rest, "rate_limit_storm_p": 0.5},
        "malformed leader frames": {"accounts": [LEADER_ID], "socket_malformed_p": 0.4},
        "leader socket stall": {"accounts": [LEADER_ID], "socket_stall": True},
        "everyone slow and failing": {"latency_ms": 150, "jitter_ms": 100, "error_5xx_p": 0.1},
        "leader socket cut": None,
    }


def test_broker_faults_of_every_kind_lose_and_duplicate_no_follower_order(
    sim: Simulator, tmp_path: Path, seed: int, soak: bool
) -> None:
    rng = random.Random(seed)
    sim.admin.set_switches(broker_oco=False, rms_reject_as_order=True)
    followers = chaos_followers(5, prefix="n")
    cfg = chaos_config(sim, tmp_path, followers)
    create_accounts(sim, cfg, balances=chaos_balances(followers))
    engine = Engine(cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url)).start()
    client = DhanClient(
        base_url=sim.rest_url, client_id=LEADER_ID, access_token=cfg.leader.access_token.reveal()
    )
    leader = RandomLeader(
        client,
        lambda sec, ltp: sim.admin.set_ltp("NSE_EQ", sec, ltp),
        seed,
        weights={**DEFAULT_WEIGHTS, "bo": 3, "co": 2, "super": 3},
        pacer=RatePacer(((1.0, 3), (60.0, 180))),
    )
    trading = threading.Event()
    failures: list[BaseException] = []
    failed = threading.Event()  #: the leader script died: end the phase at once

    def trade() -> None:
        try:
            while trading.is_set():
                leader.step()
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)
            failed.set()

    script = threading.Thread(target=trade, name="chaos-leader", daemon=True)
    try:
        wait_until(lambda: engine.ready()[0], 15.0, what="engine ready")
        leader.open_market()
        trading.set()
        script.start()
        plan = phases([f.client_id for f in followers])
        names = list(plan) * (3 if soak else 1)
        rng.shuffle(names)
        for name in names:
            hold_s = rng.uniform(1.5, 3.0)
            faults = plan[name]
            print(f"chaos: nemesis {name} for {hold_s:.1f} s")
            if faults is None:
                sim.admin.drop_order_sockets()
            else:
                sim.admin.set_faults(faults)
            failed.wait(hold_s)  # the phase lasts hold_s, or until the script fails
            # a stall may end with the connection alive and frames lost: the periodic leader
            # reconcile (chaos config: every 2 s) finds those orders
            sim.admin.clear_faults()
        # the leader trades on (faults cleared) until it has placed enough orders: a bracket
        # exit waits for its copies, which the faults may have held up
        wait_for(lambda: len(leader.placed) >= 30 or bool(failures), 120.0, "30 leader orders")
        trading.clear()
        script.join(30.0)
        assert not failures, failures
        # cancels are granted first and against Dhan's full limits even while a DH-904 storm
        # has slowed an account down (actors.rate_windows), so one-cancels-other does not wait
        exit_brackets(leader, sim, followers, timeout_s=75.0, journal=engine.journal)
        print(f"chaos: leader placed {len(leader.placed)} orders: {leader.counts}")
        report = settle_and_check(sim, LEADER_ID, followers, engine.journal, timeout_s=90.0)
        assert not engine.gave_up.is_set(), engine.give_up_reason
        assert engine.feed_status.connects >= 2, "the leader socket was never cut"
        assert len(leader.placed) >= 30
        assert_clean(report)
    finally:
        trading.clear()
        sim.admin.clear_faults()
        engine.stop(timeout_s=STOP_TIMEOUT_S)
        client.close()
