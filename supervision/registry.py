"""Stable names for supervised actors: ``name -> current ActorRef`` across restarts.

Actors never hold each other's refs for long; they address a sibling by name through the
tree's :class:`Registry` and so reach the restarted incarnation. A message to a child that
is not running (restarting, quarantined, stopped, unknown) raises
:class:`~supervision.errors.ChildUnavailable` in the sender: it is never dropped silently
and never buffered (the journal is the inbox; messages are hints).
"""

from __future__ import annotations

import enum
import threading
import time
from typing import Any

import pykka

from supervision.errors import ChildUnavailable


class NameState(enum.StrEnum):
    """What the registry knows about a name."""

    RUNNING = "running"
    RESTARTING = "restarting"  # exited; its supervisor will start it again
    QUARANTINED = "quarantined"  # its subtree was quarantined; no restart
    STOPPED = "stopped"  # exited for good (or terminated) and not yet removed
    UNKNOWN = "unknown"  # never registered, or removed


class Registry:
    """Thread-safe map from child name to its current ref and state."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._refs: dict[str, pykka.ActorRef[Any]] = {}
        self._states: dict[str, NameState] = {}
        self._owners: dict[str, object] = {}  # name -> the supervisor that registered it

    # -- read side (any thread) ------------------------------------------------------------

    def state(self, name: str) -> NameState:
        with self._cond:
            return self._states.get(name, NameState.UNKNOWN)

    def get(self, name: str) -> pykka.ActorRef[Any]:
        """The current ref of ``name``; :class:`ChildUnavailable` unless it is running."""
        with self._cond:
            state = self._states.get(name, NameState.UNKNOWN)
            ref = self._refs.get(name)
        if state is not NameState.RUNNING or ref is None:
            raise ChildUnavailable(name, state)
        return ref

    def tell(self, name: str, message: Any) -> None:
        """Tell ``message`` to the current incarnation of ``name``.

        Raises :class:`ChildUnavailable` if ``name`` is not running -- including the window
        where it has died but its supervisor has not yet noticed -- and
        :class:`~supervision.errors.MailboxFull` if its bounded inbox is full.
        """
        ref = self.get(name)
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            raise ChildUnavailable(name, "dead") from None

    def ask(self, name: str, message: Any, timeout_s: float) -> Any:
        """Ask ``name`` and wait up to ``timeout_s`` for the reply.

        Raises :class:`ChildUnavailable` if it is not running or dies before replying,
        ``pykka.Timeout`` on timeout, or the exception the handler raised.
        """
        ref = self.get(name)
        try:
            return ref.ask(message, timeout=timeout_s)
        except pykka.ActorDeadError:
            raise ChildUnavailable(name, "dead") from None

    def wait_running(self, name: str, timeout_s: float) -> pykka.ActorRef[Any]:
        """Block until ``name`` is running (e.g. after a restart) and return its ref."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                ref = self._refs.get(name)
                if self._states.get(name) is NameState.RUNNING and ref is not None:
                    return ref
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ChildUnavailable(name, self._states.get(name, NameState.UNKNOWN))
                self._cond.wait(timeout=remaining)

    def names(self) -> dict[str, NameState]:
        """Every known name and its state."""
        with self._cond:
            return dict(self._states)

    def mailbox_depths(self) -> dict[str, int]:
        """Inbox depth of every running actor, for ``copytrader_mailbox_depth{actor}``.

        pykka's inbox is a ``queue.Queue``; ``qsize()`` is approximate under concurrency,
        which is all a gauge needs.
        """
        with self._cond:
            running = [
                (name, ref)
                for name, ref in self._refs.items()
                if self._states.get(name) is NameState.RUNNING
            ]
        return {name: mailbox_depth(ref) for name, ref in running}

    # -- write side (supervisors only) -----------------------------------------------------

    def claim(self, name: str, owner: object) -> None:
        """Reserve ``name`` for a supervisor; a second live owner is a configuration error."""
        with self._cond:
            current = self._owners.get(name)
            if current is not None and current is not owner:
                raise ValueError(f"name {name!r} is already supervised elsewhere in this tree")
            self._owners[name] = owner

    def set_running(self, name: str, ref: pykka.ActorRef[Any]) -> None:
        with self._cond:
            self._refs[name] = ref
            self._states[name] = NameState.RUNNING
            self._cond.notify_all()

    def set_state(self, name: str, state: NameState) -> None:
        with self._cond:
            self._refs.pop(name, None)
            self._states[name] = state
            self._cond.notify_all()

    def release(self, name: str, owner: object) -> None:
        """Give up ownership of ``name`` but keep its last state for senders to read."""
        with self._cond:
            if self._owners.get(name) is owner:
                del self._owners[name]

    def remove(self, name: str, owner: object) -> None:
        with self._cond:
            if self._owners.get(name) in (owner, None):
                self._owners.pop(name, None)
                self._refs.pop(name, None)
                self._states.pop(name, None)
                self._cond.notify_all()


def mailbox_depth(ref: pykka.ActorRef[Any]) -> int:
    """Messages waiting in ``ref``'s inbox (0 if the inbox cannot say)."""
    qsize = getattr(ref.actor_inbox, "qsize", None)
    return int(qsize()) if qsize is not None else 0
