"""Leader observations -> journal snapshots.

The LeaderFeedActor sees a leader order three ways: an order_alert frame on the socket, a row of
the REST order book, or a row of the super-order book (reconcile after every connect). Each
becomes a :class:`store.records.LeaderOrderSnapshot` with a dedupe key, so the same event seen
twice is journaled once. Pure functions, no I/O.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

from dhan.codes import LegName, OrderStatus, OrderType, ProductType, Validity
from dhan.models import Order, SuperOrder
from dhan.order_feed import OrderUpdate
from store.records import LeaderOrderSnapshot, SnapshotSource

_EXIT_LEGS = (LegName.TARGET_LEG, LegName.STOP_LOSS_LEG)
_BRACKETS = (ProductType.BO, ProductType.CO)


def _leg_key(leg: LegName | str | None) -> str:
    if leg is None or leg in ("", LegName.NA, LegName.ENTRY_LEG):
        return ""
    return str(leg)


def snapshot_from_update(
    u: OrderUpdate, *, seq: int | None = None, entry: LeaderOrderSnapshot | None = None
) -> LeaderOrderSnapshot:
    """A snapshot from one socket frame.

    Exit legs are journaled under their own key ``(order id, leg)`` with ``parent_order_id``:
    a BO/CO leg has its own order number (``AlgoOrdNo`` names the entry); a super-order leg
    shares the entry's number. For a super-order leg, pass the journaled ``entry`` snapshot so
    that the entry's target / stop-loss prices can be refreshed from the leg (see
    :func:`super_entry_with_leg`).
    """
    if (
        u.exchange_segment is None
        or u.security_id is None
        or u.product_type is None
        or u.transaction_type is None
        or u.order_type is None
    ):
        raise ValueError(f"order update {u.order_no} lacks instrument fields")
    leg = _leg_key(u.leg_name)
    parent: str | None = None
    if leg:
        parent = u.parent_order_no or (u.order_no if u.is_super else None) or u.order_no
    return LeaderOrderSnapshot(
        leader_order_id=u.order_no,
        dedupe_key="ws|" + u.dedupe_key,
        source=SnapshotSource.SOCKET,
        status=u.status,
        transaction_type=u.transaction_type,
        exchange_segment=u.exchange_segment,
        product_type=u.product_type,
        order_type=u.order_type,
        validity=_validity(u.validity),
        security_id=u.security_id,
        quantity=u.quantity,
        filled_qty=u.traded_qty,
        price=u.price,
        trigger_price=u.trigger_price,
        avg_price=u.avg_traded_price,
        target_price=entry.target_price if entry else None,
        stop_loss_price=entry.stop_loss_price if entry else None,
        trailing_jump=entry.trailing_jump if entry else None,
        bo_profit_value=entry.bo_profit_value if entry else None,
        bo_stop_loss_value=entry.bo_stop_loss_value if entry else None,
        leg_name=leg,
        parent_order_id=parent,
        is_super=u.is_super,
        correlation_id=u.correlation_id or None,
        after_market_order=u.is_amo,  # the socket says AMO (OffMktFlag), not its time
        updated_at=u.last_updated_time or "",
        seq=seq if seq is not None else time.time_ns(),
        raw=dict(u.raw),
    )


def super_entry_with_leg(entry: LeaderOrderSnapshot, leg: OrderUpdate) -> LeaderOrderSnapshot:
    """The super order's entry snapshot with one exit leg's price taken from a leg frame.

    Followers place super orders whole (entry + target + stop-loss prices), so a change of the
    leader's target or stop-loss is a change of the entry's desired fields.
    """
    if leg.leg_name == LegName.TARGET_LEG:
        changed = replace(entry, target_price=leg.price)
    elif leg.leg_name == LegName.STOP_LOSS_LEG:
        stop = leg.trigger_price or leg.price
        changed = replace(entry, stop_loss_price=stop)
    else:
        return entry
    return replace(
        changed,
        dedupe_key=f"{entry.dedupe_key}|leg:{leg.dedupe_key}",
        source=SnapshotSource.SOCKET,
        seq=time.time_ns(),
    )


def _validity(v: Validity | str | None) -> Validity | None:
    if v is None or v == "":
        return None
    try:
        return Validity(str(v).upper())
    except ValueError:
        return None


def _order_dedupe(o: Order) -> str:
    return (
        f"rest|{o.order_id}|{o.leg_name or ''}|{o.order_status}|{o.filled_qty}|{o.quantity}|"
        f"{o.price}|{o.trigger_price}|{o.update_time}"
    )


def snapshot_from_order(
    o: Order, *, parents: Mapping[str, str] | None = None, seq: int | None = None
) -> LeaderOrderSnapshot:
    """A snapshot from a REST order-book row (reconcile).

    A BO/CO exit leg appears in the book as its own row with ``legName``; ``parents`` (see
    :func:`bracket_parents`) names its entry. A leg whose entry is not known has none.
    """
    leg = _leg_key(o.leg_name)
    parent = (parents or {}).get(o.order_id) if leg else None
    return LeaderOrderSnapshot(
        leader_order_id=o.order_id,
        dedupe_key=_order_dedupe(o),
        source=SnapshotSource.RECONCILE,
        status=o.order_status,
        transaction_type=o.transaction_type,
        exchange_segment=o.exchange_segment,
        product_type=o.product_type,
        order_type=o.order_type,
        validity=o.validity,
        security_id=o.security_id,
        quantity=o.quantity,
        filled_qty=o.filled_qty,
        price=o.price,
        trigger_price=o.trigger_price,
        avg_price=o.average_traded_price,
        bo_profit_value=o.bo_profit_value if o.product_type == ProductType.BO else None,
        bo_stop_loss_value=(
            o.bo_stop_loss_value if o.product_type in (ProductType.BO, ProductType.CO) else None
        ),
        leg_name=leg,
        parent_order_id=parent,
        correlation_id=o.correlation_id or None,
        after_market_order=o.after_market_order,
        amo_time=o.amo_time if o.after_market_order else None,
        updated_at=o.update_time or "",
        seq=seq if seq is not None else time.time_ns(),
        # the create time ties the children of one slicing (actors.slicing)
        raw={"createTime": o.create_time} if o.create_time else {},
    )


def super_legs_in(orders: Sequence[Order]) -> set[str]:
    """Order ids of the super orders whose exit legs an order book lists: a TARGET_LEG or
    STOP_LOSS_LEG row of a product that is not BO/CO (those legs have ids of their own)."""
    return {
        o.order_id for o in orders if o.leg_name in _EXIT_LEGS and o.product_type not in _BRACKETS
    }


def _id_order(order_id: str) -> tuple[int, str]:
    """Dhan's order numbers grow through the day: numeric strings sort by length, then text."""
    return (len(order_id), order_id)


