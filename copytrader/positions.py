"""Position drift: what each follower should hold, what it holds, why they differ, and the
orders that would repair it. Pure functions: the commands and the engine's sampler read the
journal (or the broker) and pass the facts in.

Expected position of (follower, key) = the follower's carried quantity + the signed sum, over
today's copies of that key that were not skipped / rejected / failed, of each copy's *mirrored
fill*: ``floor_to_lot(copy quantity x leader filled / leader base)``, the base being the
leader's quantity, or its filled quantity once the leader order is dead (as
``actors.sizing.desired_intent`` sizes a copy). So expected = the leader's fills, scaled by the
follower's sizing, minus what was skipped for a recorded reason. An exit's copy (one with an
exit basis, ``Journal.exit_bases``: sized from the follower's own position) takes the expected
position toward flat and never past it, as ``actors.exit_sizing`` never over-closes; the part of
it beyond its basis is a flip's new entry (:func:`clamp_exit`).

Drift = actual - expected, in lots. Since the actual position is the carried quantity plus the
follower's fills (copies' and others'), a drift splits exactly into the copies filled other
than mirrored (an open copy not filled yet, a partial fill) and fills that are no copy (a
manual trade in the follower's account, a broker-side square-off, a resync order). Differences
that cancel across the products of one instrument are a position conversion, not drift
(:func:`with_conversions`).

Resync plan: per key, the MARKET orders that take the actual position to the expected one in
whole lots -- every exit (an order that reduces |actual|) before any entry -- with
correlationIds of their own (:func:`resync_correlation_id`).
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from actors.exit_sizing import CLOSE_BELOW_LOT, NOTHING_TO_CLOSE
from actors.slicing import max_order_quantity, split_at_freeze
from dhan.codes import ExchangeSegment, OrderStatus
from dhan.models import Holding, Position
from store.records import (
    BELOW_ONE_LOT_PREFIX,
    TRANSIENT_SKIP_PREFIX,
    Intent,
    LeaderOrderSnapshot,
    PositionKey,
    is_operator_skip,
)
from store.states import IntentState

#: Segments whose lot size is 1 unless an instrument says otherwise (cash equity).
_UNIT_LOT_SEGMENTS = frozenset({str(ExchangeSegment.NSE_EQ), str(ExchangeSegment.BSE_EQ)})
#: Leader statuses after which only the filled part is mirrored (as ``actors.sizing``).
_DEAD_STATUSES = frozenset({OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED})
#: Copy states that mirror nothing: the copy was never (or never validly) at the broker.
_NOT_COPIED = frozenset({IntentState.SKIPPED, IntentState.REJECTED, IntentState.FAILED})
#: Copy states in which nothing of it reached the broker yet (or it is being looked up).
_UNSENT = frozenset({IntentState.PLANNED, IntentState.SENDING, IntentState.UNKNOWN})
#: The leader's exit legs of a bracket / super order: their fills undo the entry's.
_EXIT_LEGS = frozenset({"TARGET_LEG", "STOP_LOSS_LEG"})

#: The prefix of every resync order's correlationId. A copy's id (``dhan.correlation``) is
#: ``<leg char><alnum tail>-<base32 hash>[-<digit>]``: it never holds ``_``, so no resync id
#: can ever equal a copy's, and the prefix finds resync orders in a book.
RESYNC_PREFIX = "RS_"
#: The prefix of every order ``flatten`` places (``copytrader.flatten``).
FLATTEN_PREFIX = "FL_"
#: The reason shown for fills that are no copy of the leader.
NOT_A_COPY = "manual trade or broker square-off"


def lot_for(key: PositionKey, lot_sizes: Mapping[tuple[str, str], int]) -> int | None:
    """The key's lot size: the journal's / config's, 1 for cash equity, None if unknown."""
    known = lot_sizes.get((key.exchange_segment, key.security_id))
    if known:
        return known
    return 1 if key.exchange_segment in _UNIT_LOT_SEGMENTS else None


def floor_to_lot(quantity: float, lot: int) -> int:
    """``quantity`` rounded down to whole lots (as sizing rounds)."""
    return math.floor(quantity / lot + 1e-9) * lot


