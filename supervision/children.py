"""A supervisor's bookkeeping for one child, and the public snapshot of it.

``_Child`` is mutated only on its supervisor's thread. ``ChildInfo`` is the frozen copy that
``Supervisor.which_children()`` returns to other threads.
"""

from __future__ import annotations

import enum
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pykka

from supervision.specs import ChildSpec

if TYPE_CHECKING:
    from supervision.supervisor import Supervisor


class ChildState(enum.StrEnum):
    """Where a child is in its life, as its supervisor sees it."""

    RUNNING = "running"
    RESTARTING = "restarting"  # waiting for its backoff timer
    STOPPING = "stopping"  # its supervisor is stopping it
    STOPPED = "stopped"  # exited and not to be restarted (TRANSIENT after a normal exit)
    QUARANTINED = "quarantined"  # a nested supervisor that quarantined its subtree


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """Snapshot of one child, in start order, as returned by ``which_children()``."""

    id: str
    state: ChildState
    restart: str
    incarnation: int
    restarts: int  # restarts since the child was added
    ref: pykka.ActorRef[Any] | None  # current actor ref (None for a supervisor or when down)
    supervisor: Supervisor | None  # current nested supervisor (None for an actor)


class _Child:
    """Mutable record of one child; owned by its supervisor's thread."""

    __slots__ = (
        "after_environment",
        "attempt",
        "handle",
        "incarnation",
        "pending_delay_s",
        "restart_token",
        "restarts",
        "spec",
        "started_at_s",
        "state",
    )

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.state = ChildState.STOPPED
        self.incarnation = 0
        self.handle: pykka.ActorRef[Any] | Supervisor | None = None
        self.started_at_s: float | None = None
        self.attempt = 0  # consecutive restarts since it was last healthy
        self.restarts = 0
        self.restart_token: object | None = None
        self.pending_delay_s = 0.0
        self.after_environment = False  # the pending restart waits for the environment

    @property
    def ref(self) -> pykka.ActorRef[Any] | None:
        return self.handle if isinstance(self.handle, pykka.ActorRef) else None

    def info(self) -> ChildInfo:
        from supervision.supervisor import Supervisor

        return ChildInfo(
            id=self.spec.id,
            state=self.state,
            restart=self.spec.restart,
            incarnation=self.incarnation,
            restarts=self.restarts,
            ref=self.ref,
            supervisor=self.handle if isinstance(self.handle, Supervisor) else None,
        )


def actor_of(ref: pykka.ActorRef[Any]) -> pykka.Actor | None:
    """The actor object behind ``ref``, if it still exists (pykka keeps only a weakref)."""
    actor_weakref: weakref.ref[pykka.Actor] | None = getattr(ref, "_actor_weakref", None)
    return actor_weakref() if actor_weakref is not None else None
