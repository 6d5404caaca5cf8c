"""Actor kills: a seeded fault plan kills every actor type while a random leader trades.

Ten followers copy >= 200 leader orders of every type (limit, market, stop, stop-limit,
bracket, cover, super; modifies and cancels). Meanwhile a :class:`FaultPlan` kills, at seeded
hits of their fault points, FollowerActors (before / after a place, before a modify and a
cancel), BracketLegActors, the LeaderFeedActor (on an update and before a reconcile), the
RateLimiterActor, the AuditActor and the leader's supervisor. Then the faults stop, the engine
settles, and the books must hold every invariant.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from copytrader.chaos import DEFAULT_WEIGHTS, RandomLeader, RatePacer
from copytrader.engine import BrokerEndpoints, Engine
from dhan.rest import DhanClient
from supervision.faults import FaultPlan, Faults
from tests.chaos.rig import (
    STOP_TIMEOUT_S,
    assert_clean,
    chaos_balances,
    chaos_config,
    chaos_followers,
    exit_brackets,
    settle_and_check,
)
from tests.chaos.sim_process import ExternalSim, external_sim
from tests.integration.engine_harness import LEADER_ID, create_accounts, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

LEADER_SUPERVISOR = "supervisor.handle_exit:root/leader"
#: Fewer brackets than the default mix: each open one polls its follower's book.
WEIGHTS = {**DEFAULT_WEIGHTS, "bo": 2, "co": 1, "super": 2}

#: point -> (kills, lowest hit, highest hit). The hit ranges sit well inside what a 200-order
#: run reaches while the plan is armed, so every kill happens. Root's children (audit,
#: limiter, the leader's supervisor) restart at most 3 times in 60 s before the root gives up,
#: so each is killed once; the 9 follower kills may all hit one follower, whose restart limit
#: the chaos config raises above that (``tests.chaos.rig.chaos_config``).
KILLS: dict[str, tuple[int, int, int]] = {
    "follower.before_send": (3, 20, 400),
    "follower.after_send": (2, 20, 400),
    "follower.before_journal_acks": (2, 5, 100),
    "follower.before_modify": (1, 3, 25),
    "follower.before_cancel": (1, 3, 30),
    # a run with few brackets sends few legs: seed 1422479517 (its leader's own super legs
    # both fill with broker OCO off, so its next supers are exits its followers skip) sent <17
    "bracket.before_send": (2, 2, 12),
    "leader_feed.on_update": (2, 20, 200),
    # the limiter only sees calls that do not fit the windows at once, and bracket legs
    "rate_limiter.on_request": (1, 3, 30),
    "audit.before_drain": (1, 3, 40),
}


def kill_plan(seed: int) -> FaultPlan:
    rng = random.Random(seed)
    at_hits: dict[str, list[int]] = {
        point: sorted(rng.sample(range(low, high + 1), kills))
        for point, (kills, low, high) in KILLS.items()
    }
    # the first feed crash takes its supervisor down too (root restarts that subtree); the
    # feed's second connect then crashes before its reconcile
    at_hits[LEADER_SUPERVISOR] = [1]
    at_hits["leader_feed.before_reconcile"] = [2]
    return FaultPlan(seed, at_hits=at_hits)


def test_killing_every_actor_type_mid_stream_loses_and_duplicates_no_follower_order(
    tmp_path: Path, seed: int, soak: bool
) -> None:
    # the simulator in its own process: the engine gets this interpreter to itself; broker
    # OCO off, so the engine's own one-cancels-other is what keeps brackets single-exit
    # (a refusal for funds is a REJECTED order in the book, as Dhan's RMS shows one)
    with external_sim(seed, random_walk=False, broker_oco=False, rms_reject_as_order=True) as sim:
        run_actor_kills(sim, tmp_path, seed, n_orders=600 if soak else 200)


def run_actor_kills(sim: ExternalSim, tmp_path: Path, seed: int, n_orders: int) -> None:
    followers = chaos_followers(10)
    cfg = chaos_config(sim, tmp_path, followers)
    create_accounts(sim, cfg, balances=chaos_balances(followers))
    faults = Faults()
    engine = Engine(
        cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url), faults=faults
    ).start()
    client = DhanClient(
        base_url=sim.rest_url,
        client_id=LEADER_ID,
        access_token=cfg.leader.access_token.reveal(),
    )
    try:
        wait_until(lambda: engine.ready()[0], 15.0, what="engine ready")
        plan = kill_plan(seed)
        print(f"chaos: kill plan {dict(plan.at_hits)}")
        faults.arm(plan)
        leader = RandomLeader(
            client,
            lambda sec, ltp: sim.admin.set_ltp("NSE_EQ", sec, ltp),
            seed,
            weights=WEIGHTS,
            # a trader's pace the engine keeps up with at 10 followers on two cores, and
            # under Dhan's 250 orders/minute for every follower
            pacer=RatePacer(((1.0, 3), (60.0, 180))),
        )
        leader.open_market()
        started = time.monotonic()
        while len(leader.placed) < n_orders:
            leader.step()
            if leader.brackets_since_exit >= 3:
                exit_brackets(leader, sim, followers, timeout_s=75.0, journal=engine.journal)
        exit_brackets(leader, sim, followers, timeout_s=75.0, journal=engine.journal)
        print(f"chaos: leader script done in {time.monotonic() - started:.1f} s: {leader.counts}")
        fired = faults.fired()
        faults.disarm()
        print(f"chaos: {len(fired)} actor kills: {[f'{f.point}#{f.hit}' for f in fired]}")

        report = settle_and_check(sim, LEADER_ID, followers, engine.journal, timeout_s=120.0)
        assert not engine.gave_up.is_set(), engine.give_up_reason
        assert len(leader.placed) >= n_orders
        missing = sorted(set(plan.at_hits) - {f.point for f in fired})
        assert not missing, f"planned kills that never happened: {missing}"
        # it saw the copies (or the broker's refusals of the poor follower's)
        assert report.ok + report.wrong + report.refused >= n_orders * len(followers) * 0.9
        assert_clean(report)
    finally:
        faults.disarm()
        engine.stop(timeout_s=STOP_TIMEOUT_S)
        client.close()
