"""The metrics the actors update, as a Protocol the actor layer owns.

``copytrader.metrics.Metrics`` (the Prometheus registry the engine serves) satisfies it
structurally -- mypy holds it to this list -- so the actors need nothing from the package above
them. The list is exactly what ``actors/`` touches; a new metric an actor updates is added here
and there.
"""

from __future__ import annotations

from typing import Protocol, TypeVar, runtime_checkable

_M_co = TypeVar("_M_co", covariant=True)


class Counter(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class Gauge(Protocol):
    def set(self, value: float) -> None: ...


class Histogram(Protocol):
    def observe(self, amount: float) -> None: ...


class Labelled(Protocol[_M_co]):
    """A metric family: ``labels(...)`` picks the child of those label values."""

    def labels(self, *labelvalues: str) -> _M_co: ...


@runtime_checkable
class ActorMetrics(Protocol):
    """Every metric an actor updates (read-only: the actors never rebind one)."""

    # FollowerActor
    @property
    def replication_latency(self) -> Labelled[Histogram]: ...  # (follower)
    @property
    def copy_slippage(self) -> Labelled[Histogram]: ...  # (follower); BracketLegActor's too
    @property
    def follower_orders(self) -> Labelled[Counter]: ...  # (follower, action, outcome)
    @property
    def follower_paused(self) -> Labelled[Gauge]: ...  # (follower)
    @property
    def follower_mode(self) -> Labelled[Gauge]: ...  # (follower, mode); OperatorModeActor's
    @property
    def static_ip_refused(self) -> Labelled[Counter]: ...  # (follower)
    @property
    def rate_limited(self) -> Labelled[Counter]: ...  # (account); the leader feed's too

    # BracketLegActor (and follower_orders, rate_limited)
    @property
    def bracket_oco_cancels(self) -> Labelled[Counter]: ...  # (follower)

    # LeaderFeedActor
    @property
    def feed_connected(self) -> Gauge: ...
    @property
    def feed_reconnects(self) -> Counter: ...
    @property
    def leader_reconciles(self) -> Labelled[Counter]: ...  # (trigger, outcome)
    @property
    def leader_events(self) -> Labelled[Counter]: ...  # (kind)
