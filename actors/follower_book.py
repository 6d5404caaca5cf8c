"""FollowerBook: one follower's broker books (orders, super orders), read once and shared.

Every BracketLegActor of a follower polls the follower's whole book each bracket tick; with
one shared FollowerBook, N open brackets cost one ``GET /orders`` (or ``GET /super/orders``) per
``max_age_s`` instead of N. Reads are single-flight: callers that arrive while a read is in
flight wait for it. Errors reach every waiter of that read and are never cached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeVar

from dhan.models import Order, SuperOrder
from dhan.rest import DhanClient

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Copy(Generic[T]):
    """A book as read: when the read started (monotonic s) and the epoch it belongs to."""

    rows: list[T]
    started_s: float
    epoch: int


class _SharedRead(Generic[T]):
    """One book: the cached copy, the read in flight (if any), and the invalidation epoch."""

    def __init__(self, read: Callable[[], list[T]], clock: Callable[[], float]) -> None:
        self._read = read
        self._clock = clock
        self._lock = threading.Lock()
        self._copy: _Copy[T] | None = None
        #: the read in flight and the epoch it started in
        self._flight: tuple[Future[list[T]], int] | None = None
        #: bumped by ``invalidate``: a copy (or a read in flight) from an older epoch may
        #: predate one of our own writes, so it answers nobody who asks afterwards
        self._epoch = 0
        self.reads = 0

    def get(self, max_age_s: float) -> list[T]:
        while True:
            with self._lock:
                now = self._clock()
                copy = self._copy
                if (
                    copy is not None
                    and copy.epoch == self._epoch
                    and now - copy.started_s < max_age_s
                ):
                    return list(copy.rows)
                if self._flight is None:
                    future: Future[list[T]] = Future()
                    epoch = self._epoch
                    self._flight = (future, epoch)
                    self.reads += 1
                    break  # this caller reads, outside the lock
                joined, started_epoch = self._flight
                current = started_epoch == self._epoch
            if current:
                return list(joined.result())  # its outcome, error included, is ours too
            # a read from before an invalidate: wait it out (one read at a time), then retry
            joined.exception()
        try:
            rows = self._read()
        except BaseException as exc:  # every waiter must wake, whatever ended the read
            with self._lock:
                self._flight = None
            future.set_exception(exc)
            raise
        with self._lock:
            self._flight = None
            if epoch == self._epoch:
                self._copy = _Copy(rows, now, epoch)
        future.set_result(rows)
        return list(rows)

    def invalidate(self) -> None:
        with self._lock:
            self._epoch += 1
            self._copy = None


class FollowerBook:
    """The broker books of one follower account, shared by all its BracketLegActors.

    Thread-safe: each actor runs on its own thread. ``max_age_s`` is how old a copy may be and
    still answer (half the bracket tick keeps every tick on a copy no older than that tick).
    Each caller gets its own list; the rows (frozen records) are shared.
    """

    def __init__(
        self,
        client: DhanClient,
        *,
        max_age_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_age_s < 0:
            raise ValueError("max_age_s must be >= 0")
        self.client = client
        self.max_age_s = max_age_s
        self._orders: _SharedRead[Order] = _SharedRead(client.list_orders, clock)
        self._supers: _SharedRead[SuperOrder] = _SharedRead(client.list_super_orders, clock)

    def __repr__(self) -> str:
        return f"FollowerBook({self.client!r}, max_age_s={self.max_age_s})"

    def orders(self) -> list[Order]:
        """Today's order book (``GET /orders``), at most ``max_age_s`` old.

        Raises ``dhan.errors.DhanError`` when the read fails (the next call reads again).
        """
        return self._orders.get(self.max_age_s)

    def super_orders(self) -> list[SuperOrder]:
        """Today's super-order book (``GET /super/orders``), at most ``max_age_s`` old.

        Raises ``dhan.errors.DhanError`` when the read fails (the next call reads again).
        """
        return self._supers.get(self.max_age_s)

    def invalidate(self) -> None:
        """Forget both books: call after our own place / modify / cancel so the next read is
        fresh. A read already in flight started before the write: it answers no later caller."""
        self._orders.invalidate()
        self._supers.invalidate()

    @property
    def reads(self) -> int:
        """Broker reads issued so far (both books): for metrics and benchmarks."""
        return self._orders.reads + self._supers.reads
