"""Slicings and freeze quantities: a follower's share of a group of leader orders (pure).

A leader's ``POST /orders/slicing`` reaches the engine as several child orders. Sizing each child
alone rounds each down to the lot (0.5x of 27 + 13 lots: 13 + 6 = 19 lots, not 20), so the
children of one slicing form a group, ordered by order id, and a follower's share of child k is
what makes its cumulative quantity through k equal the sizing of the leader's cumulative
quantity through k. A share above the instrument's freeze quantity is split into several
follower orders (pieces), each at most the largest lot multiple within the freeze quantity.
``actors.slice_groups`` reads the group from the journal; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dhan.codes import ExchangeSegment, OrderStatus, ProductType
from store.records import LeaderOrderSnapshot, freeze_piece_leg

#: Segments whose contracts trade in lots, have exchange freeze quantities and can be sliced.
SLICEABLE_SEGMENTS = frozenset(
    {
        ExchangeSegment.NSE_FNO,
        ExchangeSegment.BSE_FNO,
        ExchangeSegment.NSE_CURRENCY,
        ExchangeSegment.BSE_CURRENCY,
        ExchangeSegment.NSE_COMM,
        ExchangeSegment.MCX_COMM,
    }
)

#: Dhan refuses slicing for cover and bracket orders; a super order is one order with legs.
_UNSLICEABLE_PRODUCTS = frozenset({ProductType.CO, ProductType.BO})

#: Leader statuses after which only the filled part of an order is mirrored.
_DEAD = frozenset({OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED})

#: Children of one slicing are created together: their create times (to the second, as Dhan
#: sends them) differ by at most this much when the request straddled a second boundary.
SAME_SLICING_WITHIN_S = 1

#: The create-time fields of a snapshot's raw frame or row: ``OrderDateTime`` on the socket
#: (any casing Dhan sends), ``createTime`` in the REST book (``actors.snapshots``).
CREATE_TIME_KEYS = ("OrderDateTime", "orderDateTime", "createTime", "CreateTime")
_EPOCH = datetime(2000, 1, 1)


def can_be_sliced(snap: LeaderOrderSnapshot) -> bool:
    """True for a plain order of a lot-traded segment (what ``/orders/slicing`` creates)."""
    return (
        snap.exchange_segment in SLICEABLE_SEGMENTS
        and snap.product_type not in _UNSLICEABLE_PRODUCTS
        and not snap.is_super
        and not snap.leg_name
        and snap.parent_order_id is None
    )


#: The journal is asked for orders created this close to an order (a slicing's children are
#: created within milliseconds; the chain of :data:`SAME_SLICING_WITHIN_S` stays inside it).
CANDIDATE_WINDOW_S = 5


def candidate_window(snap: LeaderOrderSnapshot) -> tuple[str, str] | None:
    """The create times (as Dhan writes them) between which ``snap``'s siblings were created;
    None when its create time is unknown (then it is a group of one)."""
    at = created_at_s(snap)
    if at is None:
        return None
    return tuple(  # type: ignore[return-value]
        (_EPOCH + timedelta(seconds=at + d)).strftime("%Y-%m-%d %H:%M:%S")
        for d in (-CANDIDATE_WINDOW_S, CANDIDATE_WINDOW_S)
    )


def created_at_s(snap: LeaderOrderSnapshot) -> int | None:
    """The order's create time in whole seconds (a comparable number), None if unknown."""
    for key in CREATE_TIME_KEYS:
        value = snap.raw.get(key)
        if isinstance(value, str):
            try:
                at = datetime.strptime(value[:19], "%Y-%m-%d %H:%M:%S")
            except ValueError:
                continue
            return int((at - _EPOCH).total_seconds())
    return None


def slicing_key(snap: LeaderOrderSnapshot) -> tuple[object, ...]:
    """What every child of one slicing shares for good: instrument, side, product, correlationId.

    Dhan documents no field naming the slicing a child came from (``AlgoOrdNo`` is the BO/CO
    entry). With a correlationId the children share it (dhansim gives every child the
    request's; that Dhan does is presumed, unverified); without one only these fields and
    the create time tie them. Price, type, trigger
    and validity are left out: the leader may modify one child, which stays in its slicing.
    """
    return (
        str(snap.exchange_segment),
        snap.security_id,
        str(snap.transaction_type),
        str(snap.product_type),
        snap.correlation_id or "",
    )


