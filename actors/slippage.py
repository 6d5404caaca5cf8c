"""Copy slippage: a follower's fill price against its leader's, in basis points (pure).

A copy's slippage is how much worse (positive) or better (negative) the follower's average fill
price is than the leader's average fill price of the order it copies:

* BUY:  (follower - leader) / leader * 10 000 (paying more is worse);
* SELL: (leader - follower) / leader * 10 000 (receiving less is worse).

It is taken once per copy, when the copy has fully filled (its order TRADED) and the leader
order's average fill price is known: ``copytrader_copy_slippage_bps{follower}`` observes it and
the journal keeps it as one account mark per copy (``mark_name``), which ``status`` reads for the
day (``day_summary``). Keeping it per copy (not a running sum) makes the write idempotent: a copy
settled twice (a restart, a book read after a socket frame) is counted once. ``CopySlippage``
(``actors.copy_slippage``) does the reads and writes; nothing here does I/O.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from dhan.codes import TransactionType

#: Indian Standard Time: the trading day (and the day ``status`` reports) starts at 00:00 IST.
IST = timezone(timedelta(hours=5, minutes=30), "IST")

#: The account marks holding one copy's slippage each: ``slippage:<YYYYMMDD IST>:<intent id>``
#: (``:<leg>`` for a bracket's exit leg), the value its bps as text.
MARK_PREFIX = "slippage:"


def slippage_bps(
    side: TransactionType | str, leader_avg: float, follower_avg: float
) -> float | None:
    """The follower's slippage in bps, positive when worse for the follower; None when either
    average price is missing (0, negative or not a number): no slippage is defined then."""
    if not (is_price(leader_avg) and is_price(follower_avg)):
        return None
    if TransactionType(side) is TransactionType.BUY:
        return (follower_avg - leader_avg) / leader_avg * 10_000
    return (leader_avg - follower_avg) / leader_avg * 10_000


def is_price(value: float) -> bool:
    """A usable average price: a finite number above 0 (0 is Dhan's "no fill")."""
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def trading_day(at: datetime | None = None) -> str:
    """``YYYYMMDD`` of the IST day ``at`` (aware; default now) falls in."""
    return (at or datetime.now(UTC)).astimezone(IST).strftime("%Y%m%d")


def mark_name(day: str, intent_id: int, leg: str = "") -> str:
    """The account mark of one copy's slippage (a bracket exit leg's: with its leg name)."""
    name = f"{MARK_PREFIX}{day}:{intent_id}"
    return f"{name}:{leg}" if leg else name


def day_prefix(day: str) -> str:
    """The prefix of every slippage mark of ``day`` (``Journal.marks(account, prefix)``)."""
    return f"{MARK_PREFIX}{day}:"


def mark_value(bps: float) -> str:
    """One slippage as a mark's text (a hundredth of a bp is finer than any tick)."""
    return f"{bps:.4f}"


@dataclass(frozen=True, slots=True)
class SlippageSummary:
    """One follower's slippage over a day's fully filled copies."""

    count: int
    mean_bps: float | None  #: None when ``count`` is 0
    median_bps: float | None
    worst_bps: float | None  #: the largest (worst for the follower)

    def line(self) -> str:
        if not self.count:
            return "no filled copy with both prices known"
        return (
            f"{self.count} copies, mean {self.mean_bps:+.1f} bps, median "
            f"{self.median_bps:+.1f} bps, worst {self.worst_bps:+.1f} bps"
        )


def day_summary(values: Iterable[str]) -> SlippageSummary:
    """The summary of a day's slippage marks' values; an unreadable value is left out."""
    bps: list[float] = []
    for text in values:
        try:
            value = float(text)
        except ValueError:
            continue
        if math.isfinite(value):
            bps.append(value)
    if not bps:
        return SlippageSummary(0, None, None, None)
    return SlippageSummary(len(bps), statistics.fmean(bps), statistics.median(bps), max(bps))
