"""Operator modes (issue 17 item 3): ``pause`` / ``close-only`` / ``resume`` against dhansim.

The mode is written to the journal by another connection, as the CLI does beside a running
engine; the engine picks it up within a second. Followers are judged by the broker's own books
and positions (the simulator's REST), the skips by the journal's recorded reasons.
"""

from __future__ import annotations

import re
from pathlib import Path

from actors.operator_modes import CLOSE_ONLY_SKIP, PAUSED_SKIP
from copytrader.commands import _report
from copytrader.engine import BrokerEndpoints, Engine
from copytrader.position_commands import broker_report
from dhan.codes import OrderType, Validity
from dhan.models import ModifyRequest
from dhansim import Simulator
from store import Journal, OperatorMode
from store.states import IntentState
from tests.integration.cli_rig import make_cli_rig
from tests.integration.engine_harness import (
    Rig,
    follower_config,
    limit_buy,
    start_rig,
    wait_until,
)
from tests.integration.test_position_exits import LTP, SEC, broker_net, buy, copy_of, sell, settled

#: a resting BUY price (far below the LTP: never fills)
RESTING = LTP - 200.0


def two_followers(sim: Simulator, tmp_path: Path, ids: str) -> Rig:
    """A rig with multiplier-1 followers ``a`` (client id ``ids + "1"``) and ``b``."""
    sim.admin.set_ltp("NSE_EQ", SEC, LTP)
    return start_rig(
        sim, tmp_path, [follower_config("a", f"{ids}1"), follower_config("b", f"{ids}2")]
    )


def set_mode(rig: Rig, follower: str, mode: OperatorMode, engine: Engine | None = None) -> None:
    """Journal ``mode`` from a connection of its own (as the CLI), then wait until the running
    engine has it."""
    with Journal.open(rig.cfg.store.url) as journal:
        journal.set_operator_mode(follower, mode, set_by="test", reason="integration test")
    engine = engine or rig.engine
    wait_until(
        lambda: engine.operator_modes.mode_of(follower) is mode, 2.0, what=f"{follower} {mode}"
    )


def skipped(rig: Rig, follower: str, leader_order_id: str, reason: str) -> None:
    def found() -> bool:
        copy = copy_of(rig.engine, follower, leader_order_id)
        return copy is not None and copy.state is IntentState.SKIPPED and copy.skip_reason == reason

    wait_until(found, what=f"{follower}'s copy of {leader_order_id} skipped: {reason}")


def client_of(rig: Rig, name: str) -> str:
    return next(f.client_id for f in rig.cfg.followers if f.name == name)


def test_close_only_skips_a_new_entry_while_the_leaders_exit_still_reaches_the_follower(
    sim: Simulator, tmp_path: Path
) -> None:
    rig = two_followers(sim, tmp_path, "81000")
    try:
        first = rig.leader.place_order(buy(10)).order_id
        rig.wait_copies(first, lambda f, cs: sum(int(c.get("filledQty") or 0) for c in cs) == 10)
        settled(rig)
        set_mode(rig, "a", OperatorMode.CLOSE_ONLY)

        entry = rig.leader.place_order(buy(5)).order_id
        skipped(rig, "a", entry, CLOSE_ONLY_SKIP)
        wait_until(lambda: broker_net(sim, client_of(rig, "b")) == 15, what="b copied the entry")
        settled(rig)
        assert rig.follower_copies(rig.cfg.followers[0], entry) == []
        assert broker_net(sim, client_of(rig, "a")) == 10
        # reconcile: by design, with the mode's reason; reconcile --positions: no drift, the
        # mode named among the reasons of a's row
        endpoints = BrokerEndpoints(sim.rest_url, sim.order_feed_url)
        report = _report(rig.cfg, endpoints)
        assert report.diff is not None and report.diff.problems == []
        assert any(CLOSE_ONLY_SKIP in note for note in report.diff.notes), report.diff.notes
        rows, unreadable, _ = broker_report(rig.cfg, endpoints, rig.engine.journal, ["a", "b"])
        assert unreadable == [] and not any(r.drift for r in rows), rows
        assert any(CLOSE_ONLY_SKIP in " ".join(r.reasons) for r in rows if r.follower == "a")

        exit_order = rig.leader.place_order(sell(15)).order_id
        wait_until(lambda: broker_net(sim, client_of(rig, "a")) == 0, what="a's exit copied")
        wait_until(lambda: broker_net(sim, client_of(rig, "b")) == 0, what="b's exit copied")
        settled(rig)
        assert copy_of(rig.engine, "a", exit_order).state is IntentState.DONE
    finally:
        rig.stop()


