"""How a follower learns what became of its copies: its order socket's frames, else the book.

``BookSync`` is the FollowerActor's collaborator for settling copies (``CopySettler``): while
the follower's order socket is up (``socket_up``) its frames settle the copies -- stashed and
settled together ``SOCKET_SETTLE_S`` after the first of a burst (one journal read, one
transaction) -- and the book is read once after each connect (the socket has no replay), every
``SAFETY_READ_S``, and for what frames cannot settle (super orders, a copy whose modify or
cancel was in flight). While it is down the book is polled on ticks: every
``FULL_REFRESH_EVERY_TICKS`` all open copies, in between those of the leader orders that filled
or ended.

Used on the follower actor's thread only; it owns no thread or timer of its own (the actor's
``tell_later`` arms the settle).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from actors.ack_buffer import AckBuffer
from actors.book_settle import order_from_update
from actors.copy_settler import CopySettler
from actors.follower_pause import FollowerPause
from actors.messages import SettleFrames
from dhan import errors
from dhan.codes import LegName
from dhan.models import Order
from dhan.order_feed import OrderUpdate

__all__ = ["FULL_REFRESH_EVERY_TICKS", "SAFETY_READ_S", "SOCKET_SETTLE_S", "BookSync"]

#: All open copies are settled from the book every this many ticks (a copy can fill on its
#: own); in between, only the copies of leader orders that filled or ended.
FULL_REFRESH_EVERY_TICKS = 5
#: While the order socket is up, all open copies are still settled from the book this often:
#: a safety net for a frame the socket lost without dropping (the leader feed's periodic
#: reconcile is the same net for the leader).
SAFETY_READ_S = 60.0
#: Socket frames are settled this long after the first of a burst: the frames of half a
#: second share one journal read and one transaction (settled 50 ms after the first, a copy
#: cost about one transaction each: 1.7 ms of CPU per copy at 10 followers, against 0.6 for
#: the book polled every tick). Exit sizing does not wait for it: a copy whose leader order
#: has filled counts as held until its own fill is journaled (``Journal.exposures``), and an
#: exit held for such a copy hurries the settles (``hurry``, ``actors.exit_holds``).
SOCKET_SETTLE_S = 0.5
#: ... and this long after a frame that ends an order with nothing filled (a refusal).
SOCKET_SETTLE_URGENT_S = 0.05


def ends_unfilled(u: OrderUpdate) -> bool:
    """Pure: the frame ends its order with nothing filled (REJECTED, CANCELLED, EXPIRED)."""
    return u.status.is_terminal and u.traded_qty == 0


class BookSync:
    """Settles one follower's copies from its socket's frames or its book (module doc)."""

    def __init__(
        self,
        *,
        settler: CopySettler,
        acks: AckBuffer,
        pause: FollowerPause,
        tick_s: float,
        tell_later: Callable[[float, Any], Any],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settler = settler
        self.acks = acks
        self.pause = pause
        self.tell_later = tell_later
        self.ticks = 0
        #: leader orders that filled or ended since the last tick: check our copies of them
        self.refresh_soon: set[str] = set()
        #: leader orders whose copies a socket frame named while a modify or cancel of theirs
        #: was in flight: read from the book on the next tick, socket up or not
        self.reread_soon: set[str] = set()
        #: settle every open copy from the book on the next tick (a frame that could not be
        #: read, the socket just lost)
        self.refresh_all_soon = False
        #: the latest socket frame of each order (and leg) of one batch, settled together
        self.socket_orders: dict[tuple[str, LegName | None], Order] = {}
        self.settle_timer: Any = None
        #: the armed settle is the urgent one (``SOCKET_SETTLE_URGENT_S``)
        self.settle_urgent = False
        #: the follower's order socket is up (told by its FollowerFeedActor): frames settle
        #: the copies, ticks do not read the book
        self.socket_up = False
        #: a super-order copy may be working (the socket does not settle those: the book is
        #: read for them); cleared by a refresh that finds none, set by placing one
        self.may_have_supers = True
        self.safety_every_ticks = max(1, round(SAFETY_READ_S / tick_s))
        #: frames are settled urgently until then (``hurry``; ``clock``'s time)
        self.hurry_until = 0.0
        self.clock = clock

    # -- events ----------------------------------------------------------------------------------

    def leader_settled(self, leader_order_ids: Iterable[str]) -> None:
        """Leader orders that filled or ended: their copies are checked on the next tick."""
        self.refresh_soon.update(leader_order_ids)

    def socket_connected(self) -> bool:
        """The socket is up: settle what it stashed, read the book once (what happened while
        it was down: no replay). True when it was down until now."""
        if self.socket_up:
            return False
        self.socket_up = True
        self.refresh_all_soon = False
        self.settle_frames()
        self.refresh(None)
        return True

    def socket_lost(self) -> None:
        """Frames may have been lost: the next tick reads every copy, and ticks poll from now."""
        if self.socket_up:
            self.socket_up = False
            self.refresh_all_soon = True

    def frames(self, updates: Iterable[OrderUpdate]) -> None:
        """Stash the frames of a batch; settle them ``SOCKET_SETTLE_S`` after the first."""
        stash = self.socket_orders
        for update in updates:
            order = order_from_update(update)
            if order is None:
                self.refresh_all_soon = True  # a code the feed did not know: read the book
            else:
                key = (order.order_id, order.leg_name)  # a leg may share its entry's id
                stash.pop(key, None)  # re-inserted: the dict keeps the frames' order
                stash[key] = order
        if not stash:
            return
        urgent = self.hurried() or any(ends_unfilled(update) for update in updates)
        if urgent and not self.settle_urgent:
            # a copy refused (RMS) or cancelled unfilled: exit sizing counts an open copy of a
            # filled leader order as held, so its end must be journaled soon
            if self.settle_timer is not None:
                self.settle_timer.cancel()
            self.settle_timer = self.tell_later(SOCKET_SETTLE_URGENT_S, SettleFrames())
            self.settle_urgent = True
        elif self.settle_timer is None:
            self.settle_timer = self.tell_later(SOCKET_SETTLE_S, SettleFrames())

    def hurry(self, for_s: float) -> None:
        """Settle what is stashed now and, for ``for_s``, each frame soon after it (an exit
        copy waits for this follower's entries: ``actors.exit_holds``)."""
        self.hurry_until = max(self.hurry_until, self.clock() + for_s)
        self.settle_frames()

    def hurried(self) -> bool:
        return self.hurry_until > 0.0 and self.clock() < self.hurry_until

    def settle_frames(self) -> None:
        """Settle the copies the stashed frames filled or ended: one journal read, one
        transaction (``CopySettler.settle_updates``), no book read."""
        if self.settle_timer is not None:
            self.settle_timer.cancel()
            self.settle_timer = None
        self.settle_urgent = False
        if not self.socket_orders:
            return
        orders = list(self.socket_orders.values())
        self.socket_orders = {}
        self.acks.flush()  # a copy's ack may still be buffered: its row must say WORKING
        later = self.settler.settle_updates(orders)
        self.reread_soon.update(i.leader_order_id for i in later)

    # -- ticks -----------------------------------------------------------------------------------

    def tick(self) -> None:
        """A tick's book reads. Socket down: every ``FULL_REFRESH_EVERY_TICKS`` all open copies,
        else those of the leader orders that filled or ended. Socket up: all of them every
        ``SAFETY_READ_S`` only; else the copies frames could not settle (``reread_soon``) and
        the super-order copies (which the socket does not settle) on today's schedule."""
        self.ticks += 1
        self.settle_frames()  # first: its frames are older than any read below
        soon, reread = self.refresh_soon, self.reread_soon
        self.refresh_soon, self.reread_soon = set(), set()
        if self.refresh_all_soon:
            self.refresh_all_soon = False
            self.refresh(None)
        elif not self.socket_up:
            if self.ticks % FULL_REFRESH_EVERY_TICKS == 0:
                self.refresh(None)
            elif soon or reread:
                self.refresh(soon | reread)
        elif self.ticks % self.safety_every_ticks == 0:
            self.refresh(None)
        else:
            if reread:
                self.refresh(reread)
            if not self.may_have_supers:
                return  # nothing the socket does not settle: no journal read either
            if self.ticks % FULL_REFRESH_EVERY_TICKS == 0:
                self.may_have_supers = self.refresh(None, socket_up=True) > 0
            elif soon:
                self.refresh(soon, socket_up=True)

    def refresh(self, leader_order_ids: set[str] | None, *, socket_up: bool = False) -> int:
        """Settle our open copies from the broker's view (``CopySettler.refresh``); returns
        how many it looked for (1 when it could not look: paused)."""
        if self.pause.reason is not None:
            return 1
        self.acks.flush()
        try:
            return self.settler.refresh(leader_order_ids, socket_up=socket_up)
        except errors.AuthError as exc:
            self.pause.for_token(f"token rejected ({exc.code})")
            return 1