def leader_base(snap: LeaderOrderSnapshot) -> int:
    """The leader quantity a copy was sized from: the filled part once the order is dead."""
    return snap.filled_qty if snap.status in _DEAD_STATUSES else snap.quantity


def mirrored_fill(copy_quantity: int, leader_filled: int, base: int, lot: int) -> int:
    """The copy's part of the leader's fill: ``floor_to_lot(copy x filled / base)`` (>= 0)."""
    if base <= 0 or copy_quantity <= 0 or leader_filled <= 0:
        return 0
    return floor_to_lot(copy_quantity * min(leader_filled, base) / base, lot)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def counts_since(intent: Intent, since: datetime) -> bool:
    """True when ``intent`` is one of the trading day that started at ``since``: created since,
    or an after-market copy (placed the evening before) updated since."""
    return _aware(intent.created_at) >= since or (
        intent.after_market_order and _aware(intent.updated_at) >= since
    )


def key_of(intent: Intent) -> PositionKey:
    return PositionKey(str(intent.exchange_segment), intent.security_id, str(intent.product_type))


def _sign(transaction_type: object) -> int:
    return 1 if str(transaction_type) == "BUY" else -1


def skip_category(reason: str | None) -> str:
    """The short name of a skip reason, for the table's reasons column."""
    if not reason:
        return "skipped"
    if reason == NOTHING_TO_CLOSE:
        return "nothing to close"
    if reason == CLOSE_BELOW_LOT:
        return "below a lot"
    if reason.startswith("filtered:"):
        return "filter"
    if reason.startswith(BELOW_ONE_LOT_PREFIX):
        return "cap" if reason.endswith("capped") else "below a lot"
    if reason.startswith(TRANSIENT_SKIP_PREFIX):
        return "waiting"
    if is_operator_skip(reason):
        return reason  # "operator: paused" / "operator: close-only"
    if "disabled" in reason or "paused" in reason:
        return "paused"
    return f"skipped: {reason[:60]}"


@dataclass(frozen=True, slots=True)
class CopyPart:
    """One copy's part in a key's expected position."""

    intent_id: int
    leader_order_id: str
    mirrored: int  #: signed: what the copy should have filled for the leader's fill
    filled: int  #: signed: what it filled
    reason: str | None  #: set: why it mirrors nothing / differs (for the reasons column)


def _exit_legs_filled(legs: Iterable[LeaderOrderSnapshot]) -> int:
    return sum(s.filled_qty for s in legs if s.leg_name in _EXIT_LEGS)


def copy_part(
    intent: Intent,
    snap: LeaderOrderSnapshot | None,
    lot: int,
    *,
    leader_legs: Sequence[LeaderOrderSnapshot] = (),
    legs_filled: int = 0,
) -> CopyPart:
    """``intent``'s mirrored and actual fill (signed), and the reason when they are not the
    leader's scaled fill. A copy with no leader snapshot mirrors what it filled (nothing to
    compare it with). A bracket / super copy: its exit legs' fills (``leader_legs`` for the
    leader's, ``legs_filled`` for the follower's) take back what the entry added."""
    sign = _sign(intent.transaction_type)
    filled = sign * (intent.filled_qty - legs_filled)
    leader_filled = snap.filled_qty if snap is not None else 0
    if intent.state in _NOT_COPIED:
        reason = None
        if leader_filled > 0:
            if intent.state is IntentState.SKIPPED:
                reason = skip_category(intent.skip_reason)
            elif intent.state is IntentState.REJECTED:
                reason = f"rejected {intent.error_code or ''}".rstrip()
            else:
                reason = "failed"
        return CopyPart(intent.id, intent.leader_order_id, 0, filled, reason)
    if snap is None:
        return CopyPart(intent.id, intent.leader_order_id, filled, filled, None)
    base = leader_base(snap)
    mirrored = mirrored_fill(intent.quantity, leader_filled, base, lot)
    if leader_legs:
        mirrored -= min(
            mirrored,
            mirrored_fill(intent.quantity, _exit_legs_filled(leader_legs), base, lot),
        )
    mirrored *= sign
    reason = None
    if mirrored != filled:
        if intent.state is IntentState.DONE and intent.filled_qty == 0 and intent.state_reason:
            reason = f"not copied: {intent.state_reason}"
        elif intent.state in _UNSENT:
            reason = f"copy not placed yet ({intent.state})"
        else:
            reason = f"copy filled {abs(filled)} of {abs(mirrored)}"
    return CopyPart(intent.id, intent.leader_order_id, mirrored, filled, reason)


