"""What a supervisor hands to each child incarnation it starts.

A :class:`ChildContext` carries the tree's shared services (clock, registry, event bus,
fault points) down to the child, and the one way back up: :meth:`ChildContext.report_exit`,
which a child calls exactly once when it ends. Config flows down through it; no child reads
a global.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from supervision.clock import Clock, SystemClock
from supervision.environment import Environment
from supervision.events import EventBus
from supervision.faults import FAULTS, Faults
from supervision.registry import Registry
from supervision.specs import ExitReason

if TYPE_CHECKING:
    from supervision.supervisor import Supervisor

ExitReporter = Callable[[ExitReason, str | None], None]


def _ignore_exit(reason: ExitReason, error: str | None) -> None:
    """Exit reporter of a detached context: nobody supervises it."""


@dataclass(frozen=True, slots=True)
class ChildContext:
    """One child incarnation's link to its supervisor and to the tree's services."""

    child_id: str
    incarnation: int
    supervisor_path: str  # "" for a detached context
    clock: Clock
    registry: Registry
    events: EventBus
    faults: Faults
    reporter: ExitReporter = field(repr=False)
    supervisor: Supervisor | None = field(default=None, repr=False)
    #: the tree's shared resources (None: none declared) and the ones this child needs
    environment: Environment | None = field(default=None, repr=False)
    needs: frozenset[str] | None = None

    @property
    def path(self) -> str:
        """This child's path in the tree, e.g. ``root/followers.F1/follower``."""
        return f"{self.supervisor_path}/{self.child_id}" if self.supervisor_path else self.child_id

    def report_exit(self, reason: ExitReason, error: str | None = None) -> None:
        """Tell the supervisor this incarnation ended (``error``: repr of the crash)."""
        self.reporter(reason, error)

    @classmethod
    def detached(
        cls,
        child_id: str,
        *,
        clock: Clock | None = None,
        registry: Registry | None = None,
        faults: Faults | None = None,
    ) -> ChildContext:
        """A context for running a supervised actor with no supervisor (tools, unit tests)."""
        return cls(
            child_id=child_id,
            incarnation=1,
            supervisor_path="",
            clock=clock if clock is not None else SystemClock(),
            registry=registry if registry is not None else Registry(),
            events=EventBus(),
            faults=faults if faults is not None else FAULTS,
            reporter=_ignore_exit,
        )
