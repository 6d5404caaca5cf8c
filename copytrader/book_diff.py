"""Leader book vs follower books, for ``copytrader reconcile``: what differs, and why.

``checker.check_books`` judges the journal against the follower books (lost / duplicated /
unexpected). This module adds the leader's side, read from the broker: leader orders the journal
has never seen, copies whose status contradicts the leader's (a copy still open beside a
cancelled leader order, a rejected copy of a working one), and open copies whose quantity, price
or trigger differ from what the leader order asks for now. Each line says why, from the
intent's journaled state, skip reason and last broker error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from dhan.codes import LegName, OrderStatus, OrderType
from dhan.models import Order
from store.records import Intent, LeaderOrderSnapshot

_DEAD = frozenset({OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED})
_ENTRY_LEGS = (None, LegName.ENTRY_LEG, LegName.NA)
_PRICED = (OrderType.LIMIT, OrderType.STOP_LOSS)
_TRIGGERED = (OrderType.STOP_LOSS, OrderType.STOP_LOSS_MARKET)
_EPS = 1e-6


@dataclass
class BookDiff:
    problems: list[str] = field(default_factory=list)  #: differences the engine must fix
    notes: list[str] = field(default_factory=list)  #: differences by design (skips, old orders)


def entries(book: Iterable[Order]) -> list[Order]:
    """Orders without bracket exit legs (a super order's legs share its id)."""
    return [o for o in book if o.leg_name in _ENTRY_LEGS]


def _is_open(status: OrderStatus) -> bool:
    # one definition of "finished" for the whole engine: a CLOSED super order is finished too
    return status.is_open


def _what(o: Order) -> str:
    price = f" @{o.price:g}" if o.order_type in _PRICED and o.price else ""
    return f"{o.transaction_type} {o.order_type} {o.quantity}{price}, {o.order_status}"


def _why(intent: Intent) -> str:
    parts = [f"intent {intent.state}"]
    error = " ".join(p for p in (intent.error_code, intent.error_message) if p)
    if error:
        parts.append(f"last error {error}")
    if intent.state_reason:
        parts.append(intent.state_reason)
    return "; ".join(parts)


def diff_books(
    leader_book: Iterable[Order],
    follower_books: Mapping[str, Iterable[Order]],
    intents: Iterable[Intent],
    journaled: Mapping[str, LeaderOrderSnapshot],
    enabled_followers: Sequence[str],
    reconcile_policy: str,
) -> BookDiff:
    """``journaled``: leader order id -> the journal's latest snapshot of the order (entry)."""
    out = BookDiff()
    leaders = {o.order_id: o for o in entries(leader_book)}
    for oid, lo in sorted(leaders.items()):
        snap = journaled.get(oid)
        if snap is not None:
            stale = _stale(snap, lo)
            if stale:
                out.problems.append(
                    f"leader order {oid}: the journal has {stale}: a change the engine has not "
                    "seen yet (its next leader reconcile reads it)"
                )
            continue
        line = f"leader order {oid} ({_what(lo)}) is not in the journal"
        if _is_open(lo.order_status) or lo.filled_qty > 0:
            out.problems.append(
                f"{line}: the engine has not seen it; its next leader reconcile applies "
                f"engine.reconcile_policy={reconcile_policy}"
            )
        else:
            out.notes.append(f"{line} (ended unfilled: nothing to copy)")
    copies = {
        name: {o.correlation_id: o for o in entries(book) if o.correlation_id}
        for name, book in follower_books.items()
    }
    planned: dict[str, set[str]] = {}
    for intent in intents:
        if intent.leg or intent.follower not in copies:
            continue
        planned.setdefault(intent.follower, set()).add(intent.leader_order_id)
        leader = leaders.get(intent.leader_order_id)
        if leader is None:
            continue  # not in today's leader book (an older day): nothing to compare
        where = f"{intent.follower}/{leader.order_id}"
        if intent.skip_reason:
            out.notes.append(f"{where}: not copied: {intent.skip_reason}")
            continue
        copy = copies[intent.follower].get(intent.correlation_id)
        if copy is None:
            continue  # lost / not yet sent: check_books reports those
        why = _mismatch(leader, copy, intent)
        if why:
            out.problems.append(f"{where}: {why} ({_why(intent)})")
    for name in enabled_followers:
        if name not in copies:
            continue
        for oid, lo in sorted(leaders.items()):
            open_now = _is_open(lo.order_status)
            if oid in journaled and open_now and oid not in planned.get(name, set()):
                out.problems.append(
                    f"{name}/{oid}: no copy planned for the open leader order ({_what(lo)})"
                )
    return out


def _stale(snap: LeaderOrderSnapshot, leader: Order) -> str:
    """What the journal's snapshot of an open leader order lacks ('' when it is current)."""
    if not _is_open(leader.order_status):
        if _is_open(snap.status):
            return f"it {snap.status} but the broker says {leader.order_status}"
        return ""
    if snap.quantity != leader.quantity:
        return f"quantity {snap.quantity} but the broker says {leader.quantity}"
    if leader.order_type in _PRICED and abs(snap.price - leader.price) > _EPS:
        return f"price {snap.price:g} but the broker says {leader.price:g}"
    return ""


def _mismatch(leader: Order, copy: Order, intent: Intent) -> str:
    """Why the copy does not match the leader order now ('' when it does)."""
    ls, cs = leader.order_status, copy.order_status
    if ls in _DEAD and leader.filled_qty == 0 and _is_open(cs):
        return f"copy still {cs} while the leader order is {ls}"
    if _is_open(ls) and cs in _DEAD:
        return f"copy {cs} while the leader order is {ls}"
    if not (_is_open(ls) and _is_open(cs)):
        return ""
    if copy.quantity != intent.quantity:
        return f"copy quantity {copy.quantity} != {intent.quantity} (the sized leader quantity)"
    if intent.order_type in _PRICED and abs(copy.price - leader.price) > _EPS:
        return f"copy price {copy.price:g} != the leader's {leader.price:g}"
    if intent.order_type in _TRIGGERED and abs(copy.trigger_price - leader.trigger_price) > _EPS:
        return f"copy trigger {copy.trigger_price:g} != the leader's {leader.trigger_price:g}"
    return ""
