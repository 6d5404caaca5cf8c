"""Flatten requests carried out by a running engine (``flatten`` beside it asks; this runs).

The engine holds the journal's lease, so ``flatten`` does not place orders itself while one
runs: it journals a request (``Journal.request_flatten``) and waits. The engine's
``OperatorModeActor`` hands each pending request over (its 0.5 s tick); :class:`FlattenRunner`
runs it on a thread of its own, with the engine's journal: the follower is *paused* for the run
(no new copy at all, so no exit copy of the leader's races the flatten's exits), the account is
flattened as the command does it (``copytrader.flatten.flatten_account``), the follower is
left ``close_only`` (or ``paused``, if it was), and the outcome is journaled for the command.
A request left pending by an engine that stopped is run by the next one (the flatten is
idempotent: its orders are looked up by correlationId first).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from actors.operator_modes import OperatorModes
from copytrader.config import Config
from copytrader.engine import BrokerEndpoints
from store import FlattenRequest, Journal, OperatorMode

logger = logging.getLogger(__name__)

#: How long the runner waits for the engine's modes to show the pause before it flattens.
MODE_WAIT_S = 3.0


class FlattenRunner:
    """Runs flatten requests, one thread each, at most one at a time per follower."""

    def __init__(
        self,
        cfg: Callable[[], Config],
        endpoints: BrokerEndpoints,
        journal: Callable[[], Journal],
        modes: OperatorModes,
    ) -> None:
        #: the engine's config as of now (a SIGHUP reload brings new follower tokens)
        self.cfg = cfg
        self.endpoints = endpoints
        self.journal = journal
        self.modes = modes
        self._lock = threading.Lock()
        self._running: set[int] = set()

    def submit(self, request: FlattenRequest) -> None:
        """Run ``request`` unless it runs already (called on the OperatorModeActor's thread)."""
        with self._lock:
            if request.id in self._running:
                return
            self._running.add(request.id)
        threading.Thread(
            target=self._run, args=(request,), name=f"flatten-{request.id}", daemon=True
        ).start()

    def _run(self, request: FlattenRequest) -> None:
        journal = self.journal()
        try:
            flat, lines = self._flatten(journal, request)
        except Exception as exc:  # the command must hear of it: journaled as failed
            logger.exception("flatten request #%d of %s failed", request.id, request.follower)
            flat, lines = False, [f"stopped: {type(exc).__name__}"]
        try:
            journal.finish_flatten(request, flat=flat, result="\n".join(lines))
        except Exception:  # the store is down: the next engine start runs it again
            logger.exception("flatten request #%d: outcome not journaled", request.id)
        finally:
            with self._lock:
                self._running.discard(request.id)

    def _flatten(self, journal: Journal, request: FlattenRequest) -> tuple[bool, list[str]]:
        from copytrader.flatten import FLATTEN_ACTOR, flatten_account
        from copytrader.position_commands import instruments

        name = request.follower
        cfg = self.cfg()
        if cfg.follower(name) is None:
            return False, [f"no follower {name!r} in the engine's config"]
        before = self.modes.mode_of(name)
        journal.set_operator_mode(
            name, OperatorMode.PAUSED, set_by=FLATTEN_ACTOR, reason=f"flatten #{request.id}"
        )
        deadline = time.monotonic() + MODE_WAIT_S
        while self.modes.mode_of(name) is not OperatorMode.PAUSED:
            if time.monotonic() >= deadline:
                return False, ["the engine did not take the pause in time: nothing done"]
            time.sleep(0.05)  # polling the engine's mode cache, bounded by the deadline
        try:
            known = instruments(cfg, self.endpoints, journal)
            done = flatten_account(
                cfg, self.endpoints, journal, name, known, kill_switch=request.kill_switch
            )
        finally:
            after = (
                OperatorMode.PAUSED if before is OperatorMode.PAUSED else OperatorMode.CLOSE_ONLY
            )
            journal.set_operator_mode(name, after, set_by=FLATTEN_ACTOR, reason="flatten")
        return done.flat, done.lines
