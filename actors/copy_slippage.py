"""Recording copy slippage when a copy has fully filled (``actors.slippage`` holds the maths).

Used on the settling actor's thread (the follower's ``CopySettler``, a ``BracketLegActor``),
never on the send path. Per batch of fills it reads each leader order's latest snapshot once
(its average fill price); the copies' slippage marks are written in the settle's own
transaction (``CopySettler``: ``Journal.transitions(marks=...)``, no commit of their own) or in
one of their own (``filled``), and each is observed once its fill is journaled.

A copy whose leader order has no average price in the journal yet (the copy's fill settled
before the leader's traded frame was journaled: two LIMIT orders filling in the same instant)
waits in memory and is measured again on the follower's ticks (``retry``) for up to
``LEADER_PRICE_WAIT_S``. Not measured (counted in ``unpriced`` and logged at debug): a copy
whose leader order still has no average price then (seen only in a REST book row without one),
a copy whose own order reports no average price, a copy waiting when its actor stops. A copy
that ends partly filled (cancelled, expired) is not a fully filled copy and is not measured.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from actors.slippage import (
    SlippageSummary,
    day_prefix,
    day_summary,
    is_price,
    mark_name,
    mark_value,
    slippage_bps,
    trading_day,
)
from dhan.codes import OrderStatus, TransactionType
from store import Journal
from store.records import LeaderOrderSnapshot

logger = logging.getLogger(__name__)

#: How long a fully filled copy waits for its leader order's average price to be journaled.
LEADER_PRICE_WAIT_S = 30.0


@dataclass(frozen=True, slots=True)
class FilledCopy:
    """One copy (or a bracket exit leg of one) that has just fully filled."""

    intent_id: int
    leader_order_id: str
    side: TransactionType
    follower_avg: float
    #: ``""``: the copy itself; else the bracket exit leg's name (marked apart)
    leg: str = ""
    #: the leader's average fill price when the caller has it (a bracket's exit leg: the
    #: leader's same leg); None: read from the leader order's latest snapshot (plain or entry)
    leader_avg: float | None = None


@dataclass(slots=True)
class CopySlippage:
    """One follower's slippage recorder (see the module docstring)."""

    account: str
    journal: Journal
    #: the follower's ``copytrader_copy_slippage_bps`` child: called with each copy's bps
    observe: Callable[[float], None]
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    #: fully filled copies not measured for a missing price (see the module docstring)
    unpriced: int = 0
    #: copies waiting for their leader order's average price: (intent id, leg) -> the copy
    #: and the monotonic time it stops waiting
    waiting: dict[tuple[int, str], tuple[FilledCopy, float]] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic

    def measure(self, copies: Iterable[FilledCopy]) -> list[tuple[FilledCopy, float]]:
        """Each of ``copies`` with both prices known, with its bps (each leader order's
        snapshot read once). A copy whose leader order has no average price yet waits
        (``retry``); any other is counted in ``unpriced``."""
        snaps: dict[str, LeaderOrderSnapshot | None] = {}
        measured: list[tuple[FilledCopy, float]] = []
        for copy in copies:
            bps = self._bps(copy, snaps)
            if bps is not None:
                measured.append((copy, bps))
            elif copy.leader_avg is None and is_price(copy.follower_avg):
                self.waiting[(copy.intent_id, copy.leg)] = (
                    copy,
                    self.clock() + LEADER_PRICE_WAIT_S,
                )
            else:
                self._unpriced(copy, "the copy's or its leader leg's average price is unknown")
        return measured

    def retry(self) -> int:
        """Measure the waiting copies whose leader order's average price has been journaled
        since (journaled in one transaction, observed); drop those waiting too long. Called
        on the follower's ticks: nothing to do (the usual case) costs nothing."""
        if not self.waiting:
            return 0
        now = self.clock()
        snaps: dict[str, LeaderOrderSnapshot | None] = {}
        measured: list[tuple[FilledCopy, float]] = []
        for key, (copy, until) in list(self.waiting.items()):
            bps = self._bps(copy, snaps)
            if bps is not None:
                measured.append((copy, bps))
            elif now < until:
                continue
            else:
                self._unpriced(copy, "its leader order has no average price in the journal")
            del self.waiting[key]
        if measured:
            self.journal.set_marks(self.account, self.marks(measured))
            for _copy, bps in measured:
                self.observe(bps)
        return len(measured)

    def _bps(self, copy: FilledCopy, snaps: dict[str, LeaderOrderSnapshot | None]) -> float | None:
        leader_avg = copy.leader_avg
        if leader_avg is None:
            oid = copy.leader_order_id
            if oid not in snaps:
                snaps[oid] = self.journal.leader_snapshot(oid)
            snap = snaps[oid]
            leader_avg = snap.avg_price if snap is not None else 0.0
        return slippage_bps(copy.side, leader_avg, copy.follower_avg)

    def _unpriced(self, copy: FilledCopy, why: str) -> None:
        self.unpriced += 1
        logger.debug(
            "follower %s: copy %s of leader order %s%s filled; slippage not measured: %s",
            self.account,
            copy.intent_id,
            copy.leader_order_id,
            f" {copy.leg}" if copy.leg else "",
            why,
        )

    def marks(self, measured: Iterable[tuple[FilledCopy, float]]) -> dict[str, str]:
        """The account marks that journal ``measured`` (name -> bps), under today (IST)."""
        day = trading_day(self.now())
        return {mark_name(day, copy.intent_id, copy.leg): mark_value(bps) for copy, bps in measured}

    def filled(self, copies: Iterable[FilledCopy]) -> int:
        """Journal (one transaction) and observe the slippage of ``copies``, which have just
        fully filled; returns how many were measured."""
        measured = self.measure(copies)
        if measured:
            self.journal.set_marks(self.account, self.marks(measured))
            for _copy, bps in measured:
                self.observe(bps)
        return len(measured)


def is_full_fill(status: OrderStatus | None) -> bool:
    """A copy's order that has fully filled (Dhan's TRADED: the whole quantity traded)."""
    return status is OrderStatus.TRADED


def day_slippage(journal: Journal, follower: str, day: str | None = None) -> SlippageSummary:
    """``follower``'s slippage over the IST ``day`` (default today) as the journal holds it:
    the marks written by ``CopySlippage`` (``status`` and the demo summary read them)."""
    marks = journal.marks(follower, day_prefix(day or trading_day()))
    return day_summary(marks.values())
