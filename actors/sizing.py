"""Leader order -> desired follower order: sizing, caps and filters, as pure functions.

The LeaderFeedActor calls :func:`desired_intents` inside the journal transaction that records a
leader snapshot, so the follower intents are derived atomically with the event that caused
them. Nothing here does I/O; the inputs (lot sizes, balances) are passed in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from actors import exit_sizing, slicing
from actors.settings import FollowerSettings, SizingConfig, SizingMode
from dhan.codes import ExchangeSegment, OrderStatus, OrderType, ProductType
from dhan.correlation import correlation_id_for
from store.records import (
    BELOW_ONE_LOT_PREFIX,
    TRANSIENT_SKIP_PREFIX,
    DesiredIntent,
    LeaderOrderSnapshot,
)

#: The skip reason of a slicing child whose follower share is carried by its other children.
SLICING_ELSEWHERE = "its slicing's copy is on the slicing's other orders"

#: Segments whose lot size is 1 unless an instrument says otherwise (cash equity).
_UNIT_LOT_SEGMENTS = frozenset({ExchangeSegment.NSE_EQ, ExchangeSegment.BSE_EQ})

#: Leader statuses after which a copy that was never placed must not be placed any more.
_DEAD_STATUSES = frozenset({OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


@dataclass(frozen=True, slots=True)
class SizingContext:
    """Facts sizing needs beyond the snapshot, refreshed by the engine."""

    #: (segment, security id) -> lot size, learned from socket frames (``LotSize``) and config.
    lot_sizes: Mapping[tuple[str, str], int]
    #: Available balance per account name ("leader" and each follower), for capital sizing.
    balances: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class ExitBasis:
    """Each account's open quantity a leader order could reduce, at the order's first sight
    (``actors.exit_sizing``; journaled with it: ``Journal.exit_bases``)."""

    #: the leader's open quantity against the order's side (0: the order is an entry)
    leader_open: int
    #: each follower's open quantity against it (a follower not named holds nothing)
    follower_open: Mapping[str, int]

    @property
    def is_exit(self) -> bool:
        return self.leader_open > 0


def lot_size_for(snap: LeaderOrderSnapshot, ctx: SizingContext) -> int | None:
    """The instrument's lot size, or None when it is unknown (sizing then refuses to guess)."""
    known = ctx.lot_sizes.get((str(snap.exchange_segment), snap.security_id))
    if known:
        return known
    if snap.exchange_segment in _UNIT_LOT_SEGMENTS:
        return 1
    return None


def _round_to_lot(quantity: float, lot: int) -> int:
    return math.floor(quantity / lot + 1e-9) * lot


def follower_quantity(
    leader_quantity: int, follower: FollowerSettings, lot: int, ctx: SizingContext
) -> tuple[int, str | None]:
    """Scaled quantity for ``follower``, rounded down to the lot, or ``(0, reason)``."""
    sizing = follower.sizing
    if sizing.mode == "multiplier":
        raw = leader_quantity * sizing.multiplier
    elif sizing.mode == "fixed":
        raw = float(sizing.quantity)
    elif sizing.mode == "capital":
        leader_balance = ctx.balances.get("leader", 0.0)
        follower_balance = ctx.balances.get(follower.name, 0.0)
        if leader_balance <= 0 or follower_balance <= 0:
            return 0, f"{TRANSIENT_SKIP_PREFIX}capital sizing: balance unknown"
        raw = leader_quantity * (follower_balance / leader_balance) * sizing.capital_multiplier
    else:  # pragma: no cover - config validation rejects other modes
        return 0, f"unknown sizing mode {sizing.mode!r}"
    qty = _round_to_lot(raw, lot)
    if qty < lot:
        return 0, f"{BELOW_ONE_LOT_PREFIX}sized {raw:g} < {lot}"
    return qty, None


#: Frame fields that price a MARKET order: the band price Dhan's market price protection
#: shows (the order appears as a LIMIT at it; the feed keeps MARKET / 0 for the copies), then
#: the reference last traded price every order-update frame carries.
_MARKET_PRICE_FIELDS = ("Price", "price", "RefLtp", "refLtp")


def value_price(snap: LeaderOrderSnapshot) -> float:
    """The price a copy of ``snap`` is valued at for ``caps.max_order_value_inr``; 0.0: none.

    Its limit or trigger price, else the average it filled at, else (a MARKET order) the MPP
    band price or the reference LTP from the leader's frame. A REST row carries neither.
    """
    for known in (snap.price, snap.trigger_price, snap.avg_price):
        if known > 0:
            return known
    for name in _MARKET_PRICE_FIELDS:
        value = snap.raw.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
        if isinstance(value, str):
            try:
                parsed = float(value)
            except ValueError:
                continue
            if parsed > 0 and math.isfinite(parsed):
                return parsed
    return 0.0


