"""FollowerBook against the simulator: one broker read shared by many callers, never stale
after our own writes, errors that reach every waiter but are never kept, and a day's settled
orders left out unless a caller names them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from actors.follower_book import FollowerBook
from dhan import errors
from dhan.rest import DhanClient
from dhansim import Simulator
from dhansim.pytest_plugin import new_account
from tests.integration.engine_harness import limit_buy, wait_until

_THREADS = 8
#: long enough that every thread released by the barrier asks while the first read is out
_SLOW_READ_MS = 800


class _Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


#: the LTP the tests run at: a BUY limit below it rests (open), one above it trades at once
_LTP = 1600.0


@pytest.fixture
def client(sim: Simulator) -> Iterator[DhanClient]:
    sim.admin.set_ltp("NSE_EQ", "1333", _LTP)
    account = new_account(sim)
    with DhanClient(
        base_url=sim.rest_url, client_id=account.client_id, access_token=account.access_token
    ) as c:
        yield c


def _gets(sim: Simulator, client: DhanClient, endpoint: str) -> int:
    # a request answered by an injected fault is journaled before it is authenticated (no account)
    return sum(
        1
        for e in sim.admin.journal(kind="rest")
        if e["endpoint"] == endpoint and e["account"] in (client.client_id, None)
    )


def _slow(sim: Simulator, endpoint: str, **extra: Any) -> None:
    sim.admin.set_faults({"per_endpoint": {endpoint: {"latency_ms": _SLOW_READ_MS, **extra}}})


def _all_at_once(call: Any) -> list[Any]:
    """Run ``call`` on _THREADS threads released together; each result, or the exception."""
    barrier = threading.Barrier(_THREADS)

    def run() -> Any:
        barrier.wait()
        try:
            return call()
        except errors.DhanError as exc:
            return exc

    with ThreadPoolExecutor(_THREADS) as pool:
        return list(pool.map(lambda _: run(), range(_THREADS)))


def test_a_second_ask_within_the_max_age_is_answered_without_a_broker_read(
    sim: Simulator, client: DhanClient
):
    book = FollowerBook(client, max_age_s=60.0)

    first = book.orders()
    second = book.orders()

    assert first == second
    assert _gets(sim, client, "GET /orders") == 1
    assert book.reads == 1


def test_a_copy_older_than_the_max_age_is_read_again(sim: Simulator, client: DhanClient):
    clock = _Clock()
    book = FollowerBook(client, max_age_s=0.5, clock=clock)
    book.orders()
    clock.now_s += 0.4
    book.orders()
    assert _gets(sim, client, "GET /orders") == 1

    clock.now_s += 0.2
    book.orders()

    assert _gets(sim, client, "GET /orders") == 2


def test_threads_asking_together_share_one_broker_read(sim: Simulator, client: DhanClient):
    client.place_order(limit_buy(quantity=1, price=1400.0))
    _slow(sim, "GET /orders")
    # max age 0: no copy is ever reused, so only joining the read in flight saves the reads
    book = FollowerBook(client, max_age_s=0.0)

    answers = _all_at_once(book.orders)

    assert all(isinstance(a, list) and len(a) == 1 for a in answers), answers
    assert len({a[0].order_id for a in answers}) == 1
    assert _gets(sim, client, "GET /orders") == 1
    assert book.reads == 1


def test_a_failed_read_reaches_every_waiter_and_is_not_kept(sim: Simulator, client: DhanClient):
    _slow(sim, "GET /orders", error_5xx_p=1.0)
    book = FollowerBook(client, max_age_s=60.0)

    answers = _all_at_once(book.orders)

    assert all(isinstance(a, errors.DhanError) for a in answers), answers
    assert _gets(sim, client, "GET /orders") == 1
    sim.admin.clear_faults()
    assert book.orders() == []  # read again: the error was not cached
    assert _gets(sim, client, "GET /orders") == 2


def test_after_invalidate_the_next_ask_sees_our_own_write(sim: Simulator, client: DhanClient):
    book = FollowerBook(client, max_age_s=60.0)
    assert book.orders() == []
    ack = client.place_order(limit_buy(quantity=1, price=1400.0))
    assert book.orders() == []  # still the copy: younger than the max age

    book.invalidate()

    assert [o.order_id for o in book.orders()] == [ack.order_id]
    assert _gets(sim, client, "GET /orders") == 2


def test_a_read_in_flight_when_invalidated_answers_no_later_caller(
    sim: Simulator, client: DhanClient
):
    _slow(sim, "GET /orders")
    book = FollowerBook(client, max_age_s=60.0)
    with ThreadPoolExecutor(1) as pool:
        early = pool.submit(book.orders)
        wait_until(lambda: book.reads == 1, what="the first read in flight")
        book.invalidate()

        book.orders()  # waits for the early read to end, then reads again

        assert early.result() == []
    assert _gets(sim, client, "GET /orders") == 2
    assert book.reads == 2


def test_the_super_order_book_is_cached_apart_from_the_order_book(
    sim: Simulator, client: DhanClient
):
    book = FollowerBook(client, max_age_s=60.0)

    book.super_orders()
    book.super_orders()
    book.orders()

    assert _gets(sim, client, "GET /super/orders") == 1
    assert _gets(sim, client, "GET /orders") == 1


def test_a_negative_max_age_is_refused(client: DhanClient):
    with pytest.raises(ValueError, match="max_age_s"):
        FollowerBook(client, max_age_s=-1.0)


def _traded(client: DhanClient, n: int) -> list[str]:
    """``n`` orders that trade at once (settled rows); their order ids."""
    return [client.place_order(limit_buy(quantity=1, price=_LTP + 10)).order_id for _ in range(n)]


def test_settled_orders_nobody_names_are_neither_kept_nor_parsed(
    sim: Simulator, client: DhanClient
):
    settled = _traded(client, 8)
    resting = client.place_order(limit_buy(quantity=1, price=1400.0)).order_id
    book = FollowerBook(client, max_age_s=60.0)

    rows = book.orders()

    assert [o.order_id for o in rows] == [resting]
    assert client.remembered_orders == 1  # the 8 settled ones are not held for the next read
    assert len(sim.admin.orders(client.client_id)) == len(settled) + 1  # the broker has them all


def test_a_settled_order_named_by_id_or_correlation_id_is_kept(sim: Simulator, client: DhanClient):
    by_id = _traded(client, 1)[0]
    tagged = client.place_order(
        limit_buy(quantity=1, price=_LTP + 10, correlation_id="copy-tagged-1")
    ).order_id
    _traded(client, 5)
    book = FollowerBook(client, max_age_s=60.0)

    rows = book.orders(needs=[by_id, "copy-tagged-1"])

    assert sorted(o.order_id for o in rows) == sorted([by_id, tagged])
    assert all(o.order_status.is_terminal for o in rows)


def test_a_new_need_is_answered_by_a_fresh_read_even_within_the_max_age(
    sim: Simulator, client: DhanClient
):
    book = FollowerBook(client, max_age_s=60.0)
    assert book.orders() == []
    (settled,) = _traded(client, 1)  # e.g. a copy that filled: its follower asks for it next

    rows = book.orders(needs=[settled])

    assert [o.order_id for o in rows] == [settled]
    assert _gets(sim, client, "GET /orders") == 2


def test_a_need_asked_again_is_answered_from_the_copy(sim: Simulator, client: DhanClient):
    (settled,) = _traded(client, 1)
    book = FollowerBook(client, max_age_s=60.0)

    first = book.orders(needs=[settled])
    second = book.orders(needs=[settled])
    others = book.orders()  # another caller of the same book sees the wanted row too

    assert first == second == others and [o.order_id for o in first] == [settled]
    assert _gets(sim, client, "GET /orders") == 1


def test_a_need_no_caller_repeats_is_forgotten_after_wanted_for_s(
    sim: Simulator, client: DhanClient
):
    clock = _Clock()
    (settled,) = _traded(client, 1)
    book = FollowerBook(client, max_age_s=0.5, clock=clock, wanted_for_s=10.0)
    assert [o.order_id for o in book.orders(needs=[settled])] == [settled]
    clock.now_s += 5.0
    assert [o.order_id for o in book.orders()] == [settled]  # still wanted
    assert book.wanted == 1

    clock.now_s += 6.0

    assert book.orders() == []
    assert book.wanted == 0


def test_a_released_settled_order_is_left_out_of_the_next_read(sim: Simulator, client: DhanClient):
    (settled,) = _traded(client, 1)
    book = FollowerBook(client, max_age_s=0.0)
    assert [o.order_id for o in book.orders(needs=[settled])] == [settled]

    book.release([settled])

    assert book.orders() == []
    assert client.remembered_orders == 0
    # named again (by a caller that still needs it): read afresh, and there
    assert [o.order_id for o in book.orders(needs=[settled])] == [settled]
