"""A follower's copy against the leader's order, scaled: the one judgement of copy content.

``copytrader reconcile`` (``book_diff``) and the chaos checker (``checker``) both ask it. Each
order is read into an :class:`OrderContent` (from the REST books or the simulator's admin view),
the leader's is sized for the follower by the engine's own sizing
(``actors.sizing.desired_intent``), and :func:`judge_copy` says whether the copy matches it:
status, quantity, filled quantity, order type, price, trigger, validity, bracket values and
each exit leg (status, price, trigger, trailing jump). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from actors import exit_sizing
from actors.exit_bases import basis_from_stored
from actors.late_entries import bounded_entry
from actors.sizing import (
    SLICING_ELSEWHERE,
    ExitBasis,
    SizingContext,
    desired_intent,
    lot_size_for,
)
from copytrader.config import FollowerConfig
from dhan.codes import (
    TRIGGERED_FORM,
    ExchangeSegment,
    LegName,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
)
from dhan.correlation import generation_of
from dhan.models import BookOrder, Order, SuperOrder
from store.records import (
    BELOW_ONE_LOT_PREFIX,
    TRANSIENT_SKIP_PREFIX,
    DesiredIntent,
    LeaderOrderSnapshot,
    SnapshotSource,
)

_DEAD = frozenset({OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED})
_EXITS = (LegName.TARGET_LEG, LegName.STOP_LOSS_LEG)
_PRICED = frozenset({OrderType.LIMIT, OrderType.STOP_LOSS})
_TRIGGERED = frozenset({OrderType.STOP_LOSS, OrderType.STOP_LOSS_MARKET})
_BRACKETS = frozenset({ProductType.BO, ProductType.CO})
_EPS = 1e-6

#: How ``actors.sizing`` words the reasons it gives (a table test checks each reason
#: ``desired_intent`` gives starts with one): facts about the order, the config and the
#: balances *now*, so a recorded one is judged again, never trusted. Any other recorded reason
#: (``engine.reconcile_policy``, a finished order never replayed) is a decision that holds.
SIZING_REASONS = (
    "filtered: ",
    TRANSIENT_SKIP_PREFIX,  # a fact sizing lacked: lot size, balance, a price for the cap
    BELOW_ONE_LOT_PREFIX,
    SLICING_ELSEWHERE,
    # as journals written before the prefixes spelt them
    "lot size unknown",
    "sized below one lot",
    "capped below one lot",
    "capital sizing: ",
)


def is_sizing_reason(reason: str) -> bool:
    return reason.startswith(SIZING_REASONS)


#: How ``actors.exit_sizing`` words an exit copy that sends nothing: a fact of the exit's
#: basis (journaled), judged again when the basis is known, a decision that holds otherwise.
EXIT_REASONS = (exit_sizing.NOTHING_TO_CLOSE, exit_sizing.CLOSE_BELOW_LOT)


def exit_basis(bases: Mapping[str, int]) -> ExitBasis | None:
    """A leader order's basis as the journal records it (``Journal.exit_bases``: account ->
    open quantity, "leader" the leader's) as sizing reads it; None when none was recorded (the
    order is sized as an entry)."""
    return basis_from_stored(bases) if bases else None


class Verdict(StrEnum):
    OK = "ok"  #: the copy is what the leader's order asks for (or rightly absent)
    BY_DESIGN = "by_design"  #: no copy, for a reason that still holds (filter, below one lot...)
    WRONG = "wrong"  #: the copy differs from the leader's order, scaled


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    #: WRONG: each difference; BY_DESIGN: the reason; OK: what was not checked, and why
    reasons: tuple[str, ...] = ()

    def text(self) -> str:
        return "; ".join(self.reasons)


@dataclass(frozen=True, slots=True)
class LegContent:
    """One exit leg (target / stop-loss) of a bracket, cover or super order."""

    leg: LegName
    status: OrderStatus
    price: float  #: the leg's level: a target's limit price, a stop's trigger
    quantity: int = 0  #: 0 when the broker does not say
    trailing_jump: float = 0.0


@dataclass(frozen=True, slots=True)
class OrderContent:
    """An order as its broker shows it now, with its exit legs (a super order's status is the
    super-order book's: CLOSED once an exit traded)."""

    order_id: str
    status: OrderStatus
    transaction_type: TransactionType
    exchange_segment: ExchangeSegment
    product_type: ProductType
    order_type: OrderType
    security_id: str
    quantity: int
    correlation_id: str | None = None
    filled_qty: int = 0
    price: float = 0.0
    trigger_price: float = 0.0
    validity: Validity | None = None
    bo_profit_value: float = 0.0
    bo_stop_loss_value: float = 0.0
    is_super: bool = False
    after_market: bool = False  #: an after-market order (AMO): it waits for the next open
    #: a MARKET order its broker shows as a LIMIT at this band price (market price protection);
    #: None when the view says nothing of it (the REST book shows only the LIMIT)
    protection_price: float | None = None
    legs: tuple[LegContent, ...] = field(default=())
    #: the average fill price (0.0: none); not part of the snapshot sizing reads: only the
    #: bound of a late entry's copy is measured from it (``actors.late_entries``)
    average_traded_price: float = 0.0

    def leg(self, name: LegName) -> LegContent | None:
        return next((leg for leg in self.legs if leg.leg is name), None)

    def as_snapshot(self) -> LeaderOrderSnapshot:
        """This (leader) order as the journal's snapshot of it: what sizing reads."""
        target, stop = self.leg(LegName.TARGET_LEG), self.leg(LegName.STOP_LOSS_LEG)
        bo = self.product_type is ProductType.BO
        return LeaderOrderSnapshot(
            leader_order_id=self.order_id,
            dedupe_key=f"content:{self.order_id}",
            source=SnapshotSource.RECONCILE,
            status=self.status,
            transaction_type=self.transaction_type,
            exchange_segment=self.exchange_segment,
            product_type=self.product_type,
            order_type=self.order_type,
            security_id=self.security_id,
            quantity=self.quantity,
            seq=0,
            validity=self.validity,
            filled_qty=self.filled_qty,
            price=self.price,
            trigger_price=self.trigger_price,
            bo_profit_value=self.bo_profit_value if bo else None,
            bo_stop_loss_value=self.bo_stop_loss_value if bo else None,
            target_price=target.price if self.is_super and target else None,
            stop_loss_price=stop.price if self.is_super and stop else None,
            trailing_jump=stop.trailing_jump if self.is_super and stop else None,
            is_super=self.is_super,
            correlation_id=self.correlation_id,
        )


#: The fields of an ``OrderContent`` that both books' records hold under the same name.
_SHARED = tuple(
    f.name for f in fields(OrderContent) if f.name in {g.name for g in fields(BookOrder)}
)


# -- reading the books ---------------------------------------------------------------------------


def _content(o: BookOrder, **rest: Any) -> OrderContent:
    """The fields both books hold under the same name (``_SHARED``) and the status, plus
    ``rest``."""
    shared = {name: getattr(o, name) for name in _SHARED}
    return OrderContent(status=o.order_status, **shared, **rest)


def from_order(o: Order, legs: Iterable[Order] = ()) -> OrderContent:
    """A plain / CO / BO order of ``GET /orders`` with its exit-leg rows."""
    return _content(
        o,
        trigger_price=o.trigger_price,
        bo_profit_value=o.bo_profit_value,
        bo_stop_loss_value=o.bo_stop_loss_value,
        after_market=o.after_market_order,
        legs=tuple(
            LegContent(
                leg=leg.leg_name,
                status=leg.order_status,
                # a BO/CO stop is a stop-loss-market order: its level is the trigger
                price=leg.trigger_price
                if leg.leg_name is LegName.STOP_LOSS_LEG and leg.trigger_price
                else leg.price,
                quantity=leg.quantity,
            )
            for leg in legs
            if leg.leg_name in _EXITS
        ),
    )


def from_super(so: SuperOrder) -> OrderContent:
    """A record of ``GET /super/orders``: the entry and its ``legDetails``."""
    return _content(
        so,
        is_super=True,
        legs=tuple(
            LegContent(
                leg=leg.leg_name,
                status=leg.order_status,
                price=leg.price,
                quantity=leg.total_quantity or 0,
                trailing_jump=leg.trailing_jump,
            )
            for leg in so.legs
            if leg.leg_name in _EXITS
        ),
    )


def book_contents(
    orders: Iterable[Order],
    supers: Iterable[SuperOrder] = (),
    parents: Mapping[str, str] | None = None,
) -> dict[str, OrderContent]:
    """Entry order id -> content, for one account's books.

    A BO/CO exit leg has its own order id; it is linked to its entry by ``parents`` (leg id ->
    entry id, e.g. the journal's record of the socket's ``AlgoOrdNo``) or else by sharing the
    entry's correlationId (a follower's copies always do). A super order's legs share its id:
    its record in the super-order book replaces its rows in the order book.
    """
    orders = list(orders)
    parents = dict(parents or {})
    entries = [o for o in orders if o.leg_name not in _EXITS]
    by_cid = {o.correlation_id: o.order_id for o in entries if o.correlation_id}
    legs: dict[str, list[Order]] = {}
    for o in orders:
        if o.leg_name in _EXITS:
            parent = parents.get(o.order_id) or by_cid.get(o.correlation_id or "")
            if parent is not None and parent != o.order_id:
                legs.setdefault(parent, []).append(o)
    out = {o.order_id: from_order(o, legs.get(o.order_id, ())) for o in entries}
    for so in supers:
        out[so.order_id] = from_super(so)
    return out


def admin_contents(rows: Iterable[Mapping[str, Any]]) -> dict[str, OrderContent]:
    """Entry order id -> content, from the simulator's admin view of a book (``kind``,
    ``parentOrderId``, ``requestedOrderType`` and a super entry's ``superOrder`` record)."""
    rows = list(rows)
    orders: list[Order] = []
    parents: dict[str, str] = {}
    supers: list[SuperOrder] = []
    banded: dict[str, float] = {}
    for row in rows:
        o = Order.from_wire(row, "admin orders")
        requested = row.get("requestedOrderType")
        if requested:  # a protected MARKET order may be shown as a LIMIT: judge what was asked
            if str(requested) == OrderType.MARKET and o.order_type is OrderType.LIMIT:
                banded[o.order_id] = o.price
            o = replace(o, order_type=OrderType(str(requested)))
        if row.get("parentOrderId") and o.leg_name in _EXITS:
            parents[o.order_id] = str(row["parentOrderId"])
        if row.get("superOrder"):
            record = SuperOrder.from_wire(row["superOrder"], "admin orders")
            supers.append(replace(record, order_type=o.order_type))
        orders.append(o)
    contents = book_contents(orders, supers, parents)
    for order_id, price in banded.items():
        if order_id in contents:
            contents[order_id] = replace(contents[order_id], protection_price=price)
    return contents


# -- the judgement -------------------------------------------------------------------------------


def _phase(status: OrderStatus) -> str:
    if status in _DEAD:
        return "dead"
    if status is OrderStatus.TRADED:
        return "traded"
    if status is OrderStatus.CLOSED:
        return "closed"
    return "open"


def unknown_fact(leader: OrderContent, follower: FollowerConfig, ctx: SizingContext) -> str | None:
    """Why the copy cannot be sized now (a missing fact, not a rule), or None."""
    snap = leader.as_snapshot()
    if lot_size_for(snap, ctx) is None:
        return f"lot size unknown for {leader.exchange_segment}:{leader.security_id}"
    if follower.sizing.mode == "capital" and (
        ctx.balances.get("leader", 0.0) <= 0 or ctx.balances.get(follower.name, 0.0) <= 0
    ):
        return "capital sizing: balance unknown"
    return None


def judge_copy(
    leader: OrderContent,
    copy: OrderContent | None,
    follower: FollowerConfig,
    ctx: SizingContext,
    recorded_reason: str | None = None,
    basis: ExitBasis | None = None,
    max_entry_deviation_pct: float | None = None,
    filled_first: bool = False,
) -> Judgement:
    """Is ``copy`` (None: the follower has none) what ``leader`` asks of ``follower`` now?

    ``recorded_reason``: why the engine recorded the copy as not needed (the intent's skip
    reason), if it did. A sizing reason is judged again with today's facts; another one (the
    reconcile policy, a finished order not replayed) is a decision that holds.

    ``basis``: the leader order's exit basis (:func:`exit_basis` of ``Journal.exit_bases``),
    when one was recorded: an exit's copy is then the follower's part of the close (and, for a
    flip, the new side's entry), not the leader's quantity scaled (``actors.exit_sizing``); an
    exit's recorded reason (nothing to close) is judged again against it. Without a basis an
    exit's reason holds: the quantity it was sized from is unknown.

    ``max_entry_deviation_pct`` (``engine.max_entry_deviation_pct``): a copy placed late, as a
    LIMIT at the bound from the leader's fill (``actors.late_entries``), has the order type
    and price it must have; a copy placed live, as the leader's order, has them too.

    ``filled_first``: the broker refused the copy's last change because the copy had already
    traded (``checker.is_filled_refusal`` of the intent's recorded error): a copy that traded
    at the price and trigger the leader's order had when it was placed, before the leader's
    modify could reach it, is right in them once both have traded.
    """
    snap = leader.as_snapshot()
    want = desired_intent(snap, follower, ctx, basis)
    bounded = bounded_entry(
        want, replace(snap, avg_price=leader.average_traded_price), basis, max_entry_deviation_pct
    )
    lp = _phase(leader.status)
    if lp == "dead" and leader.filled_qty == 0:
        return _judge_unfilled_end(leader, copy)
    judged_again = is_sizing_reason(recorded_reason or "") or (
        basis is not None and (recorded_reason or "").startswith(EXIT_REASONS)
    )
    if copy is None and recorded_reason and not judged_again:
        return Judgement(Verdict.BY_DESIGN, (recorded_reason,))
    if want.skip_reason is not None:
        missing = unknown_fact(leader, follower, ctx)
        if missing is None:
            return _judge_skip(copy, want.skip_reason)
        if copy is None or (_phase(copy.status) == "dead" and lp != "dead"):
            sizing = f"the copy cannot be sized now ({missing}): quantity not checked"
            return _wrong([*_no_copy(leader, copy), sizing])
        found = _differences(
            leader, copy, want, sized=False, bounded=bounded, filled_first=filled_first
        )
        if found:
            return _wrong(found)
        return Judgement(Verdict.OK, (f"quantity not checked: {missing}",))
    if copy is None:
        why = [*_no_copy(leader, None), f"the copy would be {want.quantity}"]
        if recorded_reason:
            why.append(f"the recorded reason no longer holds: {recorded_reason}")
        return _wrong(why)
    found = _differences(leader, copy, want, sized=True, bounded=bounded, filled_first=filled_first)
    return _wrong(found) if found else Judgement(Verdict.OK)


def _wrong(reasons: list[str]) -> Judgement:
    return Judgement(Verdict.WRONG, tuple(reasons))


def _no_copy(leader: OrderContent, copy: OrderContent | None) -> list[str]:
    where = f"the leader order is {leader.status} ({leader.filled_qty}/{leader.quantity} filled)"
    if copy is None:
        return [f"no copy while {where}"]
    return [f"copy {copy.status} while {where}"]


def _judge_unfilled_end(leader: OrderContent, copy: OrderContent | None) -> Judgement:
    """The leader's order ended without a fill: a copy must not be open, nor have traded."""
    if copy is None:
        return Judgement(Verdict.OK)
    if _phase(copy.status) == "open":
        return _wrong([f"copy still {copy.status} while the leader order is {leader.status}"])
    if copy.filled_qty > 0:
        return _wrong(
            [f"copy filled {copy.filled_qty} while the leader order ended {leader.status} unfilled"]
        )
    return Judgement(Verdict.OK)


def _judge_skip(copy: OrderContent | None, reason: str) -> Judgement:
    """No copy is wanted, for a reason that holds now: none may be open or have traded."""
    if copy is None or (_phase(copy.status) == "dead" and copy.filled_qty == 0):
        return Judgement(Verdict.BY_DESIGN, (reason,))
    if _phase(copy.status) == "open":
        return _wrong([f"copy {copy.status} {copy.quantity} still open although {reason}"])
    return _wrong([f"copy filled {copy.filled_qty} although {reason}"])


def _differs(a: float, b: float | None) -> bool:
    return abs(a - (b or 0.0)) > _EPS


def _as_the_broker_shows_it(leader: OrderContent, copy: OrderContent, want: DesiredIntent) -> bool:
    """A leader MARKET order under market price protection that the engine first saw in the
    REST book (placed while it was down, or its frames lost to a crash) is shown there only
    as a LIMIT at its band: nothing the engine can read tells the two apart, so a copy that is
    that LIMIT, at the leader's band price, mirrors the leader's order as its broker shows it
    (docs/architecture.md, "Market price protection")."""
    return (
        want.order_type is OrderType.MARKET
        and leader.protection_price is not None
        and copy.order_type is OrderType.LIMIT
        and not _differs(copy.price, leader.protection_price)
    )


def _as_bounded(copy: OrderContent, want: DesiredIntent, bounded: DesiredIntent | None) -> bool:
    """``copy`` is the LIMIT ``engine.max_entry_deviation_pct`` makes of a late entry."""
    return (
        bounded is not None
        and bounded != want
        and copy.order_type is OrderType.LIMIT
        and not _differs(copy.price, bounded.price)
    )


def _as_triggered(copy: OrderContent, want: DesiredIntent) -> bool:
    """``copy`` is the leader's stop-loss order in its triggered form: the broker refused the
    first copy because the market had already crossed the trigger (the leader's own stop
    triggered), and the engine placed it again (a later correlationId generation) as a LIMIT
    at the stop's price, or a MARKET order (``Journal.replace_triggered_stop``)."""
    form = TRIGGERED_FORM.get(want.order_type)
    if form is None or generation_of(copy.correlation_id or "") < 1:
        return False
    if form is OrderType.LIMIT:
        return copy.order_type is OrderType.LIMIT and not _differs(copy.price, want.price)
    # a MARKET order: under market price protection the broker's book shows it as a LIMIT at
    # its band (docs/architecture.md, "Market price protection")
    return copy.order_type in (OrderType.MARKET, OrderType.LIMIT)


def _differences(
    leader: OrderContent,
    copy: OrderContent,
    want: DesiredIntent,
    *,
    sized: bool,
    bounded: DesiredIntent | None = None,
    filled_first: bool = False,
) -> list[str]:
    """Every way ``copy`` differs from ``want`` (the leader's order, scaled), leader not dead
    unfilled. ``sized`` False: the quantity cannot be judged (its facts are unknown).
    ``bounded``: ``want`` as a late entry is sent (``actors.late_entries``), equally right."""
    out: list[str] = []
    lp, cp = _phase(leader.status), _phase(copy.status)
    if lp == "dead":
        if cp == "open":
            out.append(f"copy still {copy.status} while the leader order is {leader.status}")
    elif cp != lp:
        out.append(f"copy {copy.status} while the leader order is {leader.status}")
    for name in ("transaction_type", "exchange_segment", "security_id", "product_type"):
        if getattr(copy, name) != getattr(want, name):
            out.append(f"{name} {getattr(copy, name)} != {getattr(want, name)}")
    if sized:
        if lp == "open" and cp == "dead":
            out.append(f"the copy would be {want.quantity}")
        if lp == "open" and cp != "dead" and copy.quantity != want.quantity:
            out.append(f"quantity {copy.quantity} != {want.quantity} (the leader's, scaled)")
        if lp != "open" and copy.filled_qty != want.quantity:
            out.append(f"filled {copy.filled_qty} != {want.quantity} (the leader's, scaled)")
    if _as_the_broker_shows_it(leader, copy, want):
        pass  # the leader's protected MARKET order, copied as the LIMIT its broker shows
    elif _as_bounded(copy, want, bounded):
        pass  # a late entry, copied as a LIMIT at the bound from the leader's fill
    elif _as_triggered(copy, want):
        pass  # a stop whose trigger was crossed before its copy arrived, as it now is
    elif copy.order_type is not want.order_type:
        out.append(f"order type {copy.order_type} != {want.order_type}")
    elif filled_first and lp == cp == "traded":
        pass  # traded at the leader's earlier price, before its modify could reach it
    elif want.order_type in _PRICED and _differs(copy.price, want.price):
        out.append(f"price {copy.price:g} != the leader's {want.price:g}")
    triggered = copy.order_type is want.order_type and want.order_type in _TRIGGERED
    if filled_first and lp == cp == "traded":
        triggered = False
    if triggered and _differs(copy.trigger_price, want.trigger_price):
        out.append(f"trigger {copy.trigger_price:g} != the leader's {want.trigger_price:g}")
    if copy.validity and want.validity and copy.validity is not want.validity:
        out.append(f"validity {copy.validity} != {want.validity}")
    if copy.after_market is not leader.after_market:
        out.append(f"after-market (AMO) {copy.after_market} != the leader's {leader.after_market}")
    if want.product_type in _BRACKETS and lp == "open" and cp == "open":
        # the entry's bracket values define the legs still to come
        if want.product_type is ProductType.CO and _differs(copy.trigger_price, want.trigger_price):
            out.append(f"cover stop {copy.trigger_price:g} != the leader's {want.trigger_price:g}")
        if want.product_type is ProductType.BO:
            for name, label in (("bo_profit_value", "target"), ("bo_stop_loss_value", "stop")):
                mine, theirs = getattr(copy, name), getattr(want, name)
                if _differs(mine, theirs):
                    out.append(f"bracket {label} value {mine:g} != the leader's {theirs or 0:g}")
    out += _leg_differences(leader, copy, want, sized=sized)
    return out


def _leg_differences(
    leader: OrderContent, copy: OrderContent, want: DesiredIntent, *, sized: bool
) -> list[str]:
    out: list[str] = []
    entry_done = _phase(copy.status) in ("traded", "closed")
    for name in _EXITS:
        theirs, mine = leader.leg(name), copy.leg(name)
        label = "target leg" if name is LegName.TARGET_LEG else "stop-loss leg"
        if theirs is None:
            continue
        if mine is None:
            if copy.is_super or entry_done:
                out.append(f"no {label} while the leader's is {theirs.status}")
            continue
        tp, mp = _phase(theirs.status), _phase(mine.status)
        sibling = copy.leg(
            LegName.STOP_LOSS_LEG if name is LegName.TARGET_LEG else LegName.TARGET_LEG
        )
        if (
            mine.status is OrderStatus.CANCELLED
            and sibling is not None
            and sibling.status is OrderStatus.TRADED
        ):
            continue  # one-cancels-other: the follower exits once, whatever the leader's did
        if tp != mp:
            out.append(f"{label} {mine.status} while the leader's is {theirs.status}")
            continue
        if tp != "open":
            continue  # both filled or both ended: their levels no longer matter
        if _differs(mine.price, theirs.price):
            out.append(f"{label} at {mine.price:g} != the leader's {theirs.price:g}")
        if _differs(mine.trailing_jump, theirs.trailing_jump):
            out.append(
                f"{label} trailing jump {mine.trailing_jump:g} != the leader's "
                f"{theirs.trailing_jump:g}"
            )
        if (
            sized
            and _phase(leader.status) == "traded"
            and mine.quantity
            and mine.quantity != want.quantity
        ):
            out.append(f"{label} quantity {mine.quantity} != {want.quantity}")
    return out
