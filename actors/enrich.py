"""Leader snapshots completed with what a socket frame or a book row does not say.

The LeaderFeedActor turns each frame into snapshots here (``actors.snapshots`` maps the fields)
and completes them: a MARKET order that Dhan's market price protection (MPP) shows as a LIMIT
stays MARKET (:meth:`SnapshotEnricher.keep_market`), BO/CO brackets get their profit / stop-loss
values and super orders their target / stop-loss / trailing jump, from the journal or, once per
order, from the REST books. The decisions are pure functions below; the class keeps what one
feed incarnation learned (first order types, MPP bands).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from actors.snapshots import (
    snapshot_from_update,
    snapshots_from_super_order,
    super_entry_with_leg,
)
from dhan import errors
from dhan.codes import LegName, OrderStatus, OrderType, ProductType, TransactionType
from dhan.order_feed import OrderUpdate
from dhan.rest import DhanClient
from store import Journal
from store.records import LeaderOrderSnapshot

logger = logging.getLogger(__name__)

_PRICE_EPS = 1e-6


class SnapshotEnricher:
    """Frames -> complete leader snapshots, for one feed incarnation (not thread-safe: the
    feed actor's thread only)."""

    def __init__(self, journal: Journal, client: DhanClient) -> None:
        self.journal = journal
        self.client = client
        #: leader order id -> the order type first seen (see :meth:`keep_market`)
        self.first_type: dict[str, OrderType] = {}
        #: leader MARKET order id -> the band price its MPP rendering shows (:meth:`keep_market`)
        self.mpp_band: dict[str, float] = {}

    def snapshots_for(self, u: OrderUpdate, *, reconciled: bool) -> list[LeaderOrderSnapshot]:
        """The snapshots to journal for frame ``u`` (its instrument fields present);
        ``reconciled``: this incarnation's connect reconcile is done."""
        leg = u.leg_name
        exit_leg = leg in (LegName.TARGET_LEG, LegName.STOP_LOSS_LEG)
        if u.is_super:
            entry = self.journal.leader_snapshot(u.order_no)
            if entry is None or entry.target_price is None:
                # frames carry no target / stop-loss prices: read the super order once
                entry = self.super_entry_from_rest(u.order_no)
            elif not exit_leg and entry_modified(entry, u):
                # an ENTRY_LEG modify may carry a new target / stop / jump: its frame does not
                entry = self.super_entry_from_rest(u.order_no) or entry
            elif u.leg_name is LegName.STOP_LOSS_LEG and not trailed(entry, u):
                # frames carry no trailingJump: a stop the leader moved (or whose jump it
                # changed) is read from the book; one its broker trailed keeps the jump
                entry = self.super_entry_from_rest(u.order_no) or entry
            if exit_leg:
                leg_snap = snapshot_from_update(u)
                if entry is None:
                    return [leg_snap]
                leg_snap = replace(leg_snap, trailing_jump=entry.trailing_jump)
                return [leg_snap, super_entry_with_leg(entry, u)]
            snap = snapshot_from_update(u, entry=entry)
            return [replace(snap, is_super=True)]
        # An order's first frame (TRANSIT) after this incarnation's connect reconcile: the
        # journal cannot know a first type this actor has not learned (see ``keep_market``).
        new = u.status is OrderStatus.TRANSIT and reconciled
        snap = self.keep_market(snapshot_from_update(u), new=new)
        if not exit_leg and u.product_type in (ProductType.BO, ProductType.CO):
            snap = self.with_bracket_values(snap)
        return [snap]

    def keep_market(
        self, snap: LeaderOrderSnapshot, *, learn: bool = True, new: bool = False
    ) -> LeaderOrderSnapshot:
        """A leader MARKET order stays MARKET for the followers -- until the leader re-prices it.

        With market price protection (MPP) Dhan converts an API MARKET order into a LIMIT at a
        band price and shows it so once placed. Mirroring that LIMIT would modify every
        follower's copy (already converted by its own broker) for nothing. The band is fixed
        when the order reaches the market, so every rendering of the protected order shows
        the same price, and the band lies beyond the market (above the LTP for a buy, below
        for a sell): the first LIMIT seen after MARKET is taken as the band when it lies so
        (or when nothing says where the market was: a REST row), and any other LIMIT is the
        leader's own modify (a re-price), mirrored as it is (:func:`mpp_view`). A band taken
        for a re-price costs the followers one modify to the leader's protected price; the
        reverse would lose the leader's re-price, so the doubt goes that way.
        The first type seen wins; a restart falls back to the journal (its MARKET snapshot
        keeps the band frame). ``learn`` False (a periodic reconcile): a LIMIT the journal has
        never seen is not taken as the first type -- the socket's TRANSIT frame, saying
        MARKET, may still be on its way.

        ``new``: the order's TRANSIT frame, after this incarnation's connect reconcile. Its
        type is the first; the journal read (~0.3 ms, before the hints) is skipped: a first
        type journaled before the reconcile was learned by it (the book lists today's
        orders), and one journaled since went through this actor, which learned it then.
        """
        order_id = snap.leader_order_id
        if snap.order_type is OrderType.MARKET:
            # placed (or modified back) as MARKET: the next LIMIT rendering shows a new band
            self.first_type[order_id] = OrderType.MARKET
            self.mpp_band.pop(order_id, None)
            return snap
        first = self.first_type.get(order_id)
        if first is None:
            if snap.order_type is OrderType.LIMIT and not new:
                known = self.journal.leader_snapshot(order_id)
                if known is None and not learn:
                    return snap
                first = known.order_type if known is not None else snap.order_type
                if known is not None and first is OrderType.MARKET:
                    band = band_in(known)
                    if band:
                        self.mpp_band[order_id] = band
            else:
                first = snap.order_type
            self.first_type[order_id] = first
        if first is not OrderType.MARKET or snap.order_type is not OrderType.LIMIT:
            return snap
        view, first, band = mpp_view(snap, first, self.mpp_band.get(order_id))
        self.first_type[order_id] = first
        if band is None:
            self.mpp_band.pop(order_id, None)
        else:
            self.mpp_band[order_id] = band
        return view

    def super_entry_from_rest(self, order_id: str) -> LeaderOrderSnapshot | None:
        """The entry snapshot of super order ``order_id`` from the super-order book; None
        when the book cannot be read or does not list it."""
        try:
            for so in self.client.list_super_orders():
                if so.order_id == order_id:
                    return snapshots_from_super_order(so)[0]
        except errors.DhanError as exc:
            logger.warning("super order %s: could not read its legs: %s", order_id, exc)
        return None

    def with_bracket_values(self, snap: LeaderOrderSnapshot) -> LeaderOrderSnapshot:
        """BO/CO frames lack boProfitValue / boStopLossValue: take them from the journal or
        the order book (once per order)."""
        known = self.journal.leader_snapshot(snap.leader_order_id)
        if known is not None and (known.bo_stop_loss_value is not None):
            return replace(
                snap,
                bo_profit_value=known.bo_profit_value,
                bo_stop_loss_value=known.bo_stop_loss_value,
                trigger_price=snap.trigger_price or known.trigger_price,
            )
        try:
            order = self.client.get_order(snap.leader_order_id)
        except errors.DhanError as exc:
            logger.warning("bracket %s: could not read its values: %s", snap.leader_order_id, exc)
            return snap
        return replace(
            snap,
            bo_profit_value=order.bo_profit_value if snap.product_type == ProductType.BO else None,
            bo_stop_loss_value=order.bo_stop_loss_value,
            trigger_price=snap.trigger_price or order.trigger_price,
        )


def mpp_view(
    snap: LeaderOrderSnapshot, first: OrderType, band: float | None
) -> tuple[LeaderOrderSnapshot, OrderType, float | None]:
    """What the followers mirror of ``snap``, a rendering of a leader order first seen as
    ``first`` whose MPP band (if one was seen) is ``band``; and the order's first type and
    band after it. Only a LIMIT rendering of a MARKET order is at stake: at the band it is
    the protected MARKET order; at any other price it is the leader's re-price, after which
    the order counts as a LIMIT one. With no band seen yet, a LIMIT beyond the market
    (:func:`beyond_market`) is taken as the band."""
    if first is not OrderType.MARKET or snap.order_type is not OrderType.LIMIT:
        return snap, first, band
    if band is None and beyond_market(snap):
        band = snap.price
    if band is None or abs(snap.price - band) > _PRICE_EPS:
        # a price the protection never shows: the leader's modify made it a LIMIT
        return snap, OrderType.LIMIT, None
    return replace(snap, order_type=OrderType.MARKET, price=0.0), first, band


def entry_modified(entry: LeaderOrderSnapshot, u: OrderUpdate) -> bool:
    """True when a super order's entry frame is one of a modify: the entry is open and neither
    its status nor its fill changed since the journaled snapshot (a duplicate frame reads so
    too, and costs one read of the book)."""
    return (
        not u.status.is_terminal and u.status is entry.status and u.traded_qty == entry.filled_qty
    )


def trailed(entry: LeaderOrderSnapshot, u: OrderUpdate) -> bool:
    """True when a super order's stop-loss leg frame shows only what the broker's trailing does
    by itself: the journaled stop moved by whole jumps in the position's favour. Any other stop
    frame of an open leg (a move or a new jump by the leader, the legs' first frames when the
    entry fills) is not."""
    if u.status.is_terminal:
        return True  # nothing left to mirror on a finished leg
    new = u.trigger_price or u.price
    old, jump = entry.stop_loss_price, entry.trailing_jump or 0.0
    if old is None or jump <= 0 or abs(new - old) <= _PRICE_EPS:
        return False
    delta = new - old
    favourable = delta > 0 if entry.transaction_type is TransactionType.BUY else delta < 0
    steps = abs(delta) / jump
    return favourable and abs(steps - round(steps)) < 1e-6


def beyond_market(snap: LeaderOrderSnapshot) -> bool:
    """True when the LIMIT price of ``snap`` could be an MPP band: beyond the market price
    its frame carries (``RefLtp``), or no market price is known."""
    raw = {str(k).lower(): v for k, v in snap.raw.items()}
    ltp = raw.get("refltp")
    if not isinstance(ltp, int | float) or ltp <= 0:
        return True
    if snap.transaction_type is TransactionType.BUY:
        return snap.price > ltp
    return snap.price < ltp


def band_in(known: LeaderOrderSnapshot) -> float | None:
    """The MPP band price of a journaled MARKET snapshot: its socket frame's LIMIT price."""
    raw = {str(k).lower(): v for k, v in known.raw.items()}
    if str(raw.get("ordertype", "")).upper() not in ("LMT", "LIMIT"):
        return None
    price = raw.get("price")
    return float(price) if isinstance(price, int | float) and price > 0 else None
