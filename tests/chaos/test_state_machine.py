"""A hypothesis state machine: leader actions and faults as rules, invariants after settle().

Rules are what a leader does (every order type, modify, cancel, a bracket exit, a price move)
and what goes wrong (a broker nemesis phase, an actor killed through the fault plan at its
next fault point, the leader socket cut). ``settle()`` clears every fault, waits for the
engine to converge and checks the invariants; the teardown settles and checks once more.
Every example runs a fresh simulator and engine. ``CHAOS_SEED`` replays a run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import hypothesis
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    get_state_machine_test,
    initialize,
    precondition,
    rule,
)

from copytrader.chaos import PLAIN_LTPS, RandomLeader, RatePacer
from copytrader.engine import BrokerEndpoints, Engine
from dhan.rest import DhanClient
from dhansim import Simulator
from store.states import IntentState
from supervision.faults import FaultPlan, Faults
from tests.chaos import rig
from tests.chaos.rig import (
    STOP_TIMEOUT_S,
    assert_clean,
    chaos_balances,
    chaos_config,
    chaos_followers,
    exit_brackets,
    settle_and_check,
)
from tests.chaos.test_nemesis import phases
from tests.integration.engine_harness import LEADER_ID, create_accounts, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

LEADER_MOVES = ("limit_resting", "limit_marketable", "market", "stop", "bo", "co", "super")
#: Kills that restart a child of the root (3 restarts / 60 s before the root gives up) and
#: kills inside a follower's subtree (5 / 60 s before quarantine): budgets per example.
ROOT_KILLS = ("rate_limiter.on_request", "audit.before_drain")
SUBTREE_KILLS = (
    "follower.before_send",
    "follower.after_send",
    "follower.before_journal_acks",
    "follower.before_modify",
    "follower.before_cancel",
    "bracket.before_send",
    "leader_feed.on_update",
)
FOLLOWERS = chaos_followers(3, prefix="h")
#: ``CHAOS_CONTENT_EXACT=1``: a copy whose content is wrong fails the run (else: expected).
CONTENT_EXACT = os.environ.get("CHAOS_CONTENT_EXACT") == "1"
#: How long a price move waits for the copies of the leader's traded limits to be sent.
LANDING_S = 20.0
#: Journal states of a copy not yet at the broker (or whose send is not yet known).
IN_FLIGHT = frozenset({IntentState.PLANNED, IntentState.SENDING, IntentState.UNKNOWN})
#: ... and of a copy that may still fill (its cancel not yet done).
STILL_OPEN = IN_FLIGHT | {IntentState.WORKING, IntentState.MODIFYING, IntentState.CANCELLING}
NEMESES = sorted(name for name, plan in phases([f.client_id for f in FOLLOWERS]).items() if plan)


class CopyTradingMachine(RuleBasedStateMachine):
    """One simulator, one engine with three followers, one leader; faults come and go."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="chaos-sm-"))
        self.sim = Simulator(seed=1, random_walk=False, broker_oco=False, rms_reject_as_order=True)
        self.sim.start()
        self.cfg = chaos_config(self.sim, self.tmp, FOLLOWERS)
        create_accounts(self.sim, self.cfg, balances=chaos_balances(FOLLOWERS))
        self.faults = Faults()
        self.engine = Engine(
            self.cfg,
            endpoints=BrokerEndpoints(self.sim.rest_url, self.sim.order_feed_url),
            faults=self.faults,
        ).start()
        self.client = DhanClient(
            base_url=self.sim.rest_url,
            client_id=LEADER_ID,
            access_token=self.cfg.leader.access_token.reveal(),
        )
        self.leader: RandomLeader | None = None
        self.root_kills = 0
        self.subtree_kills = 0
        self.settles = 0
        self.acted = False  # something happened since the last settle
        self.nemesis_on = False
        wait_until(lambda: self.engine.ready()[0], 15.0, what="engine ready")

    @initialize(leader_seed=st.integers(0, 2**31), opening=st.integers(3, 8))
    def open_the_market(self, leader_seed: int, opening: int) -> None:
        """Every example starts with a few orders of random kinds, so it has something to lose."""
        self.leader = RandomLeader(
            self.client,
            lambda sec, ltp: self.sim.admin.set_ltp("NSE_EQ", sec, ltp),
            leader_seed,
            pacer=RatePacer(((1.0, 5), (60.0, 200))),
        )
        self.leader.open_market()
        for _ in range(opening):
            self.leader.step()
        self.acted = True

    # -- the leader ------------------------------------------------------------------------------

    @rule(kind=st.sampled_from(LEADER_MOVES), repeat=st.integers(1, 4))
    def leader_places(self, kind: str, repeat: int) -> None:
        assert self.leader is not None
        for _ in range(repeat):
            self.leader.step(kind)
        self.acted = True

    @rule(kind=st.sampled_from(("modify", "cancel")))
    def leader_changes_an_order(self, kind: str) -> None:
        assert self.leader is not None
        self.leader.step(kind)
        self.acted = True

    @precondition(lambda self: self.leader is not None and self.leader.brackets_since_exit > 0)
    @rule()
    def brackets_exit(self) -> None:
        assert self.leader is not None
        exit_brackets(self.leader, self.sim, FOLLOWERS, timeout_s=20.0, journal=self.engine.journal)
        self.acted = True

    @rule(security=st.sampled_from(sorted(PLAIN_LTPS)), move=st.integers(-20, 20))
    def price_moves(self, security: str, move: int) -> None:
        """Up to 2 % either way: some resting orders (the leader's and the copies) fill.

        The market moves once the copies of the leader's traded LIMIT orders on ``security``
        are at the broker, and those of its orders that ended unfilled are cancelled. A LIMIT
        copy sent after the market moved past the leader's price rests, as it would at Dhan,
        and the check rightly calls it wrong (the leader's order traded, the copy did not); a
        copy whose cancel is still on its way when the market reaches it fills: facts of the
        market, not faults of the engine under test. When the copies are not there after
        ``LANDING_S`` (a fault holds them) the price stays."""
        if not self._copies_landed(security):
            print(f"chaos: price of {security} kept: copies of its traded limits still in flight")
            return
        ltp = round(round(PLAIN_LTPS[security] * (1 + move / 1000) / 0.05) * 0.05, 2)
        self.sim.admin.set_ltp("NSE_EQ", security, ltp)
        self.acted = True

    def _copies_landed(self, security: str) -> bool:
        """Every follower's copy of each traded leader LIMIT order on ``security`` is
        journaled past sending (at the broker, refused or skipped), within ``LANDING_S``."""
        book = [o for o in self.sim.admin.orders(LEADER_ID) if o.get("securityId") == security]
        traded = {
            str(o["orderId"])
            for o in book
            if o.get("orderType") == "LIMIT" and o.get("orderStatus") in ("TRADED", "PART_TRADED")
        }
        # and the copies of the leader's orders that ended unfilled are cancelled: a move
        # before their cancel lands fills them (CI seed 316477708: three copies of a
        # cancelled resting order filled)
        ended = {
            str(o["orderId"])
            for o in book
            if o.get("orderStatus") in ("CANCELLED", "REJECTED", "EXPIRED")
            and not int(o.get("filledQty") or 0)
        }
        if not traded and not ended:
            return True
        names = {f.name for f in FOLLOWERS}

        def landed() -> bool:
            intents = self.engine.journal.intents()
            done = {
                (i.follower, i.leader_order_id)
                for i in intents
                if i.leader_order_id in traded and i.state not in IN_FLIGHT
            }
            open_copies = [
                i for i in intents if i.leader_order_id in ended and i.state in STILL_OPEN
            ]
            return not open_copies and all((n, o) in done for n in names for o in traded)

        try:
            wait_until(landed, LANDING_S, 0.1, what=f"copies of the traded limits on {security}")
        except AssertionError:
            return False
        return True

    # -- the faults ------------------------------------------------------------------------------

    @rule(name=st.sampled_from(NEMESES))
    def broker_misbehaves(self, name: str) -> None:
        plan = phases([f.client_id for f in FOLLOWERS])[name]
        assert plan is not None
        self.sim.admin.set_faults(plan)
        self.nemesis_on = True

    @precondition(lambda self: self.nemesis_on)
    @rule()
    def broker_recovers(self) -> None:
        self.sim.admin.clear_faults()
        self.nemesis_on = False

    @precondition(lambda self: self.root_kills < 2)
    @rule(point=st.sampled_from(ROOT_KILLS))
    def a_root_child_dies_at_its_next_fault_point(self, point: str) -> None:
        self.root_kills += 1
        self.faults.arm(FaultPlan(self.root_kills, at_hits={point: [1]}))

    @precondition(lambda self: self.subtree_kills < 4)
    @rule(point=st.sampled_from(SUBTREE_KILLS))
    def an_actor_dies_at_its_next_fault_point(self, point: str) -> None:
        self.subtree_kills += 1
        self.faults.arm(FaultPlan(self.subtree_kills, at_hits={point: [1]}))

    @rule()
    def the_leader_socket_is_cut(self) -> None:
        self.sim.admin.drop_order_sockets()

    # -- settle and check ------------------------------------------------------------------------

    @precondition(lambda self: self.acted)
    @rule()
    def settle(self) -> None:
        self.sim.admin.clear_faults()
        self.nemesis_on = False
        self.faults.disarm()
        assert self.leader is not None
        if self.leader.brackets_since_exit:
            exit_brackets(
                self.leader, self.sim, FOLLOWERS, timeout_s=20.0, journal=self.engine.journal
            )
        report = settle_and_check(self.sim, LEADER_ID, FOLLOWERS, self.engine.journal, 60.0)
        self.settles += 1
        self.acted = False
        print(f"chaos: settle {self.settles}: leader counts {dict(self.leader.counts)}")
        assert not self.engine.gave_up.is_set(), self.engine.give_up_reason
        content_only = report.wrong and report.bad - report.sizing_bad == report.wrong
        if content_only and not CONTENT_EXACT:
            # lost / duplicated / unresolved are 0: copies whose content differs, from seeds
            # of known open defects (a leader modify of a trigger across socket cuts not
            # mirrored: seed 1987402731, also at b88355f; partial fills racing a price move:
            # 316477708). Printed, an expected failure; CHAOS_CONTENT_EXACT=1 makes it fail.
            print(report.render())
            wrong = [p for p in report.problems if p.startswith("wrong")]
            pytest.xfail(
                f"known open content defects, seed {rig.SEED}: wrong={report.wrong}"
                + "".join(f"\n  {p}" for p in wrong[:8])
            )
        assert_clean(report)

    def teardown(self) -> None:
        try:
            if self.leader is not None and self.acted:
                self.settle()
        finally:
            self.faults.disarm()
            self.engine.stop(timeout_s=STOP_TIMEOUT_S)
            self.client.close()
            self.sim.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)


def test_leader_actions_and_faults_in_any_order_keep_every_invariant(seed: int, soak: bool) -> None:
    run = get_state_machine_test(
        CopyTradingMachine,
        settings=settings(
            max_examples=12 if soak else 3,
            stateful_step_count=40 if soak else 15,
            deadline=None,
            database=None,
            # a failing run is replayed from its seed; shrinking a timing-sensitive
            # system mostly reports flakiness
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
            suppress_health_check=list(HealthCheck),
            print_blob=True,
        ),
    )
    hypothesis.seed(seed)(run)
    run()
