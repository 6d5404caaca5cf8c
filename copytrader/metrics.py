"""Prometheus metrics of one engine, on its own registry (several engines can share a process).

Actors receive the :class:`Metrics` object at construction and update it through the Protocol
they own (``actors.telemetry.ActorMetrics``, which this class satisfies structurally: mypy checks
it below); the HTTP endpoint (``copytrader.health``) serves ``registry``. Names are the operator
contract: dashboards and alert rules in ``deploy/`` use them, so renaming one is a breaking
change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.process_collector import ProcessCollector

if TYPE_CHECKING:
    from actors.telemetry import ActorMetrics

#: Replication latency buckets: sub-millisecond to a few seconds.
LATENCY_BUCKETS_S = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.0,
)

#: Copy slippage buckets, in basis points (positive: worse for the follower).
SLIPPAGE_BUCKETS_BPS = (
    -100.0,
    -50.0,
    -25.0,
    -10.0,
    -5.0,
    -2.0,
    0.0,
    2.0,
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
)


class Metrics:
    """Every metric the engine exports."""

    def __init__(self, registry: CollectorRegistry | None = None, *, process: bool = True) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        if process:
            ProcessCollector(registry=self.registry)
        r = self.registry
        self.replication_latency = Histogram(
            "copytrader_replication_latency_seconds",
            "Leader event received -> follower order acknowledged by the broker.",
            ["follower"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.copy_slippage = Histogram(
            "copytrader_copy_slippage_bps",
            "A fully filled copy's average fill price against its leader order's, in basis "
            "points of the leader's price, signed so that positive is worse for the follower "
            "(BUY: paid more; SELL: received less). Observed once per copy when it settles "
            "fully filled and the leader's average fill price is known.",
            ["follower"],
            buckets=SLIPPAGE_BUCKETS_BPS,
            registry=r,
        )
        self.follower_orders = Counter(
            "copytrader_follower_orders_total",
            "Broker calls for follower orders, by action and outcome.",
            ["follower", "action", "outcome"],
            registry=r,
        )
        self.actor_restarts = Counter(
            "copytrader_actor_restarts_total",
            "Actor restarts by the supervisors.",
            ["actor"],
            registry=r,
        )
        self.feed_connected = Gauge(
            "copytrader_feed_connected",
            "1 while the leader's order-update socket is connected and logged in.",
            registry=r,
        )
        self.feed_reconnects = Counter(
            "copytrader_feed_reconnects_total",
            "Connections of the leader socket after the first.",
            registry=r,
        )
        self.rate_limited = Counter(
            "copytrader_rate_limited_total",
            "DH-904 / HTTP 429 answers from the broker, per account.",
            ["account"],
            registry=r,
        )
        self.intents_unresolved = Gauge(
            "copytrader_intents_unresolved",
            "Follower intents not yet settled (planned, in flight, unknown, out of sync).",
            registry=r,
        )
        self.leader_events = Counter(
            "copytrader_leader_events_total",
            "Leader order events journaled, by kind (socket, reconcile, duplicate, malformed).",
            ["kind"],
            registry=r,
        )
        self.leader_reconciles = Counter(
            "copytrader_leader_reconcile",
            "REST reconciles of the leader's books, by trigger (connect: after a (re)connect; "
            "periodic: every engine.leader_reconcile_s; frame_lost: a malformed leader frame) and "
            "outcome (ok, error).",
            ["trigger", "outcome"],
            registry=r,
        )
        self.follower_quarantined = Gauge(
            "copytrader_follower_quarantined",
            "1 while a follower's subtree is quarantined after too many restarts.",
            ["follower"],
            registry=r,
        )
        self.follower_paused = Gauge(
            "copytrader_follower_paused",
            "1 while a follower is paused (token rejected, DH-901) until a token reload.",
            ["follower"],
            registry=r,
        )
        self.follower_mode = Gauge(
            "copytrader_follower_mode",
            "1 for each follower's operator mode (normal, paused, close_only; set by the "
            "pause / close-only / resume commands), 0 for the others.",
            ["follower", "mode"],
            registry=r,
        )
        self.static_ip_refused = Counter(
            "copytrader_static_ip_refused",
            "Order writes Dhan refused because they left from an address that is not the "
            "follower's registered static IP; the follower is paused at the first (no retries) "
            "until the engine restarts with a fixed egress.source_address.",
            ["follower"],
            registry=r,
        )
        self.position_drift = Gauge(
            "copytrader_position_drift",
            "A follower's position minus its expected one (the leader's fills scaled by the "
            "follower's sizing, less the copies skipped for a recorded reason), in lots, per "
            "security (segment:securityId:product); computed from the journal every 10 s.",
            ["follower", "security"],
            registry=r,
        )
        self.mailbox_depth = Gauge(
            "copytrader_mailbox_depth",
            "Messages waiting in an actor's inbox.",
            ["actor"],
            registry=r,
        )
        self.token_expiry = Gauge(
            "copytrader_token_expiry_timestamp_seconds",
            "When each account's access token expires (Unix time, GET /profile tokenValidity; "
            "the time of the check when Dhan rejected the token).",
            ["account"],
            registry=r,
        )
        self.token_renewals = Counter(
            "copytrader_token_renewals_total",
            "Token replacements per account by outcome: renewed (RenewToken), generated "
            "(PIN + TOTP), failed (refused, unreachable, or nothing configured to replace it).",
            ["account", "outcome"],
            registry=r,
        )
        self.token_self_renewing = Gauge(
            "copytrader_token_self_renewing",
            "1 when the engine keeps the account's token fresh (renewal or PIN + TOTP) and its "
            "last attempt did not fail; 0 when the token must be rotated by hand.",
            ["account"],
            registry=r,
        )
        self.bracket_oco_cancels = Counter(
            "copytrader_bracket_oco_cancels_total",
            "Exit legs cancelled by the engine's own one-cancels-other.",
            ["follower"],
            registry=r,
        )
        self.store_up = Gauge(
            "copytrader_store_up",
            "1 while the journal's store is available (and its lease held); 0 while copying is "
            "paused for a store outage (down, disk full, locked, lease lost).",
            registry=r,
        )
        self.store_outages = Counter(
            "copytrader_store_outages",
            "Store outages seen (each pauses copying until the store is back).",
            registry=r,
        )


if TYPE_CHECKING:  # mypy holds Metrics to the actors' Protocol: a metric they use must exist here
    _ACTOR_METRICS: ActorMetrics = Metrics()
