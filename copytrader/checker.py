"""The invariant check, Jepsen style: compare the journal's intents with the follower books.

For every follower intent: exactly one broker order carries its correlationId when the copy was
placed (``ok``); none when it was rightly never sent (skipped, or the leader order ended first).
Two or more is ``duplicated``; a copy the journal says exists but the broker lacks is ``lost``;
a follower order whose correlationId no intent owns is ``unexpected``. The demo, the chaos suite
and ``copytrader reconcile`` print these counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from store.records import Intent
from store.states import IntentState

_EXIT_LEGS = ("TARGET_LEG", "STOP_LOSS_LEG")
_UNRESOLVED = (
    IntentState.PLANNED,
    IntentState.SENDING,
    IntentState.UNKNOWN,
    IntentState.MODIFYING,
    IntentState.CANCELLING,
)


@dataclass
class CheckResult:
    ok: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    unresolved: int = 0
    not_sent: int = 0  #: skipped / ended before copy: correctly absent
    problems: list[str] = field(default_factory=list)

    @property
    def bad(self) -> int:
        return self.lost + self.duplicated + self.unexpected + self.unresolved

    def line(self) -> str:
        return (
            f"ok={self.ok} lost={self.lost} duplicated={self.duplicated} "
            f"unexpected={self.unexpected} unresolved={self.unresolved} not_sent={self.not_sent}"
        )


def entry_orders(book: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """A book without bracket exit legs (those carry the entry's correlationId too)."""
    return [o for o in book if o.get("legName") not in _EXIT_LEGS]


def check_books(
    intents: Iterable[Intent], books: Mapping[str, Iterable[Mapping[str, Any]]]
) -> CheckResult:
    """``books``: follower name -> that follower's order book (REST ``GET /orders`` dicts)."""
    result = CheckResult()
    counts: dict[str, Counter[str]] = {
        name: Counter(str(o.get("correlationId") or "") for o in entry_orders(book))
        for name, book in books.items()
    }
    owned: dict[str, set[str]] = {name: set() for name in books}
    for intent in intents:
        if intent.follower not in counts:
            continue
        owned[intent.follower].add(intent.correlation_id)
        n = counts[intent.follower][intent.correlation_id]
        where = f"{intent.follower}/{intent.leader_order_id} ({intent.correlation_id})"
        if n > 1:
            result.duplicated += 1
            result.problems.append(f"duplicated x{n}: {where}")
        elif intent.state in _UNRESOLVED:
            result.unresolved += 1
            result.problems.append(f"unresolved {intent.state}: {where}")
        elif n == 1:
            result.ok += 1
        elif intent.broker_order_id is not None or intent.state is IntentState.WORKING:
            result.lost += 1
            result.problems.append(f"lost: {where}")
        else:
            result.not_sent += 1
    for name, counter in counts.items():
        for cid, n in counter.items():
            if cid not in owned[name]:
                result.unexpected += n
                result.problems.append(f"unexpected: {name} order(s) with correlationId {cid!r}")
    return result
