"""A config reload (SIGHUP): a disabled follower stays disabled across its restarts and the
feed; what only a restart applies is named in a warning."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from pathlib import Path

import pytest

from actors.names import follower_name
from copytrader.config import Secret
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


def test_a_reload_that_changes_what_only_a_restart_applies_warns_naming_the_keys(
    sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    follower = follower_config("scaled", "1400000071", multiplier=2.0)
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    rig = start_rig(sim, tmp_path, [follower])
    try:
        cfg = rig.cfg
        changed = dataclasses.replace(
            cfg,
            broker=dataclasses.replace(cfg.broker, read_timeout_s=9.0),
            store=dataclasses.replace(cfg.store, url="sqlite:///elsewhere-pw-Hq3.db"),
            followers=tuple(
                dataclasses.replace(
                    f,
                    sizing=dataclasses.replace(f.sizing, multiplier=3.0),
                    access_token=Secret("rotated-token-Kx9"),
                )
                for f in cfg.followers
            ),
        )
        sim.admin.rotate_token(follower.client_id, "rotated-token-Kx9")
        with caplog.at_level(logging.INFO, logger="copytrader.engine"):
            rig.engine.reload(changed)

        # (another logger's warning of a loaded machine -- a slow socket, say -- is not ours)
        warnings = [
            r.getMessage()
            for r in caplog.records
            if r.levelno == logging.WARNING and r.name == "copytrader.engine"
        ]
        assert warnings == [
            "config reload: 3 change(s) NOT applied, they need a restart: "
            "broker.read_timeout_s, store.url, followers[scaled].sizing.multiplier"
        ]
        # key paths only: neither the new values nor the token
        assert not any("9.0" in w or "elsewhere" in w or "Kx9" in w for w in warnings)
        # and it was indeed not applied: the copy is still sized x2
        order = rig.leader.place_order(limit_buy(quantity=5, price=1400.0)).order_id
        rig.wait_copies(order, lambda _f, c: len(c) == 1)
        (copy,) = rig.follower_copies(follower, order)
        assert copy["quantity"] == 10
    finally:
        rig.stop()


def test_a_reload_of_tokens_and_enabled_flags_only_warns_of_nothing(
    sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rig = start_rig(sim, tmp_path, [follower_config("quiet", "1400000081")])
    try:
        cfg = rig.cfg
        rotated = dataclasses.replace(
            cfg,
            followers=tuple(
                dataclasses.replace(f, enabled=False, access_token=Secret("new-token-Lm2"))
                for f in cfg.followers
            ),
        )
        with caplog.at_level(logging.INFO, logger="copytrader.engine"):
            rig.engine.reload(rotated)

        assert [r.levelno for r in caplog.records if "config reload" in r.getMessage()] == [
            logging.INFO
        ]
    finally:
        rig.stop()