def clamp_exit(held: int, mirrored: int, basis: int) -> int:
    """An exit copy's effect on the expected position: the part of ``mirrored`` up to its exit
    basis (the follower's position when the leader's exit was first seen) reduces ``held``
    toward zero and never past it (an exit never reverses: a close closes all, never more); the
    part beyond the basis is a flip's new entry and counts whole. ``basis`` <= 0: no exit."""
    if basis <= 0 or mirrored == 0 or held == 0 or (mirrored > 0) == (held > 0):
        return mirrored
    sign = 1 if mirrored > 0 else -1
    exit_part = min(abs(mirrored), basis)
    entry_part = abs(mirrored) - exit_part
    if entry_part == 0:
        return sign * min(exit_part, abs(held))
    return sign * (abs(held) + entry_part) if exit_part >= abs(held) else sign * abs(mirrored)


@dataclass(frozen=True, slots=True)
class DriftRow:
    """One line of the positions table."""

    follower: str
    key: PositionKey
    lot: int
    leader_net: int
    expected: int
    actual: int
    reasons: tuple[str, ...] = ()
    lot_known: bool = True  #: False: a derivative whose lot size is unknown (counted in units)
    #: the part of ``actual - expected`` a conversion between products explains (see
    #: :func:`with_conversions`): not drift, never resynced
    converted: int = 0

    @property
    def drift(self) -> int:
        return self.actual - self.expected - self.converted

    @property
    def drift_lots(self) -> float:
        return self.drift / self.lot

    @property
    def security(self) -> str:
        """The gauge's ``security`` label: segment, security id and product."""
        return f"{self.key.exchange_segment}:{self.key.security_id}:{self.key.product_type}"


@dataclass(frozen=True, slots=True)
class Held:
    """What one account holds of one key: net (signed) and the part carried from earlier days."""

    net_qty: int
    carried_qty: int = 0


def _reasons(parts: Sequence[CopyPart], drift: int, not_copies: Sequence[str]) -> tuple[str, ...]:
    """Skips always (they explain expected vs the leader); the rest only with a drift."""
    by_label: dict[str, list[str]] = {}
    deviation = 0
    for p in parts:
        deviation += p.filled - p.mirrored
        if p.reason is None:
            continue
        copied = p.mirrored != 0 or p.filled != 0
        if copied and drift == 0:
            continue  # a copy's difference the drift does not show (resynced, say)
        by_label.setdefault(p.reason, []).append(p.leader_order_id)
    out = [
        f"{label} (leader {', '.join(ids[:3])}{', ...' if len(ids) > 3 else ''})"
        for label, ids in by_label.items()
    ]
    other = drift - deviation
    if drift != 0 and other != 0:
        detail = f": {', '.join(not_copies[:3])}" if not_copies else ""
        out.append(f"{NOT_A_COPY} {other:+d}{detail}")
    return tuple(out)


def leader_views(
    snapshots: Iterable[LeaderOrderSnapshot],
) -> tuple[dict[str, LeaderOrderSnapshot], dict[str, list[LeaderOrderSnapshot]]]:
    """The journal's latest leader snapshots as (order id -> plain / entry snapshot, entry id ->
    its exit legs' snapshots)."""
    entries: dict[str, LeaderOrderSnapshot] = {}
    legs: dict[str, list[LeaderOrderSnapshot]] = {}
    for s in snapshots:
        if s.leg_name in ("", "ENTRY_LEG"):
            entries[s.leader_order_id] = s
        elif s.leg_name in _EXIT_LEGS:
            legs.setdefault(s.parent_order_id or s.leader_order_id, []).append(s)
    return entries, legs