def _apply_caps(
    qty: int, price: float, follower: FollowerSettings, lot: int
) -> tuple[int, str | None]:
    caps = follower.caps
    if caps.max_order_quantity is not None and qty > caps.max_order_quantity:
        qty = _round_to_lot(caps.max_order_quantity, lot)
    if caps.max_order_value_inr is not None:
        if price <= 0:
            # never sent uncapped: the next frame (a price, a fill) sizes it again
            return 0, f"{TRANSIENT_SKIP_PREFIX}no price to apply caps.max_order_value_inr"
        if qty * price > caps.max_order_value_inr:
            qty = _round_to_lot(caps.max_order_value_inr / price, lot)
    if qty < lot:
        return 0, f"{BELOW_ONE_LOT_PREFIX}capped"
    return qty, None


def _filtered(snap: LeaderOrderSnapshot, follower: FollowerSettings) -> str | None:
    f = follower.filters
    if f.exchange_segments and snap.exchange_segment not in f.exchange_segments:
        return f"filtered: segment {snap.exchange_segment}"
    if f.products and snap.product_type not in f.products:
        return f"filtered: product {snap.product_type}"
    if f.security_ids and snap.security_id not in f.security_ids:
        return f"filtered: security {snap.security_id}"
    return None


def bracket_values_missing(snap: LeaderOrderSnapshot) -> str | None:
    """What a BO / CO copy cannot be placed without and the snapshot lacks, or None.

    Socket frames carry no ``boProfitValue`` / ``boStopLossValue``; the feed reads them from
    the book, and when that read fails the copy waits (a transient reason: the next leader
    event or reconcile brings them) instead of going out without them to be rejected for good.
    """
    if snap.product_type is ProductType.BO and (
        snap.bo_profit_value is None or snap.bo_stop_loss_value is None
    ):
        return "bracket order's target / stop-loss values not read yet"
    if snap.product_type is ProductType.CO and not (snap.trigger_price or snap.bo_stop_loss_value):
        return "cover order's stop-loss not read yet"
    return None


def _exit_quantity(
    base_qty: int,
    snap: LeaderOrderSnapshot,
    follower: FollowerSettings,
    lot: int,
    ctx: SizingContext,
    basis: ExitBasis,
) -> tuple[int, str | None]:
    """A leader exit's copy: the follower's proportional close, plus, for a flip, the new
    side's entry sized as any entry. The close is not capped (it lowers the risk caps bound)
    and needs no balance; an entry part that cannot be sized now goes without it."""
    close, opening = exit_sizing.split(base_qty, basis.leader_open)
    held = basis.follower_open.get(follower.name, 0)
    closing = exit_sizing.follower_close(close, basis.leader_open, held, lot)
    entry, entry_reason = 0, None
    if opening > 0:
        entry, entry_reason = follower_quantity(opening, follower, lot, ctx)
        if entry_reason is None:
            entry, entry_reason = _apply_caps(entry, value_price(snap), follower, lot)
    if closing + entry > 0:
        return closing + entry, None
    if entry_reason is not None:
        return 0, entry_reason  # a flip whose new side waits (a balance) or is below a lot
    return 0, exit_sizing.close_skip_reason(held, closing) if close else None


