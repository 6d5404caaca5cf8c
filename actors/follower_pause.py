"""Whether a follower is paused, and why: a refused token or a refused source address.

A paused ``FollowerActor`` sends nothing; a token reload lifts a token pause, while a refused
static IP needs an egress change and a restart (a new actor, a new pause state).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from actors.telemetry import ActorMetrics
from dhan import errors

logger = logging.getLogger(__name__)


class FollowerPause:
    """One follower's pause (used on its actor's thread only)."""

    def __init__(
        self,
        account: str,
        client_id: str,
        source_address: str | None,
        metrics: ActorMetrics,
        audit: Callable[[str, dict[str, Any]], None],
    ) -> None:
        self.account = account
        self.client_id = client_id
        #: the egress address orders are written from (None: the host's default route)
        self.source_address = source_address
        self.metrics = metrics
        self.audit = audit
        #: why the follower is paused; None: it is not
        self.reason: str | None = None
        #: paused because Dhan refused our source address (static IP): a token reload does not
        #: lift it; an egress change needs a restart, which starts a new actor
        self.ip_refused = False

    def for_token(self, reason: str) -> None:
        """Pause until a new token comes (``token_reloaded``)."""
        if self.reason is None:
            logger.error(
                "follower %s paused: %s -- put a new token in the config or env file, then SIGHUP",
                self.account,
                reason,
            )
            self.audit("follower_paused", {"reason": reason})
        self.reason = reason
        self.metrics.follower_paused.labels(self.account).set(1)

    def for_source_address(self, exc: errors.StaticIpRefused) -> None:
        """Pause until a restart: Dhan refused an order write from our source address."""
        self.metrics.static_ip_refused.labels(self.account).inc()
        if self.ip_refused:
            return
        source = self.source_address
        logger.error(
            "follower %s paused: Dhan refused an order write of account %s from source address %s"
            " (%s: %s) -- register that address as the account's static IP with Dhan, or set"
            " egress.source_address to the registered one and restart the engine",
            self.account,
            self.client_id,
            source or "(none configured: the host's default route)",
            exc.code,
            exc.message[:120],
        )
        self.audit(
            "follower_paused",
            {"reason": "static IP refused", "source_address": source, "code": exc.code},
        )
        self.ip_refused = True
        self.reason = f"static IP refused ({exc.code}) from {source or 'default route'}"

    def token_reloaded(self) -> bool:
        """A new token came: lift a token pause. False: still paused (static IP refused)."""
        if self.ip_refused:
            return False  # a new token does not change the address we write from
        if self.reason is not None:
            logger.warning("follower %s: token reloaded, resuming", self.account)
            self.audit("follower_resumed", {"reason": "token reloaded"})
        self.reason = None
        self.metrics.follower_paused.labels(self.account).set(0)
        return True