def _no_basis(leader_order_id: str) -> Mapping[str, int]:
    return {}


def drift_rows(
    follower: str,
    intents: Iterable[Intent],
    snapshots: Mapping[str, LeaderOrderSnapshot],
    actual: Mapping[PositionKey, Held],
    lot_sizes: Mapping[tuple[str, str], int],
    *,
    leader: Mapping[PositionKey, Held] | None = None,
    leader_legs: Mapping[str, Sequence[LeaderOrderSnapshot]] | None = None,
    follower_legs: Mapping[int, int] | None = None,
    bases: Callable[[str], Mapping[str, int]] = _no_basis,
    since: datetime | None = None,
    not_copies: Mapping[PositionKey, Sequence[str]] | None = None,
) -> list[DriftRow]:
    """The table's rows of ``follower``: every key it holds, should hold, or skipped a filled
    leader order of.

    ``intents``: the follower's copies (others are ignored), taken in creation order;
    ``snapshots``: leader order id -> latest plain / entry snapshot, ``leader_legs``: entry id
    -> the leader's exit-leg snapshots, ``follower_legs``: intent id -> its exit legs' filled
    quantity (brackets, super orders); ``bases``: leader order id -> account -> exit basis
    (``Journal.exit_bases``; asked only for a copy that opposes the expected position);
    ``since``: only copies created from then on count (today's: earlier days are in the
    carried quantity; an AMO copy counts if it was updated since); ``not_copies``: per key,
    descriptions of fills that are no copy (order ids from the broker's book), shown with the
    part of the drift the copies do not explain. A key whose lot size is unknown counts in
    units (lot 1)."""
    parts: dict[PositionKey, list[CopyPart]] = {}
    running: dict[PositionKey, int] = {}
    lots: dict[PositionKey, int] = {}
    legs = leader_legs or {}
    mine = sorted((i for i in intents if i.follower == follower), key=lambda i: i.id)
    for intent in mine:
        if since is not None and not counts_since(intent, since):
            continue
        key = key_of(intent)
        lot = lots.get(key)
        if lot is None:
            lot = lots[key] = lot_for(key, lot_sizes) or 1
            running[key] = actual[key].carried_qty if key in actual else 0
        part = copy_part(
            intent,
            snapshots.get(intent.leader_order_id),
            lot,
            leader_legs=legs.get(intent.leader_order_id, ()),
            legs_filled=(follower_legs or {}).get(intent.id, 0),
        )
        held = running[key]
        if part.mirrored and held and (part.mirrored > 0) != (held > 0):
            clamped = clamp_exit(
                held, part.mirrored, bases(intent.leader_order_id).get(follower, 0)
            )
            if clamped != part.mirrored:
                part = CopyPart(
                    part.intent_id, part.leader_order_id, clamped, part.filled, part.reason
                )
        running[key] = held + part.mirrored
        parts.setdefault(key, []).append(part)
    keys = set(parts) | {k for k, h in actual.items() if h.net_qty or h.carried_qty}
    rows = []
    for key in keys:
        known = lot_for(key, lot_sizes)
        lot = known or 1
        have = actual.get(key, Held(0, 0))
        key_parts = parts.get(key, [])
        expected = have.carried_qty + sum(p.mirrored for p in key_parts)
        drift = have.net_qty - expected
        reasons = _reasons(key_parts, drift, (not_copies or {}).get(key, ()))
        if not (expected or have.net_qty or reasons):
            continue
        leader_net = leader[key].net_qty if leader is not None and key in leader else 0
        if known is None:
            reasons += ("lot size unknown: drift in units",)
        row = DriftRow(
            follower, key, lot, leader_net, expected, have.net_qty, reasons, known is not None
        )
        rows.append(row)
    rows.sort(key=lambda r: (r.key.exchange_segment, r.key.security_id, r.key.product_type))
    return with_conversions(rows)


#: The reason of a difference that a conversion between products explains.
CONVERTED = "converted between products (the instrument's position is as expected)"