def desired_intent(
    snap: LeaderOrderSnapshot,
    follower: FollowerSettings,
    ctx: SizingContext,
    basis: ExitBasis | None = None,
) -> DesiredIntent:
    """The follower order that mirrors ``snap`` now (a skip carries its reason).

    Quantity: the leader's quantity scaled; once the leader order is dead (cancelled, expired,
    rejected) after a partial fill, only the filled part is mirrored, so an open follower copy
    is trimmed to the proportion the leader actually traded. An exit (``basis`` says the
    leader held a position the order reduces) is sized from the follower's own position
    (``actors.exit_sizing``), against the same basis on every event of the order.
    """
    dead = snap.status in _DEAD_STATUSES
    base_qty = snap.filled_qty if dead else snap.quantity
    reason = _filtered(snap, follower)
    lot = lot_size_for(snap, ctx)
    qty = 0
    if reason is None and lot is None:
        reason = (
            f"{TRANSIENT_SKIP_PREFIX}lot size unknown for "
            f"{snap.exchange_segment}:{snap.security_id}"
        )
    if reason is None and lot is not None:
        if base_qty <= 0:
            qty, reason = 0, None  # a dead leader order with no fills: nothing to mirror
        elif basis is not None and basis.is_exit:
            qty, reason = _exit_quantity(base_qty, snap, follower, lot, ctx, basis)
        else:
            qty, reason = follower_quantity(base_qty, follower, lot, ctx)
            if reason is None:
                qty, reason = _apply_caps(qty, value_price(snap), follower, lot)
    if reason is None and qty > 0:
        missing = bracket_values_missing(snap)
        if missing is not None:
            reason, qty = f"{TRANSIENT_SKIP_PREFIX}{missing}", 0
    desired_open = reason is None and qty > 0
    return DesiredIntent(
        follower=follower.name,
        leader_order_id=snap.leader_order_id,
        leg="",  # one intent per leader order: exit legs belong to the broker's bracket
        correlation_id=correlation_id_for(follower.name, snap.leader_order_id),
        transaction_type=snap.transaction_type,
        exchange_segment=snap.exchange_segment,
        product_type=snap.product_type,
        order_type=snap.order_type,
        validity=snap.validity,
        security_id=snap.security_id,
        quantity=qty,
        price=snap.price,
        trigger_price=snap.trigger_price,
        bo_profit_value=snap.bo_profit_value,
        bo_stop_loss_value=snap.bo_stop_loss_value,
        target_price=snap.target_price,
        stop_loss_price=snap.stop_loss_price,
        trailing_jump=snap.trailing_jump,
        desired_open=desired_open,
        # a dead leader order with nothing filled is not a skip: a copy may exist and must go
        skip_reason=reason,
        after_market_order=snap.after_market_order,
        amo_time=snap.amo_time,
    )


def awaits_acceptance(snap: LeaderOrderSnapshot, follower: FollowerSettings) -> bool:
    """True while ``follower`` does not copy ``snap`` yet: a MARKET order still in TRANSIT,
    for a follower with ``copy_market_after_accept`` (its copy would fill at once, and the
    broker may still reject the leader's order for margin: RMS)."""
    return (
        follower.copy_market_after_accept
        and snap.order_type is OrderType.MARKET
        and snap.status is OrderStatus.TRANSIT
    )


def desired_intents(
    snap: LeaderOrderSnapshot,
    followers: Sequence[FollowerSettings],
    ctx: SizingContext,
    basis: ExitBasis | None = None,
) -> list[DesiredIntent]:
    """Intents for every follower; exit legs of brackets are the broker's, never placed.

    A follower that waits for the leader's MARKET order to be accepted gets no intent from
    its TRANSIT frame: the next frame (PENDING, a fill) creates it, claimed as any new copy.
    """
    if snap.parent_order_id is not None or snap.leg_name not in ("", "ENTRY_LEG"):
        return []
    return [
        desired_intent(snap, f, ctx, basis) for f in followers if not awaits_acceptance(snap, f)
    ]


def desired_share_intents(
    snap: LeaderOrderSnapshot,
    follower: FollowerSettings,
    ctx: SizingContext,
    *,
    prior: int,
    freeze_qty: int | None,
    basis: ExitBasis | None = None,
) -> list[DesiredIntent]:
    """``follower``'s copy of one child of a slicing, split at the freeze quantity.

    ``prior``: the leader quantity of the children before this one (``actors.slicing``); the
    copy is the follower's share of the group, sized as a fixed quantity through
    :func:`desired_intent` (so filters and caps apply as to any copy). A copy above the largest
    order within ``freeze_qty`` becomes several intents (legs ``""``, ``F2``...), each with its
    own correlationId.
    """
    intent = desired_intent(snap, follower, ctx)
    lot = lot_size_for(snap, ctx)
    if lot is None:
        return [intent]
    if prior > 0 and _filtered(snap, follower) is None:
        own = snap.filled_qty if snap.status in _DEAD_STATUSES else snap.quantity
        share = slicing.share_of_group(
            prior, own, lambda q: follower_quantity(q, follower, lot, ctx)[0]
        )
        if share > 0:
            as_fixed = replace(follower, sizing=SizingConfig(SizingMode.FIXED, quantity=share))
            intent = desired_intent(snap, as_fixed, ctx)
        else:
            reason = intent.skip_reason
            if reason is None and snap.status not in _DEAD_STATUSES:
                reason = SLICING_ELSEWHERE
            intent = replace(intent, quantity=0, desired_open=False, skip_reason=reason)
    if not intent.desired_open or intent.skip_reason is not None:
        return [intent]
    max_qty = slicing.max_order_quantity(freeze_qty, lot)
    return [
        replace(
            intent,
            leg=piece.leg,
            correlation_id=correlation_id_for(follower.name, snap.leader_order_id, piece.leg),
            quantity=piece.quantity,
        )
        for piece in slicing.pieces(intent.quantity, max_qty)
    ]
