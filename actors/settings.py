"""What the actors are told by the config: engine settings, and each follower's copy rules.

These types belong to the actor layer, so ``actors/`` never imports the CLI and wiring package
above it. ``copytrader.config`` reads them from ``config.yaml`` (each default is written here,
once: the reader leaves a key out and the dataclass default applies) and composes them with
what only the wiring needs: access tokens, proxies, URLs, the store, the HTTP endpoint.

An actor never sees a token or a proxy: the engine hands it :attr:`FollowerConfig.settings
<copytrader.config.FollowerConfig.settings>`, a plain :class:`FollowerSettings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from dhan.codes import ExchangeSegment, ProductType


class SizingMode(StrEnum):
    MULTIPLIER = "multiplier"  # follower qty = leader qty x multiplier
    FIXED = "fixed"  # follower qty = quantity, whatever the leader's
    CAPITAL = "capital"  # leader qty x (follower balance / leader balance) x capital_multiplier


class ReconcilePolicy(StrEnum):
    """What to do with a leader order the socket missed and a REST reconcile found."""

    COPY_OPEN = "copy_open"  # copy it if it is still open
    COPY_ALL = "copy_all"  # copy it even if it already finished (e.g. filled while we were down)
    SKIP = "skip"  # never copy; audit it
    ALERT = "alert"  # never copy; audit it and log a warning


@dataclass(frozen=True, slots=True)
class SizingConfig:
    """How a follower's quantity follows the leader's (rounded down to the lot by the engine).

    Only the field of the chosen ``mode`` is meaningful; the others keep their defaults.
    """

    mode: SizingMode
    multiplier: float = 1.0  # mode multiplier
    quantity: int = 0  # mode fixed
    capital_multiplier: float = 1.0  # mode capital: extra factor on the balance ratio

    def describe(self) -> str:
        if self.mode is SizingMode.MULTIPLIER:
            return f"multiplier x{self.multiplier:g}"
        if self.mode is SizingMode.FIXED:
            return f"fixed {self.quantity}"
        return f"capital x{self.capital_multiplier:g}"


@dataclass(frozen=True, slots=True)
class CapsConfig:
    """Upper bounds on one follower order (``None`` = no cap)."""

    max_order_quantity: int | None = None
    max_order_value_inr: float | None = None


@dataclass(frozen=True, slots=True)
class FiltersConfig:
    """Which leader orders a follower copies. An empty set means "all"."""

    exchange_segments: frozenset[ExchangeSegment] = frozenset()
    products: frozenset[ProductType] = frozenset()
    security_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Egress:
    """The local address an account's orders leave from (``None``: the host's default route).

    The actors only name it when Dhan refuses an order for its source address (static IP);
    how to connect (the proxy, which may carry credentials) stays with the wiring.
    """

    source_address: str | None = None


@dataclass(frozen=True, slots=True)
class FollowerSettings:
    """One follower as its actors see it: who it is, whether and how it copies. No token."""

    name: str
    client_id: str
    sizing: SizingConfig
    enabled: bool = True
    caps: CapsConfig = field(default_factory=CapsConfig)
    filters: FiltersConfig = field(default_factory=FiltersConfig)
    egress: Egress | None = None
    #: Copy a leader MARKET order only once the broker accepted it (PENDING or a fill), never
    #: on its TRANSIT frame: a copy of an order the leader's RMS then rejects is not placed.
    copy_market_after_accept: bool = True
    #: The exchange's algo ID registered for this account's order flow (SEBI's retail algo
    #: framework): required when ``engine.max_orders_per_second`` is 10 or more. Journaled
    #: and audited; not sent to Dhan, whose place-order API documents no field for it
    #: (docs/operations.md, "Compliance").
    algo_id: str | None = None


@dataclass(frozen=True, slots=True)
class EngineConfig:
    reconcile_policy: ReconcilePolicy = ReconcilePolicy.COPY_OPEN
    follower_tick_s: float = 2.0
    bracket_tick_s: float = 1.0
    fund_refresh_s: float = 60.0
    outcome_lookup_delay_s: float = 0.5
    audit_path: str = "copytrader-audit.jsonl"
    #: Leader order book re-read over REST this often even while the socket is up (0 = only
    #: after a (re)connect): the socket never replays, and a frame it silently lost is found here.
    leader_reconcile_s: float = 30.0
    #: A follower actor crashing more than this many times in ``follower_restart_period_s``
    #: is quarantined (its subtree stops, the other followers go on).
    follower_max_restarts: int = 5
    follower_restart_period_s: float = 60.0
    #: ``"SEGMENT:securityId"`` -> the exchange's freeze quantity (largest order it accepts):
    #: a sized copy above it goes out as several orders (``actors.slicing``).
    freeze_quantities: Mapping[str, int] = field(default_factory=dict)
    #: Each follower has its own order-update socket: fills and ends of its copies arrive as
    #: events and its book is read only as a fallback (socket down) and a slow safety read.
    #: False: every follower polls its book on its ticks (the engine before issue 16).
    follower_sockets: bool = True
    #: Order writes (place / modify / cancel) per second per follower account. Below 10 by
    #: default: 10 or more a second is the exchange's threshold for a registered algo, so 10
    #: requires every follower's ``algo_id``; above 10 is Dhan's own limit and is refused.
    max_orders_per_second: int = 9
    #: An entry the leader traded longer ago than this (seconds), first seen by a REST
    #: reconcile, is not copied (reason ``stale: ...``); resting orders and exits always are.
    #: None: no age limit (``actors.late_entries``).
    max_entry_age_s: float | None = None
    #: A filled MARKET entry first seen by a REST reconcile is copied as a LIMIT this many
    #: percent worse than the leader's average fill, never as a MARKET order. None: as MARKET.
    max_entry_deviation_pct: float | None = None
