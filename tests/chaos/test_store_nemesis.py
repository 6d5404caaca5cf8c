"""Nemesis on the store: PostgreSQL is stopped mid-stream while a random leader trades.

The journal lives on a PostgreSQL cluster this test owns; the nemesis stops the server
(``pg_ctl stop -m fast``: every connection, the lease's included, is dropped), holds it down,
starts it again, several times. The engine must pause instead of exiting, quarantine no
follower, and after the last outage settle with every invariant intact: lost = duplicated = 0
(``reconcile_policy: copy_all``, so leader orders that opened and filled during an outage are
copied too).
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from pathlib import Path

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
from tests.integration.pg_cluster import own_cluster

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(420)]


def test_postgresql_stopped_mid_stream_loses_and_duplicates_no_follower_order(
    sim: Simulator, tmp_path: Path, seed: int, soak: bool
) -> None:
    rng = random.Random(seed)
    with own_cluster() as cluster:
        followers = chaos_followers(4, prefix="s")
        cfg = chaos_config(sim, tmp_path, followers)
        cfg = dataclasses.replace(cfg, store=dataclasses.replace(cfg.store, url=cluster.url))
        create_accounts(sim, cfg, balances=chaos_balances(followers))
        engine = Engine(cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url)).start()
        client = DhanClient(
            base_url=sim.rest_url,
            client_id=LEADER_ID,
            access_token=cfg.leader.access_token.reveal(),
        )
        leader = RandomLeader(
            client,
            lambda sec, ltp: sim.admin.set_ltp("NSE_EQ", sec, ltp),
            seed,
            weights=DEFAULT_WEIGHTS,
            pacer=RatePacer(((1.0, 2), (60.0, 120))),
        )
        trading = threading.Event()
        failures: list[BaseException] = []

        def trade() -> None:
            try:
                while trading.is_set():
                    leader.step()
            except BaseException as exc:  # reported by the test thread
                failures.append(exc)

        script = threading.Thread(target=trade, name="chaos-leader", daemon=True)
        try:
            wait_until(lambda: engine.ready()[0], 15.0, what="engine ready")
            leader.open_market()
            trading.set()
            script.start()
            outages = 4 if soak else 2
            for n in range(outages):
                calm_s = rng.uniform(2.0, 4.0)
                down_s = rng.uniform(15.0, 25.0) if soak else rng.uniform(4.0, 8.0)
                wait_for(lambda: bool(failures), calm_s, "the leader trading")
                print(f"chaos: nemesis {n + 1}/{outages}: PostgreSQL down for {down_s:.1f} s")
                cluster.stop()
                stopped = time.monotonic()
                wait_until(
                    lambda: not engine.ready()[0] and "store" in engine.ready()[1],
                    10.0,
                    what="the engine paused for the store",
                )
                # the outage lasts down_s while the leader trades; the engine giving up ends it
                left_s = down_s - (time.monotonic() - stopped)
                assert not engine.gave_up.wait(max(left_s, 0.0)), engine.give_up_reason
                cluster.start()
                wait_until(lambda: engine.ready()[0], 30.0, what="the engine resumed")
            wait_for(lambda: len(leader.placed) >= 20 or bool(failures), 120.0, "20 orders")
            trading.clear()
            script.join(30.0)
            assert not failures, failures
            exit_brackets(leader, sim, followers, timeout_s=75.0)
            print(f"chaos: leader placed {len(leader.placed)} orders: {leader.counts}")
            report = settle_and_check(sim, LEADER_ID, followers, engine.journal, timeout_s=90.0)
            assert not engine.gave_up.is_set(), engine.give_up_reason
            assert engine.journal.quarantined_followers() == []
            assert engine.metrics.store_outages._value.get() >= outages
            assert_clean(report)
        finally:
            trading.clear()
            engine.stop(timeout_s=STOP_TIMEOUT_S)
            client.close()
