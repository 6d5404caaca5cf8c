"""The invariant check, Jepsen style: compare the journal's intents with the follower books.

For every follower intent: exactly one broker order carries its correlationId when the copy was
placed (``ok``); none when it was rightly never sent (skipped, or the leader order ended first).
Two or more is ``duplicated``; a copy the journal says exists but the broker lacks is ``lost``;
a follower order whose correlationId no intent owns is ``unexpected``. A copy the engine
cancelled (unfilled, below one lot) and placed again when the leader raised its order has a
new correlationId *generation* (``dhan.correlation``): its earlier orders are superseded, fine
when they ended unfilled, a ``duplicated`` copy when one is still open or filled. Given the
leader's book, each copy's content is judged against the leader's order scaled
(``copy_content.judge_copy``: status, quantities, type, price, trigger, validity, every exit
leg): ``wrong`` counts those that differ, and copies missing for a reason that no longer holds.
The demo, the chaos suite and ``copytrader reconcile`` print these counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from actors.sizing import SizingContext
from copytrader.config import FollowerConfig
from copytrader.copy_content import Verdict, admin_contents, judge_copy
from dhan.correlation import correlation_id_for, first_generation_id, generation_of
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
    ok: int = 0  #: copies at the broker exactly once (their content is ``wrong``'s business)
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    unresolved: int = 0
    not_sent: int = 0  #: skipped / ended before copy: correctly absent
    wrong: int = 0  #: copies whose content differs from the leader's order, scaled
    problems: list[str] = field(default_factory=list)

    @property
    def bad(self) -> int:
        return self.lost + self.duplicated + self.unexpected + self.unresolved + self.wrong

    def line(self) -> str:
        return (
            f"ok={self.ok} lost={self.lost} duplicated={self.duplicated} "
            f"unexpected={self.unexpected} unresolved={self.unresolved} not_sent={self.not_sent} "
            f"wrong={self.wrong}"
        )


def entry_orders(book: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """A book without bracket exit legs (those carry the entry's correlationId too)."""
    return [o for o in book if o.get("legName") not in _EXIT_LEGS]


#: Statuses of an earlier generation's order that a re-placed copy may leave behind.
_ENDED_UNFILLED = ("CANCELLED", "REJECTED", "EXPIRED")


def superseded_is_clean(order: Mapping[str, Any]) -> bool:
    """True when an earlier generation's order of a re-placed copy ended unfilled: the engine
    re-places a copy only after such an end, so anything else is a second live copy."""
    return order.get("orderStatus") in _ENDED_UNFILLED and not int(order.get("filledQty") or 0)


def current_generations(
    orders: Iterable[Mapping[str, Any]],
) -> tuple[dict[str, list[Mapping[str, Any]]], dict[str, list[Mapping[str, Any]]]]:
    """A book's entry orders by the copy they belong to (its first-generation correlationId):
    ``(current, earlier)`` -- the orders of each copy's latest generation, and those of the
    generations before it."""
    by_copy: dict[str, list[Mapping[str, Any]]] = {}
    for o in orders:
        cid = str(o.get("correlationId") or "")
        by_copy.setdefault(first_generation_id(cid) if cid else cid, []).append(o)
    current: dict[str, list[Mapping[str, Any]]] = {}
    earlier: dict[str, list[Mapping[str, Any]]] = {}
    for first, group in by_copy.items():
        latest = max(generation_of(str(o.get("correlationId") or "")) for o in group)
        for o in group:
            gen = generation_of(str(o.get("correlationId") or ""))
            (current if gen == latest else earlier).setdefault(first, []).append(o)
    return current, earlier


def check_books(
    intents: Iterable[Intent],
    books: Mapping[str, Iterable[Mapping[str, Any]]],
    *,
    leader_book: Iterable[Mapping[str, Any]] | None = None,
    followers: Iterable[FollowerConfig] = (),
    ctx: SizingContext | None = None,
) -> CheckResult:
    """``books``: follower name -> that follower's order book (REST ``GET /orders`` dicts).

    With ``leader_book`` (the simulator's admin view, as ``books`` then must be) and the
    enabled ``followers``' configs, each copy's content is judged too (``wrong``).
    """
    intents = list(intents)
    rows = {name: list(book) for name, book in books.items()}
    result = CheckResult()
    counts: dict[str, Counter[str]] = {
        name: Counter(str(o.get("correlationId") or "") for o in entry_orders(book))
        for name, book in rows.items()
    }
    owned: dict[str, set[str]] = {name: set() for name in rows}
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
        # the copies whose correlationId an intent owns at a later generation
        replaced = {
            first_generation_id(cid): generation_of(cid)
            for cid in owned[name]
            if generation_of(cid)
        }
        for cid, n in counter.items():
            if cid in owned[name]:
                continue
            if generation_of(cid) < replaced.get(first_generation_id(cid), 0):
                live = [
                    o
                    for o in entry_orders(rows[name])
                    if o.get("correlationId") == cid and not superseded_is_clean(o)
                ]
                if live:
                    result.duplicated += 1
                    result.problems.append(
                        f"duplicated: {name} order(s) with correlationId {cid!r} still open or "
                        "filled beside the copy's later generation"
                    )
                continue  # an earlier generation of a re-placed copy, ended unfilled
            result.unexpected += n
            result.problems.append(f"unexpected: {name} order(s) with correlationId {cid!r}")
    if leader_book is not None:
        _judge_contents(result, intents, rows, leader_book, followers, ctx)
    return result


def _judge_contents(
    result: CheckResult,
    intents: list[Intent],
    books: Mapping[str, list[Mapping[str, Any]]],
    leader_book: Iterable[Mapping[str, Any]],
    followers: Iterable[FollowerConfig],
    ctx: SizingContext | None,
) -> None:
    """Count (and say) every copy whose content differs from the leader's order, scaled, and
    every missing copy the counts above do not already name (no intent, or a stale skip)."""
    ctx = ctx or SizingContext(lot_sizes={}, balances={})
    by_key = {(i.follower, i.leader_order_id): i for i in intents if not i.leg}
    leaders = admin_contents(leader_book)
    for f in followers:
        if f.name not in books:
            continue
        copies = {c.correlation_id: c for c in admin_contents(books[f.name]).values()}
        for oid, leader in sorted(leaders.items()):
            intent = by_key.get((f.name, oid))
            cid = intent.correlation_id if intent is not None else correlation_id_for(f.name, oid)
            copy = copies.get(cid)
            if intent is not None and (
                intent.state in _UNRESOLVED or (copy is None and intent.broker_order_id)
            ):
                continue  # unresolved or lost: counted above
            recorded = intent.skip_reason if intent is not None else None
            judged = judge_copy(leader, copy, f, ctx, recorded)
            if judged.verdict is Verdict.WRONG:
                result.wrong += 1
                result.problems.append(f"wrong: {f.name}/{oid}: {judged.text()}")