def with_conversions(rows: Sequence[DriftRow]) -> list[DriftRow]:
    """``rows`` (one follower's) with the differences a position conversion explains set
    apart: two or more products of one instrument whose differences cancel (INTRADAY -10, CNC
    +10: ``POST /positions/convert``, the leader's mirrored or the follower's own, moves a
    position with no order and no fill, while the expected positions follow the copies'
    products). Their ``drift`` is 0 and resync leaves them be; a difference that does not
    cancel (a conversion plus a trade) stays drift, whole."""
    by_instrument: dict[tuple[str, str], list[DriftRow]] = {}
    for r in rows:
        by_instrument.setdefault((r.key.exchange_segment, r.key.security_id), []).append(r)
    converted: dict[PositionKey, int] = {}
    for group in by_instrument.values():
        moved = [r for r in group if r.actual != r.expected]
        if len(moved) >= 2 and sum(r.actual - r.expected for r in moved) == 0:
            converted.update((r.key, r.actual - r.expected) for r in moved)
    if not converted:
        return list(rows)
    return [
        replace(
            r,
            converted=converted[r.key],
            reasons=(*(x for x in r.reasons if not x.startswith(NOT_A_COPY)), CONVERTED),
        )
        if r.key in converted
        else r
        for r in rows
    ]


def format_table(rows: Sequence[DriftRow]) -> list[str]:
    """The positions table, one line per row (quantities in units, drift in lots)."""
    lines = [
        f"{'follower':<14}{'instrument':<28}{'leader':>8}{'expected':>10}{'actual':>8}"
        f"{'drift(lots)':>13}  reasons"
    ]
    for r in rows:
        drift = f"{r.drift_lots:+g}" if r.drift else "0"
        lines.append(
            f"{r.follower:<14}{r.security:<28}{r.leader_net:>8}{r.expected:>10}{r.actual:>8}"
            f"{drift:>13}  {'; '.join(r.reasons) or '-'}"
        )
    return lines


# -- resync ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResyncOrder:
    """One order of a resync plan (MARKET, DAY)."""

    follower: str
    key: PositionKey
    transaction_type: str  #: "BUY" | "SELL"
    quantity: int
    exit: bool  #: True: it reduces |actual| (placed before every entry)
    correlation_id: str = field(default="")

    def describe(self) -> str:
        kind = "exit" if self.exit else "entry"
        return (
            f"{self.follower}: {kind} {self.transaction_type} {self.quantity} "
            f"{self.key.exchange_segment}:{self.key.security_id} {self.key.product_type} "
            f"MARKET cid={self.correlation_id}"
        )


def key_steps(actual: int, expected: int, lot: int) -> list[tuple[str, int, bool]]:
    """The (side, quantity, exit) orders taking ``actual`` to ``expected`` in whole lots: first
    the exit toward zero (never past it), then the entry on the expected side. Less than a
    lot of difference: nothing."""
    out: list[tuple[str, int, bool]] = []
    if actual != 0 and (
        expected == 0 or (expected > 0) != (actual > 0) or abs(expected) < abs(actual)
    ):
        # reduce: down to |expected| on the same side, else to flat
        target = expected if expected != 0 and (expected > 0) == (actual > 0) else 0
        qty = floor_to_lot(abs(actual - target), lot)
        if qty > 0:
            out.append(("SELL" if actual > 0 else "BUY", qty, True))
        actual = actual - (qty if actual > 0 else -qty)
    rest = expected - actual
    if rest != 0 and (expected > 0) == (rest > 0):
        qty = floor_to_lot(abs(rest), lot)
        if qty > 0:
            out.append(("BUY" if rest > 0 else "SELL", qty, False))
    return out


def resync_correlation_id(
    follower: str,
    run: str,
    key: PositionKey,
    side: str,
    qty: int,
    piece: int = 0,
    prefix: str = RESYNC_PREFIX,
) -> str:
    """The correlationId of one resync order: ``RS_`` + 24 base32 chars of a hash over
    (follower, run, key, side, quantity, piece). ``run`` names one resync run (the day and the
    follower's ended-run count): a rerun after a crash derives the same ids for the same plan
    (and finds the orders it placed), a later run new ones. ``piece``: the order's index when
    a step is split at the freeze quantity. ``prefix``: ``FL_`` for ``flatten``'s exits."""
    parts = (
        follower,
        run,
        key.exchange_segment,
        key.security_id,
        key.product_type,
        side,
        str(qty),
        str(piece),
    )
    raw = "".join(f"{len(p)}:{p};" for p in parts).encode()
    digest = hashlib.blake2b(raw, digest_size=15).digest()
    return prefix + base64.b32encode(digest).decode().lower()


