"""FollowerFeedActor: one follower account's order-update socket -> its copies and positions.

One per follower, next to ``follower.<acct>`` under the follower's supervisor. A socket thread
runs ``dhan.order_feed.OrderFeed`` with the follower's client id and token (Dhan serves one
socket per account: every order of the account, copies and manual trades alike).

Messages (all hints: each may be lost or repeated without harm, see ``actors.messages``):

* ``SocketFramesQueued`` -- the thread queued frames of fills and ends (the others it drops;
  one tell per empty -> non-empty): the actor drains them and tells ``follower.<acct>`` them
  in one ``FollowerOrderUpdates`` (the copies settle from them, no book read). Fills of
  other orders (manual trades) are gathered for ``FlushFills``; a copy's fill moves the
  position with the settle that records it on the copy (one transaction: exit sizing would
  count it twice meanwhile, in the position and as the copy's unfilled remainder).
* ``FlushFills`` -- ``FILLS_FLUSH_S`` after the first fill gathered: one ``Journal.apply_fills``
  for all of them (a commit per fill, in every follower at once, was most of the socket's
  CPU). An in-memory map of the fill last applied per order keeps a repeated one out.
* ``SocketConnected`` -- check the positions against the broker (``position_check``: the
  socket has no replay), then tell the follower ``FollowerSocketUp`` (it reads its book once).
* ``SocketFailed`` -- tell the follower ``FollowerSocketDown`` (it polls its book again) and
  reconnect after a backoff (``SocketReconnect``), 0.5 s doubling up to 30 s.
* ``UpdateToken`` -- a new token: down, then connect again with it at once.
* ``SocketStateWanted`` -- a (re)started follower asks: Up or Down is told again.

States: down (connecting or waiting out a backoff) and up (connected, positions checked).
Failures: a dead socket is not a crash (a flapping socket must not quarantine its follower:
the supervisor counts crashes); the actor reconnects on its own. A failed position check is
logged and counted and tried again at the next connect. Anything else (a bug, the store
down) crashes the actor: its supervisor restarts it (PERMANENT, with a backoff) and the new
incarnation starts down. Messages of an older connection (``generation``) are ignored.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from actors.book_settle import worth_settling
from actors.messages import (
    FlushFills,
    FollowerOrderUpdates,
    FollowerSocketDown,
    FollowerSocketUp,
    SocketConnected,
    SocketFailed,
    SocketFramesQueued,
    SocketReconnect,
    SocketStateWanted,
    UpdateToken,
)
from actors.names import follower_name
from actors.position_check import PositionCheckFailed, check_positions, fill_of
from dhan import errors
from dhan.correlation import is_copy_id
from dhan.order_feed import FeedError, OrderFeed, OrderUpdate
from dhan.rest import DhanClient
from store import Journal
from store.records import OrderFill
from supervision import Backoff, ChildContext, SupervisedActor
from supervision.errors import ChildUnavailable

__all__ = ["FollowerFeedActor", "SocketStatus"]

logger = logging.getLogger(__name__)

#: Fills gathered from frames are journaled together this long after the first of them: the
#: positions lag the broker by at most this (the copies' own rows lag until the next tick).
FILLS_FLUSH_S = 0.5
#: How long the socket thread blocks in one receive (``OrderFeed(poll_s=...)``): a close is
#: noticed within it (nothing waits for it). 50 sockets at 0.1 s were ~3 % of a core idle.
SOCKET_POLL_S = 1.0
#: The reconnect delays after a lost socket (as the leader feed's restarts).
RECONNECT_BACKOFF = Backoff(initial_s=0.5, factor=2.0, max_s=30.0, jitter=0.2, reset_after_s=60.0)


@dataclass(slots=True)
class SocketStatus:
    """One follower socket's facts for health and metrics (written by its feed actor only)."""

    connected: bool = False
    connects: int = 0
    failures: int = 0
    checks_ok: int = 0
    checks_failed: int = 0
    frames: int = 0
    last_error: str | None = None


