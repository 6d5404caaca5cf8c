"""Actors and helpers the supervision tests run under real supervisors (no mocks)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pykka

from supervision import ChildContext, ChildSpec, SupervisedActor


class Escape(BaseException):
    """A BaseException that is neither KeyboardInterrupt nor SystemExit."""


class ResourceDown(Exception):
    """What a child raises when a shared resource it uses is unavailable (an outage)."""


class ValidationProblem(Exception):
    """An error a handler returns to its asker as an answer."""


@dataclass(frozen=True, slots=True)
class Tick:
    """Timer message."""


class Journal:
    """Thread-safe record of lifecycle steps, in the order they happened."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[tuple[Any, ...]] = []

    def add(self, *entry: Any) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self, kind: str | None = None) -> list[tuple[Any, ...]]:
        with self._lock:
            return [e for e in self._entries if kind is None or e[0] == kind]


class Worker(SupervisedActor):
    """A child that crashes, stops, blocks or ticks on request."""

    reply_exceptions = (ValidationProblem,)

    def __init__(
        self,
        context: ChildContext,
        journal: Journal | None = None,
        fail_start_incarnations: frozenset[int] = frozenset(),
        gate: threading.Event | None = None,
        start_error: type[BaseException] = RuntimeError,
        escape_exit_incarnations: frozenset[int] = frozenset(),
    ) -> None:
        super().__init__(context)
        self.journal = journal or Journal()
        self.fail_start_incarnations = fail_start_incarnations
        self.gate = gate
        self.start_error = start_error
        self.escape_exit_incarnations = escape_exit_incarnations
        self.ticks = 0
        self.tick_threads: set[str] = set()

    def on_start(self) -> None:
        self.journal.add("start", self.context.child_id, self.context.incarnation)
        if self.context.incarnation in self.fail_start_incarnations:
            raise self.start_error("on_start failed")

    def on_stop(self) -> None:
        self.journal.add("stop", self.context.child_id, self.context.incarnation)

    def on_exit(self, reason: Any) -> None:
        self.journal.add("exit", self.context.child_id, self.context.incarnation, reason)
        if self.context.incarnation in self.escape_exit_incarnations:
            # Escapes _finish before the exit report: the thread ends with no report sent.
            raise Escape("on_exit escaped")

    def on_receive(self, message: Any) -> Any:
        if message == "ping":
            return ("pong", self.context.incarnation)
        if message == "crash":
            raise RuntimeError("boom")
        if message == "stop_self":
            self.stop()
            return None
        if message == "base_exception":
            raise Escape("escaped")
        if message == "resource_down":
            raise ResourceDown("the shared resource is down")
        if message == "record":
            self.journal.add("handled", self.context.child_id, self.context.incarnation)
            return "recorded"
        if message == "reply_error":
            raise ValidationProblem("bad input")
        if message == "block":
            assert self.gate is not None
            self.gate.wait(10.0)
            return "unblocked"
        if message == "fault":
            self.faults.point("worker.handle")
            return "ok"
        if message == "tick_every":
            self.tell_every(1.0, Tick())
            return None
        if isinstance(message, Tick):
            self.ticks += 1
            self.tick_threads.add(threading.current_thread().name)
            return None
        if message == "ticks":
            return (self.ticks, set(self.tick_threads), threading.current_thread().name)
        if message == "pending_timers":
            return self.timers.pending()
        return super().on_receive(message)

    def explode(self) -> None:
        raise ValueError("proxy boom")


def worker(child_id: str, **kwargs: Any) -> ChildSpec:
    """A spec for a :class:`Worker` child; ``kwargs`` go to ChildSpec or the Worker."""
    spec_keys = {"restart", "backoff", "shutdown_timeout_s"}
    spec_kwargs = {k: v for k, v in kwargs.items() if k in spec_keys}
    actor_kwargs = {k: v for k, v in kwargs.items() if k not in spec_keys}
    return ChildSpec.actor(child_id, Worker, **spec_kwargs, **actor_kwargs)


class PlainWorker(pykka.ThreadingActor):
    """A plain pykka actor: it reports nothing, only the watchdog can see it die."""

    def on_receive(self, message: Any) -> Any:
        if message == "stop_self":
            self.stop()
            return None
        if message == "ping":
            return "pong"
        return super().on_receive(message)


def plain_worker(child_id: str) -> ChildSpec:
    return ChildSpec(id=child_id, start=lambda context: PlainWorker.start())