def test_paused_copies_nothing_new_mirrors_existing_copies_and_resume_copies_the_next_entry(
    sim: Simulator, tmp_path: Path
) -> None:
    rig = two_followers(sim, tmp_path, "82000")
    a = rig.cfg.followers[0]
    try:
        resting = rig.leader.place_order(limit_buy(SEC, quantity=10, price=RESTING)).order_id
        rig.wait_copies(resting, lambda f, cs: len(cs) == 1 and cs[0]["orderStatus"] == "PENDING")
        set_mode(rig, "a", OperatorMode.PAUSED)

        entry = rig.leader.place_order(buy(5)).order_id
        skipped(rig, "a", entry, PAUSED_SKIP)
        wait_until(lambda: broker_net(sim, client_of(rig, "b")) == 5, what="b copied the entry")
        # the leader moves, then cancels, its resting order: a's copy at the broker follows
        rig.leader.modify_order(
            resting,
            ModifyRequest(
                order_type=OrderType.LIMIT,
                quantity=10,
                price=RESTING + 10.0,
                trigger_price=None,
                validity=Validity.DAY,
            ),
        )
        rig.wait_copies(resting, lambda f, cs: float(cs[0]["price"]) == RESTING + 10.0)
        rig.leader.cancel_order(resting)
        rig.wait_copies(resting, lambda f, cs: cs[0]["orderStatus"] == "CANCELLED")
        # a leader exit while paused is not copied either
        exit_order = rig.leader.place_order(sell(5)).order_id
        wait_until(lambda: broker_net(sim, client_of(rig, "b")) == 0, what="b's exit copied")
        skipped(rig, "a", exit_order, PAUSED_SKIP)
        settled(rig)
        assert broker_net(sim, a.client_id) == 0
        assert rig.follower_copies(a, entry) == [] and rig.follower_copies(a, exit_order) == []

        set_mode(rig, "a", OperatorMode.NORMAL)
        after = rig.leader.place_order(buy(3)).order_id
        wait_until(lambda: broker_net(sim, a.client_id) == 3, what="a copies again after resume")
        settled(rig)
        # what was skipped stays skipped
        assert copy_of(rig.engine, "a", entry).skip_reason == PAUSED_SKIP
        assert copy_of(rig.engine, "a", after).state is IntentState.DONE
    finally:
        rig.stop()


def test_the_mode_survives_an_engine_restart(sim: Simulator, tmp_path: Path) -> None:
    rig = two_followers(sim, tmp_path, "83000")
    try:
        set_mode(rig, "a", OperatorMode.CLOSE_ONLY)
        rig.engine.stop()
        rig.engine = Engine(
            rig.cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url)
        ).start()
        assert rig.engine.operator_modes.mode_of("a") is OperatorMode.CLOSE_ONLY  # before any event
        wait_until(lambda: rig.engine.ready()[0], 10.0, what="engine ready")
        entry = rig.leader.place_order(buy(4)).order_id
        skipped(rig, "a", entry, CLOSE_ONLY_SKIP)
        wait_until(lambda: broker_net(sim, client_of(rig, "b")) == 4, what="b copied the entry")
        assert broker_net(sim, client_of(rig, "a")) == 0
        text = rig.engine.metrics.registry  # the gauge: 1 for close_only, 0 for the others
        assert (
            text.get_sample_value(
                "copytrader_follower_mode", {"follower": "a", "mode": "close_only"}
            )
            == 1.0
        )
        assert (
            text.get_sample_value("copytrader_follower_mode", {"follower": "a", "mode": "normal"})
            == 0.0
        )
    finally:
        rig.stop()


def test_the_mode_commands_journal_and_audit_the_mode_status_shows_it_unknown_names_exit_2(
    sim: Simulator, tmp_path: Path
) -> None:
    rig = make_cli_rig(sim, tmp_path, ["ana", "ben"], id_base=2850000000)
    # before any run there is no journal: refused (a mistyped store.url must not make one)
    refused = rig.cli("pause", "ana", "--reason", "margin call")
    assert refused.returncode == 1
    assert "no journal at" in refused.stdout + refused.stderr
    # --create makes it, to pause a follower before the engine's first run
    paused = rig.cli("pause", "ana", "--reason", "margin call", "--create")
    assert paused.returncode == 0, paused.stdout + paused.stderr
    assert "ana: normal -> paused" in paused.stdout
    only = rig.cli("close-only", "ben")
    assert only.returncode == 0, only.stdout + only.stderr
    unknown = rig.cli("resume", "nobody")
    assert unknown.returncode == 2
    assert "no follower 'nobody'" in unknown.stdout

    status = rig.cli("status")
    assert status.returncode == 0, status.stdout + status.stderr
    rows = {line.split()[0]: line.split() for line in status.stdout.splitlines() if line.strip()}
    assert rows["ana"][3] == "paused" and rows["ben"][3] == "close_only"
    assert re.search(r"ana:\s+paused since \S+ \S+ UTC by pause \(margin call\)", status.stdout)

    resumed = rig.cli("resume", "ana")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "ana: paused -> normal" in resumed.stdout
    with Journal.open(rig.store_url) as journal:
        modes = journal.operator_modes()
        audit = [r for r in journal.audit_after(0) if r.kind == "operator_mode"]
    assert modes["ana"].mode is OperatorMode.NORMAL and modes["ana"].set_by == "resume"
    assert modes["ben"].mode is OperatorMode.CLOSE_ONLY
    assert [(r.account, r.actor, r.payload["mode"]) for r in audit] == [
        ("ana", "pause", "paused"),
        ("ben", "close-only", "close_only"),
        ("ana", "resume", "normal"),
    ]
    rig.assert_no_token_in(paused.stdout + status.stdout + status.stderr)
