"""Named fault points for chaos tests, armed by a seeded plan (product code, not test code).

Code declares a point where a fault may strike: ``faults.point("follower.before_send")``.
Disarmed (the default), a point costs one attribute check. Armed with a :class:`FaultPlan`,
a point raises :class:`ChaosFault` -- an ``Exception``, never a ``BaseException``, so it
crashes only the actor that hit it -- at hits chosen by the plan; the same seed and the same
sequence of hits per point give the same faults.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


class ChaosFault(Exception):
    """Raised by an armed fault point. Subclasses ``Exception`` on purpose (see module doc)."""

    def __init__(self, point: str, hit: int) -> None:
        super().__init__(f"chaos fault at {point!r} (hit {hit})")
        self.point = point
        self.hit = hit


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Where and when faults strike.

    ``probabilities`` maps a point to the chance that one hit raises; each point draws from
    its own generator seeded by ``(seed, point)``, so the faults at one point do not depend
    on how hits at other points interleave across threads. ``at_hits`` maps a point to the
    1-based hit numbers that always raise ("kill at the 3rd hit").
    """

    seed: int
    probabilities: Mapping[str, float] = field(default_factory=dict)
    at_hits: Mapping[str, Iterable[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for point, probability in self.probabilities.items():
            if not 0.0 <= probability <= 1.0:
                raise ValueError(f"probability for {point!r} must be in [0, 1]: {probability}")
        for point, hits in self.at_hits.items():
            if any(hit < 1 for hit in hits):
                raise ValueError(f"hit numbers for {point!r} start at 1")


@dataclass(frozen=True, slots=True)
class FaultFired:
    """One fault that was raised: the point and its 1-based hit number."""

    point: str
    hit: int


class _ArmedPoint:
    __slots__ = ("at_hits", "hits", "probability", "rng")

    def __init__(self, seed: int, point: str, probability: float, at_hits: frozenset[int]):
        self.rng = random.Random(f"{seed}:{point}")  # str seeds hash deterministically
        self.probability = probability
        self.at_hits = at_hits
        self.hits = 0


class Faults:
    """A set of fault points; one global instance (:data:`FAULTS`) unless one is injected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[str, _ArmedPoint] | None = None
        self._fired: list[FaultFired] = []
        self._seen: set[str] = set()

    def arm(self, plan: FaultPlan) -> None:
        """Arm the points named by ``plan``; hit counters start from zero."""
        points: dict[str, _ArmedPoint] = {}
        for name in set(plan.probabilities) | set(plan.at_hits):
            points[name] = _ArmedPoint(
                plan.seed,
                name,
                plan.probabilities.get(name, 0.0),
                frozenset(plan.at_hits.get(name, ())),
            )
        with self._lock:
            self._fired = []
            self._armed = points

    def disarm(self) -> None:
        """Make every point a no-op again; the record of fired faults is kept."""
        with self._lock:
            self._armed = None

    def point(self, name: str) -> None:
        """Declare a fault point; raises :class:`ChaosFault` when the armed plan says so."""
        armed = self._armed
        if armed is None:
            return
        self._seen.add(name)
        target = armed.get(name)
        if target is None:
            return
        with self._lock:
            target.hits += 1
            hit = target.hits
            # Draw on every hit so the sequence depends only on the hit count.
            strike = target.rng.random() < target.probability or hit in target.at_hits
            if strike:
                self._fired.append(FaultFired(name, hit))
        if strike:
            raise ChaosFault(name, hit)

    def fired(self) -> list[FaultFired]:
        """Faults raised since the last :meth:`arm`, in the order they were raised."""
        with self._lock:
            return list(self._fired)

    def seen_points(self) -> set[str]:
        """Points hit while armed (whether or not the plan named them)."""
        with self._lock:
            return set(self._seen)


FAULTS = Faults()
"""The process-wide fault set used by :func:`point` and by components given no other."""


def point(name: str) -> None:
    """Declare a fault point on the global :data:`FAULTS`."""
    FAULTS.point(name)
