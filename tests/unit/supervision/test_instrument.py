"""The actor instrument: called in order, with the actor's name and the message, only when
installed (supervision.instrument)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from supervision import ChildContext, SupervisedActor
from supervision.instrument import ActorInstrument, current, install, installed
from supervision.timers import PeriodicTick


class Refused(Exception):
    """An answer to the asker (a reply exception), not a crash."""


class Echo(SupervisedActor):
    reply_exceptions = (Refused,)

    def on_receive(self, message: Any) -> Any:
        if message == "refuse":
            raise Refused("no")
        if message == "crash":
            raise RuntimeError("a bug")
        if message == "arm":
            self.beat = self.tell_every(0.01, "beat", first_s=0.0)
        if message == "disarm":
            self.beat.cancel()
        return message


class Calls(ActorInstrument):
    """Every call, with the thread it ran on."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str, Any, str]] = []

    def _add(self, kind: str, actor: str, message: Any) -> None:
        with self.lock:
            self.calls.append((kind, actor, message, threading.current_thread().name))

    def message_queued(self, actor: str, message: Any) -> None:
        self._add("queued", actor, message)

    def message_started(self, actor: str, message: Any) -> None:
        self._add("started", actor, message)

    def message_finished(self, actor: str, message: Any) -> None:
        self._add("finished", actor, message)

    def of(self, message: Any) -> list[tuple[str, str]]:
        with self.lock:
            return [(kind, actor) for kind, actor, m, _t in self.calls if m is message]


def wait_for(predicate: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)  # polling with a deadline, not synchronisation


@pytest.fixture
def calls() -> Iterator[Calls]:
    with installed(Calls()) as instrument:
        yield instrument
    assert current() is None


def start_echo(name: str = "echo") -> pykka.ActorRef[Any]:
    return Echo.start(ChildContext.detached(name))


def test_an_asked_message_is_queued_started_and_finished_in_order_with_the_actors_name(
    calls: Calls,
):
    ref = start_echo("echo.one")
    try:
        message = ("hello", 1)
        assert ref.ask(message, timeout=5) == message

        assert calls.of(message) == [
            ("queued", "echo.one"),
            ("started", "echo.one"),
            ("finished", "echo.one"),
        ]
        threads = [t for _k, _a, m, t in calls.calls if m is message]
        assert threads[0] == threading.current_thread().name  # queued: the sender's thread
        assert threads[1] == threads[2] != threads[0]  # handled: the actor's thread
    finally:
        ref.stop()


def test_told_messages_are_seen_in_the_order_they_are_handled(calls: Calls):
    ref = start_echo()
    try:
        first, second = ["first"], ["second"]
        ref.tell(first)
        ref.tell(second)
        ref.ask("sync", timeout=5)

        handled = [m for kind, _a, m, _t in calls.calls if kind == "started"]
        assert handled[:3] == [first, second, "sync"]
        assert calls.of(first) == [("queued", "echo"), ("started", "echo"), ("finished", "echo")]
    finally:
        ref.stop()


@pytest.mark.parametrize(
    ("message", "raised", "alive_after"),
    [
        ("refuse", Refused, True),  # a reply exception: the actor keeps running
        ("crash", RuntimeError, False),  # a crash: the actor stops
    ],
)
def test_finished_is_called_however_the_handler_ends(
    calls: Calls, message: str, raised: type[Exception], alive_after: bool
):
    ref = start_echo()
    try:
        with pytest.raises(raised):
            ref.ask(message, timeout=5)

        wait_for(lambda: ("finished", "echo") in calls.of(message))
        assert calls.of(message) == [("queued", "echo"), ("started", "echo"), ("finished", "echo")]
        if not alive_after:
            wait_for(lambda: not ref.is_alive())
        assert ref.is_alive() is alive_after
    finally:
        if ref.is_alive():
            ref.stop()


def test_a_periodic_message_is_seen_as_its_tick_wrapper_the_same_object_in_each_call(
    calls: Calls,
):
    ref = start_echo()
    try:
        ref.ask("arm", timeout=5)
        wait_for(
            lambda: any(type(m) is PeriodicTick for k, _a, m, _t in calls.calls if k == "finished")
        )
        ref.ask("disarm", timeout=5)

        tick = next(m for k, _a, m, _t in calls.calls if type(m) is PeriodicTick)
        assert type(tick) is PeriodicTick and tick.message == "beat"
        assert calls.of(tick) == [("queued", "echo"), ("started", "echo"), ("finished", "echo")]
    finally:
        ref.stop()


def test_without_an_installed_instrument_nothing_is_called():
    instrument = Calls()
    assert current() is None
    ref = start_echo()
    try:
        assert ref.ask("hello", timeout=5) == "hello"
        ref.tell("told")
        ref.ask("sync", timeout=5)
    finally:
        ref.stop()

    assert instrument.calls == []


def test_an_actor_keeps_the_instrument_it_was_started_with():
    before, after = Calls(), Calls()
    with installed(before):
        ref = start_echo()
    try:
        with installed(after):
            ref.ask("hello", timeout=5)
            later = start_echo("later")
            try:
                later.ask("hi", timeout=5)
            finally:
                later.stop()  # its stop message is seen too: pykka's _ActorStop

        assert calls_of_kind(before, "started") == ["hello"]
        assert calls_of_kind(after, "started")[0] == "hi"
        assert "hello" not in calls_of_kind(after, "started")
    finally:
        ref.stop()


def calls_of_kind(instrument: Calls, kind: str) -> list[Any]:
    return [m for k, _a, m, _t in instrument.calls if k == kind]


def test_install_returns_the_one_it_replaces_and_installed_restores_it():
    first, second = Calls(), Calls()
    assert install(first) is None
    try:
        with installed(second):
            assert current() is second
        assert current() is first
    finally:
        assert install(None) is first
    assert current() is None


def test_the_base_instrument_does_nothing_and_an_actor_runs_under_it():
    with installed(ActorInstrument()):
        ref = start_echo()
    try:
        assert ref.ask("hello", timeout=5) == "hello"
    finally:
        ref.stop()
