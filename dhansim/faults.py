"""The nemesis: fault plans set with ``PUT /sim/faults`` and the seeded draws that apply them.

REST faults (per endpoint, optionally per account): added latency with jitter, a probability of
a 5xx (DH-908 JSON, or a gateway HTML page), of a read timeout (the server holds the request and
closes without answering), of accept-then-drop (processed, then the connection is cut before the
answer: the outcome-unknown case) and of a DH-904 storm. Socket faults: malformed frames and a
stall (no frames, no pongs, no pings). Every draw uses the simulator's seeded fault RNG.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_REST_KEYS = (
    "latency_ms",
    "jitter_ms",
    "error_5xx_p",
    "error_5xx_html",
    "timeout_p",
    "timeout_hold_s",
    "timeout_after_processing",
    "accept_then_drop_p",
    "rate_limit_storm_p",
)
_TOP_KEYS = (*_REST_KEYS, "socket_malformed_p", "socket_stall", "accounts", "per_endpoint")


@dataclass(frozen=True, slots=True)
class RestFaults:
    """Faults for the requests of one endpoint."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_5xx_p: float = 0.0
    error_5xx_html: bool = False  # a 502 HTML gateway page instead of a DH-908 JSON 500
    timeout_p: float = 0.0
    timeout_hold_s: float = 30.0
    timeout_after_processing: bool = False  # the held request was executed before the cut
    accept_then_drop_p: float = 0.0
    rate_limit_storm_p: float = 0.0

    @property
    def active(self) -> bool:
        return any(
            (
                self.latency_ms,
                self.jitter_ms,
                self.error_5xx_p,
                self.timeout_p,
                self.accept_then_drop_p,
                self.rate_limit_storm_p,
            )
        )


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """The whole fault configuration (``GET /sim/faults`` shows it back)."""

    default: RestFaults = dataclasses.field(default_factory=RestFaults)
    per_endpoint: Mapping[str, RestFaults] = dataclasses.field(default_factory=dict)
    socket_malformed_p: float = 0.0
    socket_stall: bool = False
    accounts: frozenset[str] | None = None  # None: every account

    def rest_for(self, endpoint: str, account: str | None) -> RestFaults | None:
        if self.accounts is not None and account not in self.accounts:
            return None
        faults = self.per_endpoint.get(endpoint, self.default)
        return faults if faults.active else None

    def socket_applies(self, account: str) -> bool:
        return self.accounts is None or account in self.accounts

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dataclasses.asdict(self.default)
        out["per_endpoint"] = {k: dataclasses.asdict(v) for k, v in self.per_endpoint.items()}
        out["socket_malformed_p"] = self.socket_malformed_p
        out["socket_stall"] = self.socket_stall
        out["accounts"] = sorted(self.accounts) if self.accounts is not None else None
        return out


def _rest_from(data: Mapping[str, Any], base: RestFaults) -> RestFaults:
    changes: dict[str, Any] = {}
    for key in _REST_KEYS:
        if key not in data:
            continue
        value = data[key]
        current = getattr(base, key)
        if isinstance(current, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{key} takes true/false")
            changes[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValueError(f"{key} takes a number >= 0")  # "not >=" also refuses NaN
        if not math.isfinite(value):
            raise ValueError(f"{key} takes a finite number")
        if key.endswith("_p") and value > 1:
            raise ValueError(f"{key} is a probability in [0, 1]")
        changes[key] = float(value)
    return dataclasses.replace(base, **changes)


def parse_fault_plan(data: Any) -> FaultPlan:
    """Parse the ``PUT /sim/faults`` body; raises ``ValueError`` naming the bad key."""
    if not isinstance(data, Mapping):
        raise ValueError("the fault plan must be a JSON object")
    unknown = set(data) - set(_TOP_KEYS)
    if unknown:
        raise ValueError(f"unknown fault keys {sorted(unknown)}; known: {sorted(_TOP_KEYS)}")
    default = _rest_from(data, RestFaults())
    per_endpoint: dict[str, RestFaults] = {}
    raw_per = data.get("per_endpoint") or {}
    if not isinstance(raw_per, Mapping):
        raise ValueError("per_endpoint maps 'METHOD /path' to fault settings")
    for endpoint, settings in raw_per.items():
        if not isinstance(settings, Mapping) or set(settings) - set(_REST_KEYS):
            raise ValueError(f"per_endpoint[{endpoint!r}] takes only {list(_REST_KEYS)}")
        per_endpoint[str(endpoint)] = _rest_from(settings, default)
    malformed = data.get("socket_malformed_p", 0.0)
    if isinstance(malformed, bool) or not isinstance(malformed, int | float):
        raise ValueError("socket_malformed_p takes a number")
    if not 0 <= malformed <= 1:  # also false for NaN
        raise ValueError("socket_malformed_p is a probability in [0, 1]")
    stall = data.get("socket_stall", False)
    if not isinstance(stall, bool):
        raise ValueError("socket_stall takes true/false")
    accounts = data.get("accounts")
    if accounts is not None and (
        not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts)
    ):
        raise ValueError("accounts takes a list of dhanClientIds, or null for all")
    return FaultPlan(
        default=default,
        per_endpoint=per_endpoint,
        socket_malformed_p=float(malformed),
        socket_stall=stall,
        accounts=frozenset(accounts) if accounts is not None else None,
    )


class FaultDice:
    """Seeded draws for fault decisions (one RNG per simulator, separate from prices)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def hit(self, probability: float) -> bool:
        if probability <= 0:
            return False
        if probability >= 1:
            return True
        return self._rng.random() < probability

    def latency_s(self, faults: RestFaults) -> float:
        if not faults.latency_ms and not faults.jitter_ms:
            return 0.0
        jitter = self._rng.uniform(-faults.jitter_ms, faults.jitter_ms) if faults.jitter_ms else 0
        return max(0.0, faults.latency_ms + jitter) / 1000.0

    def malformed_frame(self) -> str:
        """One of the broken frames a client must log, count and skip."""
        choices = (
            '{"Type":"order_alert","Data":{"OrderNo":',  # truncated JSON
            "not json at all",
            '{"Type":"order_alert","Data":"oops"}',  # Data is not an object
            '{"Type":"order_alert"}',  # no Data
            '{"Type":"heartbeat_v9","Data":{}}',  # unknown Type
            '{"Type":"order_alert","Data":{"OrderNo":null,"Status":42,"Quantity":"x"}}',
            "[]",
        )
        return self._rng.choice(choices)