class FollowerFeedActor(SupervisedActor):
    """Owns one follower's order socket (see the module docstring)."""

    def __init__(
        self,
        context: ChildContext,
        *,
        account: str,
        feed_factory: Callable[[str], OrderFeed],
        token: Callable[[], str],
        client: DhanClient,
        journal: Journal,
        status: SocketStatus | None = None,
        reconnect_backoff: Backoff = RECONNECT_BACKOFF,
    ) -> None:
        super().__init__(context)
        self.account = account
        self.follower = follower_name(account)
        self.feed_factory = feed_factory
        self.client = client
        self.journal = journal
        self.status = status if status is not None else SocketStatus()
        self.reconnect_backoff = reconnect_backoff
        #: the token the next connection logs in with (never logged)
        self._token = token()
        self.feed: OrderFeed | None = None
        #: the socket thread of the current connection (joined at stop: its close is logged
        #: before the engine says it stopped)
        self.thread: threading.Thread | None = None
        self.generation = 0
        self.up = False
        self.failures_in_row = 0
        self.connected_at: float | None = None
        #: frames from the socket thread, drained by the actor (guarded by ``_lock``)
        self._lock = threading.Lock()
        self._frames: list[OrderUpdate] = []
        #: order id -> the cumulative fill last journaled (``apply_fills`` is idempotent; this
        #: only spares it a transaction for a frame that repeats a fill)
        self.applied: dict[str, int] = {}
        #: fills gathered since the last write (ledger order id -> the latest cumulative)
        self.pending_fills: dict[str, OrderFill] = {}
        self.flush_timer: Any = None
        self._rng = random.Random()

    # -- lifecycle ---------------------------------------------------------------------------

    def on_start(self) -> None:
        super().on_start()
        self._tell_follower(FollowerSocketDown("order socket connecting"))
        self._connect()

    def on_stop(self) -> None:
        thread = self.thread
        self._shut("feed stopping")
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=SOCKET_POLL_S + 1.0)
        try:
            self._flush_fills()
        except Exception as exc:  # the journal is closing: the next check sets the positions
            logger.warning("fills of %s not journaled at stop: %r", self.account, exc)
        super().on_stop()

    def on_failure(self, *args: Any) -> None:
        self._shut("feed crashed")
        super().on_failure(*args)

    def _connect(self) -> None:
        self.generation += 1
        generation = self.generation
        feed = self.feed = self.feed_factory(self._token)
        ref = self.actor_ref
        lock, frames = self._lock, self._frames

        def on_update(update: OrderUpdate) -> None:
            if not worth_settling(update):
                return  # TRANSIT / PENDING of an unfilled order: neither settles nor fills
            with lock:
                frames.append(update)
                first = len(frames) == 1
            if first:
                _tell_quietly(ref, SocketFramesQueued(), feed)

        def run() -> None:
            try:
                feed.run(on_update, lambda: _tell_quietly(ref, SocketConnected(generation), feed))
            except FeedError as exc:
                _tell_quietly(ref, SocketFailed(generation, str(exc)))
            except Exception as exc:  # a bug in the feed must still end in a reconnect
                logger.exception("order socket thread of %s crashed", self.account)
                _tell_quietly(ref, SocketFailed(generation, repr(exc)))
            else:
                if not feed.closed:
                    _tell_quietly(ref, SocketFailed(generation, "feed returned without close()"))

        self.thread = threading.Thread(
            target=run, name=f"follower-socket-{self.account}", daemon=True
        )
        self.thread.start()

    def _shut(self, reason: str) -> None:
        """Close the socket and tell the follower. The thread ends within ``SOCKET_POLL_S``,
        telling nothing (a frame it still hands over is one more, harmless)."""
        if self.up or self.status.connected:
            self._tell_follower(FollowerSocketDown(reason))
        self.up = False
        self.status.connected = False
        if self.feed is not None:
            self.feed.close()
        self.feed = None

    # -- messages ------------------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, SocketFramesQueued):
            self._on_frames()
        elif isinstance(message, FlushFills):
            self.flush_timer = None
            self._flush_fills()
        elif isinstance(message, SocketConnected):
            if message.generation == self.generation:
                self._on_connected()
        elif isinstance(message, SocketFailed):
            if message.generation == self.generation and self.feed is not None:
                self._on_failed(message.reason)
        elif isinstance(message, SocketReconnect):
            if message.generation == self.generation and self.feed is None:
                self._connect()
        elif isinstance(message, UpdateToken):
            if message.access_token != self._token:
                self._token = message.access_token
                self._shut("token renewed: reconnecting")
                self._connect()
        elif isinstance(message, SocketStateWanted):
            up = FollowerSocketUp() if self.up else FollowerSocketDown("order socket not up")
            self._tell_follower(up)
        else:
            return super().on_receive(message)
        return None

    def _on_frames(self) -> None:
        with self._lock:
            batch = tuple(self._frames)
            self._frames.clear()
        if not batch:
            return
        self.status.frames += len(batch)
        # the socket thread kept only fills and ends (``worth_settling``)
        self._tell_follower(FollowerOrderUpdates(batch))
        applied, pending = self.applied, self.pending_fills
        for u in batch:
            if is_copy_id(u.correlation_id):
                continue  # a copy's fill moves the position with its settle (below)
            fill = fill_of(u)
            if fill is not None and fill.filled_qty > applied.get(fill.order_id, 0):
                pending[fill.order_id] = fill
        if pending and self.flush_timer is None:
            self.flush_timer = self.tell_later(FILLS_FLUSH_S, FlushFills())

    def _flush_fills(self) -> None:
        if not self.pending_fills:
            return
        fills, self.pending_fills = self.pending_fills, {}
        self.journal.apply_fills(self.account, list(fills.values()))
        for order_id, fill in fills.items():
            self.applied[order_id] = fill.filled_qty

    def _on_connected(self) -> None:
        self.status.connects += 1
        self.status.connected = True
        self.connected_at = time.monotonic()
        self.faults.point("follower_feed.before_check")
        self._flush_fills()  # what was seen before the check is in the journal before it
        self._check_positions()
        self.up = True
        self._tell_follower(FollowerSocketUp())

    def _check_positions(self) -> None:
        try:
            checks = check_positions(self.client, self.journal, self.account)
        except (errors.DhanError, PositionCheckFailed) as exc:
            self.status.checks_failed += 1
            logger.warning("position check of %s failed: %s", self.account, exc)
            return
        self.status.checks_ok += 1
        self.applied.clear()  # the journal's ledger now holds the book's fills
        if checks:
            logger.info("%d position(s) of %s set to the broker's", len(checks), self.account)

    def _on_failed(self, reason: str) -> None:
        self.status.failures += 1
        self.status.last_error = reason
        ran_s = time.monotonic() - self.connected_at if self.connected_at is not None else 0.0
        if ran_s >= self.reconnect_backoff.reset_after_s:
            self.failures_in_row = 0
        delay_s = self.reconnect_backoff.delay_s(self.failures_in_row, self._rng)
        self.failures_in_row += 1
        self.connected_at = None
        logger.warning(
            "order socket of %s lost (%s); reconnecting in %.1f s", self.account, reason, delay_s
        )
        self._shut(f"order socket lost: {reason}")
        self.tell_later(delay_s, SocketReconnect(self.generation))

    def _tell_follower(self, message: Any) -> None:
        # a follower restarting asks for the state when it starts (SocketStateWanted)
        with contextlib.suppress(ChildUnavailable):
            self.registry.tell(self.follower, message)


def _tell_quietly(ref: Any, message: Any, feed: OrderFeed | None = None) -> None:
    try:
        ref.tell(message)
    except Exception:  # the actor is gone (its supervisor has seen it): end this socket too
        logger.debug("follower feed actor gone before %r could be told", message)
        if feed is not None:
            feed.close()
