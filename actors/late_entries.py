"""Late and far entries: what a copy placed long after the leader traded may still do.

After an outage or on a restart, the REST reconcile finds leader orders the socket never
delivered (``actors.leader_reconcile``). Under ``engine.reconcile_policy: copy_all`` an entry
that filled while the engine was away would be bought now, at today's price. Two engine keys
bound that, both off by default:

- ``engine.max_entry_age_s``: an entry whose leader order *traded* (it has fills and is no
  longer resting) longer ago than this is not copied; its copies are skipped with a reason that
  starts with :data:`STALE_PREFIX`. A leader order still resting is mirrored as now, and an exit
  (an order that reduces the leader's position, ``actors.exit_bases``) is always copied.
- ``engine.max_entry_deviation_pct``: a MARKET entry that the leader has already filled is
  copied as a LIMIT at the leader's average fill price plus this much (a BUY; minus for a
  SELL), never as a MARKET order: the engine sees no live quote without a data subscription,
  so it cannot tell how far the price has moved, and the LIMIT is the one form that never fills
  worse than the allowed deviation. Within it, it fills at once at the market price; beyond it,
  it rests (with the leader's validity) until the price comes back, or is cancelled by the
  operator. A filled LIMIT entry priced beyond the bound (Dhan's market price protection shows
  an API MARKET order as a LIMIT at its band) is brought to it. Plain products only (CNC,
  INTRADAY, MARGIN, MTF): BO / CO, super-order and stop-loss entries are copied as the leader
  placed them.

Both apply where a copy comes late: to a leader order first seen by a REST reconcile. A copy
placed on the socket's frames goes out within milliseconds of the leader's order, before its
fill, and is left as it is. Pure functions; the reconciler passes the clock's time in.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from actors.exit_sizing import is_exit_candidate
from actors.sizing import ExitBasis
from dhan.codes import ExchangeSegment, OrderType, TransactionType
from store.records import DesiredIntent, LeaderOrderSnapshot

#: The skip reason of an entry copy not placed because the leader traded too long ago.
STALE_PREFIX = "stale: "

#: Indian Standard Time: Dhan writes its order times (``updateTime``) in it, without a zone.
IST = timezone(timedelta(hours=5, minutes=30), "IST")

#: The frame fields that may carry the instrument's tick size (socket frames carry
#: ``TickSize``; REST order rows carry none).
_TICK_FIELDS = ("TickSize", "tickSize")

#: The tick a LIMIT price is rounded to when the order names none: a multiple of every NSE /
#: BSE equity, F&O and currency tick (0.01, 0.05, 0.0025); MCX ticks go up to one rupee.
DEFAULT_TICK = 0.05
MCX_TICK = 1.0


def traded_at_s(snap: LeaderOrderSnapshot) -> float | None:
    """When the leader order last traded, as a POSIX time; None when unknown.

    The broker's last-update time (REST ``updateTime``, IST): for a TRADED order, its last
    fill. For an order cancelled after a partial fill it is the cancel, no earlier than the
    fills: such an order is judged no older than it is.
    """
    text = snap.updated_at
    if len(text) < 19:
        return None
    try:
        at = datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    if at.year < 2000:  # Dhan's empty date, "0001-01-01 00:00:00"
        return None
    return at.replace(tzinfo=IST).timestamp()


def is_entry(snap: LeaderOrderSnapshot, basis: ExitBasis | None) -> bool:
    """True unless ``basis`` says ``snap`` reduces the leader's position (an exit, or a flip:
    its close part must go, so the whole order is copied as an exit)."""
    return basis is None or not basis.is_exit


def stale_entry_skip(
    snap: LeaderOrderSnapshot,
    basis: ExitBasis | None,
    max_age_s: float | None,
    now_s: float,
) -> str | None:
    """Why ``snap``'s copies are not placed under ``engine.max_entry_age_s``; None: copied.

    Only an entry that has traded and rests no more can be stale; an entry with fills whose
    trade time the broker did not give is stale too (its freshness cannot be shown).
    """
    if max_age_s is None or not is_entry(snap, basis):
        return None
    if not snap.is_terminal or snap.filled_qty <= 0:
        return None  # resting (mirrored as now), or ended without a fill (nothing to copy)
    at = traded_at_s(snap)
    if at is None:
        return f"{STALE_PREFIX}traded at an unknown time (engine.max_entry_age_s {max_age_s:g})"
    age = now_s - at
    if age <= max_age_s:
        return None
    return f"{STALE_PREFIX}traded {age:.0f} s ago (engine.max_entry_age_s {max_age_s:g})"


def tick_size(snap: LeaderOrderSnapshot) -> float:
    """The instrument's tick from the leader's frame, else a tick every price there fits."""
    for name in _TICK_FIELDS:
        value = snap.raw.get(name)
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                continue
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and value > 0
            and math.isfinite(value)
        ):
            return float(value)
    return MCX_TICK if snap.exchange_segment is ExchangeSegment.MCX_COMM else DEFAULT_TICK


def bounded_price(
    side: TransactionType, leader_price: float, deviation_pct: float, tick: float
) -> float:
    """The LIMIT price ``deviation_pct`` worse than ``leader_price`` for ``side``, rounded to
    ``tick`` towards the leader's price (never beyond the allowed deviation)."""
    factor = deviation_pct / 100.0
    if side is TransactionType.BUY:
        ticks = math.floor(leader_price * (1.0 + factor) / tick + 1e-9)
    else:
        ticks = math.ceil(leader_price * (1.0 - factor) / tick - 1e-9)
    return round(max(ticks, 1) * tick, 6)


