"""LeaderFeedActor: the leader's order-update socket -> the journal -> hints to followers.

A feed thread owned by this actor runs ``dhan.order_feed.OrderFeed`` and tells each parsed
update to the actor. The actor journals the snapshot together with every follower's desired
intent in one transaction (deduped), then hints the followers. After every (re)connect, and every
``engine.leader_reconcile_s`` while connected, it reconciles over REST, because the socket never
replays. A dead socket or a missed pong makes it crash on purpose; its supervisor restarts it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import replace
from typing import Any

from actors.messages import (
    FeedConnected,
    FeedFailed,
    HintsTaken,
    LeaderChanged,
    LeaderUpdateReceived,
    Tick,
)
from actors.names import follower_name
from actors.settings import EngineConfig, FollowerSettings
from actors.sizing import SizingContext, lot_size_for
from actors.slice_groups import copy_intents, resize_later_children
from actors.snapshots import (
    bracket_parents,
    snapshot_from_order,
    snapshot_from_update,
    snapshots_from_super_order,
    super_entry_with_leg,
    super_legs_in,
)
from actors.telemetry import ActorMetrics
from dhan import errors
from dhan.codes import LegName, OrderStatus, OrderType, ProductType, TransactionType
from dhan.models import Order
from dhan.order_feed import FeedError, OrderFeed, OrderUpdate
from dhan.rest import DhanClient
from store import Journal
from store.records import Intent, LeaderOrderSnapshot, SnapshotSource
from supervision import ChildContext, SupervisedActor
from supervision.errors import ChildUnavailable
from supervision.timers import Timer

logger = logging.getLogger(__name__)

#: A periodic reconcile journals a difference between the REST book and the journal only once
#: it has lasted this long (capped at one period): a frame still on its way -- on the socket or
#: queued behind the tick in this actor's inbox -- settles it first, so an order the socket
#: delivers is never taken for one it missed (and skipped by ``reconcile_policy``), and a book
#: that lags the socket never rolls a journaled change back.
CONFIRM_AFTER_S = 2.0

#: After hinting the followers it claimed copies for, the feed waits (GIL released) until
#: their copies have left, at most this long per claimed follower and this long in all,
#: before its next work (often the same order's next frame): see ``actors.messages.HintsTaken``.
HINT_WAIT_S_PER_FOLLOWER = 0.002
HINT_WAIT_MAX_S = 0.025

#: The journal mark (account "leader") that keeps the lot sizes learned from socket frames, as
#: JSON ``{"SEGMENT:securityId": lot}``: a restart's REST reconcile sizes F&O orders with them
#: (the order book carries no lot size).
LOT_SIZES_MARK = "lot_sizes"

_PRICE_EPS = 1e-6

#: The fields compared to decide whether a REST row says something the journal does not know.
_STATE_FIELDS = (
    "status",
    "filled_qty",
    "quantity",
    "price",
    "trigger_price",
    "order_type",
    "target_price",
    "stop_loss_price",
    "trailing_jump",
    "bo_profit_value",
    "bo_stop_loss_value",
)


class FeedLost(Exception):
    """The leader socket died; raised on purpose so the supervisor restarts the feed."""


class FeedStatus:
    """Readiness facts shared with the health endpoint (written by the feed actor only)."""

    def __init__(self) -> None:
        self.connected = False
        self.reconciled = False
        self.connects = 0
        self.last_error: str | None = None


class LeaderFeedActor(SupervisedActor):
    """Owns the leader socket; journals leader snapshots; hints followers."""

    def __init__(
        self,
        context: ChildContext,
        *,
        feed_factory: Callable[[], OrderFeed],
        client: DhanClient,
        journal: Journal,
        followers: Callable[[], Sequence[FollowerSettings]],
        engine: EngineConfig,
        metrics: ActorMetrics,
        lot_sizes: MutableMapping[tuple[str, str], int],
        balances: Mapping[str, float],
        status: FeedStatus,
    ) -> None:
        super().__init__(context)
        self.feed_factory = feed_factory
        self.client = client
        self.journal = journal
        self.followers = followers
        self.engine = engine
        self.metrics = metrics
        self.lot_sizes = lot_sizes
        self.balances = balances
        self.status = status
        self.feed: OrderFeed | None = None
        #: leader order id -> the order type first seen (see ``_keep_market``)
        self.first_type: dict[str, OrderType] = {}
        #: leader MARKET order id -> the band price its MPP rendering shows (``_keep_market``)
        self.mpp_band: dict[str, float] = {}
        self.thread: threading.Thread | None = None
        #: the pending periodic-reconcile tick (one at a time: the next is armed after a pass)
        self.reconcile_timer: Timer | None = None
        #: REST dedupe keys of the last pass known to be in the journal (skipped unread)
        self.settled_keys: set[str] = set()
        #: (order id, leg) -> clock time a periodic pass first saw it differ from the journal
        self.suspects: dict[tuple[str, str], float] = {}
        #: lot sizes learned from frames and not yet journaled (see ``_journal_lot_sizes``)
        self.new_lots = False

    # -- lifecycle ---------------------------------------------------------------------------

    def on_start(self) -> None:
        super().on_start()
        self._load_lot_sizes()
        self.status.connected = False
        self.status.reconciled = False
        self.metrics.feed_connected.set(0)
        self.feed = self.feed_factory()
        ref = self.actor_ref
        feed = self.feed

        def on_update(update: OrderUpdate) -> None:
            ref.tell(LeaderUpdateReceived(update, time.monotonic_ns()))

        def on_connected() -> None:
            ref.tell(FeedConnected())

        def run() -> None:
            try:
                feed.run(on_update, on_connected)
            except FeedError as exc:
                _tell_quietly(ref, FeedFailed(str(exc)))
            except Exception as exc:  # a bug in the feed must still end in a restart
                logger.exception("leader feed thread crashed")
                _tell_quietly(ref, FeedFailed(repr(exc)))
            else:
                if not feed.closed:
                    _tell_quietly(ref, FeedFailed("feed returned without close()"))

        self.thread = threading.Thread(target=run, name="leader-feed-socket", daemon=True)
        self.thread.start()

    def on_stop(self) -> None:
        self._shut_feed()
        super().on_stop()

    def on_failure(self, *args: Any) -> None:
        self._shut_feed()
        super().on_failure(*args)

    def _shut_feed(self) -> None:
        self.status.connected = False
        self.metrics.feed_connected.set(0)
        if self.feed is not None:
            self.feed.close()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=5.0)

    # -- messages ------------------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, LeaderUpdateReceived):
            self._on_update(message.update, message.received_ns)
        elif isinstance(message, FeedConnected):
            self._on_connected()
        elif isinstance(message, Tick):
            self._on_reconcile_tick()
        elif isinstance(message, FeedFailed):
            self.status.connected = False
            self.status.last_error = message.reason
            self.metrics.feed_connected.set(0)
            raise FeedLost(f"leader order socket lost: {message.reason}")
        else:
            return super().on_receive(message)
        return None

    def _on_connected(self) -> None:
        self.status.connects += 1
        if self.status.connects > 1 or self.context.incarnation > 1:
            self.metrics.feed_reconnects.inc()
        self.status.connected = True
        self.metrics.feed_connected.set(1)
        self.faults.point("leader_feed.before_reconcile")
        try:
            self.reconcile()
        except errors.DhanError:
            # the book is unreadable right after a connect: crash, the restart tries again
            self.metrics.leader_reconciles.labels("connect", "error").inc()
            raise
        self.metrics.leader_reconciles.labels("connect", "ok").inc()
        self.status.reconciled = True
        self._arm_reconcile(self.engine.leader_reconcile_s)

    # -- socket path ---------------------------------------------------------------------------

    def _on_update(self, u: OrderUpdate, received_ns: int) -> None:
        self.faults.point("leader_feed.on_update")
        if (
            u.exchange_segment is None
            or u.security_id is None
            or u.product_type is None
            or u.transaction_type is None
            or u.order_type is None
        ):
            self.metrics.leader_events.labels("malformed").inc()
            logger.warning("leader frame for order %s lacks instrument fields; skipped", u.order_no)
            return
        lot = u.raw.get("LotSize") or u.raw.get("lotSize")
        if isinstance(lot, int | str) and str(lot).isdigit() and int(lot) > 0:
            key = (str(u.exchange_segment), u.security_id)
            if self.lot_sizes.get(key) != int(lot):
                self.lot_sizes[key] = int(lot)
                self.new_lots = True
        snaps = self._snapshots_for(u)
        changed, claimed, touched = self._record(snaps)
        if changed:
            taken = self._hint(changed, received_ns, claimed, touched)
            if taken is not None:
                taken.wait(min(HINT_WAIT_S_PER_FOLLOWER * len(claimed), HINT_WAIT_MAX_S))
            self.metrics.leader_events.labels("socket").inc()
        else:
            self.metrics.leader_events.labels("duplicate").inc()
        if self.new_lots:
            self._journal_lot_sizes()

    # -- lot sizes -----------------------------------------------------------------------------

    def _load_lot_sizes(self) -> None:
        """Take the lot sizes an earlier run learned (the journal's mark) into the shared map."""
        text = self.journal.get_mark("leader", LOT_SIZES_MARK)
        for key, lot in parse_lot_sizes(text).items():
            self.lot_sizes.setdefault(key, lot)

    def _journal_lot_sizes(self) -> None:
        """Journal the lot sizes known now: once per instrument newly learned, after the hints
        (the order's copies do not wait for this write). Lost with a crash in between, a lot is
        learned again from the instrument's next frame."""
        self.journal.set_mark("leader", LOT_SIZES_MARK, format_lot_sizes(self.lot_sizes))
        self.new_lots = False

    def _snapshots_for(self, u: OrderUpdate) -> list[LeaderOrderSnapshot]:
        leg = u.leg_name
        exit_leg = leg in (LegName.TARGET_LEG, LegName.STOP_LOSS_LEG)
        if u.is_super:
            entry = self.journal.leader_snapshot(u.order_no)
            if entry is None or entry.target_price is None:
                # frames carry no target / stop-loss prices: read the super order once
                entry = self._super_entry_from_rest(u.order_no)
            elif not exit_leg and _entry_modified(entry, u):
                # an ENTRY_LEG modify may carry a new target / stop / jump: its frame does not
                entry = self._super_entry_from_rest(u.order_no) or entry
            elif u.leg_name is LegName.STOP_LOSS_LEG and not _trailed(entry, u):
                # frames carry no trailingJump: a stop the leader moved (or whose jump it
                # changed) is read from the book; one its broker trailed keeps the jump
                entry = self._super_entry_from_rest(u.order_no) or entry
            if exit_leg:
                leg_snap = snapshot_from_update(u)
                if entry is None:
                    return [leg_snap]
                leg_snap = replace(leg_snap, trailing_jump=entry.trailing_jump)
                return [leg_snap, super_entry_with_leg(entry, u)]
            snap = snapshot_from_update(u, entry=entry)
            return [replace(snap, is_super=True)]
        # An order's first frame (TRANSIT) after this incarnation's connect reconcile: the
        # journal cannot know a first type this actor has not learned (see ``_keep_market``).
        new = u.status is OrderStatus.TRANSIT and self.status.reconciled
        snap = self._keep_market(snapshot_from_update(u), new=new)
        if not exit_leg and u.product_type in (ProductType.BO, ProductType.CO):
            snap = self._with_bracket_values(snap)
        return [snap]

    def _keep_market(
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
        leader's own modify (a re-price), mirrored as it is. A band taken for a re-price costs
        the followers one modify to the leader's protected price; the reverse would lose the
        leader's re-price, so the doubt goes that way.
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
                    band = _band_in(known)
                    if band:
                        self.mpp_band[order_id] = band
            else:
                first = snap.order_type
            self.first_type[order_id] = first
        if first is not OrderType.MARKET or snap.order_type is not OrderType.LIMIT:
            return snap
        band = self.mpp_band.get(order_id)
        if band is None and _beyond_market(snap):
            band = self.mpp_band[order_id] = snap.price
        if band is None or abs(snap.price - band) > _PRICE_EPS:
            # a price the protection never shows: the leader's modify made it a LIMIT
            self.first_type[order_id] = OrderType.LIMIT
            self.mpp_band.pop(order_id, None)
            return snap
        return replace(snap, order_type=OrderType.MARKET, price=0.0)

    def _super_entry_from_rest(self, order_id: str) -> LeaderOrderSnapshot | None:
        try:
            for so in self.client.list_super_orders():
                if so.order_id == order_id:
                    return snapshots_from_super_order(so)[0]
        except errors.DhanError as exc:
            logger.warning("super order %s: could not read its legs: %s", order_id, exc)
        return None

    def _with_bracket_values(self, snap: LeaderOrderSnapshot) -> LeaderOrderSnapshot:
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

    # -- journal + hints ------------------------------------------------------------------------

    def _record(
        self, snaps: Sequence[LeaderOrderSnapshot]
    ) -> tuple[list[LeaderOrderSnapshot], dict[str, list[Intent]], set[str]]:
        """Journal ``snaps``; returns the new ones, per follower the intents claimed, and the
        followers whose intents changed."""
        ctx = SizingContext(lot_sizes=self.lot_sizes, balances=self.balances)
        followers = self.followers()
        claim = [f.name for f in followers if f.enabled]
        changed = []
        claimed: dict[str, list[Intent]] = {}
        touched: set[str] = set()
        freeze = self.engine.freeze_quantities
        for snap in snaps:
            grouped = copy_intents(self.journal, snap, followers, ctx, freeze)
            intents = self._sizable(snap, grouped.intents, ctx)
            got = self.journal.record_and_claim(snap, intents, claim, touched)
            if got is not None:
                resize_later_children(self.journal, snap, grouped, followers, ctx, freeze, touched)
                changed.append(snap)
                for intent in got:
                    claimed.setdefault(intent.follower, []).append(intent)
        return changed, claimed, touched

    def _hint(
        self,
        snaps: Sequence[LeaderOrderSnapshot],
        received_ns: int,
        claimed: Mapping[str, list[Intent]] | None = None,
        touched: set[str] | None = None,
        *,
        verify_claims: bool = False,
    ) -> HintsTaken | None:
        """Hint the followers that have work from these snapshots (a TRANSIT -> PENDING frame
        that changes no intent wakes nobody): their intents changed, a bracket leg moved (their
        BracketLegActor checks), or the leader order filled or ended (they check their copy).

        Returns, for a live event that claimed copies, what counts the claimed followers
        whose copy has left (the caller waits on it: :class:`HintsTaken`)."""
        ids: list[str] = []
        for s in snaps:
            ids.append(s.leader_order_id)
            if s.parent_order_id and s.parent_order_id not in ids:
                ids.append(s.parent_order_id)
        settled = tuple(
            dict.fromkeys(
                s.parent_order_id or s.leader_order_id
                for s in snaps
                if s.is_terminal or s.filled_qty > 0
            )
        )
        legs = any(s.parent_order_id or s.leg_name for s in snaps)
        claimed = claimed or {}
        order_ids = tuple(ids)
        hints: list[tuple[str, tuple[Intent, ...], bool]] = []
        for f in self.followers():
            mine = tuple(claimed.get(f.name, ()))
            changed = bool(mine) or touched is None or f.name in touched
            if changed or legs or settled:
                hints.append((f.name, mine, changed))
        claims = sum(1 for _name, mine, _changed in hints if mine)
        taken = HintsTaken(claims) if claims and not verify_claims else None
        for name, mine, changed in hints:
            mark = taken if mine else None
            msg = LeaderChanged(
                order_ids, received_ns, mine, settled, verify_claims, changed, taken=mark
            )
            try:
                self.registry.tell(follower_name(name), msg)
            except ChildUnavailable:
                # restarting or quarantined: it converges from the journal on start
                if mark is not None:
                    mark.take()
        return taken

    # -- REST reconcile -------------------------------------------------------------------------

    def reconcile(self) -> None:
        """Journal every leader order of today's books; the socket never replays."""
        snaps = self._read_books(periodic=False)
        missed, changed = self._journal_reconciled(snaps)
        self.settled_keys = {snap.dedupe_key for snap in snaps}
        self.suspects = {}
        self.journal.set_mark("leader", "reconciled_at", time.strftime("%Y-%m-%dT%H:%M:%S"))
        logger.info(
            "reconciled the leader: %d orders, %d new to the journal, %d changed",
            len(snaps),
            missed,
            changed,
        )

    def _arm_reconcile(self, delay_s: float) -> None:
        """Tell this actor a Tick for the next periodic pass (none when the period is 0)."""
        if self.engine.leader_reconcile_s <= 0:
            return
        if self.reconcile_timer is not None:
            self.reconcile_timer.cancel()
        self.reconcile_timer = self.tell_later(delay_s, Tick())

    def _on_reconcile_tick(self) -> None:
        if self.reconcile_timer is None:
            return  # not armed (periodic reconcile off, or not connected yet): a stray tick
        self.reconcile_timer = None
        if not self.status.connected:
            return  # the next connect reconciles in full
        self.faults.point("leader_feed.periodic_reconcile")
        self._arm_reconcile(self.periodic_reconcile())

    def periodic_reconcile(self) -> float:
        """Re-read the books while the socket is up; journal only what the journal lacks.

        Catches frames the socket lost without dropping the connection. A REST error is
        logged and counted, never a crash: the socket is fine, the next pass tries again.
        Returns the delay to the next pass: short while a difference waits to be confirmed
        (see :data:`CONFIRM_AFTER_S`), else the period.
        """
        period_s = self.engine.leader_reconcile_s
        confirm_s = min(CONFIRM_AFTER_S, period_s)
        try:
            snaps = self._read_books(periodic=True)
        except errors.DhanError as exc:
            self.metrics.leader_reconciles.labels("periodic", "error").inc()
            logger.warning(
                "periodic reconcile of the leader failed; next in %.1f s: %s", period_s, exc
            )
            return period_s
        due = self._confirmed_differences(snaps, confirm_s)
        self.metrics.leader_reconciles.labels("periodic", "ok").inc()
        if due:
            missed, changed = self._journal_reconciled(due)
            logger.info(
                "periodic reconcile of the leader: %d orders differed from the journal "
                "(%d new to it), %d journaled",
                len(due),
                missed,
                changed,
            )
        return confirm_s if self.suspects else period_s

    def _confirmed_differences(
        self, snaps: Sequence[LeaderOrderSnapshot], confirm_s: float
    ) -> list[LeaderOrderSnapshot]:
        """The snapshots that differ from the journal and did so ``confirm_s`` ago already.

        Rows seen unchanged in the last pass are skipped without a read; a difference seen for
        the first time becomes a suspect, journaled by a later pass if it is still there.
        """
        now_s = self.clock.monotonic()
        settled: set[str] = set()
        suspects: dict[tuple[str, str], float] = {}
        due: list[LeaderOrderSnapshot] = []
        for snap in snaps:
            if snap.dedupe_key in self.settled_keys:
                settled.add(snap.dedupe_key)
                continue
            known = self.journal.leader_snapshot(snap.leader_order_id, snap.leg_name)
            if known is not None and _same_state(snap, known):
                settled.add(snap.dedupe_key)
                continue
            spot = (snap.leader_order_id, snap.leg_name)
            first_s = self.suspects.get(spot, now_s)
            if now_s - first_s >= confirm_s:
                due.append(snap)
                settled.add(snap.dedupe_key)
            else:
                suspects[spot] = first_s
        self.settled_keys = settled
        self.suspects = suspects
        return due

    def _read_books(self, *, periodic: bool) -> list[LeaderOrderSnapshot]:
        """Today's order book and super-order book as snapshots. REST errors propagate; after
        a connect an unavailable super-order book is skipped, a periodic pass fails instead
        (its super orders would read as plain ones), and learns no first order types."""
        try:
            orders = self.client.list_orders()
        except errors.RateLimited:
            self.metrics.rate_limited.labels("leader").inc()
            raise
        try:
            supers = self.client.list_super_orders()
        except errors.DhanError as exc:
            if isinstance(exc, errors.RateLimited):
                self.metrics.rate_limited.labels("leader").inc()
            if periodic:
                raise
            logger.warning("reconcile: super-order book unavailable: %s", exc)
            supers = []
        super_ids = {so.order_id for so in supers}
        # a super order's exit legs in the main book (as Dhan's docs say) share its orderId:
        # that id is a super order's even when the super-order book could not be read, and is
        # left to a pass that reads it (never taken for a plain order, nor its legs for BO/CO's)
        unread = super_legs_in(orders) - super_ids
        if unread:
            logger.warning(
                "reconcile: super orders %s left for a pass that reads the super-order book",
                ", ".join(sorted(unread)),
            )
            super_ids |= unread
        parents = bracket_parents(orders, self._journaled_parents(orders))
        snaps: list[LeaderOrderSnapshot] = []
        for o in orders:
            if o.order_id in super_ids:
                continue
            snap = snapshot_from_order(o, parents=parents)
            snaps.append(self._keep_market(snap, learn=not periodic) if not snap.leg_name else snap)
        for so in supers:
            snaps.extend(snapshots_from_super_order(so))
        return snaps

    def _journaled_parents(self, orders: Sequence[Order]) -> dict[str, str]:
        """Leg order id -> entry order id, as the journal knows it (from the socket's
        ``AlgoOrdNo``), for the BO/CO exit legs of ``orders``: the book itself names no entry."""
        out: dict[str, str] = {}
        for o in orders:
            if o.leg_name not in (LegName.TARGET_LEG, LegName.STOP_LOSS_LEG):
                continue
            if o.product_type not in (ProductType.BO, ProductType.CO):
                continue
            known = self.journal.leader_snapshot(o.order_id, str(o.leg_name))
            if known is not None and known.parent_order_id not in (None, o.order_id):
                assert known.parent_order_id is not None
                out[o.order_id] = known.parent_order_id
        return out

    def _journal_reconciled(self, snaps: Sequence[LeaderOrderSnapshot]) -> tuple[int, int]:
        """Journal REST snapshots (``reconcile_policy`` for orders never seen) and hint the
        followers to verify their claims; returns (orders new to the journal, changed)."""
        changed: list[LeaderOrderSnapshot] = []
        ctx = SizingContext(lot_sizes=self.lot_sizes, balances=self.balances)
        followers = self.followers()
        claim = [f.name for f in followers if f.enabled]
        claimed: dict[str, list[Intent]] = {}
        touched: set[str] = set()
        missed = 0
        freeze = self.engine.freeze_quantities
        for snap in snaps:
            known = self.journal.leader_snapshot(snap.leader_order_id, snap.leg_name)
            grouped = copy_intents(self.journal, snap, followers, ctx, freeze)
            intents = self._sizable(snap, grouped.intents, ctx)
            if known is None and not snap.parent_order_id and not snap.leg_name:
                missed += 1
                intents = self._apply_policy(snap, intents)
            got = self.journal.record_and_claim(snap, intents, claim, touched)
            if got is not None:
                resize_later_children(self.journal, snap, grouped, followers, ctx, freeze, touched)
                changed.append(snap)
                for intent in got:
                    claimed.setdefault(intent.follower, []).append(intent)
        if changed:
            self.metrics.leader_events.labels("reconcile").inc(len(changed))
            self._hint(changed, 0, claimed, touched, verify_claims=True)
        return missed, len(changed)

    def _sizable(
        self, snap: LeaderOrderSnapshot, intents: list[Any], ctx: SizingContext
    ) -> list[Any]:
        """Without the instrument's lot size nothing can be sized *now*: that says nothing of
        whether a copy should exist. A follower's journaled intent (a live copy) is left as it
        is; only a follower with none gets the skip, so that the order is visibly not copied.
        A leader order that ended with nothing filled needs no size: its copies must go."""
        if not intents or lot_size_for(snap, ctx) is not None:
            return intents
        if snap.is_terminal and snap.filled_qty == 0:
            return intents
        have = {i.follower for i in self.journal.intents(leader_order_id=snap.leader_order_id)}
        kept = [i for i in intents if i.follower not in have]
        logger.warning(
            "leader order %s: lot size of %s:%s unknown; %d journaled copies left as they are",
            snap.leader_order_id,
            snap.exchange_segment,
            snap.security_id,
            len(intents) - len(kept),
        )
        return kept

    def _apply_policy(self, snap: LeaderOrderSnapshot, intents: list[Any]) -> list[Any]:
        """Policy for a leader order first seen by reconcile (the socket missed it)."""
        policy = self.engine.reconcile_policy
        if policy == "copy_all":
            return intents
        if policy == "copy_open" and not snap.is_terminal:
            return intents
        reason = f"found only by reconcile ({snap.status}); policy {policy}"
        self.journal.append_audit(
            "leader_order_missed",
            actor=self.context.child_id,
            account="leader",
            payload={
                "leader_order_id": snap.leader_order_id,
                "status": str(snap.status),
                "policy": policy,
                "source": str(SnapshotSource.RECONCILE),
            },
        )
        logger.warning("leader order %s %s: not copied", snap.leader_order_id, reason)
        return [replace(i, skip_reason=reason, desired_open=False) for i in intents]


def parse_lot_sizes(text: str | None) -> dict[tuple[str, str], int]:
    """The lot sizes of a :data:`LOT_SIZES_MARK` value; a damaged mark yields what it can."""
    if not text:
        return {}
    try:
        stored = json.loads(text)
    except ValueError:
        logger.warning("the journal's lot-size mark is not JSON; ignored")
        return {}
    out: dict[tuple[str, str], int] = {}
    if isinstance(stored, dict):
        for key, lot in stored.items():
            segment, _, security_id = str(key).partition(":")
            if security_id and isinstance(lot, int) and lot > 0:
                out[(segment, security_id)] = lot
    return out


def format_lot_sizes(lots: Mapping[tuple[str, str], int]) -> str:
    """The :data:`LOT_SIZES_MARK` value for ``lots`` (sorted: the same map, the same text)."""
    return json.dumps({f"{seg}:{sid}": lot for (seg, sid), lot in sorted(lots.items())})


def _entry_modified(entry: LeaderOrderSnapshot, u: OrderUpdate) -> bool:
    """True when a super order's entry frame is one of a modify: the entry is open and neither
    its status nor its fill changed since the journaled snapshot (a duplicate frame reads so
    too, and costs one read of the book)."""
    return (
        not u.status.is_terminal and u.status is entry.status and u.traded_qty == entry.filled_qty
    )


def _trailed(entry: LeaderOrderSnapshot, u: OrderUpdate) -> bool:
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


def _beyond_market(snap: LeaderOrderSnapshot) -> bool:
    """True when the LIMIT price of ``snap`` could be an MPP band: beyond the market price
    its frame carries (``RefLtp``), or no market price is known."""
    raw = {str(k).lower(): v for k, v in snap.raw.items()}
    ltp = raw.get("refltp")
    if not isinstance(ltp, int | float) or ltp <= 0:
        return True
    if snap.transaction_type is TransactionType.BUY:
        return snap.price > ltp
    return snap.price < ltp


def _band_in(known: LeaderOrderSnapshot) -> float | None:
    """The MPP band price of a journaled MARKET snapshot: its socket frame's LIMIT price."""
    raw = {str(k).lower(): v for k, v in known.raw.items()}
    if str(raw.get("ordertype", "")).upper() not in ("LMT", "LIMIT"):
        return None
    price = raw.get("price")
    return float(price) if isinstance(price, int | float) and price > 0 else None


def _same_state(rest: LeaderOrderSnapshot, journaled: LeaderOrderSnapshot) -> bool:
    """True if the REST row tells nothing the journaled snapshot does not already say."""
    return all(getattr(rest, name) == getattr(journaled, name) for name in _STATE_FIELDS)


def _tell_quietly(ref: Any, message: Any) -> None:
    try:
        ref.tell(message)
    except Exception:  # the actor is already gone: its supervisor has seen the death
        logger.debug("feed actor gone before %r could be told", message)
