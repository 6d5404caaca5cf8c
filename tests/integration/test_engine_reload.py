"""A config reload (SIGHUP) that disables a follower holds across its restarts and the feed."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

from actors.names import follower_name
from dhansim import Simulator
from store.states import IntentState
from supervision.errors import ChildUnavailable
from tests.integration.engine_harness import follower_config, limit_buy, start_rig, wait_until


def test_a_follower_disabled_by_reload_gets_no_claims_and_stays_disabled_after_a_restart(
    sim: Simulator, tmp_path: Path
) -> None:
    on, off = follower_config("on", "1400000061"), follower_config("off", "1400000062")
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    rig = start_rig(sim, tmp_path, [on, off])
    try:
        engine = rig.engine
        assert engine.root is not None
        disabled = dataclasses.replace(
            rig.cfg,
            followers=tuple(
                dataclasses.replace(f, enabled=f.name != "off") for f in rig.cfg.followers
            ),
        )
        engine.reload(disabled)
        assert not engine.follower_enabled("off") and engine.follower_enabled("on")

        first = rig.leader.place_order(limit_buy(quantity=1, price=1400.0)).order_id
        rig.wait_copies(first, lambda _f, c: len(c) == 1, followers=[on])
        (waiting,) = engine.journal.intents("off", leader_order_id=first)
        assert waiting.state is IntentState.PLANNED  # kept for later, not claimed to send

        # the follower's actor restarts (a crash, a deploy of its supervisor): still disabled
        old = engine.root.registry.get(follower_name("off"))
        old.stop()
        registry = engine.root.registry

        def restarted() -> bool:
            with contextlib.suppress(ChildUnavailable):
                return registry.get(follower_name("off")) is not old
            return False

        wait_until(restarted, what="follower restarted")
        second = rig.leader.place_order(limit_buy(quantity=1, price=1401.0)).order_id
        rig.wait_copies(second, lambda _f, c: len(c) == 1, followers=[on])
        wait_until(
            lambda: engine.journal.intents("off", leader_order_id=second) != [],
            what="intent of the second order",
        )
        for oid in (first, second):
            assert rig.follower_copies(off, oid) == []
            (intent,) = engine.journal.intents("off", leader_order_id=oid)
            assert intent.state is IntentState.PLANNED
    finally:
        rig.stop()