def bracket_parents(
    orders: Sequence[Order], journaled: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Exit-leg order id -> its entry's order id, for every BO/CO exit leg of an order book.

    The book has no field that names a leg's entry (the socket has ``AlgoOrdNo``), so, in
    this order of trust:

    1. ``journaled``: the link the journal already holds (learned from the socket);
    2. the entry with the leg's correlationId (the broker copies the entry's onto its legs) --
       only when the leader tagged the entry, which orders from Dhan's app never are;
    3. the shape of the book: the broker makes a bracket's legs when its entry fills, on the
       same instrument and product, on the other side, for the filled quantity, with the
       entry's ``boProfitValue`` / ``boStopLossValue``. Of the entries that fit and have no
       leg of that name yet, the one placed last before the leg (legs are numbered after
       their entry). Two brackets alike in all of these may swap legs; nothing in the book
       tells them apart.
    """
    entries = [o for o in orders if o.product_type in _BRACKETS and not _leg_key(o.leg_name)]
    by_cid = {o.correlation_id: o.order_id for o in entries if o.correlation_id}
    legs = sorted(
        (o for o in orders if o.leg_name in _EXIT_LEGS and o.product_type in _BRACKETS),
        key=lambda o: _id_order(o.order_id),
    )
    out: dict[str, str] = {}
    taken: set[tuple[str, str]] = set()
    for leg in legs:
        parent = (journaled or {}).get(leg.order_id)
        if parent is None and leg.correlation_id:
            parent = by_cid.get(leg.correlation_id)
        if parent is not None:
            out[leg.order_id] = parent
            taken.add((parent, str(leg.leg_name)))
    for leg in legs:
        if leg.order_id in out:
            continue
        fits = [
            e
            for e in entries
            if (e.order_id, str(leg.leg_name)) not in taken
            and _id_order(e.order_id) < _id_order(leg.order_id)
            and _makes_leg(e, leg)
        ]
        if fits:
            entry = max(fits, key=lambda e: _id_order(e.order_id))
            out[leg.order_id] = entry.order_id
            taken.add((entry.order_id, str(leg.leg_name)))
    return out


def _makes_leg(entry: Order, leg: Order) -> bool:
    """True when ``leg`` could be an exit leg the broker made for ``entry``."""
    return (
        entry.product_type is leg.product_type
        and entry.exchange_segment is leg.exchange_segment
        and entry.security_id == leg.security_id
        and entry.transaction_type is not leg.transaction_type
        and entry.filled_qty == leg.quantity
        and (not entry.correlation_id or entry.correlation_id == leg.correlation_id)
        and abs(entry.bo_profit_value - leg.bo_profit_value) < 1e-9
        and abs(entry.bo_stop_loss_value - leg.bo_stop_loss_value) < 1e-9
    )


def snapshots_from_super_order(
    so: SuperOrder, *, seq: int | None = None
) -> list[LeaderOrderSnapshot]:
    """The entry snapshot (with target / stop-loss prices) and one snapshot per exit leg."""
    now = seq if seq is not None else time.time_ns()
    target = next((leg for leg in so.legs if leg.leg_name == LegName.TARGET_LEG), None)
    stop = next((leg for leg in so.legs if leg.leg_name == LegName.STOP_LOSS_LEG), None)
    legs_key = "|".join(
        f"{leg.leg_name}:{leg.order_status}:{leg.price}:{leg.trailing_jump}" for leg in so.legs
    )
    entry = LeaderOrderSnapshot(
        leader_order_id=so.order_id,
        dedupe_key=(
            f"rest-super|{so.order_id}|{so.order_status}|{so.filled_qty}|{so.quantity}|"
            f"{so.price}|{so.update_time}|{legs_key}"
        ),
        source=SnapshotSource.RECONCILE,
        status=so.order_status,
        transaction_type=so.transaction_type,
        exchange_segment=so.exchange_segment,
        product_type=so.product_type,
        order_type=so.order_type or OrderType.LIMIT,
        validity=so.validity,
        security_id=so.security_id,
        quantity=so.quantity,
        filled_qty=so.filled_qty,
        price=so.price,
        avg_price=so.average_traded_price,
        target_price=target.price if target else None,
        stop_loss_price=stop.price if stop else None,
        trailing_jump=(stop.trailing_jump if stop else None) or so.trailing_jump,
        is_super=True,
        correlation_id=so.correlation_id or None,
        updated_at=so.update_time or "",
        seq=now,
    )
    out = [entry]
    for leg in so.legs:
        if leg.leg_name not in _EXIT_LEGS:
            continue
        out.append(
            replace(
                entry,
                dedupe_key=f"rest-super-leg|{so.order_id}|{leg.leg_name}|{leg.order_status}|"
                f"{leg.price}|{leg.trailing_jump}",
                status=leg.order_status,
                transaction_type=leg.transaction_type or entry.transaction_type,
                quantity=leg.total_quantity or entry.quantity,
                filled_qty=max(0, (leg.total_quantity or entry.quantity) - leg.remaining_quantity),
                price=leg.price or 0.0,
                leg_name=str(leg.leg_name),
                parent_order_id=so.order_id,
            )
        )
    return out


def is_open_status(status: OrderStatus) -> bool:
    return status.is_open
