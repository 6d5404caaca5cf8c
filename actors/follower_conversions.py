"""A follower's part of the leader's position conversions: journaled marks, sent at most once.

The leader feed notices a conversion in the leader's positions and journals each follower's
part as a mark (``actors.conversions.plan``: ``conversion:<id>`` -> PLANNED), then hints the
follower. The follower (this class, on its actor's thread) sends each planned one:

```
PLANNED --(mark SENDING, committed)--> POST /positions/convert --> DONE | REFUSED (the broker said
no: its reason kept); not sent, or refused for the token, the source address or the rate ->
PLANNED again, retried on the next hint, start or token reload
SENDING found at start, or an answer lost (timeout, 5xx) -> UNKNOWN: never sent again
```

A conversion has no correlationId to look up, so one that may have reached the broker is never
sent a second time: the drift report (``reconcile --positions``) shows whether it took effect,
and ``resync`` repairs it on the operator's word. After a conversion the follower's journaled
positions are set from the broker's (``position_check``), since no fill moves them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from actors.conversions import (
    CONVERSION_MARK,
    DONE,
    PLANNED,
    REFUSED,
    SENDING,
    UNKNOWN,
    FollowerConversion,
)
from dhan import errors
from dhan.codes import ExchangeSegment, PositionType, ProductType
from dhan.models import ConvertRequest
from dhan.rest import DhanClient
from store import Journal

logger = logging.getLogger(__name__)

#: Answers that leave a conversion undone and decide nothing about it: sent again later.
_NOT_DONE = (errors.NotSent, errors.AuthError, errors.StaticIpRefused, errors.RateLimited)


class ConversionRunner:
    """Sends one follower's planned conversions (its actor's thread only)."""

    def __init__(
        self,
        account: str,
        client: DhanClient,
        journal: Journal,
        audit: Callable[[str, dict[str, Any]], None],
        recheck: Callable[[], object],
    ) -> None:
        self.account = account
        self.client = client
        self.journal = journal
        self.audit = audit
        #: sets the follower's journaled positions from the broker's (after a conversion)
        self.recheck = recheck

    def adopt(self) -> None:
        """At start: a conversion a previous incarnation was sending may have reached the
        broker; it becomes UNKNOWN (never sent again)."""
        for name, part in self._marks(SENDING):
            self._set(name, replace(part, state=UNKNOWN, detail="the engine stopped mid-send"))
            logger.warning(
                "%s: conversion %s may or may not have reached the broker; not sent again "
                "(see reconcile --positions)",
                self.account,
                name,
            )

    def run(self) -> int:
        """Send every planned conversion; how many took effect."""
        done = 0
        for name, part in self._marks(PLANNED):
            self._set(name, replace(part, state=SENDING))
            outcome = self._send(part)
            self._set(name, outcome)
            self.audit(
                "position_converted",
                {
                    "mark": name,
                    "state": outcome.state,
                    "detail": outcome.detail,
                    "exchange_segment": part.exchange_segment,
                    "security_id": part.security_id,
                    "from_product": part.from_product,
                    "to_product": part.to_product,
                    "position_type": part.position_type,
                    "quantity": part.quantity,
                },
            )
            if outcome.state == DONE:
                done += 1
        if done:
            self.recheck()
        return done

    def _send(self, part: FollowerConversion) -> FollowerConversion:
        try:
            self.client.convert_position(
                ConvertRequest(
                    from_product_type=ProductType(part.from_product),
                    to_product_type=ProductType(part.to_product),
                    exchange_segment=ExchangeSegment(part.exchange_segment),
                    position_type=PositionType(part.position_type),
                    security_id=part.security_id,
                    convert_qty=part.quantity,
                )
            )
        except _NOT_DONE as exc:
            # not done, and nothing the broker decided about the conversion itself: sent
            # again at the next hint, start or token reload
            logger.info("%s: conversion not sent (%s); retried later", self.account, exc)
            return replace(part, state=PLANNED)
        except (errors.OutcomeUnknown, errors.BadResponse) as exc:
            return replace(part, state=UNKNOWN, detail=str(exc))
        except errors.Rejected as exc:
            logger.warning("%s: conversion refused: %s", self.account, exc)
            return replace(part, state=REFUSED, detail=str(exc))
        except ValueError as exc:  # a mark the broker's codes do not know
            return replace(part, state=REFUSED, detail=f"bad conversion: {exc}")
        return replace(part, state=DONE)

    def _marks(self, state: str) -> list[tuple[str, FollowerConversion]]:
        found = []
        for name, value in sorted(self.journal.marks(self.account, CONVERSION_MARK).items()):
            try:
                part = FollowerConversion.decode(value)
            except ValueError:
                logger.error("%s: damaged conversion mark %s skipped", self.account, name)
                continue
            if part.state == state:
                found.append((name, part))
        return found

    def _set(self, name: str, part: FollowerConversion) -> None:
        self.journal.set_mark(self.account, name, part.encode())
