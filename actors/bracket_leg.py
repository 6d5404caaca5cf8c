"""BracketLegActor: one per follower CO / BO / super order; watches its exit legs.

It journals the legs as the broker reports them, mirrors the leader's leg changes (target and
stop-loss prices, a leg the leader cancelled by hand) and enforces one-cancels-other: when one
exit leg has filled and the other is still open, it cancels the other -- also when the broker
does not. It exits normally (TRANSIENT: not restarted) once the bracket is settled. The broker
books it polls come through the follower's shared ``FollowerBook`` (one read for all brackets).
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from actors.copy_slippage import CopySlippage, FilledCopy
from actors.follower_book import FollowerBook
from actors.messages import (
    PERMIT_RETRY_S,
    Action,
    PermitDenied,
    PermitGranted,
    PermitRequest,
    Tick,
)
from actors.names import LIMITER
from actors.orders import is_super
from actors.settings import EngineConfig
from actors.snapshots import bracket_parents
from actors.telemetry import ActorMetrics
from dhan import errors
from dhan.codes import LegName, OrderStatus, OrderType, TransactionType, Validity
from dhan.models import ModifyRequest, SuperModifyRequest
from dhan.rest import DhanClient
from store import Journal
from store.errors import IntentNotFound
from store.records import Intent, LeaderOrderSnapshot
from store.states import IntentState
from supervision import ChildContext, SupervisedActor
from supervision.errors import ChildUnavailable

logger = logging.getLogger(__name__)

_EXITS = (LegName.TARGET_LEG, LegName.STOP_LOSS_LEG)
_PRICE_EPS = 1e-6


@dataclass(frozen=True, slots=True)
class LegView:
    """A follower exit leg as the broker shows it now."""

    leg: LegName
    order_id: str
    status: OrderStatus
    order_type: OrderType
    quantity: int
    filled_qty: int
    price: float
    trigger_price: float
    trailing_jump: float = 0.0
    #: the leg's average fill price (0: unfilled, or a super order's leg: its book row has none)
    avg_price: float = 0.0

    @property
    def level(self) -> float:
        """The price that defines the leg: the trigger of a stop, else the limit price."""
        if self.leg is LegName.STOP_LOSS_LEG and self.trigger_price:
            return self.trigger_price
        return self.price


class BracketLegActor(SupervisedActor):
    """Keeps one follower bracket's exit legs in line with the leader's, and OCO."""

    def __init__(
        self,
        context: ChildContext,
        *,
        follower: str,
        intent_id: int,
        client: DhanClient,
        journal: Journal,
        engine: EngineConfig,
        metrics: ActorMetrics,
        book: FollowerBook | None = None,
    ) -> None:
        super().__init__(context)
        self.follower = follower
        self.intent_id = intent_id
        self.client = client
        #: the follower's books, shared with its other brackets (its own when none is given)
        self.book = book or FollowerBook(client, max_age_s=engine.bracket_tick_s / 2)
        self.journal = journal
        self.engine = engine
        self.metrics = metrics
        #: tag -> monotonic time asked; re-asked after PERMIT_RETRY_S (a lost request)
        self.awaiting: dict[str, float] = {}
        self.legs: dict[LegName, LegView] = {}
        #: the leg views this incarnation has written to the journal (written again on change)
        self.journaled: dict[LegName, LegView] = {}
        #: the exit legs whose fill has been measured (``copytrader_copy_slippage_bps``); at
        #: start, those an earlier incarnation journaled as traded (measured then, or lost)
        self.priced: set[LegName] = set()
        self.slippage = CopySlippage(
            follower, journal, metrics.copy_slippage.labels(follower).observe
        )
        self.done = False

    def on_start(self) -> None:
        super().on_start()
        self.priced = {
            LegName(leg.leg_name)
            for leg in self.journal.legs(self.intent_id)
            if leg.status is OrderStatus.TRADED and leg.leg_name in _EXIT_NAMES
        }
        tick_s = self.engine.bracket_tick_s
        self.tell_every(tick_s, Tick(), first_s=random.uniform(0.0, tick_s))  # not in step
        self._check()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Tick):
            self._check()
        elif isinstance(message, PermitGranted):
            self.awaiting.pop(message.tag, None)
            self._act(message.action, LegName(message.tag.split(":", 1)[1]))
            self._check()
        elif isinstance(message, PermitDenied):
            self.awaiting.pop(message.tag, None)
            logger.warning("bracket %s: %s denied: %s", self.intent_id, message.tag, message.reason)
        else:
            return super().on_receive(message)
        return None

    # -- observing -----------------------------------------------------------------------------

    def _check(self) -> None:
        if self.done:
            return
        try:
            intent = self.journal.intent(self.intent_id)
        except IntentNotFound:
            self._settle("intent vanished")
            return
        if intent.broker_order_id is None:
            if intent.state in (
                IntentState.REJECTED,
                IntentState.SKIPPED,
                IntentState.FAILED,
                IntentState.DONE,
            ):
                self._settle(f"entry never placed ({intent.state})")
            return
        try:
            entry_status, entry_filled, legs = self._read_broker(intent)
        except errors.DhanError as exc:
            logger.info("bracket %s: broker read failed: %s", self.intent_id, exc)
            return
        self.legs = legs
        traded: list[LegView] = []
        for view in legs.values():
            if self.journaled.get(view.leg) == view:
                continue  # unchanged since we wrote it: a write per tick would flood the journal
            if view.status is OrderStatus.TRADED and view.leg not in self.priced:
                traded.append(view)
            self.journal.upsert_leg(
                intent.id,
                str(view.leg),
                order_id=view.order_id,
                status=view.status,
                price=view.price,
                trigger_price=view.trigger_price,
                quantity=view.quantity,
                filled_qty=view.filled_qty,
            )
            self.journaled[view.leg] = view
        if traded:
            self._record_slippage(intent, traded)
        if entry_status is not None and entry_status.is_terminal and entry_filled == 0:
            self._settle(f"entry ended unfilled ({entry_status})")
            return
        target, stop = legs.get(LegName.TARGET_LEG), legs.get(LegName.STOP_LOSS_LEG)
        filled = [v for v in (target, stop) if v is not None and v.status is OrderStatus.TRADED]
        still_open = [v for v in (target, stop) if v is not None and v.status.is_open]
        if filled and still_open:
            for v in still_open:  # one-cancels-other: the broker did not (or not yet)
                self._want(Action.CANCEL, v.leg)
            return
        if legs and not still_open and (entry_status is None or entry_status.is_terminal):
            self._settle("exit legs settled")
            return
        self._mirror_leader(intent, self._leader_exits(intent))

    def _read_broker(
        self, intent: Intent
    ) -> tuple[OrderStatus | None, int, dict[LegName, LegView]]:
        assert intent.broker_order_id is not None
        legs: dict[LegName, LegView] = {}
        # named, so the shared book keeps them once settled (it keeps only open rows otherwise)
        needs = (intent.broker_order_id, intent.correlation_id)
        if is_super(intent):
            so = next(
                (s for s in self.book.super_orders(needs) if s.order_id == intent.broker_order_id),
                None,
            )
            if so is None:
                return None, 0, legs
            for leg in so.legs:
                if leg.leg_name not in _EXITS:
                    continue
                qty = leg.total_quantity or so.quantity
                legs[leg.leg_name] = LegView(
                    leg=leg.leg_name,
                    order_id=leg.order_id,
                    status=leg.order_status,
                    order_type=OrderType.LIMIT,
                    quantity=qty,
                    filled_qty=max(0, qty - leg.remaining_quantity)
                    if leg.order_status is OrderStatus.TRADED
                    else 0,
                    price=leg.price,
                    trigger_price=leg.price,
                    trailing_jump=leg.trailing_jump,
                )
            return so.order_status, so.filled_qty, legs
        entry_status: OrderStatus | None = None
        entry_filled = 0
        orders = self.book.orders(needs)
        # the legs carry the entry's correlationId at the simulator; Dhan does not document
        # that, so a leg without one is linked to its entry by the book's shape
        parents = bracket_parents(orders)
        for o in orders:
            if o.order_id == intent.broker_order_id:
                entry_status, entry_filled = o.order_status, o.filled_qty
            elif parents.get(o.order_id) == intent.broker_order_id and o.leg_name in _EXITS:
                assert o.leg_name is not None
                legs[o.leg_name] = LegView(
                    leg=o.leg_name,
                    order_id=o.order_id,
                    status=o.order_status,
                    order_type=o.order_type,
                    quantity=o.quantity,
                    filled_qty=o.filled_qty,
                    price=o.price,
                    trigger_price=o.trigger_price,
                    avg_price=o.average_traded_price,
                )
        return entry_status, entry_filled, legs

    def _record_slippage(self, intent: Intent, traded: list[LegView]) -> None:
        """The slippage of exit legs that have just filled, against the leader's same legs
        (after their fills were journaled; once per leg)."""
        leader = self._leader_exits(intent)
        exit_side = (
            TransactionType.SELL
            if intent.transaction_type is TransactionType.BUY
            else TransactionType.BUY
        )
        filled = []
        for view in traded:
            self.priced.add(view.leg)
            snap = leader.get(view.leg)
            filled.append(
                FilledCopy(
                    intent.id,
                    intent.leader_order_id,
                    exit_side,
                    view.avg_price,
                    leg=str(view.leg),
                    leader_avg=snap.avg_price if snap is not None else 0.0,
                )
            )
        self.slippage.filled(filled)

    # -- mirroring the leader -------------------------------------------------------------------

    def _leader_exits(self, intent: Intent) -> dict[LegName, LeaderOrderSnapshot]:
        """The leader's exit legs of this bracket, as last journaled (one targeted read)."""
        if is_super(intent):
            # super-order legs share the entry's order id: the primary key finds them
            snaps = self.journal.leader_snapshots(leader_order_id=intent.leader_order_id)
        else:
            snaps = self.journal.leader_legs(intent.leader_order_id)
        return {LegName(s.leg_name): s for s in snaps if s.leg_name in _EXIT_NAMES}

    def _desired_levels(
        self, intent: Intent, leader: dict[LegName, LeaderOrderSnapshot]
    ) -> dict[LegName, float]:
        """The level each follower exit leg should have: the leader's open leg's level.

        A super order's levels are absolute, the same for every follower. They are taken from
        the leader's leg snapshots, not from the intent: once the follower's entry has traded,
        its intent is DONE and the journal no longer updates it, so a target or stop the
        leader moves after that reaches only the leg snapshots. The intent's levels serve
        until the leader feed has journaled the legs.
        """
        out: dict[LegName, float] = {}
        for leg, snap in leader.items():
            if snap.status.is_open:
                level = (
                    snap.trigger_price
                    if leg is LegName.STOP_LOSS_LEG and snap.trigger_price
                    else snap.price
                )
                if level:
                    out[leg] = level
        if is_super(intent):
            assert intent.target_price is not None and intent.stop_loss_price is not None
            if LegName.TARGET_LEG not in leader:
                out[LegName.TARGET_LEG] = intent.target_price
            if LegName.STOP_LOSS_LEG not in leader:
                out[LegName.STOP_LOSS_LEG] = intent.stop_loss_price
        return out

    @staticmethod
    def _leader_cancelled(leader: dict[LegName, LeaderOrderSnapshot]) -> list[LegName]:
        """Exit legs the leader cancelled by hand (not by its own broker's OCO)."""
        if any(s.status is OrderStatus.TRADED for s in leader.values()):
            return []  # the leader's OCO: our own OCO handles the follower side
        return [leg for leg, s in leader.items() if s.status is OrderStatus.CANCELLED]

    @staticmethod
    def _desired_jump(intent: Intent, leader: dict[LegName, LeaderOrderSnapshot]) -> float:
        """A super order's trailing jump: the leader's stop leg's as last journaled (the leader
        may add, change or drop it after placing), else the one the copy was placed with."""
        stop = leader.get(LegName.STOP_LOSS_LEG)
        if stop is not None and stop.trailing_jump is not None:
            return stop.trailing_jump
        return intent.trailing_jump or 0.0

    def _mirror_leader(self, intent: Intent, leader: dict[LegName, LeaderOrderSnapshot]) -> None:
        for leg in self._leader_cancelled(leader):
            view = self.legs.get(leg)
            if view is not None and view.status.is_open:
                self._want(Action.CANCEL, leg)
        jump = self._desired_jump(intent, leader) if is_super(intent) else None
        for leg, level in self._desired_levels(intent, leader).items():
            view = self.legs.get(leg)
            if view is None or not view.status.is_open:
                continue
            moved = abs(view.level - level) > _PRICE_EPS
            if jump is not None and leg is LegName.STOP_LOSS_LEG:
                # the follower's broker trails its stop by itself only with the leader's jump
                moved = moved or abs(view.trailing_jump - jump) > _PRICE_EPS
            if moved:
                self._want(Action.MODIFY, leg)

    # -- acting --------------------------------------------------------------------------------

    def _want(self, action: Action, leg: LegName) -> None:
        tag = f"{action}:{leg}"
        asked = self.awaiting.get(tag)
        if asked is not None and time.monotonic() - asked < PERMIT_RETRY_S:
            return
        try:
            self.registry.tell(
                LIMITER,
                PermitRequest(
                    account=self.follower,
                    reply_to=self.context.child_id,
                    intent_id=self.intent_id,
                    action=action,
                    tag=tag,
                ),
            )
        except ChildUnavailable:
            return
        self.awaiting[tag] = time.monotonic()

    def _act(self, action: Action, leg: LegName) -> None:
        intent = self.journal.intent(self.intent_id)
        view = self.legs.get(leg)
        if intent.broker_order_id is None or view is None or not view.status.is_open:
            return
        self.faults.point("bracket.before_send")
        sent: dict[str, Any] = {}  # what a modify asked for, for the audit record
        try:
            if action is Action.CANCEL:
                if is_super(intent):
                    self.client.cancel_super_order(intent.broker_order_id, leg)
                else:
                    self.client.cancel_order(view.order_id)
                self.metrics.bracket_oco_cancels.labels(self.follower).inc()
                outcome = "ok"
            else:
                leader = self._leader_exits(intent)
                level = self._desired_levels(intent, leader).get(leg)
                if level is None:
                    return
                jump = self._desired_jump(intent, leader)
                sent = {"level": level, "trailing_jump": jump}
                self._modify(intent, view, level, jump)
                outcome = "ok"
        except errors.DhanError as exc:
            outcome = type(exc).__name__
            if isinstance(exc, errors.RateLimited):
                self.metrics.rate_limited.labels(self.follower).inc()
            logger.info("bracket %s: %s %s failed: %s", self.intent_id, action, leg, exc)
        finally:
            # our write changed the book (or may have: an unknown outcome), so no bracket of
            # this follower may act on a copy read before it
            self.book.invalidate()
        self.metrics.follower_orders.labels(self.follower, f"leg_{action}", outcome).inc()
        self.journal.append_audit(
            "bracket_leg_call",
            actor=self.context.child_id,
            account=self.follower,
            payload={
                "intent_id": self.intent_id,
                "correlation_id": intent.correlation_id,
                "action": str(action),
                "leg": str(leg),
                "order_id": view.order_id,
                **sent,
                "outcome": outcome,
            },
        )

    def _modify(self, intent: Intent, view: LegView, level: float, jump: float) -> None:
        assert intent.broker_order_id is not None
        if is_super(intent):
            if view.leg is LegName.TARGET_LEG:
                req = SuperModifyRequest.target(level)
            else:
                req = SuperModifyRequest.stop_loss(level, jump)
            self.client.modify_super_order(intent.broker_order_id, req)
            return
        stop = view.leg is LegName.STOP_LOSS_LEG
        uses_trigger = view.order_type in (OrderType.STOP_LOSS, OrderType.STOP_LOSS_MARKET)
        self.client.modify_order(
            view.order_id,
            ModifyRequest(
                order_type=view.order_type,
                quantity=view.quantity,
                price=None
                if view.order_type in (OrderType.MARKET, OrderType.STOP_LOSS_MARKET)
                else (view.price if stop and uses_trigger else level),
                trigger_price=level if uses_trigger else None,
                validity=Validity.DAY,
                leg_name=view.leg,
            ),
        )

    def _settle(self, why: str) -> None:
        self.done = True
        logger.debug("bracket %s of %s settled: %s", self.intent_id, self.follower, why)
        self.actor_ref.stop(block=False)


_EXIT_NAMES = frozenset(str(leg) for leg in _EXITS)
