"""FollowerBook: one follower's broker books (orders, super orders), read once and shared.

Every BracketLegActor of a follower polls the follower's whole book each bracket tick; with
one shared FollowerBook, N open brackets cost one ``GET /orders`` (or ``GET /super/orders``) per
``max_age_s`` instead of N. Reads are single-flight: callers that arrive while a read is in
flight wait for it. Errors reach every waiter of that read and are never cached.

The broker answers with every order of the day; the book keeps (and parses) only the rows still
open and the rows its callers asked for by id (``needs``): a day's settled orders cost nothing
(they were 4-7 KB each per follower, 2 MB per follower after 500 leader orders).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from dhan.codes import OrderStatus, ProductType
from dhan.models import Order, SuperOrder
from dhan.rest import DhanClient

T = TypeVar("T")

#: An id a caller needs stays wanted this long after its last ask: longer than any caller's
#: polling period (a follower settles its open copies every 5 ticks), so the rows of a copy
#: still being settled are in every read, and a caller that stops asking stops costing memory.
WANTED_FOR_S = 300.0


#: ``GET /orders/{id}`` calls a follower may spend per second of its tick settling its copies
#: one by one. Dhan's budget for reads is 20/s per account (non-trading APIs), shared with its
#: brackets' book reads (at most 2/s per book) and lookups: this leaves most of it.
OWN_READS_PER_S = 4.0
#: One ``GET /orders/{id}`` costs the engine (a request, an answer, a parse) about what
#: decoding this many rows of the whole book does (``bench.memory``; docs/performance.md).
ROWS_PER_OWN_READ = 20


def read_one_by_one(copies: int, day_rows: int, tick_s: float) -> bool:
    """Whether ``copies`` working copies are settled each by its own ``GET /orders/{id}``
    rather than by one read of the whole book, which has ``day_rows`` rows (as last read).

    Pure. The whole book is every order of the day: late in the day, decoding it to settle a
    few copies costs more CPU than reading them, and its decoding churn is what made the
    engine's memory grow with the day's orders. Early in the day (a small book), or with more
    copies than ``OWN_READS_PER_S`` allows per tick, one read of the book is the cheaper one.
    """
    if copies <= 0:
        return False
    cap = max(1, int(OWN_READS_PER_S * tick_s))
    return copies <= cap and copies * ROWS_PER_OWN_READ <= day_rows


def kept_rows(rows: list[Any], wanted: frozenset[str], *, legs_key: str | None = None) -> list[Any]:
    """The raw book rows a cached book keeps: open ones, and those wanted by order id or
    correlationId. With ``legs_key`` (super orders' ``legDetails``) an open leg keeps its row.

    Pure: runs on the JSON objects before they are parsed, so a settled row costs no parse and
    no memory. A row that is not an object, or has an unknown status, is kept (the parser says
    what is wrong with it; an unknown status may be a live order).
    """
    return [row for row in rows if _keep(row, wanted, legs_key)]


def _keep(row: Any, wanted: frozenset[str], legs_key: str | None) -> bool:
    if not isinstance(row, dict):
        return True
    for key in ("orderId", "correlationId"):
        value = row.get(key)
        if isinstance(value, str) and value in wanted:
            return True
    if _is_open(row.get("orderStatus")):
        return True
    if row.get("productType") in _BRACKET_PRODUCTS:
        # a BO/CO exit leg need not carry its entry's correlationId (Dhan does not document
        # it): only the book's shape links it (``actors.snapshots.bracket_parents``), which
        # needs the day's bracket entries and legs, settled or not -- a leg that traded
        # between two reads must still be seen. Brackets are few; their rows are kept.
        return True
    legs = row.get(legs_key) if legs_key else None
    return isinstance(legs, list) and any(
        not isinstance(leg, dict) or _is_open(leg.get("orderStatus")) for leg in legs
    )


_BRACKET_PRODUCTS = frozenset({ProductType.BO.value, ProductType.CO.value})


def _is_open(status: Any) -> bool:
    try:
        return OrderStatus(status).is_open
    except ValueError:
        return True


@dataclass(frozen=True, slots=True)
class _Copy(Generic[T]):
    """A book as read: when the read started (monotonic s) and the epoch it belongs to."""

    rows: list[T]
    started_s: float
    epoch: int


class _SharedRead(Generic[T]):
    """One book: the cached copy, the read in flight (if any), the invalidation epoch, and the
    ids callers need (a read is given those wanted when it starts)."""

    def __init__(
        self,
        read: Callable[[frozenset[str]], list[T]],
        clock: Callable[[], float],
        wanted_for_s: float,
    ) -> None:
        self._read = read
        self._clock = clock
        self._wanted_for_s = wanted_for_s
        #: id -> when a caller last asked for it
        self._wanted: dict[str, float] = {}
        self._lock = threading.Lock()
        self._copy: _Copy[T] | None = None
        #: the read in flight and the epoch it started in
        self._flight: tuple[Future[list[T]], int] | None = None
        #: bumped by ``invalidate``: a copy (or a read in flight) from an older epoch may
        #: predate one of our own writes, so it answers nobody who asks afterwards
        self._epoch = 0
        self.reads = 0

    def get(self, max_age_s: float, needs: Iterable[str] = ()) -> list[T]:
        while True:
            with self._lock:
                now = self._clock()
                if self._want(needs, now):
                    # a new need: no copy (or read in flight) was told of it, so none answers
                    self._epoch += 1
                    self._copy = None
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
                    wanted = self._still_wanted(now)
                    break  # this caller reads, outside the lock
                joined, started_epoch = self._flight
                current = started_epoch == self._epoch
            if current:
                return list(joined.result())  # its outcome, error included, is ours too
            # a read from before an invalidate: wait it out (one read at a time), then retry
            joined.exception()
        try:
            rows = self._read(wanted)
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

    def release(self, ids: Iterable[str]) -> None:
        with self._lock:
            for key in ids:
                self._wanted.pop(key, None)

    def _want(self, needs: Iterable[str], now: float) -> bool:
        """Note ``needs`` as asked for now; True if one of them was not wanted already."""
        new = False
        for need in needs:
            if need:
                new = new or need not in self._wanted
                self._wanted[need] = now
        return new

    def _still_wanted(self, now: float) -> frozenset[str]:
        keep_s = self._wanted_for_s
        self._wanted = {k: at for k, at in self._wanted.items() if now - at < keep_s}
        return frozenset(self._wanted)

    @property
    def wanted(self) -> int:
        with self._lock:
            return len(self._wanted)


class FollowerBook:
    """The broker books of one follower account, shared by all its BracketLegActors.

    Thread-safe: each actor runs on its own thread. ``max_age_s`` is how old a copy may be and
    still answer (half the bracket tick keeps every tick on a copy no older than that tick).
    Each caller gets its own list; the rows (frozen records) are shared.

    A book holds the open rows and the rows callers named in ``needs`` (order ids and
    correlationIds) until they ``release`` them, or at most ``wanted_for_s`` after the last
    ask; a settled row nobody asks for is left out. A caller names what it looks up, every
    time: a need the book has not been told of makes the next answer a fresh read, so a
    settled row is never missed for being left out.
    """

    def __init__(
        self,
        client: DhanClient,
        *,
        max_age_s: float,
        clock: Callable[[], float] = time.monotonic,
        wanted_for_s: float = WANTED_FOR_S,
    ) -> None:
        if max_age_s < 0:
            raise ValueError("max_age_s must be >= 0")
        self.client = client
        self.max_age_s = max_age_s
        #: rows in the broker's last whole order book (settled ones included): how big the
        #: day's book has grown, so a caller can tell when reading its few orders one by one
        #: costs less than reading them all (0 until the first read)
        self.day_rows = 0

        def orders(wanted: frozenset[str]) -> list[Order]:
            def select(rows: list[Any]) -> list[Any]:
                self.day_rows = len(rows)
                return kept_rows(rows, wanted)

            return client.list_orders(select=select)

        def supers(wanted: frozenset[str]) -> list[SuperOrder]:
            return client.list_super_orders(
                select=lambda rows: kept_rows(rows, wanted, legs_key="legDetails")
            )

        self._orders: _SharedRead[Order] = _SharedRead(orders, clock, wanted_for_s)
        self._supers: _SharedRead[SuperOrder] = _SharedRead(supers, clock, wanted_for_s)

    def __repr__(self) -> str:
        return f"FollowerBook({self.client!r}, max_age_s={self.max_age_s})"

    def orders(self, needs: Iterable[str] = ()) -> list[Order]:
        """Today's open orders (``GET /orders``), at most ``max_age_s`` old, and every order,
        open or settled, whose order id or correlationId is in ``needs`` (or was asked for
        lately).

        Raises ``dhan.errors.DhanError`` when the read fails (the next call reads again).
        """
        return self._orders.get(self.max_age_s, needs)

    def super_orders(self, needs: Iterable[str] = ()) -> list[SuperOrder]:
        """Today's open super orders (``GET /super/orders``; open: the order or one of its
        legs), at most ``max_age_s`` old, and those whose order id or correlationId is in
        ``needs`` (or was asked for lately).

        Raises ``dhan.errors.DhanError`` when the read fails (the next call reads again).
        """
        return self._supers.get(self.max_age_s, needs)

    def release(self, ids: Iterable[str]) -> None:
        """The caller is done with these ids (say, copies it has settled): once no longer
        open, their rows are left out of the next read. Another caller still needing one names
        it again (its next ask then reads afresh)."""
        ids = tuple(ids)
        self._orders.release(ids)
        self._supers.release(ids)

    def invalidate(self) -> None:
        """Forget both books: call after our own place / modify / cancel so the next read is
        fresh. A read already in flight started before the write: it answers no later caller."""
        self._orders.invalidate()
        self._supers.invalidate()

    def forget(self) -> None:
        """Forget both books and the client's parse memo of the last read. For a caller that
        settles its orders without reading the book (``read_one_by_one``): the rows of the last
        read, settled since, are then not held until the next read, which may be hours away."""
        self.invalidate()
        self.client.forget_book()

    @property
    def reads(self) -> int:
        """Broker reads issued so far (both books): for metrics and benchmarks."""
        return self._orders.reads + self._supers.reads

    @property
    def wanted(self) -> int:
        """Ids callers need, both books (each kept ``wanted_for_s`` after its last ask)."""
        return self._orders.wanted + self._supers.wanted