def bounded_entry(
    intent: DesiredIntent,
    snap: LeaderOrderSnapshot,
    basis: ExitBasis | None,
    deviation_pct: float | None,
) -> DesiredIntent:
    """``intent`` as ``engine.max_entry_deviation_pct`` sends it.

    The copy of an entry of a plain product that the leader has traded and that rests no more
    is never priced worse than the deviation from the leader's average fill: a MARKET copy
    becomes a LIMIT at the bound, a LIMIT priced beyond it is brought to it (an API MARKET order
    under Dhan's market price protection shows in the REST book as a LIMIT at its band, a few
    percent beyond the market). Anything else -- a skip, an exit, a resting order, a stop-loss
    type, a bracket or super order, a LIMIT within the bound -- is unchanged.
    """
    if (
        deviation_pct is None
        or not intent.desired_open
        or intent.skip_reason is not None
        or intent.order_type not in (OrderType.MARKET, OrderType.LIMIT)
        or not snap.is_terminal
        or snap.filled_qty <= 0
        or snap.avg_price <= 0
        or not is_entry(snap, basis)
        or not is_exit_candidate(snap.product_type, False)
        or snap.is_super
    ):
        return intent
    side = snap.transaction_type
    bound = bounded_price(side, snap.avg_price, deviation_pct, tick_size(snap))
    if intent.order_type is OrderType.LIMIT and intent.price > 0:
        within = intent.price <= bound if side is TransactionType.BUY else intent.price >= bound
        if within:
            return intent
    return replace(intent, order_type=OrderType.LIMIT, price=bound)


def late_intents(
    snap: LeaderOrderSnapshot,
    intents: list[DesiredIntent],
    basis: ExitBasis | None,
    *,
    max_age_s: float | None,
    deviation_pct: float | None,
    now_s: float,
) -> tuple[list[DesiredIntent], str | None]:
    """The intents of a late leader order (first seen by a reconcile, copied by its policy)
    under both rules, and the stale reason when its copies are skipped for age.

    A stale order's every copy is skipped, whatever reason it had: a transient one (a lot
    size, a balance) would otherwise be sized again and placed later, staler still.
    """
    stale = stale_entry_skip(snap, basis, max_age_s, now_s)
    if stale is not None:
        return [replace(i, skip_reason=stale, desired_open=False) for i in intents], stale
    return [bounded_entry(i, snap, basis, deviation_pct) for i in intents], None
