"""OperatorModeActor: brings the operator's modes (``pause`` / ``close-only`` / ``resume``)
into the running engine.

The CLI writes a follower's mode to the journal whether an engine runs or not; this actor reads
the table every :data:`POLL_S` (one small query, never per copy) into the shared
:class:`~actors.operator_modes.OperatorModes` the leader feed sizes with, logs each change and
sets the ``copytrader_follower_mode`` gauge. With the same tick it hands the pending
``flatten`` requests (``Journal.request_flatten``) to ``on_flatten`` once each (the engine runs
them on a thread of their own). Runs on its own pykka thread; a store error crashes
it like any actor (its supervisor restarts it; meanwhile the last modes read stay in force).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from actors.messages import Tick
from actors.operator_modes import OperatorModes
from actors.settings import FollowerSettings
from actors.telemetry import ActorMetrics
from store import FlattenRequest, Journal, OperatorMode
from supervision import ChildContext, SupervisedActor

logger = logging.getLogger(__name__)

#: How often the journal's modes are read (seconds): a command takes effect within this.
POLL_S = 0.5


def set_mode_gauges(
    metrics: ActorMetrics, followers: Sequence[FollowerSettings], modes: OperatorModes
) -> None:
    """``copytrader_follower_mode{follower,mode}``: 1 for each follower's mode, 0 else."""
    for f in followers:
        current = modes.mode_of(f.name)
        for mode in OperatorMode:
            metrics.follower_mode.labels(f.name, mode.value).set(1 if mode is current else 0)


class OperatorModeActor(SupervisedActor):
    """Polls the journal's operator modes into ``modes``."""

    def __init__(
        self,
        context: ChildContext,
        *,
        journal: Journal,
        modes: OperatorModes,
        followers: Callable[[], Sequence[FollowerSettings]],
        metrics: ActorMetrics,
        interval_s: float = POLL_S,
        on_flatten: Callable[[FlattenRequest], None] | None = None,
    ) -> None:
        super().__init__(context)
        self.journal = journal
        self.modes = modes
        self.followers = followers
        self.metrics = metrics
        self.interval_s = interval_s
        self.on_flatten = on_flatten
        #: the flatten requests handed over by this incarnation (``on_flatten`` dedupes too)
        self.handed: set[int] = set()

    def on_start(self) -> None:
        """On the actor's thread; a store error here fails the start (restarted)."""
        super().on_start()
        self.refresh()
        self.tell_every(self.interval_s, Tick())

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Tick):
            self.refresh()
            self.hand_flattens()
            return None
        return super().on_receive(message)

    def hand_flattens(self) -> int:
        """Hand each pending flatten request to ``on_flatten`` once; how many were new."""
        if self.on_flatten is None:
            return 0
        new = [r for r in self.journal.flatten_requests() if r.id not in self.handed]
        for request in new:
            self.handed.add(request.id)
            logger.warning(
                "flatten request #%d: %s (kill switch %s)",
                request.id,
                request.follower,
                request.kill_switch,
            )
            self.on_flatten(request)
        return len(new)

    def refresh(self) -> int:
        """Read the modes; log and gauge the changes; how many changed."""
        changed = self.modes.refresh(self.journal)
        for m in changed:
            logger.warning(
                "follower %s: operator mode %s (set by %s at %s%s)",
                m.follower,
                m.mode,
                m.set_by,
                m.set_at.isoformat(timespec="seconds"),
                f": {m.reason}" if m.reason else "",
            )
        if changed:
            set_mode_gauges(self.metrics, self.followers(), self.modes)
        return len(changed)
