"""``OrderFeed`` over a real loopback websocket: login, delivery, liveness, disconnects."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from dhan.codes import OrderStatus
from dhan.order_feed import (
    FeedConnectError,
    FeedDisconnected,
    FeedLivenessLost,
    OrderFeed,
    OrderUpdate,
)
from tests.unit.dhan.conftest import CLIENT_ID, TOKEN
from tests.unit.dhan.fake_feed import FakeFeed
from tests.unit.dhan.frames import alert, with_camel_case_duplicates
from tests.unit.dhan.waiting import wait_until


@dataclass
class Running:
    """``feed.run()`` on a background thread, with what it delivered and how it ended."""

    feed: OrderFeed
    updates: list[OrderUpdate] = field(default_factory=list)
    connected: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    ended_at: float = 0.0

    def start(self, on_update: Callable[[OrderUpdate], None] | None = None) -> Running:
        def target() -> None:
            try:
                self.feed.run(on_update or self.updates.append, self.connected.set)
            except BaseException as exc:  # reported to the test thread
                self.error = exc
            finally:
                self.ended_at = time.monotonic()
                self.done.set()

        threading.Thread(target=target, daemon=True).start()
        return self


@pytest.fixture
def server() -> Iterator[FakeFeed]:
    fake = FakeFeed().start()
    try:
        yield fake
    finally:
        fake.stop()


def make_feed(url: str, **kw: float) -> OrderFeed:
    return OrderFeed(url=url, client_id=CLIENT_ID, access_token=TOKEN, **kw)


def test_the_login_frame_is_exactly_what_dhan_documents(server: FakeFeed):
    run = Running(make_feed(server.url)).start()

    assert server.logged_in.wait(5) and run.connected.wait(5)
    run.feed.close()
    assert run.done.wait(5) and run.error is None

    assert server.logins == [
        '{"LoginReq":{"MsgCode":42,"ClientId":"1100000001","Token":"' + TOKEN + '"},'
        '"UserType":"SELF"}'
    ]


def test_updates_of_every_casing_are_delivered_and_junk_is_counted_and_skipped(
    server: FakeFeed,
):
    run = Running(make_feed(server.url)).start()
    assert run.connected.wait(5) and server.logged_in.wait(5)

    server.send(alert(Status="Pending", TradedQty=0))
    server.send("this is not json")
    server.send(with_camel_case_duplicates(status="TRADED"))
    server.send('{"Type": "order_alert", "Data": {"Status": "Traded"}}')
    server.send(json.dumps({"Type": "something_else", "Data": {}}))
    server.send(alert(Status="Traded", Quantity=1, TradedQty=1))

    assert wait_until(lambda: run.feed.stats.frames == 6, 5)
    run.feed.close()
    assert run.done.wait(5) and run.error is None
    assert [u.status for u in run.updates] == [
        OrderStatus.PENDING,
        OrderStatus.CANCELLED,  # the PascalCase "Cancelled" beat the camelCase duplicate
        OrderStatus.TRADED,
    ]
    stats = run.feed.stats
    assert (stats.updates, stats.malformed, stats.ignored) == (3, 2, 1)


def test_hours_of_silence_with_answered_pings_keep_the_connection(server: FakeFeed):
    run = Running(make_feed(server.url, ping_interval_s=0.05, ping_timeout_s=1.0)).start()

    assert wait_until(lambda: run.feed.stats.pongs >= 5, 5)
    assert not run.done.is_set()
    assert run.feed.stats.last_pong_rtt_ms is not None
    run.feed.close()
    assert run.done.wait(5) and run.error is None


def test_a_server_that_stops_answering_pings_ends_the_feed_with_liveness_lost(
    server: FakeFeed,
):
    interval_s, timeout_s = 0.2, 0.3
    run = Running(make_feed(server.url, ping_interval_s=interval_s, ping_timeout_s=timeout_s))
    run.start()
    assert wait_until(lambda: run.feed.stats.pongs >= 1, 5)

    server.answer_pings.clear()
    stopped_at = time.monotonic()

    assert run.done.wait(5)
    assert isinstance(run.error, FeedLivenessLost)
    took_s = run.ended_at - stopped_at
    assert took_s <= interval_s + timeout_s + 0.5, took_s
    assert server.disconnected.wait(5)  # the dead connection is torn down, not leaked


def test_a_reset_right_after_login_is_a_disconnect_reported_with_its_timing():
    server = FakeFeed(after_login="reset").start()
    try:
        run = Running(make_feed(server.url)).start()
        assert run.done.wait(5)
    finally:
        server.stop()

    assert isinstance(run.error, FeedDisconnected)
    assert run.error.connected_for_s < 2.0
    assert run.connected.is_set()
    assert TOKEN not in str(run.error) and TOKEN not in repr(run.error)


def test_a_close_frame_from_the_server_is_a_disconnect_with_its_code():
    server = FakeFeed(after_login="close", close_code=4001).start()
    try:
        run = Running(make_feed(server.url)).start()
        assert run.done.wait(5)
    finally:
        server.stop()

    assert isinstance(run.error, FeedDisconnected)
    assert run.error.close_code == 4001


def test_nobody_listening_is_a_connect_error():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()

    with pytest.raises(FeedConnectError):
        make_feed(f"ws://127.0.0.1:{port}", connect_timeout_s=1.0).run(lambda u: None)


def test_a_refused_handshake_is_a_connect_error_with_the_http_status(server: FakeFeed):
    with pytest.raises(FeedConnectError) as info:
        make_feed(server.url + "/refuse").run(lambda u: None)

    assert info.value.http_status == 401


def test_an_exception_in_the_callers_handler_propagates(server: FakeFeed):
    class HandlerBug(Exception):
        pass

    def on_update(_: OrderUpdate) -> None:
        raise HandlerBug("the caller's bug")

    run = Running(make_feed(server.url)).start(on_update)
    assert run.connected.wait(5) and server.logged_in.wait(5)
    server.send(alert())

    assert run.done.wait(5)
    assert isinstance(run.error, HandlerBug)


def test_close_from_another_thread_ends_run_promptly_and_politely(server: FakeFeed):
    run = Running(make_feed(server.url)).start()
    assert run.connected.wait(5) and server.logged_in.wait(5)

    asked_at = time.monotonic()
    run.feed.close()

    assert run.done.wait(5) and run.error is None
    assert run.ended_at - asked_at < 1.0
    assert server.disconnected.wait(5)
    assert server.client_close_codes == [1000]


def test_a_closed_feed_does_not_connect_again(server: FakeFeed):
    feed = make_feed(server.url)
    feed.close()

    feed.run(lambda u: None)

    assert server.logins == []


def test_the_feed_repr_never_shows_the_token(server: FakeFeed):
    feed = make_feed(server.url)

    assert TOKEN not in repr(feed)


def test_log_lines_about_skipped_frames_never_show_the_token_or_a_prefix_of_it(
    server: FakeFeed, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="dhan.order_feed")
    run = Running(make_feed(server.url)).start()
    assert run.connected.wait(5) and server.logged_in.wait(5)

    # the token straddles the 200-char excerpt of a malformed frame and the 80-char excerpt
    # of a frame of another Type
    server.send("x" * 190 + TOKEN)
    server.send(json.dumps({"Type": "login_ack", "Echo": "y" * 40 + TOKEN}))
    assert wait_until(lambda: run.feed.stats.frames == 2, 5)
    run.feed.close()
    assert run.done.wait(5) and run.error is None

    assert (run.feed.stats.malformed, run.feed.stats.ignored) == (1, 1)
    skipped = [r.getMessage() for r in caplog.records if "frame" in r.getMessage()]
    assert len(skipped) == 2
    for line in skipped:
        assert TOKEN[:8] not in line
