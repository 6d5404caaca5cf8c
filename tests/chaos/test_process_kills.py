"""Process kills: the engine runs as ``python -m copytrader run`` and is SIGKILLed >= 10 times.

The simulator runs in this process; a random leader trades from a thread the whole time. The
engine process is started on one SQLite store, killed with SIGKILL at a seeded random moment
(during its start-up, its reconcile, or mid-copy), and started again on the same store. After
the last kill it runs undisturbed until the books converge; then every invariant must hold.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from copytrader.chaos import RandomLeader, RatePacer
from copytrader.config import FollowerConfig
from dhan.rest import DhanClient
from dhansim import Simulator
from store import Journal
from tests.chaos.rig import (
    assert_clean,
    chaos_balances,
    chaos_followers,
    exit_brackets,
    settle_and_check,
    wait_for,
)
from tests.integration.engine_harness import LEADER_ID

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


def write_config(sim: Simulator, tmp_path: Path, followers: list[FollowerConfig]) -> Path:
    """A config.yaml for the engine process: the simulator's URLs, the store in ``tmp_path``."""
    doc = {
        "broker": {
            "embedded_sim": False,
            "rest_url": sim.rest_url,
            "order_feed_url": sim.order_feed_url,
            "connect_timeout_s": 1,
            "read_timeout_s": 2,
            "feed_ping_interval_s": 0.5,
            "feed_ping_timeout_s": 1.0,
        },
        "leader": {"client_id": LEADER_ID, "access_token": f"tok-{LEADER_ID}"},
        "followers": [
            {
                "name": f.name,
                "client_id": f.client_id,
                "access_token": f.access_token.reveal(),
                "sizing": (
                    {"mode": "fixed", "quantity": f.sizing.quantity}
                    if f.sizing.mode == "fixed"
                    else {"mode": "multiplier", "multiplier": f.sizing.multiplier}
                ),
            }
            for f in followers
        ],
        "engine": {
            "reconcile_policy": "copy_all",
            "follower_tick_s": 1.0,
            "bracket_tick_s": 1.0,
            "outcome_lookup_delay_s": 0.2,
            "audit_path": str(tmp_path / "audit.jsonl"),
        },
        "store": {"url": f"sqlite:///{tmp_path / 'journal.db'}"},
        "metrics": {"enabled": False},
        "logging": {"level": "WARNING", "format": "text"},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


class EngineProcess:
    """``python -m copytrader --config <path> run``, its output appended to one log file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "copytrader", "--config", str(self.config), "run"],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.config.parent,
            )

    def kill(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.wait(20)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def test_an_engine_sigkilled_again_and_again_on_one_store_loses_and_duplicates_nothing(
    sim: Simulator, tmp_path: Path, seed: int, soak: bool
) -> None:
    kills = 30 if soak else 10
    rng = random.Random(seed)
    sim.admin.set_switches(broker_oco=False, rms_reject_as_order=True)
    followers = chaos_followers(4, prefix="p")
    poor = chaos_balances(followers)
    for client_id, token in [(LEADER_ID, f"tok-{LEADER_ID}")] + [
        (f.client_id, f.access_token.reveal()) for f in followers
    ]:
        sim.admin.create_account(client_id, token, poor.get(client_id, 1e8))
    engine = EngineProcess(write_config(sim, tmp_path, followers), tmp_path / "engine.log")
    client = DhanClient(base_url=sim.rest_url, client_id=LEADER_ID, access_token=f"tok-{LEADER_ID}")
    leader = RandomLeader(
        client,
        lambda sec, ltp: sim.admin.set_ltp("NSE_EQ", sec, ltp),
        seed,
        pacer=RatePacer(((1.0, 3), (60.0, 200))),
    )
    leader.open_market()
    trading = threading.Event()
    trading.set()
    failures: list[BaseException] = []

    def trade() -> None:
        try:
            while trading.is_set():
                leader.step()
                if leader.brackets_since_exit >= 4:
                    exit_brackets(leader, sim, followers, timeout_s=75.0)
            exit_brackets(leader, sim, followers, timeout_s=75.0)
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    script = threading.Thread(target=trade, name="chaos-leader", daemon=True)
    journal: Journal | None = None
    try:
        script.start()
        codes = []
        for n in range(kills):
            engine.start()
            # a random moment: during start-up (imports, reconcile, adoption) or mid-copy
            delay_s = rng.uniform(0.5, 4.5)
            died_early = wait_for(lambda: not engine.alive(), delay_s, "engine alive")
            assert not died_early, f"engine exited on its own before kill {n}:\n{engine.tail()}"
            codes.append(engine.kill())
            print(f"chaos: SIGKILL {n + 1}/{kills} after {delay_s:.2f} s")
        assert codes == [-signal.SIGKILL] * kills
        engine.start()
        # the leader trades on against the last engine until it has placed enough orders (a
        # bracket exit waits for its copies, which a killed engine cannot place)
        wait_for(lambda: len(leader.placed) >= 30 or bool(failures), 120.0, "30 leader orders")
        trading.clear()
        script.join(180.0)
        assert not script.is_alive(), "the leader script did not finish"
        assert not failures, failures
        print(f"chaos: leader placed {len(leader.placed)} orders: {leader.counts}")
        journal = Journal.open(f"sqlite:///{tmp_path / 'journal.db'}")
        report = settle_and_check(sim, LEADER_ID, followers, journal, timeout_s=90.0)
        assert engine.alive(), f"the engine died after the last restart:\n{engine.tail()}"
        assert engine.terminate() == 0, engine.tail()
        assert len(leader.placed) >= 30
        assert_clean(report, "\n" + engine.tail())
    finally:
        trading.clear()
        if engine.alive():
            engine.kill()
        if journal is not None:
            journal.close()
        client.close()
