"""Every field of every order type changes while actors, or the whole engine, are killed.

A seeded :class:`copytrader.chaos.EveryFieldLeader` places market, limit, stop-market,
stop-limit, bracket (BO), cover (CO) and super orders (pending and filled) on a pinned market,
then changes every field in rounds -- limit price, quantity, order type, validity, triggers,
stop-limit prices, BO target and stop legs, the CO stop, a pending super order's entry, target,
stop and trailing jump, a filled one's legs and trailing jump -- and cancels orders and single
exit legs.

It runs twice (``mode``): with an in-process engine whose actors a seeded fault plan kills, and
with ``python -m copytrader run`` SIGKILLed between the rounds (so some rounds happen while no
engine runs, and one while it starts). After settling, no copy may be lost, duplicated or
unexpected, and every copy's content must be the leader's order scaled (``wrong = 0``, judged
by ``copytrader.copy_content.judge_copy``): one test per order family, so a failure names the
family whose copies differ."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from copytrader.chaos import (
    FIELD_FAMILIES,
    ChaosReport,
    EveryFieldLeader,
    RatePacer,
    chaos_seed,
)
from copytrader.engine import BrokerEndpoints, Engine
from dhan.codes import LegName
from dhan.rest import DhanClient
from store import Journal
from supervision.faults import FaultPlan, Faults
from tests.chaos.rig import (
    STOP_TIMEOUT_S,
    chaos_config,
    chaos_followers,
    settle_and_check,
    wait_for,
)
from tests.chaos.sim_process import ExternalSim, external_sim
from tests.chaos.test_process_kills import EngineProcess, write_config
from tests.integration.engine_harness import LEADER_ID, create_accounts, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROUNDS = 4  #: modify rounds: every family's list of fields comes round at least once
#: point -> (kills, lowest hit, highest hit): low hits, as this script is short
KILLS: dict[str, tuple[int, int, int]] = {
    "follower.before_modify": (2, 1, 30),
    "follower.before_send": (1, 1, 20),
    "follower.after_send": (1, 1, 20),
    "follower.before_cancel": (1, 1, 6),
    "bracket.before_send": (2, 1, 10),
    "leader_feed.on_update": (2, 5, 60),
}


@dataclass
class Outcome:
    mode: str
    seed: int
    report: ChaosReport
    families: dict[str, str]  #: leader order id -> family
    log: str

    def problems_of(self, family: str) -> list[str]:
        ids = {oid for oid, f in self.families.items() if f == family}
        return [p for p in self.report.problems if any(f"/{oid} " in p for oid in ids)]


def _legs_of(sim: ExternalSim) -> Callable[[str], dict[str, str]]:
    def legs(entry_id: str) -> dict[str, str]:
        return {
            str(o["legName"]): str(o["orderId"])
            for o in sim.admin.orders(LEADER_ID)
            if o.get("parentOrderId") == entry_id
            and o.get("legName") in (LegName.TARGET_LEG, LegName.STOP_LOSS_LEG)
        }

    return legs


def _leader(sim: ExternalSim, client: DhanClient, seed: int) -> EveryFieldLeader:
    return EveryFieldLeader(
        client,
        lambda sec, ltp: sim.admin.set_ltp("NSE_EQ", sec, ltp),
        _legs_of(sim),
        seed,
        pacer=RatePacer(((1.0, 3), (60.0, 180))),
    )


def _run_with_actor_kills(sim: ExternalSim, tmp_path: Path, seed: int) -> Outcome:
    followers = chaos_followers(3, prefix="e")
    cfg = chaos_config(sim, tmp_path, followers)
    create_accounts(sim, cfg)
    faults = Faults()
    engine = Engine(
        cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url), faults=faults
    ).start()
    client = DhanClient(
        base_url=sim.rest_url, client_id=LEADER_ID, access_token=cfg.leader.access_token.reveal()
    )
    try:
        wait_until(lambda: engine.ready()[0], 15.0, what="engine ready")
        rng = random.Random(seed)
        plan = FaultPlan(
            seed,
            at_hits={
                point: sorted(rng.sample(range(low, high + 1), kills))
                for point, (kills, low, high) in KILLS.items()
            },
        )
        print(f"chaos: kill plan {dict(plan.at_hits)}")
        faults.arm(plan)
        leader = _leader(sim, client, seed)
        leader.open_market()
        leader.place()
        for _ in range(ROUNDS):
            leader.modify_round()
        leader.cancel_some()
        fired = faults.fired()
        faults.disarm()
        print(f"chaos: {len(fired)} actor kills: {[f'{f.point}#{f.hit}' for f in fired]}")
        _print_actions(leader)
        report = settle_and_check(sim, LEADER_ID, followers, engine.journal, timeout_s=90.0)
        assert not engine.gave_up.is_set(), engine.give_up_reason
        assert fired, "no planned kill happened"
        return Outcome("actors", seed, report, leader.families, "")
    finally:
        faults.disarm()
        engine.stop(timeout_s=STOP_TIMEOUT_S)
        client.close()


def _run_with_process_kills(sim: ExternalSim, tmp_path: Path, seed: int) -> Outcome:
    rng = random.Random(seed)
    followers = chaos_followers(3, prefix="q")
    for client_id, token in [(LEADER_ID, f"tok-{LEADER_ID}")] + [
        (f.client_id, f.access_token.reveal()) for f in followers
    ]:
        sim.admin.create_account(client_id, token, 1e8)
    # write_config reads only the simulator's two URLs, which an ExternalSim has too
    config = write_config(sim, tmp_path, followers)  # type: ignore[arg-type]
    engine = EngineProcess(config, tmp_path / "engine.log")
    client = DhanClient(base_url=sim.rest_url, client_id=LEADER_ID, access_token=f"tok-{LEADER_ID}")
    journal: Journal | None = None

    def kill_after(low_s: float, high_s: float, what: str) -> None:
        delay_s = rng.uniform(low_s, high_s)
        died = wait_for(lambda: not engine.alive(), delay_s, "engine alive")
        assert not died, f"engine exited on its own before the kill {what}:\n{engine.tail()}"
        engine.kill()
        print(f"chaos: SIGKILL {what} after {delay_s:.2f} s")

    try:
        leader = _leader(sim, client, seed)
        leader.open_market()
        engine.start()
        leader.place()
        kill_after(0.3, 2.0, "after the orders were placed")
        leader.modify_round()  # no engine: its start-up reconcile must find this round
        engine.start()
        leader.modify_round()  # while it starts and reconciles
        kill_after(0.2, 1.5, "during its start")
        engine.start()
        for _ in range(ROUNDS - 2):
            leader.modify_round()
        kill_after(0.2, 2.0, "mid-copy")
        leader.cancel_some()  # no engine again
        engine.start()
        _print_actions(leader)
        journal = Journal.open(f"sqlite:///{tmp_path / 'journal.db'}")
        report = settle_and_check(sim, LEADER_ID, followers, journal, timeout_s=90.0)
        assert engine.alive(), f"the engine died after the last restart:\n{engine.tail()}"
        return Outcome("process", seed, report, leader.families, engine.tail(60))
    finally:
        if engine.alive():
            engine.terminate()
        if journal is not None:
            journal.close()
        client.close()


def _print_actions(leader: EveryFieldLeader) -> None:
    failed = [a for a in leader.actions if not a.ok]
    print(
        f"chaos: leader placed {len(leader.orders)} orders "
        f"({sorted(set(leader.families.values()))}), {len(leader.actions)} actions, "
        f"{len(failed)} refused by the broker"
    )
    for a in failed:
        print(f"    refused: {a.kind} {a.order_id}: {a.detail}")


@pytest.fixture(scope="module", params=["actors", "process"])
def outcome(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Outcome]:
    seed = chaos_seed()
    mode = str(request.param)
    print(f"chaos seed={seed} mode={mode}")
    tmp_path = tmp_path_factory.mktemp(f"every-field-{mode}")
    started = time.monotonic()
    with external_sim(seed, random_walk=False, broker_oco=False) as sim:
        run = _run_with_actor_kills if mode == "actors" else _run_with_process_kills
        result = run(sim, tmp_path, seed)
    print(f"chaos: {mode} run took {time.monotonic() - started:.0f} s")
    yield result


def test_no_copy_is_lost_duplicated_or_unexpected_or_left_unresolved(outcome: Outcome) -> None:
    r = outcome.report
    assert (r.lost, r.duplicated, r.unexpected, r.unresolved) == (0, 0, 0, 0), r.render()
    assert (r.both_legs_filled, r.oco_pending, r.journal.bad) == (0, 0, 0), r.render()


@pytest.mark.parametrize("family", list(FIELD_FAMILIES))
def test_every_copy_has_the_content_of_the_leaders_order_scaled(
    outcome: Outcome, family: str
) -> None:
    assert family in outcome.families.values(), f"the script placed no {family} order"
    problems = outcome.problems_of(family)
    assert not problems, (
        f"{outcome.mode} seed={outcome.seed}: {len(problems)} wrong {family} copies "
        f"({FIELD_FAMILIES[family]}):\n" + "\n".join(problems[:30])
    )
