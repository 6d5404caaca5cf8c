"""Configuration records of a supervision tree: child specs and supervisor policies.

Frozen, validated at construction, units in the names. A :class:`ChildSpec` says how to build
one child (an actor or a nested supervisor) and how to treat its exits.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pykka

    from supervision.context import ChildContext
    from supervision.supervisor import Supervisor


class Restart(enum.StrEnum):
    """When a child that exited is started again (OTP's restart types)."""

    PERMANENT = "permanent"  # always
    TRANSIENT = "transient"  # only after an abnormal exit (crash)
    TEMPORARY = "temporary"  # never; the child is removed once it exits


class Strategy(enum.StrEnum):
    """Which children restart when one of them must restart."""

    ONE_FOR_ONE = "one_for_one"  # only the one that exited
    ONE_FOR_ALL = "one_for_all"  # every child: stop the others, restart all in start order
    REST_FOR_ONE = "rest_for_one"  # it and the children started after it


class Escalation(enum.StrEnum):
    """What a supervisor does when its restart intensity is exceeded."""

    FAIL_UP = "fail_up"  # stop its children and exit as a crash; its parent decides
    QUARANTINE = "quarantine"  # stop its subtree, report it; the parent keeps the rest running


class ExitReason(enum.StrEnum):
    """Why a child's incarnation ended."""

    NORMAL = "normal"  # it stopped itself (or returned from its work)
    CRASH = "crash"  # an exception on any path, or death seen only by the watchdog
    SHUTDOWN = "shutdown"  # its supervisor stopped it
    QUARANTINED = "quarantined"  # a nested supervisor gave up on its subtree
    ENVIRONMENT = "environment"  # a shared resource it needs is down (supervision.environment)

    @property
    def is_abnormal(self) -> bool:
        """True for exits that a TRANSIENT child is restarted after."""
        return self in (ExitReason.CRASH, ExitReason.ENVIRONMENT)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential restart delay with jitter, reset after a healthy period.

    The n-th consecutive restart (n from 0) waits
    ``min(max_s, initial_s * factor**n) * (1 + u * jitter)`` with ``u`` uniform in [-1, 1].
    A child that ran at least ``reset_after_s`` before exiting starts again from n = 0.
    """

    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 30.0
    jitter: float = 0.2
    reset_after_s: float = 60.0

    def __post_init__(self) -> None:
        if self.initial_s < 0 or self.max_s < self.initial_s:
            raise ValueError(f"Backoff needs 0 <= initial_s <= max_s, got {self}")
        if self.factor < 1.0:
            raise ValueError(f"Backoff.factor must be >= 1, got {self.factor}")
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError(f"Backoff.jitter must be in [0, 1), got {self.jitter}")
        if self.reset_after_s <= 0:
            raise ValueError(f"Backoff.reset_after_s must be > 0, got {self.reset_after_s}")

    def base_delay_s(self, attempt: int) -> float:
        """The delay before jitter for the ``attempt``-th consecutive restart (from 0)."""
        # Compare in the exponent's domain so a long crash loop cannot overflow the float.
        delay = self.initial_s
        for _ in range(attempt):
            delay *= self.factor
            if delay >= self.max_s:
                return self.max_s
        return min(delay, self.max_s)

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """The jittered delay for the ``attempt``-th consecutive restart (from 0)."""
        base_s = self.base_delay_s(attempt)
        if self.jitter == 0.0:
            return base_s
        return base_s * (1.0 + rng.uniform(-self.jitter, self.jitter))


@dataclass(frozen=True, slots=True)
class Intensity:
    """At most ``max_restarts`` restarts within ``period_s`` seconds; one more escalates."""

    max_restarts: int = 3
    period_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_restarts < 0 or self.period_s <= 0:
            raise ValueError(f"Intensity needs max_restarts >= 0 and period_s > 0, got {self}")


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How to build one child and how to treat its exits.

    ``start`` receives the :class:`~supervision.context.ChildContext` of the new incarnation
    and returns a started ``pykka.ActorRef`` or a started :class:`~supervision.Supervisor`.
    Actor children are registered in the tree's :class:`~supervision.Registry` under ``id``,
    so ids must be unique across one tree. Use :meth:`actor` / :meth:`supervisor` to build
    the common cases.
    """

    id: str
    start: Callable[[ChildContext], pykka.ActorRef[Any] | Supervisor] = field(repr=False)
    restart: Restart = Restart.PERMANENT
    backoff: Backoff | None = None
    shutdown_timeout_s: float = 5.0
    #: resources of the tree's Environment this child needs (None: all of them). While one is
    #: down the child handles no message: it exits ENVIRONMENT and starts again once it is up.
    needs: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("ChildSpec.id must be a non-empty string")
        if self.shutdown_timeout_s <= 0:
            raise ValueError(f"ChildSpec.shutdown_timeout_s must be > 0 for {self.id!r}")

    @classmethod
    def actor(
        cls,
        id: str,
        actor_class: type[pykka.Actor],
        *args: Any,
        restart: Restart = Restart.PERMANENT,
        backoff: Backoff | None = None,
        shutdown_timeout_s: float = 5.0,
        needs: frozenset[str] | None = None,
        **kwargs: Any,
    ) -> ChildSpec:
        """A child built by ``actor_class.start(context, *args, **kwargs)``.

        ``actor_class`` is normally a :class:`~supervision.SupervisedActor`, whose
        ``__init__`` takes the context first. A plain ``pykka.ThreadingActor`` does not take
        one: wrap it in your own ``start`` callable instead.
        """

        def start(context: ChildContext) -> pykka.ActorRef[Any]:
            return actor_class.start(context, *args, **kwargs)

        return cls(
            id=id,
            start=start,
            restart=restart,
            backoff=backoff,
            shutdown_timeout_s=shutdown_timeout_s,
            needs=needs,
        )
