"""Recording the broker's view of one follower's copies in the journal.

At start ``adopt`` takes over what a previous incarnation sent; on ticks ``refresh`` settles
fills and ends of working copies; lookups and cancels ``settle`` one copy. Which intents move,
and to what, is decided by the pure functions of ``book_settle``; this class reads and writes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from actors.book_settle import (
    ADOPTABLE,
    by_correlation_id,
    changed_copies,
    copies_updated,
    needs_legs,
    plain_with_ids,
    refresh_names,
    settle_move,
    settled_names,
    skip_after_disabled,
    socket_settled,
    stop_trigger_crossed,
)
from actors.bracket_spawner import BracketSpawner
from actors.copy_slippage import CopySlippage, FilledCopy, is_full_fill
from actors.decisions import IN_FLIGHT
from actors.exit_bases import basis_from_stored
from actors.follower_book import FollowerBook, read_one_by_one
from actors.orders import is_super
from dhan import errors
from dhan.codes import OrderStatus
from dhan.models import Order
from dhan.rest import DhanClient
from store import Journal
from store.errors import StaleState
from store.records import Intent, TransitionRequest
from store.states import IntentState

logger = logging.getLogger(__name__)

#: The states of the copies a socket frame may name: settled now (WORKING), or left to the
#: step in flight and read from the book afterwards (``copies_updated``).
SOCKET_SETTLED_STATES = (IntentState.WORKING, IntentState.MODIFYING, IntentState.CANCELLING)


@dataclass(eq=False, slots=True)
class CopySettler:
    """Settles one follower's copies from the broker's book (used on its actor's thread)."""

    account: str
    client: DhanClient
    journal: Journal
    #: the follower's books, shared with its brackets
    book: FollowerBook
    brackets: BracketSpawner
    #: the follower's tick: one-by-one reads must fit in it (``read_one_by_one``)
    tick_s: float
    audit: Callable[[str, dict[str, Any]], None]
    #: records the slippage of each copy that settles fully filled (None: not measured)
    slippage: CopySlippage | None = None
    #: called when a settle planned a copy again (a stop placed as its triggered form): the
    #: follower converges soon, not on its next tick
    replanned: Callable[[], None] | None = None

    def move(self, m: TransitionRequest) -> Intent:
        """``Journal.transition`` of one move a pure function decided."""
        return self.journal.transition(
            m.intent_id,
            m.to,
            expect_from=m.expect_from,
            broker_order_id=m.broker_order_id,
            applied_version=m.applied_version,
            error_code=m.error_code,
            error_message=m.error_message,
            broker_status=m.broker_status,
            filled_qty=m.filled_qty,
            reason=m.reason,
        )

    def settle(self, intent: Intent, order: Order) -> Intent:
        """Record ``order`` (the broker's view) as ``intent``'s state; start its bracket."""
        moved = self.move(settle_move(intent, order))
        self._after_rejected(intent, order)
        if needs_legs(intent, moved):
            self.brackets.spawn(intent)
        if self.slippage is not None and moved.state is IntentState.DONE and _fills(intent, order):
            self.slippage.filled([_filled_copy(intent, order)])
        return moved

    def adopt(self) -> None:
        """At start, match unsettled intents against the broker's book by correlationId.

        Whatever a previous incarnation (or process) sent before it died is adopted instead of
        sent again -- also a PLANNED intent, whose SENDING mark may not have survived a power
        loss. One book read per follower at start; per-intent lookups remain the fallback.
        """
        pending = self.journal.intents(self.account, states=list(ADOPTABLE))
        if not pending:
            return
        needs = [i.correlation_id for i in pending]
        self.book.invalidate()  # what the previous incarnation sent: a copy may predate it
        try:
            orders = self.book.orders(needs)
            supers = self.book.super_orders(needs) if any(is_super(i) for i in pending) else []
            book = by_correlation_id(orders, supers)
        except errors.DhanError as exc:
            logger.info(
                "follower %s: book unavailable at start (%s); looking up one by one",
                self.account,
                exc,
            )
            return
        adopted = 0
        for intent in pending:
            order = book.get(intent.correlation_id)
            if order is None:
                continue
            if intent.state in IN_FLIGHT or intent.state is IntentState.PLANNED:
                intent = self.journal.transition(
                    intent.id,
                    IntentState.UNKNOWN,
                    expect_from=intent.state,
                    reason="found at the broker at start",
                )
            self.settle(intent, order)
            adopted += 1
        self.book.release(needs)  # the copies still open are named again by each refresh
        if adopted:
            logger.info("follower %s: adopted %d orders found at the broker", self.account, adopted)

    def refresh(self, leader_order_ids: set[str] | None, *, socket_up: bool = False) -> int:
        """Settle our open copies (of these leader orders; None: all) from the broker's view.

        Fills and the end of an order end or update intents. The view is one read of the
        follower's book (shared with its brackets, so often already fresh) or, once the day's
        book has grown large next to our few working copies, each copy's own ``GET
        /orders/{id}`` (``read_one_by_one``): decoding the whole day's book to settle a few
        copies was CPU, and allocator churn that grew with the day. Either way one journal
        transaction for every copy that changed: per-copy commits after each leader fill were
        the engine's biggest CPU cost and, holding the GIL in ten threads at once, its copy p99.
        A rejected token is raised (the caller pauses); any other failed read waits for the
        next refresh. ``socket_up``: the follower's order socket settles its plain copies and
        bracket entries (``settle_updates``); only the others (super orders) are read here.
        Returns how many working copies it looked for (0: no book read).
        """
        working = self.journal.intents(self.account, states=[IntentState.WORKING])
        if leader_order_ids is not None:
            working = [i for i in working if i.leader_order_id in leader_order_ids]
        if socket_up:
            working = [i for i in working if not socket_settled(i)]
        if not working:
            return 0
        # named, so the book keeps their rows once settled (it keeps only open ones otherwise)
        needs = refresh_names(working)
        try:
            book: dict[str, Any]
            if plain_with_ids(working) and read_one_by_one(
                len(working), self.book.day_rows, self.tick_s
            ):
                book = self._read_each(working)
                if self.client.remembered_orders:
                    self.book.forget()  # the last whole read's rows: not held all day
            else:
                book = {o.order_id: o for o in self.book.orders(needs)}
            if any(is_super(i) for i in working):
                for so in self.book.super_orders(needs):
                    book[so.order_id] = so  # same status fields as an order
        except errors.AuthError:
            raise
        except errors.DhanError as exc:
            logger.info("follower %s: order book refresh failed: %s", self.account, exc)
            return len(working)
        self._settle_all(changed_copies(working, book))
        return len(working)

    def settle_updates(self, orders: list[Order]) -> list[Intent]:
        """Settle the working copies these orders (from the follower's order socket, oldest
        first) filled or ended (``copies_updated``): one journal read, and one transaction for
        every copy that moved. No book read. Returns the copies the frames named that a
        modify or cancel in flight holds: the caller settles them from the book later."""
        copies = self.journal.intents(self.account, states=list(SOCKET_SETTLED_STATES))
        if not copies:
            return []
        moved, later = copies_updated(copies, orders)
        self._settle_all(moved)
        return later

    def _settle_all(self, changed: list[tuple[Intent, Any]]) -> None:
        """Journal the moves of ``changed`` in one transaction (with the slippage marks of the
        copies they fully fill); start brackets; release rows; observe the slippage."""
        if not changed:
            return
        slip = self.slippage
        measured = self._measure(changed)
        marks = None
        if measured and slip is not None:
            marks = (self.account, slip.marks(measured.values()))
        outcomes = self.journal.transitions(
            [settle_move(i, order) for i, order in changed], marks=marks
        )
        settled: list[str] = []
        for (intent, _order), outcome in zip(changed, outcomes, strict=True):
            if isinstance(outcome, Exception):
                # moved since the read (our own cancel, a lookup): the next refresh sees it
                # (the step that settled it measures its slippage; a mark written here is the
                # same one, and it must not wait for its leader's price twice)
                if slip is not None:
                    slip.waiting.pop((intent.id, ""), None)
                logger.debug(
                    "follower %s: settle of %s skipped: %s", self.account, intent.id, outcome
                )
                continue
            settled += settled_names(intent, outcome)
            self._after_rejected(intent, _order)
            if needs_legs(intent, outcome):
                self.brackets.spawn(intent)
            if slip is not None and intent.id in measured and outcome.state is IntentState.DONE:
                slip.observe(measured[intent.id][1])
        self.book.release(settled)  # their rows need not stay in the book (memory)

    def _after_rejected(self, intent: Intent, order: Any) -> None:
        """The broker rejected a copy: a WARNING, once, with the broker's words; a copy of a
        stop whose trigger the market had already crossed is placed again as its triggered
        form (the leader's stop triggered too: the same market)."""
        if getattr(order, "order_status", None) is not OrderStatus.REJECTED:
            return
        if intent.state in _ENDED:
            return
        logger.warning(
            "follower %s: copy of leader order %s rejected by the broker (order %s): %s",
            self.account,
            intent.leader_order_id,
            order.order_id,
            getattr(order, "oms_error_description", None) or "no reason given",
        )
        if not stop_trigger_crossed(intent, order):
            return
        again = self.journal.replace_triggered_stop(intent.id)
        if again is None:
            return
        logger.info(
            "follower %s: copy of leader order %s placed again as %s %s (its stop's trigger"
            " was crossed before it arrived)",
            self.account,
            intent.leader_order_id,
            again.order_type,
            again.correlation_id,
        )
        if self.replanned is not None:
            self.replanned()

    def _measure(self, changed: list[tuple[Intent, Any]]) -> dict[int, tuple[FilledCopy, float]]:
        """The slippage of the copies these orders fully fill (by intent id): a copy moves to
        DONE once, so each is measured once. Off the send path: after the fill, before its
        settle's write (whose transaction journals it)."""
        if self.slippage is None:
            return {}
        filled = [_filled_copy(intent, order) for intent, order in changed if _fills(intent, order)]
        if not filled:
            return {}
        return {copy.intent_id: (copy, bps) for copy, bps in self.slippage.measure(filled)}

    def _read_each(self, working: list[Intent]) -> dict[str, Any]:
        """Each copy by its own ``GET /orders/{id}``, by order id. A failed read ends the
        round (a rate limit or an outage fails the rest too): the copies read are settled,
        the others at the next refresh. A rejected token is raised (the caller pauses)."""
        seen: dict[str, Any] = {}
        for intent in working:
            try:
                order = self.client.get_order(intent.broker_order_id or "")
            except errors.AuthError:
                raise
            except errors.DhanError as exc:
                logger.info(
                    "follower %s: read of order %s failed: %s",
                    self.account,
                    intent.broker_order_id,
                    exc,
                )
                break
            seen[order.order_id] = order
        return seen

    def skip_planned_while_disabled(self, policy: str) -> None:
        """On re-enabling: skip the copies planned while the follower was disabled that
        ``policy`` (``engine.reconcile_policy``) does not copy (``skip_after_disabled``). A
        skip is a decision: no later leader event revives it."""
        if policy == "copy_all":
            return
        skipped = 0
        for intent in self.journal.intents(self.account, states=[IntentState.PLANNED]):
            if intent.attempts:
                continue
            snap = self.journal.leader_snapshot(intent.leader_order_id)
            basis = basis_from_stored(self.journal.exit_bases(intent.leader_order_id))
            reason = skip_after_disabled(policy, intent, snap, is_exit=basis.is_exit)
            if reason is None:
                continue
            try:
                self.journal.transition(
                    intent.id, IntentState.SKIPPED, expect_from=IntentState.PLANNED, reason=reason
                )
            except StaleState:
                continue  # claimed or settled meanwhile: theirs
            skipped += 1
        if skipped:
            logger.warning(
                "follower %s re-enabled: %d leader orders planned while it was disabled not"
                " copied (reconcile_policy %s)",
                self.account,
                skipped,
                policy,
            )
            self.audit("copies_skipped_after_disable", {"count": skipped, "policy": str(policy)})


#: Journal states of a copy whose end is already recorded.
_ENDED = frozenset({IntentState.DONE, IntentState.REJECTED})


def _fills(intent: Intent, order: Any) -> bool:
    """Pure: does ``order`` (the broker's view) fully fill ``intent``, not DONE before?"""
    return intent.state is not IntentState.DONE and is_full_fill(order.order_status)


def _filled_copy(intent: Intent, order: Any) -> FilledCopy:
    return FilledCopy(
        intent.id,
        intent.leader_order_id,
        intent.transaction_type,
        float(order.average_traded_price or 0.0),
    )