def is_resync_id(correlation_id: str | None) -> bool:
    return bool(correlation_id) and str(correlation_id).startswith(RESYNC_PREFIX)


def is_flatten_id(correlation_id: str | None) -> bool:
    return bool(correlation_id) and str(correlation_id).startswith(FLATTEN_PREFIX)


def plannable(row: DriftRow) -> bool:
    """False for a row resync must not touch: a derivative whose lot size is unknown, unless
    it is to be closed (its whole position: lots, whatever their size)."""
    return row.lot_known or row.expected == 0


def resync_plan(
    rows: Sequence[DriftRow], run: str, freeze: Mapping[str, int] | None = None
) -> list[ResyncOrder]:
    """Every order taking each row's actual to its expected position: all exits first (in the
    table's order), then the entries. Nothing for a row within a lot of expected, nor for one
    that is not :func:`plannable`. ``freeze``: ``"SEGMENT:securityId"`` -> the exchange's
    freeze quantity; a step above it goes as several orders of at most the largest lot
    multiple within it (``actors.slicing``), each with its own correlationId."""
    exits: list[ResyncOrder] = []
    entries: list[ResyncOrder] = []
    for r in rows:
        if not plannable(r):
            continue
        instrument = f"{r.key.exchange_segment}:{r.key.security_id}"
        max_qty = max_order_quantity((freeze or {}).get(instrument), r.lot)
        for side, qty, is_exit in key_steps(r.actual, r.expected + r.converted, r.lot):
            for piece, part in enumerate(split_at_freeze(qty, max_qty)):
                cid = resync_correlation_id(r.follower, run, r.key, side, qty, piece)
                order = ResyncOrder(r.follower, r.key, side, part, is_exit, cid)
                (exits if is_exit else entries).append(order)
    return exits + entries


def broker_holdings(
    positions: Iterable[Position],
    holdings: Iterable[Holding],
    segment_of: Callable[[str | None], str] | None = None,
) -> dict[PositionKey, Held]:
    """The broker's positions of one account by key.

    A ``GET /positions`` row of a product other than CNC: net = ``netQty``, carried =
    ``carryForwardBuyQty - carryForwardSellQty``. CNC: net = the holdings' ``totalQty`` +
    ``dayBuyQty - daySellQty``, carried = ``totalQty``: holdings are the CNC position of
    earlier days, and a sale of them today shows either as a negative ``netQty`` or as the sold
    holdings repeated in ``carryForwardBuyQty`` (``netQty`` 0); the day's quantities read both
    right (``docs/simulator.md``, selling holdings). ``totalQty``, not ``availableQty``: pledged
    and T+1 shares are held all the same, and ``availableQty`` already drops with today's sale.
    ``segment_of``: a holding's exchange ("NSE", "BSE", "ALL", None) -> its cash segment
    (default: ``<exchange>_EQ``, None: NSE)."""
    out: dict[PositionKey, Held] = {}
    for p in positions:
        key = PositionKey(str(p.exchange_segment), p.security_id, str(p.product_type))
        if key.product_type == "CNC":
            net, carried = p.day_buy_qty - p.day_sell_qty, 0
        else:
            net, carried = p.net_qty, p.carry_forward_buy_qty - p.carry_forward_sell_qty
        was = out.get(key, Held(0, 0))
        out[key] = Held(was.net_qty + net, was.carried_qty + carried)
    to_segment = segment_of or (lambda exchange: f"{exchange or 'NSE'}_EQ")
    for h in holdings:
        if h.total_qty == 0:
            continue
        key = PositionKey(to_segment(h.exchange), h.security_id, "CNC")
        was = out.get(key, Held(0, 0))
        out[key] = Held(was.net_qty + h.total_qty, was.carried_qty + h.total_qty)
    return out