def order_id_key(order_id: str) -> tuple[int, int | str]:
    """Sort key of leader order ids: numerically when they are numbers (Dhan's are)."""
    return (0, int(order_id)) if order_id.isdigit() else (1, order_id)


def same_slicing(
    snap: LeaderOrderSnapshot, candidates: Sequence[LeaderOrderSnapshot]
) -> list[LeaderOrderSnapshot]:
    """``snap``'s group among ``candidates`` (itself included), ordered by order id.

    A candidate belongs when it has the same :func:`slicing_key` and was created within
    :data:`SAME_SLICING_WITHIN_S` of ``snap`` or of another member (a chain, so a slicing that
    straddles a second is one group). Unknown create times group nothing: alone is safe.
    """
    if not can_be_sliced(snap):
        return [snap]
    key = slicing_key(snap)
    pool = {
        c.leader_order_id: c
        for c in candidates
        if c.leader_order_id != snap.leader_order_id and can_be_sliced(c) and slicing_key(c) == key
    }
    members = {snap.leader_order_id: snap}
    frontier = [created_at_s(snap)]
    while frontier:
        at = frontier.pop()
        if at is None:
            continue
        for oid, c in list(pool.items()):
            c_at = created_at_s(c)
            if c_at is not None and abs(c_at - at) <= SAME_SLICING_WITHIN_S:
                members[oid] = c
                del pool[oid]
                frontier.append(c_at)
    return sorted(members.values(), key=lambda s: order_id_key(s.leader_order_id))


def base_quantity(snap: LeaderOrderSnapshot) -> int:
    """The leader quantity a copy mirrors: all of it, or what filled once the order is dead."""
    return snap.filled_qty if snap.status in _DEAD else snap.quantity


def prior_quantity(group: Sequence[LeaderOrderSnapshot], leader_order_id: str) -> int:
    """The leader quantity of the group's children before ``leader_order_id`` (by order id)."""
    mine = order_id_key(leader_order_id)
    return sum(base_quantity(s) for s in group if order_id_key(s.leader_order_id) < mine)


def share_of_group(prior: int, own: int, sized: Callable[[int], int]) -> int:
    """A child's follower share: ``sized(prior + own) - sized(prior)``.

    ``sized`` maps a leader quantity to the follower's (rounded to the lot, 0 below one lot),
    so the follower's cumulative quantity through each child is the sizing of the leader's
    cumulative quantity: right in total whatever order the children arrive in.
    """
    before = sized(prior) if prior > 0 else 0
    through = sized(prior + own) if prior + own > 0 else 0
    return max(through - before, 0)


def max_order_quantity(freeze_qty: int | None, lot: int) -> int | None:
    """The largest order the exchange takes: the largest lot multiple within ``freeze_qty``.

    None when the freeze quantity is unknown (or below one lot: nothing can be sent).
    """
    if not freeze_qty or lot <= 0 or freeze_qty < lot:
        return None
    return (freeze_qty // lot) * lot


def split_at_freeze(quantity: int, max_qty: int | None) -> list[int]:
    """``quantity`` as follower orders of at most ``max_qty`` each (full pieces first).

    ``max_qty`` None (freeze quantity unknown): one order. Zero stays one order of zero (the
    copy that is not, or no longer, wanted).
    """
    if max_qty is None or quantity <= max_qty:
        return [quantity]
    full, rest = divmod(quantity, max_qty)
    return [max_qty] * full + ([rest] if rest else [])


@dataclass(frozen=True, slots=True)
class Piece:
    """One follower order of a share: its leg (``""`` for the first) and quantity."""

    leg: str
    quantity: int


def pieces(quantity: int, max_qty: int | None) -> list[Piece]:
    """The follower orders of one share, with their legs (see ``store.records``)."""
    return [Piece(freeze_piece_leg(i), q) for i, q in enumerate(split_at_freeze(quantity, max_qty))]
