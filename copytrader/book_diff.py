"""Leader book vs follower books, for ``copytrader reconcile``: what differs, and why.

``checker.check_books`` judges the journal against the follower books (lost / duplicated /
unexpected). This module adds the leader's side, read from the broker: leader orders the journal
has never seen or has an older state of, and, for every journaled leader order and enabled
follower, the copy's content against the leader's order scaled by the engine's own sizing
(``copy_content.judge_copy``: status, quantities, order type, price, trigger, validity, every
exit leg). A copy not made for a reason that still holds (a filter, below one lot, the
reconcile policy) is "by design"; a recorded reason that no longer holds is a difference. Each
line says why, from the intent's journaled state, reason and last broker error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from actors.sizing import SizingContext
from copytrader.checker import filled_before_change
from copytrader.config import FollowerConfig
from copytrader.copy_content import (
    OrderContent,
    Verdict,
    book_contents,
    exit_basis,
    judge_copy,
)
from dhan.codes import OrderType
from dhan.correlation import correlation_id_for
from dhan.models import Order, SuperOrder
from store.records import Intent, LeaderOrderSnapshot
from store.states import IntentState

_PRICED = (OrderType.LIMIT, OrderType.STOP_LOSS)
_EPS = 1e-6
#: The engine is still acting on these: ``check_books`` reports them as unresolved.
_IN_FLIGHT = frozenset(
    {
        IntentState.PLANNED,
        IntentState.SENDING,
        IntentState.UNKNOWN,
        IntentState.MODIFYING,
        IntentState.CANCELLING,
    }
)


@dataclass
class BookDiff:
    problems: list[str] = field(default_factory=list)  #: differences the engine must fix
    notes: list[str] = field(default_factory=list)  #: differences by design (skips, old orders)
    wrong: int = 0  #: copies whose content differs from the leader's order, scaled


def _what(o: OrderContent) -> str:
    price = f" @{o.price:g}" if o.order_type in _PRICED and o.price else ""
    return f"{o.transaction_type} {o.order_type} {o.quantity}{price}, {o.status}"


def _why(intent: Intent | None) -> str:
    if intent is None:
        return "no intent: the engine planned no copy"
    parts = [f"intent {intent.state}"]
    error = " ".join(p for p in (intent.error_code, intent.error_message) if p)
    if error:
        parts.append(f"last error {error}")
    if intent.state_reason and intent.state_reason != intent.skip_reason:
        parts.append(intent.state_reason)
    return "; ".join(parts)


def diff_books(
    leader_book: Iterable[Order],
    follower_books: Mapping[str, Iterable[Order]],
    intents: Iterable[Intent],
    journaled: Mapping[str, LeaderOrderSnapshot],
    followers: Sequence[FollowerConfig],
    reconcile_policy: str,
    *,
    ctx: SizingContext | None = None,
    leader_supers: Iterable[SuperOrder] = (),
    follower_supers: Mapping[str, Iterable[SuperOrder]] | None = None,
    leader_leg_parents: Mapping[str, str] | None = None,
    bases: Mapping[str, Mapping[str, int]] | None = None,
    max_entry_deviation_pct: float | None = None,
) -> BookDiff:
    """``journaled``: leader order id -> the journal's latest snapshot of the order (entry);
    ``followers``: the enabled followers; ``ctx``: lot sizes and balances for sizing (none
    known: NSE/BSE equity only); ``leader_leg_parents``: leader BO/CO leg id -> entry id;
    ``bases``: leader order id -> its journaled exit basis (``Journal.exit_bases``): an exit's
    copy is judged against it, as the engine sized it; ``max_entry_deviation_pct``: the
    engine's, by which a late entry's copy is a LIMIT at its bound (``actors.late_entries``)."""
    ctx = ctx or SizingContext(lot_sizes={}, balances={})
    out = BookDiff()
    leaders = book_contents(leader_book, leader_supers, leader_leg_parents)
    for oid, lo in sorted(leaders.items()):
        snap = journaled.get(oid)
        if snap is not None:
            stale = _stale(snap, lo)
            if stale:
                out.problems.append(
                    f"leader order {oid}: the journal has {stale}: a change the engine has not "
                    "taken in"
                )
            continue
        line = f"leader order {oid} ({_what(lo)}) is not in the journal"
        if lo.status.is_open or lo.filled_qty > 0:
            out.problems.append(
                f"{line}: the engine has not seen it; its next leader reconcile applies "
                f"engine.reconcile_policy={reconcile_policy}"
            )
        else:
            out.notes.append(f"{line} (ended unfilled: nothing to copy)")
    supers = follower_supers or {}
    entry_intents = {(i.follower, i.leader_order_id): i for i in intents if not i.leg}
    for f in followers:
        if f.name not in follower_books:
            continue  # its book is unavailable: said once, by the caller
        mine = book_contents(follower_books[f.name], supers.get(f.name, ()))
        copies = {c.correlation_id: c for c in mine.values() if c.correlation_id}
        for oid, lo in sorted(leaders.items()):
            if oid not in journaled:
                continue  # reported above, once
            intent = entry_intents.get((f.name, oid))
            cid = intent.correlation_id if intent else correlation_id_for(f.name, oid)
            copy = copies.get(cid)
            if intent is not None and (
                intent.state in _IN_FLIGHT or (copy is None and intent.broker_order_id)
            ):
                continue  # unresolved or lost: check_books reports it
            basis = exit_basis((bases or {}).get(oid, {}))
            judged = judge_copy(
                lo,
                copy,
                f,
                ctx,
                intent.skip_reason if intent else None,
                basis,
                max_entry_deviation_pct,
                filled_first=intent is not None and filled_before_change(intent, lo),
            )
            where = f"{f.name}/{oid}"
            if judged.verdict is Verdict.WRONG:
                out.wrong += 1
                out.problems.append(f"{where}: {judged.text()} ({_why(intent)})")
            elif judged.verdict is Verdict.BY_DESIGN:
                out.notes.append(f"{where}: not copied: {judged.text()}")
            elif judged.reasons:
                out.notes.append(f"{where}: {judged.text()}")
    return out


def _stale(snap: LeaderOrderSnapshot, leader: OrderContent) -> str:
    """What the journal's snapshot of an open leader order lacks ('' when it is current)."""
    if not leader.status.is_open:
        if snap.status.is_open:
            return f"it {snap.status} but the broker says {leader.status}"
        return ""
    if snap.quantity != leader.quantity:
        return f"quantity {snap.quantity} but the broker says {leader.quantity}"
    if leader.order_type in _PRICED and abs(snap.price - leader.price) > _EPS:
        return f"price {snap.price:g} but the broker says {leader.price:g}"
    return ""
