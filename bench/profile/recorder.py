"""The timeline pass's recorder: one object that is the actor, journal and client instrument.

Nothing is patched: the actors take it from ``supervision.instrument`` when they start, and
:meth:`Recorder.attach` sets it on the engine's journal and REST clients. It records only while
``active`` (the measured window). Messages are kept alive so ``id()`` stays unique.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from copytrader.engine import Engine
from dhan.instrument import ClientInstrument
from store.instrument import JournalInstrument
from supervision.instrument import ActorInstrument
from supervision.timers import PeriodicTick

#: ``Call.name`` of the two kinds of timed call
HTTP = "http"
WRITE = "journal write"


def role_of(actor: str) -> str:
    """``follower.F1`` -> ``follower``, ``bracket.F1.L7`` -> ``bracket``: actors by role."""
    return actor.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class Handled:
    """One message handled by a supervised actor."""

    actor: str  # the actor's name (child id), e.g. follower.F1
    msg_type: str
    msg: Any  # as queued (a coalesced tick: its PeriodicTick wrapper)
    t0_ns: int
    t1_ns: int
    cpu_ns: int

    @property
    def role(self) -> str:
        return role_of(self.actor)

    @property
    def inner(self) -> Any:
        """The message the handler saw (a tick's wrapper unwrapped)."""
        msg = self.msg
        return msg.message if type(msg) is PeriodicTick else msg


@dataclass(frozen=True, slots=True)
class Call:
    """One journal write or REST request, with the message being handled when it was made."""

    name: str  # HTTP or WRITE
    parent: int | None  # id() of that message
    t0_ns: int
    t1_ns: int
    cpu_ns: int
    key: str  # HTTP: "METHOD /path"
    cid: str = ""


class _Open:
    """What a thread has started and not yet finished (one stack per kind of call)."""

    def __init__(self) -> None:
        self.handling: list[tuple[int, int, int]] = []  # (id(msg), t0_ns, cpu0_ns)
        self.writes: list[tuple[int, int]] = []
        self.requests: list[tuple[int, int]] = []


class Recorder(ActorInstrument, JournalInstrument, ClientInstrument):
    """Times every message sent to a supervised actor, every handler, journal write and HTTP
    request of the engine, while ``active``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.local = threading.local()
        self.told: dict[int, tuple[int, int | None]] = {}  # id(msg) -> (t_ns, parent id)
        self.keep: list[Any] = []
        self.handled: list[Handled] = []
        self.calls: list[Call] = []
        self.active = False

    def attach(self, engine: Engine) -> None:
        """Be the instrument of ``engine``'s journal and of every REST client it made."""
        engine.journal.instrument = self
        for client in engine.clients.values():
            client.instrument = self

    def _open(self) -> _Open:
        try:
            return self.local.open
        except AttributeError:
            self.local.open = _Open()
            return self.local.open

    def current(self) -> int | None:
        """id() of the message this thread's actor is handling, if any."""
        handling = self._open().handling
        return handling[-1][0] if handling else None

    # -- supervision.instrument ----------------------------------------------------------------

    def message_queued(self, actor: str, message: Any) -> None:
        if self.active:
            t = time.monotonic_ns()
            parent = self.current()
            with self.lock:
                self.told[id(message)] = (t, parent)
                self.keep.append(message)

    def message_started(self, actor: str, message: Any) -> None:
        if self.active:
            self._open().handling.append((id(message), time.monotonic_ns(), time.thread_time_ns()))

    def message_finished(self, actor: str, message: Any) -> None:
        handling = self._open().handling
        if not handling or handling[-1][0] != id(message):
            return  # started before the window opened
        c1, t1 = time.thread_time_ns(), time.monotonic_ns()
        _mid, t0, c0 = handling.pop()
        inner = message.message if type(message) is PeriodicTick else message
        h = Handled(actor, type(inner).__name__, message, t0, t1, c1 - c0)
        with self.lock:
            self.handled.append(h)
            self.keep.append(message)

    # -- store.instrument ----------------------------------------------------------------------

    def write_started(self) -> None:
        if self.active:
            self._open().writes.append((time.monotonic_ns(), time.thread_time_ns()))

    def write_finished(self, error: BaseException | None) -> None:
        writes = self._open().writes
        if writes:
            c1, t1 = time.thread_time_ns(), time.monotonic_ns()
            t0, c0 = writes.pop()
            self._add(Call(WRITE, self.current(), t0, t1, c1 - c0, ""))

    # -- dhan.instrument -----------------------------------------------------------------------

    def request_started(self, client_id: str, method: str, path: str, cid: str | None) -> None:
        if self.active:
            self._open().requests.append((time.monotonic_ns(), time.thread_time_ns()))

    def request_finished(
        self, client_id: str, method: str, path: str, cid: str | None, status: int | str
    ) -> None:
        requests = self._open().requests
        if requests:
            c1, t1 = time.thread_time_ns(), time.monotonic_ns()
            t0, c0 = requests.pop()
            self._add(Call(HTTP, self.current(), t0, t1, c1 - c0, f"{method} {path}", cid or ""))

    def _add(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)
